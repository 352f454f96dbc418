package httpapi

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	jsonv2 "github.com/go-json-experiment/json"

	"github.com/npes/npes/addressing"
	"github.com/npes/npes/mailbox"
)

// maxJSONBody bounds small JSON request bodies.
const maxJSONBody = 64 << 10

// strictJSON is how every JSON request is read: encoding/json/v2's
// semantics (github.com/go-json-experiment/json mirrors it until Go 1.27
// makes it standard), which refuse an unknown member (a misspelt field is
// an error, not silently ignored), a member named twice, a name in another
// case, invalid UTF-8 and anything after the value. v2 reads a value in
// one pass: on a 10 KiB letter part about twice as fast as v1's Decoder,
// with less than half its allocation (BENCHMARKS.md).
var strictJSON = jsonv2.RejectUnknownMembers(true)

// unmarshalJSON reads one JSON value from r, which the caller bounds
// (http.MaxBytesReader), into v, strictly (strictJSON). The body is read
// whole before it is parsed: one over its bound is refused as too large
// whatever it begins with, not as bad JSON for a member seen first.
func unmarshalJSON(r io.Reader, v any) error {
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer putJSONBuffer(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	// v holds copies of the strings it needs: buf can be reused.
	return jsonv2.Unmarshal(buf.Bytes(), v, strictJSON)
}

// decodeJSON reads a small JSON body strictly (strictJSON).
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	if err := unmarshalJSON(r.Body, v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mailbox.Errorf(mailbox.ErrTooLarge, "too_large", "the request body exceeds %d bytes", maxJSONBody)
		}
		if errors.Is(err, errBodyTimeout) {
			return errBodyTimeout
		}
		return mailbox.Errorf(mailbox.ErrInvalid, "bad_json", "the request body is not the expected JSON: %v", err)
	}
	return nil
}

func caller(r *http.Request) mailbox.Caller {
	c := mailbox.Caller{Identity: *identityFrom(r.Context())}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		c.Cert = r.TLS.PeerCertificates[0]
	}
	return c
}

type mailboxJSON struct {
	ID          string           `json:"id"`
	Kind        string           `json:"kind"`
	Holder      string           `json:"holder"`
	Address     string           `json:"address"`
	Normalized  *addressing.JSON `json:"normalized,omitempty"`
	Status      string           `json:"status"`
	Email       string           `json:"email,omitempty"`
	MailAddress string           `json:"mail_address,omitempty"`
	CreatedAt   time.Time        `json:"created_at"`
	ActivatedAt *time.Time       `json:"activated_at,omitempty"`
}

func (s *server) mailboxJSON(m mailbox.Mailbox) mailboxJSON {
	out := mailboxJSON{ID: m.ID, Kind: m.Kind, Holder: m.HolderName, Address: m.Address, Status: m.Status,
		Email: m.Email, CreatedAt: m.CreatedAt}
	var a addressing.Address
	if json.Unmarshal(m.AddressJSON, &a) == nil {
		n := addressing.NewJSON(m.Address, a, nil)
		out.Normalized = &n
	}
	if !m.ActivatedAt.IsZero() {
		t := m.ActivatedAt
		out.ActivatedAt = &t
	}
	if s.MailDomain != "" {
		out.MailAddress = m.ID + "@" + s.MailDomain
	}
	return out
}

func (s *server) registerMailbox(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Address string `json:"address"`
		Email   string `json:"email"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.Service.RegisterMailbox(r.Context(), caller(r), mailbox.RegisterRequest{Address: req.Address, Email: req.Email})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.mailboxJSON(m))
}

func (s *server) activateMailbox(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code string `json:"code"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.Service.ActivateMailbox(r.Context(), caller(r), chi.URLParam(r, "id"), req.Code)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.mailboxJSON(m))
}

// resendActivationLetter queues a new activation letter (202: it is
// printed and posted later); its code replaces the old one.
func (s *server) resendActivationLetter(w http.ResponseWriter, r *http.Request) {
	m, err := s.Service.ResendActivationLetter(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, s.mailboxJSON(m))
}

