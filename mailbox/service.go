package mailbox

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/signing"
)

// Limits bound what one submission may carry and how much address proof
// one holder may ask for. A zero field takes its DefaultLimits value.
type Limits struct {
	MaxBodyBytes       int64
	MaxAttachments     int
	MaxAttachmentBytes int64 // all attachments together
	MaxNameRunes       int
	MaxSubjectRunes    int
	DefaultAcceptance  time.Duration // registered letters: time to accept or refuse
	MaxAcceptance      time.Duration
	MaxActivationTries int
	// MaxPendingMailboxes caps one holder's mailboxes awaiting proof of
	// address: each prints and posts a real activation letter.
	MaxPendingMailboxes int
	// MaxActivationLetters caps the activation letters of one mailbox: the
	// first and every one sent again.
	MaxActivationLetters int
	// MaxActivationLettersPerDay caps the activation letters of all of one
	// holder's mailboxes within 24 hours.
	MaxActivationLettersPerDay int
	// MaxBatchLines caps the letters of one bulk submission, and
	// MaxBatchBytes its whole request (the NDJSON and the shared files): a
	// batch is held in memory while its letters are submitted.
	MaxBatchLines int
	MaxBatchBytes int64
	// MaxActiveBatches caps the batches one server process works on at once.
	MaxActiveBatches int
}

// DefaultLimits are the limits of a fresh server.
func DefaultLimits() Limits {
	return Limits{
		MaxBodyBytes:       1 << 20,
		MaxAttachments:     20,
		MaxAttachmentBytes: 25 << 20,
		MaxNameRunes:       200,
		MaxSubjectRunes:    300,
		DefaultAcceptance:  10 * 24 * time.Hour,
		MaxAcceptance:      90 * 24 * time.Hour,
		MaxActivationTries: 5,

		MaxPendingMailboxes:        3,
		MaxActivationLetters:       3,
		MaxActivationLettersPerDay: 5,

		MaxBatchLines:    50000,
		MaxBatchBytes:    64 << 20,
		MaxActiveBatches: 4,
	}
}

// withDefaults fills every zero limit from DefaultLimits, so a
// configuration may set some limits only.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	fill := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	fill64 := func(v *int64, def int64) {
		if *v == 0 {
			*v = def
		}
	}
	fillDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	fill64(&l.MaxBodyBytes, d.MaxBodyBytes)
	fill(&l.MaxAttachments, d.MaxAttachments)
	fill64(&l.MaxAttachmentBytes, d.MaxAttachmentBytes)
	fill(&l.MaxNameRunes, d.MaxNameRunes)
	fill(&l.MaxSubjectRunes, d.MaxSubjectRunes)
	fillDur(&l.DefaultAcceptance, d.DefaultAcceptance)
	fillDur(&l.MaxAcceptance, d.MaxAcceptance)
	fill(&l.MaxActivationTries, d.MaxActivationTries)
	fill(&l.MaxPendingMailboxes, d.MaxPendingMailboxes)
	fill(&l.MaxActivationLetters, d.MaxActivationLetters)
	fill(&l.MaxActivationLettersPerDay, d.MaxActivationLettersPerDay)
	fill(&l.MaxBatchLines, d.MaxBatchLines)
	fill64(&l.MaxBatchBytes, d.MaxBatchBytes)
	fill(&l.MaxActiveBatches, d.MaxActiveBatches)
	return l
}

// Rendered is a printable document.
type Rendered struct {
	PDF    []byte
	Pages  int
	Sheets int
	SHA256 string // hex
}

// PrintLetter is what the renderer needs of a letter.
type PrintLetter struct {
	ID            string
	Tracking      string
	SenderLine    string
	RecipientName string
	AddressLines  []string
	Subject       string
	Body          string
	Date          time.Time
	Attachments   []PrintAttachment
	// Language of the printed labels: LanguageBelarusian,
	// LanguageRussian, or "" to detect it from the text.
	Language string
}

// PrintAttachment is one attachment to print.
type PrintAttachment struct {
	Name        string
	ContentType string
	Data        []byte
}

// PrintActivation is the address-proof letter of a pending mailbox.
type PrintActivation struct {
	ID            string
	MailboxID     string
	RecipientName string
	AddressLines  []string
	Code          string
	Date          time.Time
}

