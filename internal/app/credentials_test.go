package app_test

import (
	"strings"
	"testing"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

// TestBindAndUnbindCredentials: a holder binds a renewed certificate (or a
// signature token) to their mailbox and may then sign with it; an unbound
// credential can no longer sign or read; another holder's certificate
// cannot be bound.
func TestBindAndUnbindCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	box := citizen.registerActive(citizenAddress)
	renewed := b.issue(t, citizenReq, b.clock.Now())
	stranger := b.issue(t, certs.Request{Role: certs.RolePerson, Name: "Петров Пётр", PersonalID: "3140582A002PB4"}, b.clock.Now())

	if status, data := citizen.json("POST", "/v1/mailboxes/"+box+"/credentials", map[string]string{"certificate": string(stranger.CertPEM)}, nil); status != 403 || !strings.Contains(string(data), "other_holder") {
		t.Fatalf("binding another holder's certificate: %d %s", status, data)
	}
	citizen.mustJSON("POST", "/v1/mailboxes/"+box+"/credentials", map[string]string{"certificate": string(renewed.CertPEM)}, nil, 201)
	var creds struct {
		Credentials []struct{ Identity, Serial string } `json:"credentials"`
	}
	citizen.mustJSON("GET", "/v1/mailboxes/"+box+"/credentials", nil, &creds, 200)
	if len(creds.Credentials) != 2 {
		t.Fatalf("credentials: %+v", creds)
	}
	// The renewed certificate reads the mailbox and signs for letters.
	renewedParty := &party{t: t, b: b, cred: renewed, c: b.client(t, &renewed)}
	_, sent, _ := org.send(map[string]any{"recipient": map[string]string{"name": "Иванов И.И.", "address": citizenAddress}, "registered": true, "body": "x"}, "")
	var v mailbox.LetterView
	renewedParty.mustJSON("GET", "/v1/letters/"+sent.ID, nil, &v, 200)
	// The holder cannot unbind the credential in use.
	oldID, _ := certs.IdentityFromCert(citizen.cred.Cert)
	if status, _ := citizen.json("DELETE", "/v1/mailboxes/"+box+"/credentials/"+oldID.ID, nil, nil); status != 409 {
		t.Fatalf("unbinding the credential in use: %d", status)
	}
	// With the renewed one, the old one is unbound: it can neither read
	// the letter nor sign for it.
	renewedParty.mustJSON("DELETE", "/v1/mailboxes/"+box+"/credentials/"+oldID.ID, nil, nil, 204)
	if status, _ := citizen.json("GET", "/v1/letters/"+sent.ID, nil, nil); status != 404 {
		t.Fatalf("unbound credential reading: %d", status)
	}
	st := mailbox.NewStatement(v, mailbox.DecisionAccept, "", b.clock.Now())
	if status, data := renewedParty.json("POST", "/v1/letters/"+sent.ID+"/accept", map[string]string{"jws": sign(t, citizen.cred, st)}, nil); status != 403 || !strings.Contains(string(data), "signer_not_bound") {
		t.Fatalf("signature by the unbound credential: %d %s", status, data)
	}
	renewedParty.mustJSON("POST", "/v1/letters/"+sent.ID+"/accept", map[string]string{"jws": sign(t, renewed, st)}, &v, 200)
	if v.State != "accepted" {
		t.Fatalf("state %s", v.State)
	}
}