func (s *server) verifyMailbox(w http.ResponseWriter, r *http.Request) {
	m, err := s.Service.VerifyAddress(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.mailboxJSON(m))
}

// myMailboxes lists the caller's mailboxes and the recoveries the caller
// started that are pending (a new certificate is bound to no mailbox
// until its recovery completes).
func (s *server) myMailboxes(w http.ResponseWriter, r *http.Request) {
	ms, err := s.Service.MyMailboxes(r.Context(), caller(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rs, err := s.Service.MyRecoveries(r.Context(), caller(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Mailboxes  []mailboxJSON  `json:"mailboxes"`
		Recoveries []recoveryJSON `json:"recoveries"`
	}{Mailboxes: []mailboxJSON{}, Recoveries: []recoveryJSON{}}
	for _, m := range ms {
		out.Mailboxes = append(out.Mailboxes, s.mailboxJSON(m))
	}
	for _, rc := range rs {
		out.Recoveries = append(out.Recoveries, recJSON(rc))
	}
	writeJSON(w, http.StatusOK, out)
}

type recoveryJSON struct {
	ID        string    `json:"id"`
	Mailbox   string    `json:"mailbox"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

func recJSON(r mailbox.Recovery) recoveryJSON {
	return recoveryJSON{ID: r.ID, Mailbox: r.MailboxID, Status: r.Status, CreatedAt: r.CreatedAt}
}

// startRecovery answers 202: the code is printed and posted later.
func (s *server) startRecovery(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Address string `json:"address"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	rc, err := s.Service.StartRecovery(r.Context(), caller(r), req.Address)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, recJSON(rc))
}

func (s *server) completeRecovery(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code string `json:"code"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.Service.CompleteRecovery(r.Context(), caller(r), chi.URLParam(r, "id"), req.Code)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.mailboxJSON(m))
}

func (s *server) verifyRecovery(w http.ResponseWriter, r *http.Request) {
	m, err := s.Service.VerifyRecovery(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.mailboxJSON(m))
}

type credentialJSON struct {
	Identity   string     `json:"identity"`
	Serial     string     `json:"serial"`
	SPKISHA256 string     `json:"spki_sha256"`
	BoundAt    time.Time  `json:"bound_at"`
	UnboundAt  *time.Time `json:"unbound_at,omitempty"`
	NotAfter   *time.Time `json:"not_after,omitempty"`
	Label      string     `json:"label,omitempty"`
}

func credJSON(c mailbox.Credential) credentialJSON {
	out := credentialJSON{Identity: c.IdentityID, Serial: c.Serial, SPKISHA256: c.SPKISHA256, BoundAt: c.BoundAt, Label: c.Label}
	if !c.NotAfter.IsZero() {
		t := c.NotAfter
		out.NotAfter = &t
	}
	if !c.UnboundAt.IsZero() {
		t := c.UnboundAt
		out.UnboundAt = &t
	}
	return out
}

func (s *server) listCredentials(w http.ResponseWriter, r *http.Request) {
	cs, err := s.Service.Credentials(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Credentials []credentialJSON `json:"credentials"`
	}{Credentials: []credentialJSON{}}
	for _, c := range cs {
		out.Credentials = append(out.Credentials, credJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) bindCredential(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Certificate string `json:"certificate"`
		Label       string `json:"label"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	block, _ := pem.Decode([]byte(req.Certificate))
	if block == nil || block.Type != "CERTIFICATE" {
		s.writeError(w, r, mailbox.Errorf(mailbox.ErrInvalid, "bad_certificate", "certificate must be one PEM CERTIFICATE block"))
		return
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		s.writeError(w, r, mailbox.Errorf(mailbox.ErrInvalid, "bad_certificate", "%v", err))
		return
	}
	c, err := s.Service.BindCredential(r.Context(), caller(r), chi.URLParam(r, "id"), cert, req.Label)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, credJSON(c))
}

func (s *server) unbindCredential(w http.ResponseWriter, r *http.Request) {
	if err := s.Service.UnbindCredential(r.Context(), caller(r), chi.URLParam(r, "id"), chi.URLParam(r, "identity")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