// Renderer turns letters into printable documents. The hybrid print path
// implements it (hybrid/pdf); the core only needs the bytes and their digest.
type Renderer interface {
	RenderLetter(ctx context.Context, l PrintLetter) (Rendered, error)
	RenderActivation(ctx context.Context, a PrintActivation) (Rendered, error)
	// CheckAttachment refuses, with a reason, an attachment that cannot be
	// printed (unknown type, active content, undecodable image).
	CheckAttachment(name, contentType string, data []byte) error
	// CheckAddress refuses, with the code address_too_long, a recipient
	// name and address that do not fit the envelope window.
	CheckAddress(name string, lines []string) error
}

// Config wires a Service.
type Config struct {
	Store  Store
	Sealer *signing.Sealer
	Keys   *Keyring
	// Trust verifies the certificate chains of recipient signatures.
	Trust *x509.CertPool
	// Revocations is consulted for the signer of an acceptance.
	Revocations certs.RevocationChecker
	Renderer    Renderer
	// Converter makes PDF renditions of office documents for print; nil
	// refuses office documents on letters that may be printed
	// (conversion_unavailable).
	Converter Converter
	Limits    Limits
	Now       func() time.Time
	Logger    *slog.Logger
	// TempDir holds staged attachments (encrypted) during a submission.
	TempDir string
	// ActivationCodeSink, when set, receives every new activation code. It
	// exists for development setups without a print centre (`npes serve
	// --dev-activation-codes` logs them) and for tests; production leaves it
	// nil and the code exists only on the printed letter.
	ActivationCodeSink func(mailboxID, code string)
	// Observer receives the operator's metrics (nil: none).
	Observer Observer
	// Sessions ends the sessions of credentials a recovery unbound (nil:
	// the deployment keeps no sessions).
	Sessions SessionEnder
	// WebAuthn is the relying party passkey decisions are made for (the
	// web portal's NPES_WEB_ORIGIN); nil refuses passkeys
	// (passkeys_disabled).
	WebAuthn *signing.WebAuthnTrust
}

// Service is the domain core: mailboxes, letters, registered delivery and
// evidence. Every method takes the authenticated Caller and enforces
// object-level authorization itself: adapters never decide who sees what.
type Service struct {
	cfg    Config
	log    *slog.Logger
	obs    Observer
	origin string

	committerOnce sync.Once
	closeOnce     sync.Once
	committer     *committer
	serials       serials
	logOrder      logOrder
	frontier      frontier

	routerOnce  sync.Once
	routerClose sync.Once
	router      *router

	batchOnce sync.Once
	batches   *batches
	// batchCrash, set by tests only, is asked before a batch worker
	// records outcomes (with how many it recorded so far); true makes
	// the worker stop there as a crashed process would.
	batchCrash func(recorded int) bool
	// submitted, set by tests only, sees every submission submit
	// committed, as committed.
	submitted func(it *batchItem)
}

// NewService checks the configuration.
func NewService(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.Keys == nil {
		return nil, errors.New("mailbox: Store, Sealer and Keys are required")
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Trust == nil {
		cfg.Trust = x509.NewCertPool()
	}
	s := &Service{cfg: cfg, log: cfg.Logger, obs: cfg.Observer}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	s.origin = LogOrigin(cfg.Sealer)
	return s, nil
}

// LogOrigin names the evidence log in its checkpoints (C2SP
// tlog-checkpoint: a unique, stable string). It is derived from the
// operator's Ed25519 key id, so it changes only with the key.
func LogOrigin(s *signing.Sealer) string {
	for _, k := range s.JWKS().Keys {
		if k.Alg == signing.AlgEdDSA {
			return "npes/evidence/" + k.Kid
		}
	}
	return "npes/evidence"
}

// Origin is the evidence log's origin line.
func (s *Service) Origin() string { return s.origin }

// Limits reports the configured limits.
func (s *Service) Limits() Limits { return s.cfg.Limits }

// Roles, as certs names them (re-exported so adapters of the core need not
// import certs).
const (
	RolePerson      = certs.RolePerson
	RoleOrg         = certs.RoleOrg
	RolePrintCenter = certs.RolePrintCenter
	RoleOperator    = certs.RoleOperator
)

// Caller is the authenticated client of a request: the identity read from
// its verified certificate.
type Caller struct {
	Identity certs.Identity
	// Cert is the verified certificate the identity was read from; binding
	// it to a mailbox logs its public key (RegisterMailbox).
	Cert *x509.Certificate
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }
