package app_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/cli"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/webauthntest"
)

// testOrigin is the portal's NPES_WEB_ORIGIN in these tests: the software
// authenticator names it in its client data, whatever address the
// listener has.
const testOrigin = "https://post.example"

// TestPortalPasskeys drives the portal's passkey steps as passkey.js does,
// with a software authenticator: adding a passkey (create, endorse with
// `npes mailbox endorse-passkey --request`), renaming, signing in with it,
// accepting and refusing registered letters, removing it; and every
// refusal on the way.
func TestPortalPasskeys(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(*testing.T) string{
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
		"sqlite":   func(t *testing.T) string { return "" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testPortalPasskeys(t, setupWith(t, url(t), func(c *app.Config) { c.WebOrigin = testOrigin }))
		})
	}
}

// passkeyJSON is what passkey.js posts: the credential in the JSON form of
// WebAuthn L3 §5.1.
func createJSON(a *webauthntest.Authenticator, clientData, attestation []byte) map[string]any {
	enc := base64.RawURLEncoding.EncodeToString
	return map[string]any{"id": a.ID(), "rawId": a.ID(), "type": "public-key", "clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": enc(clientData), "attestationObject": enc(attestation)}}
}

func getJSON(as *signing.WebAuthnAssertion, userHandle string) map[string]any {
	resp := map[string]any{"clientDataJSON": as.ClientDataJSON, "authenticatorData": as.AuthenticatorData, "signature": as.Signature}
	if userHandle != "" {
		resp["userHandle"] = base64.RawURLEncoding.EncodeToString([]byte(userHandle))
	}
	return map[string]any{"id": as.CredentialID, "rawId": as.CredentialID, "type": "public-key",
		"clientExtensionResults": map[string]any{}, "response": resp}
}

// options is a ceremony's start as the portal answers it.
type options struct {
	Ceremony string `json:"ceremony"`
	Options  struct {
		PublicKey struct {
			Challenge        string `json:"challenge"`
			UserVerification string `json:"userVerification"`
			User             struct {
				ID string `json:"id"`
			} `json:"user"`
			AuthenticatorSelection struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Attestation      string `json:"attestation"`
			PubKeyCredParams []struct {
				Alg int `json:"alg"`
			} `json:"pubKeyCredParams"`
			AllowCredentials []struct {
				ID string `json:"id"`
			} `json:"allowCredentials"`
		} `json:"publicKey"`
	} `json:"options"`
	Error    string `json:"error"`
	Redirect string `json:"redirect"`
}

// postJSON posts as passkey.js does (same-origin fetch).
func (p *portalClient) postJSON(path string, body any, out any, extra ...string) (*http.Response, string) {
	p.t.Helper()
	data, _ := json.Marshal(body)
	hdr := map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"}
	if len(extra) == 1 {
		hdr["Cookie"] = extra[0]
	}
	resp, text := p.request("POST", path, bytes.NewReader(data), hdr)
	if out != nil {
		_ = json.Unmarshal([]byte(text), out)
	}
	return resp, text
}

func challengeOf(t *testing.T, o options) []byte {
	t.Helper()
	c, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(o.Options.PublicKey.Challenge, "="))
	if err != nil || len(c) == 0 {
		t.Fatalf("options without a challenge: %+v", o)
	}
	return c
}

