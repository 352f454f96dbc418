package app_test

import (
	"encoding/json"
	"testing"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
)

// TestAddressProofAPI: over HTTP, an inexact mailbox address is 400
// inexact_address, the caps answer 429 too_many_pending, and the resend
// route queues a letter (202) until its cap.
func TestAddressProofAPI(t *testing.T) {
	b := setupWith(t, "", func(c *app.Config) {
		c.Limits.MaxPendingMailboxes = 2
		c.Limits.MaxActivationLetters = 2
	})
	ivan := b.party(t, certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович", PersonalID: "3140582A001PB3"})
	errCode := func(data []byte) string {
		var e struct{ Error struct{ Code string } }
		_ = json.Unmarshal(data, &e)
		return e.Error.Code
	}
	status, data := ivan.json("POST", "/v1/mailboxes", map[string]string{"address": "220013, г. Минск, ул. Дорошевича, 8, кв. 9, до востребования"}, nil)
	if status != 400 || errCode(data) != "inexact_address" {
		t.Fatalf("poste restante with a flat: %d %s, want 400 inexact_address", status, data)
	}
	var m struct{ ID, Status string }
	ivan.mustJSON("POST", "/v1/mailboxes", map[string]string{"address": "до востребования, 220030, г. Минск"}, &m, 201)
	ivan.mustJSON("POST", "/v1/mailboxes", map[string]string{"address": "220013, г. Минск, ул. Дорошевича, 8, кв. 9"}, nil, 201)
	status, data = ivan.json("POST", "/v1/mailboxes", map[string]string{"address": "220013, г. Минск, ул. Дорошевича, 8, кв. 10"}, nil)
	if status != 429 || errCode(data) != "too_many_pending" {
		t.Fatalf("a third pending mailbox: %d %s, want 429 too_many_pending", status, data)
	}
	ivan.mustJSON("POST", "/v1/mailboxes/"+m.ID+"/activation-letter", nil, &m, 202)
	if m.Status != "pending" {
		t.Fatalf("after resend: %s", m.Status)
	}
	status, data = ivan.json("POST", "/v1/mailboxes/"+m.ID+"/activation-letter", nil, nil)
	if status != 429 || errCode(data) != "too_many_pending" {
		t.Fatalf("a third letter: %d %s, want 429 too_many_pending", status, data)
	}
}
