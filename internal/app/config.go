// Package app wires npes together: configuration, the data directory, the
// store, the listeners and their lifecycle.
package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/npes/npes/internal/httpapi"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// Config is the server's configuration. Every field has a flag in the CLI and
// an NPES_* environment variable (DESIGN §9); flags win over the environment.
type Config struct {
	// DataDir holds the CA, keys, credentials and the SQLite database
	// (NPES_DATA, default ./npes-data).
	DataDir string
	// DatabaseURL selects PostgreSQL; empty means SQLite in DataDir
	// (NPES_DATABASE_URL).
	DatabaseURL string
	// HTTPAddr is the mTLS API listener (NPES_HTTP_ADDR, default 127.0.0.1:8443).
	HTTPAddr string
	// Hostnames are extra DNS names or IPs for the server certificate
	// (NPES_HOSTNAMES, comma separated).
	Hostnames []string
	// MasterKeyFile overrides DataDir/master.key (NPES_MASTER_KEY_FILE).
	MasterKeyFile string
	// ShutdownTimeout bounds how long in-flight requests may take to finish.
	ShutdownTimeout time.Duration
	// ConnMaxLifetime is how long one API connection serves requests
	// before the server closes it after a response, so clients handshake
	// again (NPES_CONN_MAX_LIFETIME, a Go duration; zero means
	// httpapi.DefaultConnMaxLifetime, 10 minutes).
	ConnMaxLifetime time.Duration

	// SMTPAddr is the STARTTLS submission listener (NPES_SMTP_ADDR, default
	// 127.0.0.1:2525); "off" disables it.
	SMTPAddr string
	// SMTPSAddr is the implicit-TLS listener (NPES_SMTPS_ADDR, default
	// 127.0.0.1:4650); "off" disables it.
	SMTPSAddr string
	// SMTPRelay is the relay for outbound notifications (NPES_SMTP_RELAY,
	// host:port); empty disables notifications.
	SMTPRelay string
	// MailDomain is the domain of mailbox mail addresses (NPES_MAIL_DOMAIN).
	MailDomain string
	// SweepInterval is how often acceptance deadlines are checked.
	SweepInterval time.Duration
	// RateLimit bounds each client's HTTP request rate; the zero value
	// means httpapi.DefaultRateLimit, a negative PerSecond disables it.
	RateLimit httpapi.RateLimit
	// BodyTimeouts bound how long a client may take to send a request
	// body; the zero value means httpapi.DefaultBodyTimeouts.
	BodyTimeouts httpapi.BodyTimeouts
	// Limits of a submission and of address proof; a zero field means its
	// mailbox.DefaultLimits value. The caps on pending mailboxes per holder
	// and on activation letters per mailbox and per holder and day come from
	// NPES_MAX_PENDING_MAILBOXES, NPES_MAX_ACTIVATION_LETTERS and
	// NPES_MAX_ACTIVATION_LETTERS_PER_DAY.
	Limits mailbox.Limits
	// Renderer renders printed letters; nil means the default PDF renderer.
	Renderer mailbox.Renderer
	// Soffice is LibreOffice's soffice, which converts office documents
	// for print (NPES_SOFFICE); empty looks it up in PATH, "off" disables
	// conversion. Without it office documents are refused on letters that
	// may be printed (conversion_unavailable).
	Soffice string
	// ConvertWorkers is how many conversions run at once
	// (NPES_CONVERT_WORKERS; 0 means convert.DefaultWorkers).
	ConvertWorkers int
	// ConvertTimeout bounds one conversion (NPES_CONVERT_TIMEOUT, a Go
	// duration; 0 means convert.DefaultTimeout, 60s).
	ConvertTimeout time.Duration
	// ConvertMemory is each converter's address-space limit in bytes
	// (NPES_CONVERT_MEMORY, bytes or with a MiB/GiB suffix; 0 means
	// convert.DefaultMemoryBytes, 1 GiB).
	ConvertMemory int64
	// WebSessionIdle and WebSessionMax bound a web portal session: idle
	// time and total age (NPES_WEB_SESSION_IDLE, NPES_WEB_SESSION_MAX, Go
	// durations; zero means web.DefaultSessionIdle, 15m, and
	// web.DefaultSessionAbsolute, 12h).
	WebSessionIdle time.Duration
	WebSessionMax  time.Duration
	// WebOrigin is the portal's origin as browsers see it, such as
	// https://post.example or https://localhost:8443 (NPES_WEB_ORIGIN). Its
	// host is the WebAuthn RP ID: passkeys are made for it and the
	// assertions they sign name it, so changing it invalidates every bound
	// passkey. Empty disables passkeys.
	WebOrigin string
	// DevActivationCodes logs activation codes (development without a
	// print centre). Never in production.
	DevActivationCodes bool
	// ActivationCodeSink receives activation codes (tests).
	ActivationCodeSink func(mailboxID, code string)

	Logger *slog.Logger
	// Out receives the human-readable start-up lines.
	Out io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// envErr is an NPES_* value FromEnv could not parse; Start reports it
	// unless a flag replaced the value.
	envErr error
	// convertEnvErr is an unparsable NPES_CONVERT_* value.
	convertEnvErr error
	// webEnvErr is an unparsable NPES_WEB_SESSION_* value.
	webEnvErr error
}

