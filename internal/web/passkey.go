package web

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"
	"golang.org/x/time/rate"

	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// Passkeys in the portal (DESIGN §12, docs/ARCHITECTURE.md "Passkeys in
// the portal"). go-webauthn runs the browser ceremonies: the options of
// navigator.credentials.create and .get, the attestation of a new passkey
// ("none" is enough: npes trusts a passkey because the certificate holder
// endorses it, not because of its maker) and the sign-in assertion. A
// decision's assertion is checked by the core with signing.VerifyWebAuthn,
// as an offline verifier checks it, so there is one rule for both.

// Ceremony kinds (mailbox.Ceremony.Kind).
const (
	kindSignIn   = "signin"
	kindRegister = "register"
	kindPending  = "pending"
	kindDecide   = "decide"
)

// Ceremony lifetimes: a browser prompt is answered in a minute or two (the
// options' timeout is the same); a passkey waits for its endorsement while
// the holder runs one command.
const (
	ceremonyTTL = 5 * time.Minute
	pendingTTL  = mailbox.MaxCeremonyLifetime
	// decideTTL keeps the statement's time within signing.MaxStatementSkew
	// of the evidence that records it.
	decideTTL = 4 * time.Minute
)

// signInCookie holds the id of a passkey sign-in in progress, so that the
// assertion is accepted only from the browser that asked for the challenge.
const signInCookie = "__Host-npes-passkey"

// maxCredentialJSON bounds what a browser posts back from a ceremony:
// real ones are a few kilobytes.
const maxCredentialJSON = 64 << 10

// signInRate rations passkey sign-in challenges per client address: each
// is a row until it expires.
var signInRate = rate.Every(2 * time.Second)

const signInBurst = 10

// passkeyUser is a mailbox as go-webauthn sees it: the user handle is the
// mailbox id (not personal data; WebAuthn L2 §14.6.1), which a
// discoverable passkey returns at sign-in.
type passkeyUser struct {
	mailbox, name string
	creds         []webauthn.Credential
}

func (u passkeyUser) WebAuthnID() []byte                         { return []byte(u.mailbox) }
func (u passkeyUser) WebAuthnName() string                       { return u.mailbox }
func (u passkeyUser) WebAuthnDisplayName() string                { return u.name }
func (u passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newRelyingParty(rp *signing.WebAuthnTrust) (*webauthn.WebAuthn, error) {
	return webauthn.New(&webauthn.Config{RPID: rp.RPID, RPDisplayName: "npes", RPOrigins: rp.Origins,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL - 30*time.Second, TimeoutUVD: ceremonyTTL - 30*time.Second},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL - 30*time.Second, TimeoutUVD: ceremonyTTL - 30*time.Second},
		}})
}

// passkeyCredID reads a credential id from a path or form value.
func passkeyCredID(s string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return b, err == nil && len(b) > 0 && len(b) <= 1023
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func newCeremonyID() []byte {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return id
}

// coseKey is a passkey's JWK as a COSE key (RFC 9053 §7.1, §7.2), the form
// go-webauthn checks sign-in assertions with.
func coseKey(k signing.JWK) ([]byte, error) {
	pub, err := k.PublicKey()
	if err != nil {
		return nil, err
	}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		raw, err := p.Bytes() // 0x04 || X || Y
		if err != nil {
			return nil, err
		}
		return webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
			PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
			Curve:         int64(webauthncose.P256), XCoord: raw[1:33], YCoord: raw[33:]})
	case ed25519.PublicKey:
		return webauthncbor.Marshal(webauthncose.OKPPublicKeyData{
			PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.OctetKey), Algorithm: int64(webauthncose.AlgEdDSA)},
			Curve:         int64(webauthncose.Ed25519), XCoord: []byte(p)})
	}
	return nil, fmt.Errorf("passkey key type %T", pub)
}

