package app_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// TestStatementChecks: the server refuses the statements an offline
// verifier would refuse (time more than 5 minutes from the recording,
// duplicate or unknown members, trailing data), so every acceptance it
// records yields a bundle that verifies against pinned trust.
func TestStatementChecks(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	_, sent, _ := org.send(map[string]any{"recipient": map[string]string{"name": "Иванов И.И.", "address": citizenAddress}, "registered": true, "body": "x"}, "")
	var v mailbox.LetterView
	citizen.mustJSON("GET", "/v1/letters/"+sent.ID, nil, &v, 200)
	now := b.clock.Now()
	statement := func(at time.Time) []byte {
		st := mailbox.NewStatement(v, mailbox.DecisionAccept, "", at)
		raw, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	good := statement(now.Add(-4*time.Minute - 59*time.Second)) // NewStatement truncates to the second
	cases := []struct {
		name    string
		payload []byte
		code    string
	}{
		{"5 min 1 s early", statement(now.Add(-5*time.Minute - time.Second)), "statement_time"},
		{"6 min late", statement(now.Add(6 * time.Minute)), "statement_time"},
		{"duplicate member", bytes.Replace(good, []byte(`"decision":"accept"`), []byte(`"decision":"refuse","decision":"accept"`), 1), "bad_signature"},
		{"unknown member", bytes.Replace(good, []byte(`{`), []byte(`{"all_letters":true,`), 1), "bad_signature"},
		{"trailing data", append(bytes.Clone(good), []byte(`{"decision":"refuse"}`)...), "bad_signature"},
	}
	for _, tc := range cases {
		status, data := citizen.json("POST", "/v1/letters/"+sent.ID+"/accept", map[string]string{"jws": signRaw(t, citizen.cred, tc.payload)}, nil)
		if status != 400 || !strings.Contains(string(data), tc.code) {
			t.Errorf("%s: %d %s, want 400 %s", tc.name, status, data, tc.code)
		}
	}
	citizen.mustJSON("POST", "/v1/letters/"+sent.ID+"/accept", map[string]string{"jws": signRaw(t, citizen.cred, good)}, &v, 200)
	status, bundle := org.do("GET", "/v1/letters/"+sent.ID+"/bundle", nil, "", nil, nil)
	if status != 200 {
		t.Fatalf("bundle: %d %s", status, bundle)
	}
	rep, err := signing.VerifyBundle(bundle, signing.VerifyOptions{Trust: org.trust()})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Complete() || rep.Status.State != "accepted" || len(rep.RecipientSignatures) != 1 {
		t.Fatalf("report: complete %v, %+v", rep.Complete(), rep.RecipientSignatures)
	}
}

// signRaw signs payload bytes as the recipient's statement JWS.
func signRaw(t *testing.T, cred certs.Credential, payload []byte) string {
	t.Helper()
	kb, _ := pem.Decode(cred.KeyPEM)
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signing.SignCompact(key.(crypto.Signer), []*x509.Certificate{cred.Cert}, payload)
	if err != nil {
		t.Fatal(err)
	}
	return jws
}
