package app_test

import (
	"strings"
	"testing"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// TestPhysicalEvents: what becomes of a printed letter in the post is
// reported by the centre that printed it (or an operator) only, in the
// order Posted → DeliveryFailed* → Delivered | ReturnedToSender (final),
// and a reporter's details never replace what the server sealed.
func TestPhysicalEvents(t *testing.T) {
	t.Parallel()
	for name, url := range engineURLs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testPhysicalEvents(t, setup(t, url(t)))
		})
	}
}

func testPhysicalEvents(t *testing.T, b *bundle) {
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	printer := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель", Regions: []string{"246"}})
	peer := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель 2", Regions: []string{"246"}})
	minsk := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Минск", Regions: []string{"220"}})
	operator := b.operator(t)

	letters := map[string]string{} // letter id → job id
	var order []string
	for range 2 {
		status, sent, data := org.send(map[string]any{
			"recipient":  map[string]string{"name": "Сидорову Сидору Сидоровичу", "address": "246050, г. Гомель, ул. Билецкого, 10, кв. 3"},
			"registered": true, "subject": "Извещение", "body": "Текст письма.",
		}, "")
		if status != 201 || sent.Route != "print" {
			t.Fatalf("send: %d %s", status, data)
		}
		letters[sent.ID] = ""
		order = append(order, sent.ID)
	}
	var lease jobsReply
	printer.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10}, &lease, 200)
	if len(lease.Jobs) != 2 {
		t.Fatalf("leased %d jobs, want 2", len(lease.Jobs))
	}
	for _, j := range lease.Jobs {
		letters[j.LetterID] = j.ID
	}
	first, second := letters[order[0]], letters[order[1]]
	event := func(p *party, job, ev string, details map[string]string) (int, string) {
		body := map[string]any{"event": ev}
		if details != nil {
			body["details"] = details
		}
		status, data := p.json("POST", "/v1/print/jobs/"+job+"/events", body, nil)
		return status, string(data)
	}
	// Before posting no physical event is accepted, even from the printer.
	if status, data := event(printer, first, "Delivered", nil); status != 409 || !strings.Contains(data, "invalid_transition") {
		t.Fatalf("Delivered before posting: %d %s", status, data)
	}
	for _, j := range lease.Jobs {
		printer.mustJSON("POST", "/v1/print/jobs/"+j.ID+"/printed", map[string]any{"lease_token": j.LeaseToken, "sheets": j.Sheets}, nil, 200)
		printer.mustJSON("POST", "/v1/print/jobs/"+j.ID+"/posted", map[string]any{"lease_token": j.LeaseToken}, nil, 200)
	}

	for _, step := range []struct {
		name    string
		by      *party
		job     string
		event   string
		details map[string]string
		status  int
		code    string
	}{
		{"another centre of the region", peer, first, "Delivered", nil, 403, "not_printing_centre"},
		{"a centre of another region", minsk, first, "Delivered", nil, 404, "job_not_found"},
		{"the sender", org, first, "Delivered", nil, 403, "forbidden"},
		{"not a physical event", printer, first, "Posted", nil, 400, "bad_event"},
		{"a key outside a-z0-9_-", printer, first, "DeliveryFailed", map[string]string{"Office!": "x"}, 400, "bad_details"},
		{"a control character in a value", printer, first, "DeliveryFailed", map[string]string{"office": "a\x1bb"}, 400, "bad_details"},
		{"first failed attempt", printer, first, "DeliveryFailed", map[string]string{"emsevt": "EMI", "print_job": "forged", "office": "246050"}, 200, ""},
		{"second failed attempt", printer, first, "DeliveryFailed", nil, 200, ""},
		{"delivered", printer, first, "Delivered", nil, 200, ""},
		{"delivered twice", printer, first, "Delivered", nil, 409, "invalid_transition"},
		{"returned after delivery, by an operator", operator, first, "ReturnedToSender", nil, 409, "invalid_transition"},
		{"failed after delivery", printer, first, "DeliveryFailed", nil, 409, "invalid_transition"},
		{"an operator returns the other letter", operator, second, "ReturnedToSender", nil, 200, ""},
		{"delivered after return", printer, second, "Delivered", nil, 409, "invalid_transition"},
	} {
		status, data := event(step.by, step.job, step.event, step.details)
		if status != step.status || !strings.Contains(data, step.code) {
			t.Fatalf("%s: %d %s, want %d %s", step.name, status, data, step.status, step.code)
		}
	}

	if got := strings.Join(events(t, org, order[0]), " "); got != "SubmissionAcceptance RelayToNonERDS Printed Posted DeliveryFailed DeliveryFailed Delivered" {
		t.Fatalf("events of the delivered letter: %s", got)
	}
	if got := strings.Join(events(t, org, order[1]), " "); got != "SubmissionAcceptance RelayToNonERDS Printed Posted ReturnedToSender" {
		t.Fatalf("events of the returned letter: %s", got)
	}
	failed := evidenceOf(t, org, order[0], signing.EventDeliveryFailed)
	want := map[string]string{"emsevt": "EMH", "print_job": first,
		"reported.emsevt": "EMI", "reported.print_job": "forged", "reported.office": "246050"}
	for k, v := range want {
		if failed.Details[k] != v {
			t.Fatalf("DeliveryFailed details %v: %s = %q, want %q", failed.Details, k, failed.Details[k], v)
		}
	}
	if len(failed.Details) != len(want) {
		t.Fatalf("DeliveryFailed details %v, want %v", failed.Details, want)
	}
	for id, state := range map[string]string{order[0]: mailbox.StatePhysicallyDelivered, order[1]: mailbox.StateReturned} {
		var v mailbox.LetterView
		org.mustJSON("GET", "/v1/letters/"+id, nil, &v, 200)
		if v.State != state {
			t.Fatalf("letter %s is %s, want %s", id, v.State, state)
		}
	}
}