// jwkOfCOSE reads a new passkey's COSE key: ES256 (P-256) or EdDSA
// (Ed25519) only, the algorithms an offline verifier accepts.
func jwkOfCOSE(cose []byte) (signing.JWK, error) {
	key, err := webauthncose.ParsePublicKey(cose)
	if err != nil {
		return signing.JWK{}, err
	}
	switch k := key.(type) {
	case webauthncose.EC2PublicKeyData:
		if webauthncose.COSEAlgorithmIdentifier(k.Algorithm) != webauthncose.AlgES256 || webauthncose.COSEEllipticCurve(k.Curve) != webauthncose.P256 {
			break
		}
		pub, err := k.ToECDSA()
		if err != nil {
			return signing.JWK{}, err
		}
		return signing.NewJWK(pub)
	case webauthncose.OKPPublicKeyData:
		if webauthncose.COSEEllipticCurve(k.Curve) != webauthncose.Ed25519 || len(k.XCoord) != ed25519.PublicKeySize {
			break
		}
		return signing.NewJWK(ed25519.PublicKey(k.XCoord))
	}
	return signing.JWK{}, errors.New("only ES256 (P-256) and EdDSA (Ed25519) passkeys are accepted")
}

// writeJSON answers a script's request.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// jsonError answers a script with a message it shows (role=alert).
func (p *Portal) jsonError(w http.ResponseWriter, r *http.Request, status int, key string) {
	writeJSON(w, status, map[string]string{"error": p.locale(w, r).T(key)})
}

// jsonServiceError answers a script with a domain error, as the pages do.
func (p *Portal) jsonServiceError(w http.ResponseWriter, r *http.Request, err error) {
	var de *mailbox.Error
	switch {
	case errors.Is(err, mailbox.ErrNotFound):
		p.jsonError(w, r, http.StatusNotFound, "Not found: the page is out of date. Reload it and try again.")
	case errors.As(err, &de):
		writeJSON(w, statusOf(err), map[string]string{"error": de.Message, "code": de.Code})
	default:
		p.Logger.ErrorContext(r.Context(), "portal passkey request failed", "path", r.URL.Path, "err", err)
		p.jsonError(w, r, http.StatusInternalServerError, "Something went wrong. Please try again later.")
	}
}

// readJSON decodes a script's request body, bounded.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return errors.New("not JSON")
	}
	return json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCredentialJSON)).Decode(v)
}

// passkeysOn answers 404 for passkey routes of a server without
// NPES_WEB_ORIGIN.
func (p *Portal) passkeysOn(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p.rp == nil {
			p.jsonError(w, r, http.StatusNotFound, "Passkeys are not enabled on this server.")
			return
		}
		next(w, r)
	}
}

// ceremonyOptions is what a script gets to start a browser prompt.
type ceremonyOptions struct {
	Ceremony string `json:"ceremony,omitempty"`
	Options  any    `json:"options"`
}

// ---- Sign-in ----

// signInPasskeyOptions starts a discoverable sign-in: any passkey bound to
// a mailbox may answer; user verification is required.
func (p *Portal) signInPasskeyOptions(w http.ResponseWriter, r *http.Request) {
	if !p.signInLimiter.allow(clientIP(r), p.now()) {
		w.Header().Set("Retry-After", "2")
		p.jsonError(w, r, http.StatusTooManyRequests, "Too many attempts from your address. Please wait a minute and try again.")
		return
	}
	opts, sd, err := p.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	data, err := json.Marshal(sd)
	if err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	id := newCeremonyID()
	if err := p.Service.StartCeremony(r.Context(), mailbox.Ceremony{ID: id, Kind: kindSignIn, Data: data, ExpiresAt: p.now().Add(ceremonyTTL)}); err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: signInCookie, Value: b64(id), Path: "/", MaxAge: int(ceremonyTTL / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, ceremonyOptions{Options: opts})
}

