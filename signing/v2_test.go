package signing_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/signing"
)

// TestSealV2: one EdDSA signature whose payload must say v 2; a v1
// envelope keeps verifying with both signatures.
func TestSealV2(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	cases := []struct {
		name    string
		seal    func([]byte) (signing.Envelope, error)
		payload string
		sigs    int
		want    error
	}{
		{"v2", s.SealV2, `{"v":2}`, 1, nil},
		{"v2 envelope of a v1 payload", s.SealV2, `{"v":1}`, 1, signing.ErrSignatureSet},
		{"v2 envelope of a payload without v", s.SealV2, `{}`, 1, signing.ErrSignatureSet},
		{"v1", s.Seal, `{"v":1}`, 2, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, err := tc.seal([]byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			if len(env.Signatures) != tc.sigs || env.Version() != 3-tc.sigs {
				t.Fatalf("%d signatures, version %d", len(env.Signatures), env.Version())
			}
			got, err := signing.VerifyEnvelope(env.Bytes(), s.JWKS())
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && string(got) != tc.payload {
				t.Errorf("payload %q", got)
			}
		})
	}
}

// TestStatus: a status note round-trips, carries its own origin and is
// read strictly.
func TestStatus(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	trust, err := signing.NewTrust(s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	st := signing.Status{Letter: "L-1", State: "accepted", Records: 4, Last: strings.Repeat("ab", 32), Mailbox: "MB-1",
		MailboxEntries: 2, MailboxLast: strings.Repeat("cd", 32), CheckpointSize: 1234, Time: t0.Add(90 * time.Millisecond)}
	msg, err := s.SignStatus(st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(msg), "npes/status/"+s.Kid()+"\nletter L-1\nstate accepted\nrecords 4\n") {
		t.Fatalf("note:\n%s", msg)
	}
	got, err := signing.OpenStatus(msg, trust)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(st.Time) {
		t.Errorf("time %v, want %v", got.Time, st.Time)
	}
	got.Time = st.Time
	if got != st {
		t.Errorf("got %+v, want %+v", got, st)
	}
	if _, err := signing.OpenCheckpoint(msg, trust); !errors.Is(err, signing.ErrCheckpoint) {
		t.Errorf("status opened as a checkpoint: %v", err)
	}

	// Notes with the right signatures but text that is not a status.
	resign := func(text string) []byte {
		t.Helper()
		name, _, _ := strings.Cut(text, "\n")
		return signText(t, s, name, text)
	}
	good := string(msg[:strings.Index(string(msg), "\n\n")+1])
	cases := map[string]string{
		"field missing":        strings.Replace(good, "state accepted\n", "", 1),
		"field renamed":        strings.Replace(good, "records 4", "count 4", 1),
		"extra line":           good + "extra 1\n",
		"leading zero":         strings.Replace(good, "records 4", "records 04", 1),
		"negative":             strings.Replace(good, "records 4", "records -4", 1),
		"no records":           strings.Replace(good, "records 4", "records 0", 1),
		"time not UTC":         strings.Replace(good, "Z\n", "+03:00\n", 1),
		"other kid in origin":  strings.Replace(good, s.Kid(), "AAAA", 1),
		"checkpoint origin":    strings.Replace(good, "npes/status/", "npes/evidence/", 1),
		"last not a digest":    strings.Replace(good, strings.Repeat("ab", 32), "ab", 1),
		"entries without hash": strings.Replace(good, "mailbox_last "+strings.Repeat("cd", 32), "mailbox_last -", 1),
	}
	for name, text := range cases {
		if _, err := signing.OpenStatus(resign(text), trust); !errors.Is(err, signing.ErrStatus) {
			t.Errorf("%s: err = %v, want ErrStatus", name, err)
		}
	}
	if _, err := s.SignStatus(signing.Status{Letter: "L 1", State: "accepted", Records: 1, Last: st.Last, Time: t0}); !errors.Is(err, signing.ErrStatus) {
		t.Errorf("letter with a space: %v", err)
	}
}

// signText signs arbitrary note text with the sealer's keys under name,
// as SignStatus would, by way of a checkpoint-free note.
func signText(t *testing.T, s *signing.Sealer, name, text string) []byte {
	t.Helper()
	msg, err := s.SignNoteForTest(name, text)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestParseStatement(t *testing.T) {
	t.Parallel()
	good := `{"v":1,"decision":"accept","letter":"L","notification":"N","content_sha256":"` + strings.Repeat("0", 64) + `","time":"2025-03-01T09:00:00Z"}`
	if st, err := signing.ParseStatement([]byte(good)); err != nil || st.Decision != signing.DecisionAccept {
		t.Fatalf("good: %+v %v", st, err)
	}
	for name, in := range map[string]string{
		"duplicate member": strings.Replace(good, `"letter":"L"`, `"letter":"L","letter":"M"`, 1),
		"unknown member":   strings.Replace(good, `"v":1`, `"v":1,"all":true`, 1),
		"trailing data":    good + `{}`,
		"trailing garbage": good + `x`,
		"version 2":        strings.Replace(good, `"v":1`, `"v":2`, 1),
		"decision":         strings.Replace(good, `accept`, `maybe`, 1),
		"no letter":        strings.Replace(good, `"letter":"L",`, ``, 1),
		"no notification":  strings.Replace(good, `"notification":"N",`, ``, 1),
		"digest":           strings.Replace(good, strings.Repeat("0", 64), "00", 1),
		"no time":          strings.Replace(good, `,"time":"2025-03-01T09:00:00Z"`, ``, 1),
		"invalid UTF-8":    strings.Replace(good, `"L"`, "\"\xff\"", 1),
	} {
		if _, err := signing.ParseStatement([]byte(in)); !errors.Is(err, signing.ErrStatement) {
			t.Errorf("%s: err = %v, want ErrStatement", name, err)
		}
	}
}

func TestMailboxEntry(t *testing.T) {
	t.Parallel()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := signing.NewJWK(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if jwk.Kty != "EC" || jwk.Alg != signing.AlgES256 || jwk.Kid != jwk.Thumbprint() {
		t.Fatalf("EC JWK %+v", jwk)
	}
	id := &signing.CredentialIdentity{ID: "ab:01", Issuer: "CN=CA", Serial: "01"}
	bound := signing.MailboxEntry{V: 2, ID: "M-1", Event: signing.EventCredentialBound, Time: t0, Mailbox: "MB",
		Identity: id, JWK: &jwk, AuthorizedBy: "operator:0A"}
	raw, err := bound.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := signing.ParseMailboxEntry(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.JWK.Thumbprint() != jwk.Thumbprint() {
		t.Errorf("key changed in a round trip: %+v", got.JWK)
	}
	pub, err := got.JWK.PublicKey()
	if err != nil || !k.PublicKey.Equal(pub) {
		t.Errorf("decoded key %v %v", pub, err)
	}
	cases := map[string]func(m *signing.MailboxEntry){
		"version 1":               func(m *signing.MailboxEntry) { m.V = 1 },
		"letter event":            func(m *signing.MailboxEntry) { m.Event = signing.EventSubmissionAcceptance },
		"no mailbox":              func(m *signing.MailboxEntry) { m.Mailbox = "" },
		"no authorized_by":        func(m *signing.MailboxEntry) { m.AuthorizedBy = "" },
		"no key":                  func(m *signing.MailboxEntry) { m.JWK = nil },
		"no identity":             func(m *signing.MailboxEntry) { m.Identity = nil },
		"identity without serial": func(m *signing.MailboxEntry) { m.Identity = &signing.CredentialIdentity{Issuer: "CN=CA"} },
		"activation with a key":   func(m *signing.MailboxEntry) { m.Event = signing.EventMailboxActivated; m.How = "code" },
		"activation without how": func(m *signing.MailboxEntry) {
			m.Event, m.JWK, m.Identity = signing.EventMailboxActivated, nil, nil
		},
		"local time": func(m *signing.MailboxEntry) { m.Time = t0.In(time.FixedZone("MSK", 3*3600)) },
		"bad prev":   func(m *signing.MailboxEntry) { m.Prev = "x" },
	}
	for name, mut := range cases {
		m := bound
		mut(&m)
		if _, err := m.Marshal(); !errors.Is(err, signing.ErrMalformedEvidence) {
			t.Errorf("%s: err = %v, want ErrMalformedEvidence", name, err)
		}
	}
	// Strict parsing: an unknown member is refused.
	var generic map[string]any
	_ = json.Unmarshal(raw, &generic)
	generic["scope"] = "all"
	extra, _ := json.Marshal(generic)
	if _, err := signing.ParseMailboxEntry(extra); !errors.Is(err, signing.ErrMalformedEvidence) {
		t.Errorf("unknown member: %v", err)
	}
}

func TestParseTrust(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	ca, _ := newCA(t, "npes identity CA")
	keys, _ := json.Marshal(s.JWKS())
	edOnly, _ := json.Marshal(s.JWKS().Select(signing.AlgEdDSA))
	pemJSON, _ := json.Marshal(string(caPEM(ca)))
	leafPEM, _ := json.Marshal(strings.Replace(string(caPEM(ca)), "CERTIFICATE", "PRIVATE KEY", 2))
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"keys and CA", `{"keys":` + string(keys) + `,"identity_cas":[` + string(pemJSON) + `]}`, nil},
		{"keys only", `{"keys":` + string(keys) + `,"identity_cas":[]}`, nil},
		{"no ML-DSA-65 key", `{"keys":` + string(edOnly) + `,"identity_cas":[]}`, signing.ErrNoTrust},
		{"unknown member", `{"keys":` + string(keys) + `,"identity_cas":[],"witnesses":{}}`, signing.ErrMalformedTrust},
		{"webauthn", `{"keys":` + string(keys) + `,"identity_cas":[],"webauthn":{"rp_id":"post.example","origins":["https://post.example","https://m.post.example:8443"]}}`, nil},
		{"webauthn empty", `{"keys":` + string(keys) + `,"identity_cas":[],"webauthn":{}}`, signing.ErrMalformedTrust},
		{"webauthn origin of another site", `{"keys":` + string(keys) + `,"identity_cas":[],"webauthn":{"rp_id":"post.example","origins":["https://evilpost.example"]}}`, signing.ErrMalformedTrust},
		{"webauthn origin not https", `{"keys":` + string(keys) + `,"identity_cas":[],"webauthn":{"rp_id":"post.example","origins":["http://post.example"]}}`, signing.ErrMalformedTrust},
		{"webauthn origin with a path", `{"keys":` + string(keys) + `,"identity_cas":[],"webauthn":{"rp_id":"post.example","origins":["https://post.example/"]}}`, signing.ErrMalformedTrust},
		{"duplicate member", `{"keys":` + string(keys) + `,"keys":` + string(keys) + `,"identity_cas":[]}`, signing.ErrMalformedTrust},
		{"not a certificate", `{"keys":` + string(keys) + `,"identity_cas":[` + string(leafPEM) + `]}`, signing.ErrMalformedTrust},
		{"not PEM", `{"keys":` + string(keys) + `,"identity_cas":["MIIB"]}`, signing.ErrMalformedTrust},
	}
	for _, tc := range cases {
		_, err := signing.ParseTrust([]byte(tc.in))
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}