func testPortalPasskeys(t *testing.T, b *bundle) {
	ctx := t.Context()
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	box := citizen.registerActive(citizenAddress)
	holder := b.portal(t, &citizen.cred)
	holder.signIn()
	auth := webauthntest.New("post.example", testOrigin)
	// A certificate-only holder is offered to add a passkey first.
	status, early, data := org.send(map[string]any{"recipient": map[string]string{"name": "Иванову Ивану Ивановичу", "address": citizenAddress},
		"registered": true, "subject": "Предварительное", "body": "Текст"}, "")
	if status != 201 {
		t.Fatalf("send: %d %s", status, data)
	}
	if _, page := holder.do("GET", "/letters/"+early.ID, nil); !strings.Contains(page, "add a passkey to your mailbox first") || strings.Contains(page, "passkey-decide") {
		t.Errorf("letter page of a holder without passkeys:\n%s", page)
	}

	// The browser makes a passkey: discoverable, user-verified, ES256 or
	// EdDSA, no attestation asked; the user handle is the mailbox.
	var o options
	if resp, body := holder.postJSON("/mailbox/"+box+"/passkeys/options", nil, &o); resp.StatusCode != 200 {
		t.Fatalf("register options: %d %s", resp.StatusCode, body)
	}
	pk := o.Options.PublicKey
	if uh, _ := base64.RawURLEncoding.DecodeString(strings.TrimRight(pk.User.ID, "=")); string(uh) != box ||
		pk.AuthenticatorSelection.ResidentKey != "required" || pk.AuthenticatorSelection.UserVerification != "required" ||
		pk.Attestation != "none" || len(pk.PubKeyCredParams) != 2 || pk.PubKeyCredParams[0].Alg != -7 || pk.PubKeyCredParams[1].Alg != -8 {
		t.Errorf("register options: %+v", pk)
	}
	// Without user verification the new passkey is refused, and the
	// ceremony is spent.
	noUV := byte(0x01 | 0x40)
	cd, att := auth.Create(challengeOf(t, o), &noUV)
	if resp, body := holder.postJSON("/mailbox/"+box+"/passkeys", map[string]any{"ceremony": o.Ceremony, "credential": createJSON(auth, cd, att)}, nil); resp.StatusCode != 400 {
		t.Errorf("a passkey made without UV: %d %s", resp.StatusCode, body)
	}
	if resp, _ := holder.postJSON("/mailbox/"+box+"/passkeys", map[string]any{"ceremony": o.Ceremony, "credential": createJSON(auth, cd, att)}, nil); resp.StatusCode != 400 {
		t.Errorf("a spent ceremony: %d", resp.StatusCode)
	}
	holder.postJSON("/mailbox/"+box+"/passkeys/options", nil, &o)
	cd, att = auth.Create(challengeOf(t, o), nil)
	var done options
	if resp, body := holder.postJSON("/mailbox/"+box+"/passkeys", map[string]any{"ceremony": o.Ceremony, "label": "Тэлефон",
		"credential": createJSON(auth, cd, att)}, &done); resp.StatusCode != 200 || !strings.HasPrefix(done.Redirect, "/mailbox?pending=") {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	pid := strings.TrimPrefix(strings.SplitN(done.Redirect, "#", 2)[0], "/mailbox?pending=")
	resp, page := holder.do("GET", "/mailbox", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "/mailbox/"+box+"/pending-passkeys/"+pid) || !strings.Contains(page, "endorse-passkey --request") {
		t.Fatalf("mailbox page with a pending passkey: %d %s", resp.StatusCode, page)
	}
	// The request file names the passkey exactly.
	resp, reqFile := holder.do("GET", "/mailbox/"+box+"/pending-passkeys/"+pid, nil)
	req, err := signing.ParsePasskeyEndorsementRequest([]byte(reqFile))
	if resp.StatusCode != 200 || err != nil || req.Mailbox != box || req.CredentialID != auth.ID() || req.RPID != "post.example" ||
		req.JWK.Thumbprint() != auth.JWK().Thumbprint() {
		t.Fatalf("endorsement request: %d %v %s", resp.StatusCode, err, reqFile)
	}
	// Another session does not see it.
	other := b.portal(t, &citizen.cred)
	other.signIn()
	if resp, _ := other.do("GET", "/mailbox/"+box+"/pending-passkeys/"+pid, nil); resp.StatusCode != 404 {
		t.Errorf("another session's pending passkey: %d", resp.StatusCode)
	}

	// The holder signs the request with the certificate, offline.
	dir := t.TempDir()
	if err := certs.WriteCredentialDir(filepath.Join(dir, "holder"), citizen.cred); err != nil {
		t.Fatal(err)
	}
	reqPath := filepath.Join(dir, "npes-passkey-request.json")
	if err := os.WriteFile(reqPath, []byte(reqFile), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if code := cli.Main(ctx, []string{"mailbox", "endorse-passkey", "--request", reqPath, "--id", filepath.Join(dir, "holder")},
		&cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errs, Getenv: func(string) string { return "" }}); code != 0 {
		t.Fatalf("endorse-passkey --request: exit %d %s", code, errs.String())
	}
	jws := strings.TrimSpace(out.String())
	// An endorsement by a certificate not bound to the mailbox is refused
	// on the page, and the passkey still waits.
	stranger := b.issue(t, citizenReq, b.clock.Now())
	if err := certs.WriteCredentialDir(filepath.Join(dir, "stranger"), stranger); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	cli.Main(ctx, []string{"mailbox", "endorse-passkey", "--request", reqPath, "--id", filepath.Join(dir, "stranger")},
		&cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errs, Getenv: func(string) string { return "" }})
	if resp, body := holder.postForm("/mailbox/"+box+"/pending-passkeys/"+pid, url.Values{"endorsement": {strings.TrimSpace(out.String())}}); resp.StatusCode != 403 ||
		!strings.Contains(body, "not bound to the mailbox") {
		t.Errorf("endorsed by an unbound certificate: %d %s", resp.StatusCode, body)
	}
	if resp, body := holder.postForm("/mailbox/"+box+"/pending-passkeys/"+pid, url.Values{"endorsement": {jws}}); resp.StatusCode != 303 {
		t.Fatalf("endorse: %d %s", resp.StatusCode, body)
	}
	_, page = holder.do("GET", "/mailbox", nil)
	if !strings.Contains(page, "Тэлефон") || strings.Contains(page, "/pending-passkeys/") {
		t.Fatalf("mailbox page after binding: %s", page)
	}
	if resp, _ := holder.postForm("/mailbox/"+box+"/passkeys/"+auth.ID()+"/label", url.Values{"label": {"Ноутбук"}}); resp.StatusCode != 303 {
		t.Errorf("rename: %d", resp.StatusCode)
	}
	if _, page = holder.do("GET", "/mailbox", nil); !strings.Contains(page, "Ноутбук") {
		t.Errorf("the new label is not shown")
	}

	// Sign in with the passkey (discoverable), bound to this browser by a
	// cookie; the challenge is used once.
	anon := b.portal(t, nil)
	signIn := func(a *webauthntest.Authenticator, flags *byte, handle string) (*http.Response, string, *http.Cookie) {
		resp, body := anon.postJSON("/signin/passkey/options", nil, &o)
		if resp.StatusCode != 200 || o.Options.PublicKey.UserVerification != "required" {
			t.Fatalf("sign-in options: %d %s", resp.StatusCode, body)
		}
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "__Host-npes-passkey" {
				cookie = c
			}
		}
		if cookie == nil || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode {
			t.Fatalf("sign-in ceremony cookie: %v", resp.Header["Set-Cookie"])
		}
		as := a.Assert([]byte("sign-in"), webauthntest.Options{Challenge: challengeOf(t, o), Flags: flags})
		resp, body = anon.postJSON("/signin/passkey", getJSON(as, handle), nil, "__Host-npes-passkey="+cookie.Value)
		if resp.StatusCode == 200 {
			// Replaying the same answer opens nothing.
			if again, _ := anon.postJSON("/signin/passkey", getJSON(as, handle), nil, "__Host-npes-passkey="+cookie.Value); again.StatusCode != 400 {
				t.Errorf("replayed sign-in: %d", again.StatusCode)
			}
		}
		return resp, body, cookie
	}
	up := byte(0x01)
	if resp, body, _ := signIn(auth, &up, box); resp.StatusCode != 401 {
		t.Errorf("sign-in without user verification: %d %s", resp.StatusCode, body)
	}
	if resp, body, _ := signIn(webauthntest.New("post.example", testOrigin), nil, box); resp.StatusCode != 401 {
		t.Errorf("sign-in with an unbound passkey: %d %s", resp.StatusCode, body)
	}
	if resp, body, _ := signIn(auth, nil, "mb-other"); resp.StatusCode != 401 {
		t.Errorf("sign-in with another user handle: %d %s", resp.StatusCode, body)
	}
	resp, body, _ := signIn(auth, nil, box)
	if resp.StatusCode != 200 || !strings.Contains(body, `"/inbox"`) {
		t.Fatalf("passkey sign-in: %d %s", resp.StatusCode, body)
	}
	pass := b.portal(t, nil)
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-npes" {
			pass.cookie = c.Value
		}
	}
	if resp, body := pass.do("GET", "/inbox", nil); resp.StatusCode != 200 || !strings.Contains(body, citizenReq.Name) {
		t.Fatalf("inbox after passkey sign-in: %d", resp.StatusCode)
	}
	// A passkey session cannot add a passkey.
	if _, page := pass.do("GET", "/mailbox", nil); !strings.Contains(page, "To add a passkey, sign in with your certificate.") {
		t.Errorf("a passkey session is offered to add a passkey")
	}
	if resp, _ := pass.postJSON("/mailbox/"+box+"/passkeys/options", nil, nil); resp.StatusCode != 403 {
		t.Errorf("register options in a passkey session: %d", resp.StatusCode)
	}

	// Accept a registered letter with the passkey.
	send := func(subject string) string {
		status, sent, data := org.send(map[string]any{"recipient": map[string]string{"name": "Иванову Ивану Ивановичу", "address": citizenAddress},
			"registered": true, "subject": subject, "body": "Текст: " + subject}, "")
		if status != 201 {
			t.Fatalf("send: %d %s", status, data)
		}
		return sent.ID
	}
	accepted, refused := send("Извещение"), send("Требование")
	if _, page := pass.do("GET", "/letters/"+accepted, nil); !strings.Contains(page, `class="passkey-decide"`) || !strings.Contains(page, "/static/passkey.js") {
		t.Fatalf("letter page offers no passkey signature:\n%s", page)
	}
	decide := func(letter, decision, reason string, flags *byte) (*http.Response, string) {
		resp, body := pass.postJSON("/letters/"+letter+"/passkey/options", map[string]string{"decision": decision, "reason": reason, "credential_id": auth.ID()}, &o)
		if resp.StatusCode != 200 {
			return resp, body
		}
		if len(o.Options.PublicKey.AllowCredentials) != 1 || strings.TrimRight(o.Options.PublicKey.AllowCredentials[0].ID, "=") != auth.ID() {
			t.Errorf("decision options allow %+v", o.Options.PublicKey.AllowCredentials)
		}
		as := auth.Assert([]byte("ignored: the server keeps the statement"), webauthntest.Options{Challenge: challengeOf(t, o), Flags: flags})
		return pass.postJSON("/letters/"+letter+"/passkey", map[string]any{"ceremony": o.Ceremony, "credential": getJSON(as, box)}, nil)
	}
	if resp, body := decide(accepted, "accept", "", &up); resp.StatusCode != 400 || !strings.Contains(body, "bad_signature") {
		t.Errorf("accept without user verification: %d %s", resp.StatusCode, body)
	}
	if resp, body := decide(accepted, "accept", "", nil); resp.StatusCode != 200 || !strings.Contains(body, "decided=accept") {
		t.Fatalf("accept with a passkey: %d %s", resp.StatusCode, body)
	}
	if _, page := pass.do("GET", "/letters/"+accepted+"?decided=accept", nil); !strings.Contains(page, "Текст: Извещение") || !strings.Contains(page, "You accepted") {
		t.Errorf("accepted letter page: %s", page)
	}
	if resp, body := decide(accepted, "accept", "", nil); resp.StatusCode != 409 {
		t.Errorf("accepting twice: %d %s", resp.StatusCode, body)
	}
	// The bundle verifies offline as a passkey signature, with the pinned
	// relying party.
	_, bundle := pass.do("GET", "/letters/"+accepted+"/bundle", nil)
	trust := citizen.trust()
	trust.WebAuthn = &signing.WebAuthnTrust{RPID: "post.example", Origins: []string{testOrigin}}
	rep, err := signing.VerifyBundle([]byte(bundle), signing.VerifyOptions{Trust: trust})
	if err != nil {
		t.Fatalf("verify the bundle: %v", err)
	}
	if len(rep.RecipientSignatures) != 1 || rep.RecipientSignatures[0].Passkey != auth.ID() || rep.RecipientSignatures[0].Statement.Mailbox != box ||
		rep.RecipientSignatures[0].Statement.RPID != "post.example" {
		t.Errorf("recipient signatures: %+v", rep.RecipientSignatures)
	}
	// Refuse another, with a reason.
	if resp, body := decide(refused, "refuse", "Не мой долг", nil); resp.StatusCode != 200 {
		t.Fatalf("refuse with a passkey: %d %s", resp.StatusCode, body)
	}
	if _, page := pass.do("GET", "/letters/"+refused, nil); !regexp.MustCompile(`(?i)refused`).MatchString(page) {
		t.Errorf("refused letter page: %s", page)
	}

	// Removal logs CredentialUnbound; the passkey no longer signs in.
	if resp, body := pass.postForm("/mailbox/"+box+"/passkeys/"+auth.ID()+"/remove", nil); resp.StatusCode != 303 {
		t.Fatalf("remove: %d %s", resp.StatusCode, body)
	}
	if resp, body, _ := signIn(auth, nil, box); resp.StatusCode != 401 {
		t.Errorf("sign-in with a removed passkey: %d %s", resp.StatusCode, body)
	}

	// A passkey stands for the certificate that endorsed it: once that is
	// revoked, the passkey's sessions end and it signs in no more.
	auth2 := webauthntest.New("post.example", testOrigin)
	holder.postJSON("/mailbox/"+box+"/passkeys/options", nil, &o)
	cd, att = auth2.Create(challengeOf(t, o), nil)
	holder.postJSON("/mailbox/"+box+"/passkeys", map[string]any{"ceremony": o.Ceremony, "credential": createJSON(auth2, cd, att)}, &done)
	pid = strings.TrimPrefix(strings.SplitN(done.Redirect, "#", 2)[0], "/mailbox?pending=")
	_, reqFile = holder.do("GET", "/mailbox/"+box+"/pending-passkeys/"+pid, nil)
	if err := os.WriteFile(reqPath, []byte(reqFile), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := cli.Main(ctx, []string{"mailbox", "endorse-passkey", "--request", reqPath, "--id", filepath.Join(dir, "holder")},
		&cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errs, Getenv: func(string) string { return "" }}); code != 0 {
		t.Fatalf("endorse-passkey --request: exit %d %s", code, errs.String())
	}
	if resp, body := holder.postForm("/mailbox/"+box+"/pending-passkeys/"+pid, url.Values{"endorsement": {strings.TrimSpace(out.String())}}); resp.StatusCode != 303 {
		t.Fatalf("endorse the second passkey: %d %s", resp.StatusCode, body)
	}
	resp, _, _ = signIn(auth2, nil, box)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in with the second passkey: %d", resp.StatusCode)
	}
	pass2 := b.portal(t, nil)
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-npes" {
			pass2.cookie = c.Value
		}
	}
	b.revoke(t, citizen.cred)
	if err := b.srv.RefreshRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, _ := pass2.do("GET", "/inbox", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?ended=1" {
		t.Errorf("a passkey session after its certificate's revocation: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body, _ := signIn(auth2, nil, box); resp.StatusCode != 401 || !strings.Contains(body, "revoked") {
		t.Errorf("sign-in with a passkey of a revoked certificate: %d %s", resp.StatusCode, body)
	}
}