// signInPasskey finishes a passkey sign-in. The session acts as the
// certificate that endorsed the passkey (PasskeyHolder) and rests on it: a
// revocation of that certificate ends it.
func (p *Portal) signInPasskey(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(signInCookie)
	http.SetCookie(w, &http.Cookie{Name: signInCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	if err != nil {
		p.jsonError(w, r, http.StatusBadRequest, "The sign-in took too long. Please try again.")
		return
	}
	id, ok := passkeyCredID(c.Value)
	if !ok {
		p.jsonError(w, r, http.StatusBadRequest, "The sign-in took too long. Please try again.")
		return
	}
	cer, err := p.Service.TakeCeremony(r.Context(), id, nil, kindSignIn)
	if errors.Is(err, mailbox.ErrNotFound) {
		p.jsonError(w, r, http.StatusBadRequest, "The sign-in took too long. Please try again.")
		return
	}
	if err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(cer.Data, &sd); err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCredentialJSON))
	if err != nil {
		p.jsonError(w, r, http.StatusBadRequest, "The browser's answer could not be read.")
		return
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		p.jsonError(w, r, http.StatusBadRequest, "The browser's answer could not be read.")
		return
	}
	var holder mailbox.PasskeyHolder
	_, _, err = p.wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
		h, err := p.Service.PasskeyHolder(r.Context(), rawID)
		if err != nil {
			return nil, err
		}
		if string(userHandle) != h.Mailbox {
			return nil, errors.New("the passkey's user handle names another mailbox")
		}
		key, err := coseKey(h.Key)
		if err != nil {
			return nil, err
		}
		holder = h
		// npes keeps no signature counter or backup flags (they prove
		// nothing to a third party and synced passkeys report a zero
		// counter): the credential record takes the flags the assertion
		// states, so go-webauthn's consistency check has nothing to compare.
		flags := parsed.Response.AuthenticatorData.Flags
		return passkeyUser{mailbox: h.Mailbox, creds: []webauthn.Credential{{ID: rawID, PublicKey: key,
			Flags: webauthn.CredentialFlags{BackupEligible: flags.HasBackupEligible(), BackupState: flags.HasBackupState()}}}}, nil
	}, sd, parsed)
	if err != nil {
		p.Logger.InfoContext(r.Context(), "passkey sign-in refused", "err", err)
		p.jsonError(w, r, http.StatusUnauthorized, "This passkey is not bound to a mailbox here, or the check failed.")
		return
	}
	if p.Revocations != nil {
		revoked, err := p.Revocations.IsRevoked(r.Context(), holder.Endorser.Serial)
		if err != nil {
			p.jsonServiceError(w, r, err)
			return
		}
		if revoked {
			p.jsonError(w, r, http.StatusUnauthorized, "The certificate that added this passkey has been revoked.")
			return
		}
	}
	// A passkey stands for its certificate, and lives no longer.
	if na := holder.Endorser.NotAfter; !na.IsZero() && p.now().After(na) {
		p.jsonError(w, r, http.StatusUnauthorized, "The certificate that added this passkey has expired. Sign in with your new certificate and add the passkey again.")
		return
	}
	// A new session replaces the browser's old one (no session fixation,
	// no orphan row).
	if old, err := p.session(r); err == nil && old != nil {
		if err := p.deleteSession(r.Context(), old.TokenHash); err != nil {
			p.jsonServiceError(w, r, err)
			return
		}
	}
	if err := p.startSession(w, r, holder.Endorser, "passkey", negotiate(r, "")); err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": "/inbox"})
}

// ---- Adding a passkey ----

// certificateSession refuses a passkey step that only a certificate
// session may take: only the certificate holder adds a passkey.
func (p *Portal) certificateSession(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s := sessionFrom(r); s == nil || s.Method != "certificate" {
			p.jsonError(w, r, http.StatusForbidden, "Only a sign-in with your certificate can add a passkey.")
			return
		}
		next(w, r)
	}
}

// myMailbox returns one of the session's mailboxes with its bound passkeys.
func (p *Portal) myMailbox(r *http.Request, id string) (mailbox.Mailbox, []webauthn.Credential, error) {
	c := caller(r)
	boxes, err := p.Service.MyMailboxes(r.Context(), c)
	if err != nil {
		return mailbox.Mailbox{}, nil, err
	}
	for _, m := range boxes {
		if m.ID != id {
			continue
		}
		creds, err := p.Service.Credentials(r.Context(), c, id)
		if err != nil {
			return mailbox.Mailbox{}, nil, err
		}
		var keys []webauthn.Credential
		for _, cr := range creds {
			if raw, ok := passkeyOf(cr); ok && cr.UnboundAt.IsZero() {
				keys = append(keys, webauthn.Credential{ID: raw})
			}
		}
		return m, keys, nil
	}
	return mailbox.Mailbox{}, nil, mailbox.ErrNotFound
}