// SetConnMaxLifetime sets ConnMaxLifetime from a flag, which wins over
// NPES_CONN_MAX_LIFETIME, even an unparsable one.
func (c *Config) SetConnMaxLifetime(d time.Duration) {
	c.ConnMaxLifetime, c.envErr = d, nil
}

// checkServe validates what only the server uses, so that a bad serve
// setting does not stop `npes ca revoke` or `npes init`.
func (c *Config) checkServe() error {
	if c.webEnvErr != nil {
		return c.webEnvErr
	}
	if c.envErr != nil {
		return c.envErr
	}
	if _, err := ParseWebOrigin(c.WebOrigin); err != nil {
		return err
	}
	if c.ConnMaxLifetime < time.Second {
		return fmt.Errorf("connection lifetime %s is shorter than the minimum of 1s", c.ConnMaxLifetime)
	}
	if c.convertEnvErr != nil {
		return c.convertEnvErr
	}
	switch {
	case c.ConvertWorkers < 0:
		return fmt.Errorf("convert workers %d is negative", c.ConvertWorkers)
	case c.ConvertTimeout < 0:
		return fmt.Errorf("convert timeout %s is negative", c.ConvertTimeout)
	case c.ConvertMemory != 0 && c.ConvertMemory < MinConvertMemory:
		return fmt.Errorf("convert memory %d bytes is below the minimum of %d (LibreOffice cannot start)", c.ConvertMemory, MinConvertMemory)
	}
	return nil
}

// ParseWebOrigin reads NPES_WEB_ORIGIN: an https origin with a host name
// (scheme, host, optional port; nothing else). WebAuthn refuses IP
// addresses as RP IDs (WebAuthn L2 §5.1.3 step 8 requires a registrable
// domain or "localhost"), and browsers offer it only in secure contexts.
// Empty means no passkeys (nil, nil).
func ParseWebOrigin(s string) (*signing.WebAuthnTrust, error) {
	if s == "" {
		return nil, nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("NPES_WEB_ORIGIN %q: %s", s, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, bad("%v", err)
	case u.Scheme != "https":
		return nil, bad("must be an https origin such as https://post.example (WebAuthn works only on secure origins)")
	case u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, bad("must be an origin: https://host[:port], without path, query or user")
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return nil, bad("WebAuthn needs a host name, not an IP address (use https://localhost:PORT for a local test)")
	}
	if host != strings.ToLower(host) || strings.HasSuffix(host, ".") {
		return nil, bad("write the host name in lower case, without a trailing dot, as browsers serialize origins")
	}
	origin := "https://" + u.Host
	if p := u.Port(); p == "443" {
		origin = "https://" + host // browsers omit the default port
	}
	t := &signing.WebAuthnTrust{RPID: host, Origins: []string{origin}}
	if err := t.Check(); err != nil {
		return nil, bad("%v", err)
	}
	return t, nil
}

// MinConvertMemory is the smallest converter memory limit accepted:
// LibreOffice 7.4 maps about 600 MB at start.
const MinConvertMemory = 256 << 20

// ParseSize parses a byte count: a decimal number with an optional KiB,
// MiB or GiB suffix.
func ParseSize(s string) (int64, error) {
	v, mul := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mul    int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mul = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mul {
		return 0, fmt.Errorf("%q is not a size such as 1GiB, 768MiB or a number of bytes", s)
	}
	return n * mul, nil
}

// Default values of the configuration.
const (
	DefaultDataDir    = "./npes-data"
	DefaultHTTPAddr   = "127.0.0.1:8443"
	DefaultSMTPAddr   = "127.0.0.1:2525"
	DefaultSMTPSAddr  = "127.0.0.1:4650"
	DefaultMailDomain = "npes.localhost"
)

// FromEnv returns a Config filled from NPES_* variables and defaults;
// getenv is os.Getenv or a test's replacement.
func FromEnv(getenv func(string) string) Config {
	if getenv == nil {
		getenv = os.Getenv
	}
	or := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	c := Config{
		DataDir:            or("NPES_DATA", DefaultDataDir),
		DatabaseURL:        getenv("NPES_DATABASE_URL"),
		HTTPAddr:           or("NPES_HTTP_ADDR", DefaultHTTPAddr),
		Hostnames:          SplitList(getenv("NPES_HOSTNAMES")),
		MasterKeyFile:      getenv("NPES_MASTER_KEY_FILE"),
		SMTPAddr:           or("NPES_SMTP_ADDR", DefaultSMTPAddr),
		SMTPSAddr:          or("NPES_SMTPS_ADDR", DefaultSMTPSAddr),
		SMTPRelay:          getenv("NPES_SMTP_RELAY"),
		MailDomain:         or("NPES_MAIL_DOMAIN", DefaultMailDomain),
		WebOrigin:          getenv("NPES_WEB_ORIGIN"),
		DevActivationCodes: getenv("NPES_DEV_ACTIVATION_CODES") != "",
		ShutdownTimeout:    30 * time.Second,
		Limits: mailbox.Limits{
			MaxPendingMailboxes:        envCount(getenv, "NPES_MAX_PENDING_MAILBOXES"),
			MaxActivationLetters:       envCount(getenv, "NPES_MAX_ACTIVATION_LETTERS"),
			MaxActivationLettersPerDay: envCount(getenv, "NPES_MAX_ACTIVATION_LETTERS_PER_DAY"),
		},
	}
	c.Soffice = getenv("NPES_SOFFICE")
	var convertErrs []error
	if v := getenv("NPES_CONVERT_WORKERS"); v != "" {
		if c.ConvertWorkers = envCount(getenv, "NPES_CONVERT_WORKERS"); c.ConvertWorkers < 0 {
			convertErrs = append(convertErrs, fmt.Errorf("NPES_CONVERT_WORKERS: %q is not a positive number", v))
		}
	}
	if v := getenv("NPES_CONVERT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			convertErrs = append(convertErrs, fmt.Errorf("NPES_CONVERT_TIMEOUT: %q is not a positive duration such as 60s", v))
		}
		c.ConvertTimeout = d
	}
	if v := getenv("NPES_CONVERT_MEMORY"); v != "" {
		n, err := ParseSize(v)
		if err != nil {
			convertErrs = append(convertErrs, fmt.Errorf("NPES_CONVERT_MEMORY: %w", err))
		}
		c.ConvertMemory = n
	}
	c.convertEnvErr = errors.Join(convertErrs...)
	for _, e := range []struct {
		key string
		dst *time.Duration
	}{{"NPES_WEB_SESSION_IDLE", &c.WebSessionIdle}, {"NPES_WEB_SESSION_MAX", &c.WebSessionMax}} {
		if v := getenv(e.key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				c.webEnvErr = errors.Join(c.webEnvErr, fmt.Errorf("%s: %q is not a positive duration such as 15m", e.key, v))
			}
			*e.dst = d
		}
	}
	if v := getenv("NPES_CONN_MAX_LIFETIME"); v != "" {
		d, err := ParseLifetime(v)
		if err != nil {
			c.envErr = fmt.Errorf("NPES_CONN_MAX_LIFETIME: %w", err)
		}
		c.ConnMaxLifetime = d
	}
	return c
}