// TestPortalPasskeysDisabled: without NPES_WEB_ORIGIN there are no passkey
// steps, and the pages offer none.
func TestPortalPasskeysDisabled(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	anon := b.portal(t, nil)
	if resp, _ := anon.postJSON("/signin/passkey/options", nil, nil); resp.StatusCode != 404 {
		t.Errorf("passkey sign-in without NPES_WEB_ORIGIN: %d", resp.StatusCode)
	}
	if _, body := anon.do("GET", "/", nil); strings.Contains(body, "passkey") {
		t.Errorf("the sign-in page offers passkeys")
	}
}

// TestWebOrigin: NPES_WEB_ORIGIN must be an https origin with a host name.
func TestWebOrigin(t *testing.T) {
	for _, c := range []struct {
		in, rpID, origin string
	}{
		{"https://localhost:8443", "localhost", "https://localhost:8443"},
		{"https://post.example", "post.example", "https://post.example"},
		{"https://post.example:443/", "post.example", "https://post.example"},
		{"http://post.example", "", ""},
		{"https://127.0.0.1:8443", "", ""},
		{"https://[::1]:8443", "", ""},
		{"https://post.example/portal", "", ""},
		{"https://Post.Example", "", ""},
		{"post.example", "", ""},
	} {
		rp, err := app.ParseWebOrigin(c.in)
		switch {
		case c.rpID == "" && err == nil:
			t.Errorf("%q accepted as %+v", c.in, rp)
		case c.rpID != "" && (err != nil || rp.RPID != c.rpID || len(rp.Origins) != 1 || rp.Origins[0] != c.origin):
			t.Errorf("%q = %+v, %v; want %s %s", c.in, rp, err, c.rpID, c.origin)
		}
	}
	if _, err := app.Start(t.Context(), app.Config{DataDir: t.TempDir(), WebOrigin: "https://10.0.0.1", HTTPAddr: "127.0.0.1:0"}); err == nil ||
		!strings.Contains(err.Error(), "host name, not an IP") {
		t.Errorf("serve with an IP origin: %v", err)
	}
}