// passkeyOf reports whether a binding is a passkey's, and its credential id.
func passkeyOf(c mailbox.Credential) ([]byte, bool) {
	rest, ok := strings.CutPrefix(c.IdentityID, "passkey:")
	if !ok {
		return nil, false
	}
	return passkeyCredID(rest)
}

type registerState struct {
	Mailbox string               `json:"mailbox"`
	Session webauthn.SessionData `json:"session"`
}

// pendingPasskey is a passkey the browser made that waits for the
// holder's endorsement: the request file and the label chosen.
type pendingPasskey struct {
	Request signing.PasskeyEndorsementRequest `json:"request"`
	Label   string                            `json:"label"`
}

// registerOptions starts navigator.credentials.create for a mailbox: a
// discoverable, user-verified ES256 or EdDSA passkey, no attestation, none
// of the mailbox's passkeys again.
func (p *Portal) registerOptions(w http.ResponseWriter, r *http.Request) {
	m, existing, err := p.myMailbox(r, r.PathValue("id"))
	if err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(existing))
	for _, c := range existing {
		exclude = append(exclude, c.Descriptor())
	}
	yes := true
	opts, sd, err := p.wa.BeginRegistration(passkeyUser{mailbox: m.ID, name: m.HolderName, creds: existing},
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{RequireResidentKey: &yes,
			ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: protocol.VerificationRequired}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithCredentialParameters([]protocol.CredentialParameter{
			{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgES256},
			{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgEdDSA}}),
		webauthn.WithExclusions(exclude))
	if err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	p.startCeremony(w, r, kindRegister, registerState{Mailbox: m.ID, Session: *sd}, ceremonyTTL, opts)
}

// startCeremony stores a session's ceremony and answers the options.
func (p *Portal) startCeremony(w http.ResponseWriter, r *http.Request, kind string, state any, ttl time.Duration, opts any) {
	if id, ok := p.storeCeremony(w, r, kind, state, ttl); ok {
		writeJSON(w, http.StatusOK, ceremonyOptions{Ceremony: b64(id), Options: opts})
	}
}

// storeCeremony stores state as a ceremony of the session for ttl and
// returns its id; on failure it has answered the error and returns false.
func (p *Portal) storeCeremony(w http.ResponseWriter, r *http.Request, kind string, state any, ttl time.Duration) ([]byte, bool) {
	data, err := json.Marshal(state)
	if err != nil {
		p.jsonServiceError(w, r, err)
		return nil, false
	}
	id := newCeremonyID()
	err = p.Service.StartCeremony(r.Context(), mailbox.Ceremony{ID: id, SessionHash: sessionFrom(r).TokenHash, Kind: kind,
		Data: data, ExpiresAt: p.now().Add(ttl)})
	if err != nil {
		p.jsonServiceError(w, r, err)
		return nil, false
	}
	return id, true
}

// ceremonyAnswer is what a script posts back: the ceremony it answers,
// what the browser returned, and the form's fields.
type ceremonyAnswer struct {
	Ceremony   string          `json:"ceremony"`
	Credential json.RawMessage `json:"credential"`
	Label      string          `json:"label"`
}

// takeCeremony reads a script's answer and takes its ceremony.
func (p *Portal) takeCeremony(w http.ResponseWriter, r *http.Request, kind string, state any) (ceremonyAnswer, bool) {
	var a ceremonyAnswer
	if err := readJSON(w, r, &a); err != nil {
		p.jsonError(w, r, http.StatusBadRequest, "The browser's answer could not be read.")
		return a, false
	}
	id, ok := passkeyCredID(a.Ceremony)
	if !ok {
		p.jsonError(w, r, http.StatusBadRequest, "The browser's answer could not be read.")
		return a, false
	}
	c, err := p.Service.TakeCeremony(r.Context(), id, sessionFrom(r).TokenHash, kind)
	if errors.Is(err, mailbox.ErrNotFound) {
		p.jsonError(w, r, http.StatusBadRequest, "This step took too long. Please try again.")
		return a, false
	}
	if err == nil {
		err = json.Unmarshal(c.Data, state)
	}
	if err != nil {
		p.jsonServiceError(w, r, err)
		return a, false
	}
	return a, true
}