// ParseLifetime parses a connection lifetime: a Go duration ("10m",
// "90s") of at least a second. Anything shorter would make every client
// handshake before nearly every request.
func ParseLifetime(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 10m or 90s", s)
	}
	if d < time.Second {
		return 0, fmt.Errorf("%q is shorter than the minimum of 1s", s)
	}
	return d, nil
}

// envCount reads a positive count; unset is 0 (the default), anything but
// a positive decimal integer is -1, which fill refuses with the name.
func envCount(getenv func(string) string, key string) int {
	v := getenv(key)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return -1
	}
	return n
}

// SplitList splits a comma-separated list, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *Config) fill() error {
	if c.ConnMaxLifetime == 0 {
		c.ConnMaxLifetime = httpapi.DefaultConnMaxLifetime
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("data directory %q: %w", c.DataDir, err)
	}
	c.DataDir = abs
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RateLimit == (httpapi.RateLimit{}) {
		c.RateLimit = httpapi.DefaultRateLimit
	}
	if c.BodyTimeouts == (httpapi.BodyTimeouts{}) {
		c.BodyTimeouts = httpapi.DefaultBodyTimeouts
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = 30 * time.Second
	}
	if c.SMTPAddr == "" {
		c.SMTPAddr = DefaultSMTPAddr
	}
	if c.SMTPSAddr == "" {
		c.SMTPSAddr = DefaultSMTPSAddr
	}
	if c.MailDomain == "" {
		c.MailDomain = DefaultMailDomain
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	for _, l := range []struct {
		name string
		v    int
	}{
		{"NPES_MAX_PENDING_MAILBOXES (--max-pending-mailboxes)", c.Limits.MaxPendingMailboxes},
		{"NPES_MAX_ACTIVATION_LETTERS (--max-activation-letters)", c.Limits.MaxActivationLetters},
		{"NPES_MAX_ACTIVATION_LETTERS_PER_DAY (--max-activation-letters-per-day)", c.Limits.MaxActivationLettersPerDay},
	} {
		if l.v < 0 {
			return fmt.Errorf("%s must be a positive integer", l.name)
		}
	}
	return nil
}
