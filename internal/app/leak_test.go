package app_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/store/storetest"
)

// readable returns the JSON a party received with every JWS payload in it
// (evidence envelopes, receipts, bundles, at any depth) decoded, so a
// search sees what the signed records say too.
func readable(t *testing.T, raw []byte) string {
	t.Helper()
	var out strings.Builder
	out.Write(raw)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && k == "payload" {
					b, err := base64.RawURLEncoding.DecodeString(s)
					if err != nil {
						t.Fatalf("payload is not base64url: %v", err)
					}
					out.WriteString("\n")
					out.Write(b)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case string:
			// A compact JWS or an envelope carried as a string.
			if strings.HasPrefix(v, "{") {
				var inner any
				if json.Unmarshal([]byte(v), &inner) == nil {
					walk(inner)
				}
			}
		}
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, raw)
	}
	walk(v)
	return out.String()
}

// senderSees collects everything the sender can fetch about a letter.
func senderSees(t *testing.T, p *party, id string) string {
	t.Helper()
	var all strings.Builder
	for _, path := range []string{"/v1/letters/" + id, "/v1/letters/" + id + "/evidence", "/v1/letters/" + id + "/bundle", "/v1/letters?folder=sent"} {
		status, data := p.do("GET", path, nil, "", nil, nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, data)
		}
		all.WriteString(readable(t, data))
		all.WriteString("\n")
	}
	return all.String()
}

// TestSenderLearnsNothingOfTheMailbox: a sender sees of the recipient only
// what it supplied, through every channel (view, list, evidence, bundle,
// receipt, SMTP reply), on both stores.
func TestSenderLearnsNothingOfTheMailbox(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(*testing.T) string{
		"sqlite":   func(t *testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, url(t))
			p := newSMTPParties(t, b)
			// What only the holder and the operator know: the name on the
			// certificate and the address as registered.
			secrets := []string{citizenReq.Name, citizenAddress, "Дорошевича"}

			t.Run("SMTP letter to a mailbox id", func(t *testing.T) {
				c := b.dialSMTP(t, &p.org.cred, true, "")
				reply, err := submit(c, p.orgAddr, p.citizenAddr,
					compose(p.orgAddr, "leak@mta.example", []string{"Subject: by mailbox id"}, "body\n"))
				if err != nil {
					t.Fatal(err)
				}
				id := letterIDOf(t, reply)
				// The recipient reads it: ContentAccessTracking is evidence
				// the sender gets too.
				p.citizen.content(t, id)
				seen := reply + "\n" + senderSees(t, p.org, id)
				for _, s := range secrets {
					if strings.Contains(seen, s) {
						t.Errorf("the sender sees %q:\n%s", s, seen)
					}
				}
				if !strings.Contains(seen, p.citizenBox) {
					t.Errorf("the sender does not see the mailbox it wrote to")
				}
				// The holder still sees their own letter addressed to them.
				var v struct {
					Recipient struct{ Name, Address string }
				}
				p.citizen.mustJSON("GET", "/v1/letters/"+id, nil, &v, 200)
				if v.Recipient.Name != citizenReq.Name || v.Recipient.Address != citizenAddress {
					t.Errorf("the recipient's own view: %+v", v.Recipient)
				}
			})

			t.Run("letter to a holder whose mailbox is pending", func(t *testing.T) {
				const grodno = "230025, г. Гродно, ул. Ожешко, 3, кв. 7"
				pending := b.party(t, certs.Request{Role: certs.RolePerson, Name: "Ковалёва Анна Сергеевна", PersonalID: "4150690B002PB1"})
				pending.mustJSON("POST", "/v1/mailboxes", map[string]string{"address": grodno}, nil, 201)
				status, sent, data := p.org.send(map[string]any{
					"recipient": map[string]string{"name": "Ковалевой Анне Сергеевне", "address": grodno},
					"subject":   "x", "body": "y",
				}, "")
				if status != 201 || sent.Route != "print" || sent.RouteReason != "no-mailbox" {
					t.Fatalf("send: %d %s", status, data)
				}
				seen := readable(t, data) + senderSees(t, p.org, sent.ID)
				if strings.Contains(seen, "pending") {
					t.Errorf("the sender learns of the pending mailbox:\n%s", seen)
				}
			})
		})
	}
}