// register checks the new passkey (go-webauthn: client data, RP ID hash,
// UP and UV, the attestation statement of its format, "none" included)
// and keeps it, with its endorsement request, for this session until the
// holder's endorsement arrives.
func (p *Portal) register(w http.ResponseWriter, r *http.Request) {
	var st registerState
	a, ok := p.takeCeremony(w, r, kindRegister, &st)
	if !ok {
		return
	}
	if st.Mailbox != r.PathValue("id") {
		p.jsonError(w, r, http.StatusBadRequest, "This step took too long. Please try again.")
		return
	}
	label := strings.TrimSpace(a.Label)
	if err := mailbox.CheckText("label", label, 100, false); err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	m, existing, err := p.myMailbox(r, st.Mailbox)
	if err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(a.Credential)
	if err != nil {
		p.jsonError(w, r, http.StatusBadRequest, "The browser's answer could not be read.")
		return
	}
	cred, err := p.wa.CreateCredential(passkeyUser{mailbox: m.ID, name: m.HolderName, creds: existing}, st.Session, parsed)
	if err != nil {
		p.Logger.InfoContext(r.Context(), "passkey registration refused", "err", err)
		p.jsonError(w, r, http.StatusBadRequest, "The new passkey could not be checked. Please try again.")
		return
	}
	jwk, err := jwkOfCOSE(cred.PublicKey)
	if err != nil {
		p.jsonError(w, r, http.StatusBadRequest, "This authenticator makes keys npes cannot check (only ES256 and EdDSA). Use another one.")
		return
	}
	pending := pendingPasskey{Label: label, Request: signing.PasskeyEndorsementRequest{Type: signing.PasskeyEndorsementRequestType,
		V: signing.PasskeyEndorsementVersion, Mailbox: m.ID, CredentialID: b64(cred.ID), JWK: jwk, RPID: p.rp.RPID}}
	id, ok := p.storeCeremony(w, r, kindPending, pending, pendingTTL)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": "/mailbox?pending=" + b64(id) + "#pending-" + b64(id)})
}

// pendingView is a passkey waiting for its endorsement, as the mailbox
// page shows it.
type pendingView struct {
	ID, Mailbox, Label, CredentialID string
	Expires                          time.Time
}

// pendingOf lists the session's passkeys waiting for an endorsement.
func (p *Portal) pendingOf(r *http.Request) ([]pendingView, map[string]pendingPasskey, error) {
	s := sessionFrom(r)
	if p.rp == nil || s == nil || s.Method != "certificate" {
		return nil, nil, nil
	}
	cs, err := p.Service.Ceremonies(r.Context(), s.TokenHash, kindPending)
	if err != nil {
		return nil, nil, err
	}
	var out []pendingView
	byID := map[string]pendingPasskey{}
	for _, c := range cs {
		var pp pendingPasskey
		if err := json.Unmarshal(c.Data, &pp); err != nil {
			return nil, nil, err
		}
		id := b64(c.ID)
		byID[id] = pp
		out = append(out, pendingView{ID: id, Mailbox: pp.Request.Mailbox, Label: pp.Label,
			CredentialID: pp.Request.CredentialID, Expires: c.ExpiresAt})
	}
	return out, byID, nil
}

// pendingRequest downloads a pending passkey's endorsement request, the
// file `npes mailbox endorse-passkey --request FILE` signs.
func (p *Portal) pendingRequest(w http.ResponseWriter, r *http.Request) {
	_, byID, err := p.pendingOf(r)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	pp, ok := byID[r.PathValue("pid")]
	if !ok || pp.Request.Mailbox != r.PathValue("id") {
		p.errorPage(w, r, http.StatusNotFound, "This step took too long. Please try again.")
		return
	}
	data, err := json.MarshalIndent(pp.Request, "", "  ")
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "npes-passkey-request.json"}))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(data, '\n'))
}

// maxEndorsement bounds a pasted or uploaded endorsement (a compact JWS
// with a certificate chain).
const maxEndorsement = 64 << 10

// endorse binds a pending passkey with the holder's endorsement, pasted or
// uploaded: mailbox.Service.BindPasskey checks it (signature, chain to the
// identity CA, the endorsing certificate bound to the mailbox, this RP ID,
// time) and logs CredentialBound.
func (p *Portal) endorse(w http.ResponseWriter, r *http.Request) {
	mailboxID, pid := r.PathValue("id"), r.PathValue("pid")
	if s := sessionFrom(r); s.Method != "certificate" {
		p.errorPage(w, r, http.StatusForbidden, "Only a sign-in with your certificate can add a passkey.")
		return
	}
	_, byID, err := p.pendingOf(r)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	pp, ok := byID[pid]
	if !ok || pp.Request.Mailbox != mailboxID {
		p.errorPage(w, r, http.StatusNotFound, "This step took too long. Please try again.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxEndorsement+16<<10)
	jws := strings.TrimSpace(r.PostFormValue("endorsement"))
	if f, _, err := r.FormFile("endorsement_file"); err == nil {
		data, err := io.ReadAll(io.LimitReader(f, maxEndorsement+1))
		f.Close()
		if err == nil && len(data) <= maxEndorsement && len(bytes.TrimSpace(data)) > 0 {
			jws = string(bytes.TrimSpace(data))
		}
	}
	fail := func(status int, msg string) {
		p.renderMailboxes(w, r, status, mailboxPage{Error: msg, ErrorBox: mailboxID, ErrorPending: pid})
	}
	if jws == "" {
		fail(http.StatusBadRequest, p.locale(w, r).T("Paste the endorsement the command printed, or choose the file you saved it in."))
		return
	}
	credID, _ := passkeyCredID(pp.Request.CredentialID)
	err = p.Service.BindPasskey(r.Context(), caller(r), mailboxID, mailbox.PasskeyBinding{CredentialID: credID,
		PublicKey: pp.Request.JWK, Endorsement: jws, Label: pp.Label})
	if err != nil {
		var de *mailbox.Error
		if errors.As(err, &de) && !errors.Is(err, mailbox.ErrNotFound) {
			fail(statusOf(err), de.Message)
			return
		}
		p.serviceError(w, r, err)
		return
	}
	id, _ := passkeyCredID(pid)
	if _, err := p.Service.TakeCeremony(r.Context(), id, sessionFrom(r).TokenHash, kindPending); err != nil && !errors.Is(err, mailbox.ErrNotFound) {
		p.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/mailbox?bound="+pp.Request.CredentialID+"#passkeys-"+mailboxID, http.StatusSeeOther)
}

// labelPasskey renames a passkey.
func (p *Portal) labelPasskey(w http.ResponseWriter, r *http.Request) {
	mailboxID := r.PathValue("id")
	credID, ok := passkeyCredID(r.PathValue("cred"))
	if !ok {
		p.notFound(w, r)
		return
	}
	label := strings.TrimSpace(r.PostFormValue("label"))
	if err := p.Service.LabelPasskey(r.Context(), caller(r), mailboxID, credID, label); err != nil {
		var de *mailbox.Error
		if errors.As(err, &de) && !errors.Is(err, mailbox.ErrNotFound) {
			p.renderMailboxes(w, r, statusOf(err), mailboxPage{Error: de.Message, ErrorBox: mailboxID})
			return
		}
		p.serviceError(w, r, err)
		return
	}
	http.Redirect(w, r, "/mailbox?renamed=1#passkeys-"+mailboxID, http.StatusSeeOther)
}

// removePasskey unbinds a passkey (CredentialUnbound in the log).
func (p *Portal) removePasskey(w http.ResponseWriter, r *http.Request) {
	mailboxID := r.PathValue("id")
	credID, ok := passkeyCredID(r.PathValue("cred"))
	if !ok {
		p.notFound(w, r)
		return
	}
	if err := p.Service.UnbindPasskey(r.Context(), caller(r), mailboxID, credID); err != nil {
		var de *mailbox.Error
		if errors.As(err, &de) && !errors.Is(err, mailbox.ErrNotFound) {
			p.renderMailboxes(w, r, statusOf(err), mailboxPage{Error: de.Message, ErrorBox: mailboxID})
			return
		}
		p.serviceError(w, r, err)
		return
	}
	http.Redirect(w, r, "/mailbox?removed=1#passkeys-"+mailboxID, http.StatusSeeOther)
}

// ---- Signing for a letter ----

type decideState struct {
	Letter       string `json:"letter"`
	Decision     string `json:"decision"`
	CredentialID string `json:"credential_id"`
	Statement    []byte `json:"statement"`
}

type decideRequest struct {
	Decision     string `json:"decision"`
	Reason       string `json:"reason"`
	CredentialID string `json:"credential_id"`
}

// maxReason bounds a refusal's reason (runes).
const maxReason = 1000

// decideOptions builds the statement server-side (letter, notification,
// content digest, decision, mailbox, credential id, RP ID, time) and asks
// the browser for a user-verified assertion whose challenge is SHA-256 of
// its exact bytes.
func (p *Portal) decideOptions(w http.ResponseWriter, r *http.Request) {
	var req decideRequest
	if err := readJSON(w, r, &req); err != nil {
		p.jsonError(w, r, http.StatusBadRequest, "The browser's answer could not be read.")
		return
	}
	if req.Decision != mailbox.DecisionAccept && req.Decision != mailbox.DecisionRefuse {
		p.jsonError(w, r, http.StatusBadRequest, "The browser's answer could not be read.")
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Decision == mailbox.DecisionAccept {
		req.Reason = ""
	}
	if err := mailbox.CheckText("reason", req.Reason, maxReason, false); err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	credID, ok := passkeyCredID(req.CredentialID)
	if !ok {
		p.jsonError(w, r, http.StatusBadRequest, "Choose a passkey.")
		return
	}
	c := caller(r)
	v, err := p.Service.GetLetter(r.Context(), c, r.PathValue("id"))
	if err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	if !awaitingMe(v) {
		p.jsonError(w, r, http.StatusConflict, "This letter no longer awaits your signature.")
		return
	}
	bound := false
	if creds, err := p.Service.Credentials(r.Context(), c, v.Recipient.Mailbox); err == nil {
		for _, cr := range creds {
			if raw, ok := passkeyOf(cr); ok && cr.UnboundAt.IsZero() && bytes.Equal(raw, credID) {
				bound = true
			}
		}
	}
	if !bound {
		p.jsonError(w, r, http.StatusBadRequest, "Choose a passkey.")
		return
	}
	st := mailbox.NewStatement(v, req.Decision, req.Reason, p.now())
	st.Mailbox, st.CredentialID, st.RPID = v.Recipient.Mailbox, req.CredentialID, p.rp.RPID
	statement, err := json.Marshal(st)
	if err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	cred := webauthn.Credential{ID: credID}
	opts, _, err := p.wa.BeginLogin(passkeyUser{mailbox: v.Recipient.Mailbox, creds: []webauthn.Credential{cred}},
		webauthn.WithChallenge(signing.WebAuthnChallenge(statement)),
		webauthn.WithUserVerification(protocol.VerificationRequired),
		webauthn.WithAllowedCredentials([]protocol.CredentialDescriptor{cred.Descriptor()}))
	if err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	p.startCeremony(w, r, kindDecide, decideState{Letter: v.ID, Decision: req.Decision, CredentialID: req.CredentialID, Statement: statement}, decideTTL, opts)
}

// decide records the decision: the core verifies the assertion as an
// offline verifier will (signing.VerifyWebAuthn) and logs it as
// recipient_webauthn.
func (p *Portal) decide(w http.ResponseWriter, r *http.Request) {
	var st decideState
	a, ok := p.takeCeremony(w, r, kindDecide, &st)
	if !ok {
		return
	}
	if st.Letter != r.PathValue("id") {
		p.jsonError(w, r, http.StatusBadRequest, "This step took too long. Please try again.")
		return
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(a.Credential)
	if err != nil || b64(parsed.RawID) != st.CredentialID {
		p.jsonError(w, r, http.StatusBadRequest, "The browser's answer could not be read.")
		return
	}
	resp := parsed.Raw.AssertionResponse
	assertion := signing.WebAuthnAssertion{Statement: b64(st.Statement), CredentialID: st.CredentialID,
		AuthenticatorData: b64(resp.AuthenticatorData), ClientDataJSON: b64(resp.ClientDataJSON), Signature: b64(resp.Signature)}
	decide := p.Service.AcceptWithPasskey
	if st.Decision == mailbox.DecisionRefuse {
		decide = p.Service.RefuseWithPasskey
	}
	if _, err := decide(r.Context(), caller(r), st.Letter, assertion); err != nil {
		p.jsonServiceError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": "/letters/" + st.Letter + "?decided=" + st.Decision})
}
