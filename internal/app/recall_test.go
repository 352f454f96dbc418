package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

const gomelAddress = "246050, г. Гомель, ул. Билецкого, 10, кв. 3"

// TestRecall: a sender recalls a letter while the recipient has not had
// its content and no print centre holds it; every other case is refused
// with its own code; the recipient sees the letter withdrawn; the bundle
// with Recalled verifies; the audit holds the cancelled print job to the
// log.
func TestRecall(t *testing.T) { onBothStores(t, testRecall) }

// onBothStores runs test against a server on PostgreSQL and one on SQLite.
func onBothStores(t *testing.T, test func(*testing.T, *bundle)) {
	t.Parallel()
	for name, url := range map[string]func(*testing.T) string{
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
		"sqlite":   func(t *testing.T) string { return "" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, setup(t, url(t)))
		})
	}
}

func testRecall(t *testing.T, b *bundle) {
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	gomel := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель", Regions: []string{"246"}})

	send := func(registered bool, address string, atts ...attachment) mailbox.LetterView {
		t.Helper()
		status, sent, data := org.send(map[string]any{
			"recipient":  map[string]string{"name": "Иванову Ивану Ивановичу", "address": address},
			"registered": registered, "subject": "Извещение", "body": "Секретный текст письма.",
		}, "", atts...)
		if status != 201 {
			t.Fatalf("send: %d %s", status, data)
		}
		return sent.LetterView
	}
	recall := func(p *party, id string, wantStatus int, wantCode string) mailbox.LetterView {
		t.Helper()
		var v mailbox.LetterView
		status, data := p.json("POST", "/v1/letters/"+id+"/recall", nil, &v)
		if status != wantStatus || (wantCode != "" && !strings.Contains(string(data), `"`+wantCode+`"`)) {
			t.Fatalf("recall %s: %d %s, want %d %s", id, status, data, wantStatus, wantCode)
		}
		return v
	}

	// A registered letter awaiting acceptance: only the sender recalls it.
	reg := send(true, citizenAddress)
	recall(citizen, reg.ID, 403, "not_sender")
	recall(gomel, reg.ID, 404, "letter_not_found")
	if v := recall(org, reg.ID, 200, ""); v.State != mailbox.StateRecalled {
		t.Fatalf("recalled letter is %s", v.State)
	}
	recall(org, reg.ID, 409, "already_recalled")
	// The recipient sees it withdrawn, without content, and cannot sign.
	var seen mailbox.LetterView
	citizen.mustJSON("GET", "/v1/letters/"+reg.ID, nil, &seen, 200)
	if seen.State != mailbox.StateRecalled || seen.ContentVisible {
		t.Fatalf("recipient's view of a recalled letter: %+v", seen)
	}
	if status, data := citizen.json("GET", "/v1/letters/"+reg.ID+"/content", nil, nil); status != 409 || !strings.Contains(string(data), "letter_recalled") || strings.Contains(string(data), "Секретный") {
		t.Fatalf("content of a recalled letter: %d %s", status, data)
	}
	st := mailbox.NewStatement(seen, mailbox.DecisionAccept, "", b.clock.Now())
	if status, data := citizen.json("POST", "/v1/letters/"+reg.ID+"/accept", map[string]string{"jws": sign(t, citizen.cred, st)}, nil); status != 409 || !strings.Contains(string(data), "not_awaiting_acceptance") {
		t.Fatalf("accepting a recalled letter: %d %s", status, data)
	}
	// The sender's bundle ends in Recalled and verifies offline.
	status, bundleBytes := org.do("GET", "/v1/letters/"+reg.ID+"/bundle", nil, "", nil, nil)
	if status != 200 {
		t.Fatalf("bundle: %d %s", status, bundleBytes)
	}
	rep, err := signing.VerifyBundle(bundleBytes, signing.VerifyOptions{Trust: org.trust()})
	if err != nil {
		t.Fatalf("bundle of a recalled letter: %v", err)
	}
	if last := rep.Evidence[len(rep.Evidence)-1]; last.Event != signing.EventRecalled || rep.Status == nil || rep.Status.State != mailbox.StateRecalled {
		t.Fatalf("bundle ends in %s, status %+v", last.Event, rep.Status)
	}

	// A registered letter the recipient accepted.
	acc := send(true, citizenAddress)
	citizen.mustJSON("GET", "/v1/letters/"+acc.ID, nil, &seen, 200)
	st = mailbox.NewStatement(seen, mailbox.DecisionAccept, "", b.clock.Now())
	citizen.mustJSON("POST", "/v1/letters/"+acc.ID+"/accept", map[string]string{"jws": sign(t, citizen.cred, st)}, nil, 200)
	recall(org, acc.ID, 409, "already_accepted")

	// A passkey decision needs a WebAuthn relying party, which this server
	// has not; a decision is one signature, not two.
	pending := send(true, citizenAddress)
	assertion := map[string]string{"statement": "e30", "credential_id": "AA", "authenticator_data": "AA", "client_data_json": "e30", "signature": "AA"}
	for _, c := range []struct {
		body   map[string]any
		status int
		code   string
	}{
		{map[string]any{"webauthn": assertion}, 409, "passkeys_disabled"},
		{map[string]any{"webauthn": assertion, "jws": "x.y.z"}, 400, "bad_signature"},
		{map[string]any{}, 400, "bad_signature"},
	} {
		if status, data := citizen.json("POST", "/v1/letters/"+pending.ID+"/accept", c.body, nil); status != c.status || !strings.Contains(string(data), c.code) {
			t.Fatalf("accept with %v: %d %s, want %d %s", c.body, status, data, c.status, c.code)
		}
	}

	// Simple letters: reading the body or fetching an attachment hands the
	// content over; an unread one is recalled.
	read := send(false, citizenAddress)
	citizen.mustJSON("GET", "/v1/letters/"+read.ID+"/content", nil, nil, 200)
	recall(org, read.ID, 409, "content_handed_over")
	att := send(false, citizenAddress, attachment{"справка.txt", "text/plain", []byte("Справка.\n")})
	if status, _ := citizen.do("GET", "/v1/letters/"+att.ID+"/attachments/1", nil, "", nil, nil); status != 200 {
		t.Fatalf("attachment: %d", status)
	}
	recall(org, att.ID, 409, "content_handed_over")
	unread := send(false, citizenAddress)
	recall(org, unread.ID, 200, "")
	if status, _ := citizen.do("GET", "/v1/letters/"+unread.ID+"/attachments/1", nil, "", nil, nil); status != 409 {
		t.Fatalf("attachment of a recalled letter: %d", status)
	}

	// Printed letters: a queued job is cancelled and never leased; a
	// leased one may be on paper already.
	queued := send(true, gomelAddress)
	recall(org, queued.ID, 200, "")
	leased := send(true, gomelAddress)
	var lease jobsReply
	gomel.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10}, &lease, 200)
	if len(lease.Jobs) != 1 || lease.Jobs[0].LetterID != leased.ID {
		t.Fatalf("leased %+v, want only the job of %s", lease.Jobs, leased.ID)
	}
	recall(org, leased.ID, 409, "print_leased")
	b.clock.Advance(48 * time.Hour) // every lease has expired
	gomel.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10}, &lease, 200)
	for _, j := range lease.Jobs {
		if j.LetterID == queued.ID {
			t.Fatal("the print job of a recalled letter was leased")
		}
	}

	// The audit holds the job rows to the log: a cancelled job put back
	// in the queue is found.
	ctx := t.Context()
	if _, err := b.srv.Service.Audit(ctx, nil); err != nil {
		t.Fatalf("audit after recalls: %v", err)
	}
	err = b.srv.Store.InTx(ctx, func(tx mailbox.Tx) error {
		jobs, err := tx.PrintJobsOfLetter(ctx, queued.ID)
		if err != nil || len(jobs) != 1 || jobs[0].State != mailbox.JobCancelled {
			t.Fatalf("jobs of the recalled letter: %+v %v", jobs, err)
		}
		jobs[0].State = mailbox.JobQueued
		return tx.UpdatePrintJob(ctx, jobs[0])
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.srv.Service.Audit(context.Background(), nil); !errors.Is(err, mailbox.ErrAudit) {
		t.Fatalf("audit with a recalled letter's job queued again: %v, want ErrAudit", err)
	}
}

// TestReplies: a reply names a letter its sending mailbox sent or
// received, carries in_reply_to in views and sealed evidence, and a
// thread lists only the caller's letters of it.
func TestReplies(t *testing.T) { onBothStores(t, testReplies) }

func testReplies(t *testing.T, b *bundle) {
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	other := b.party(t, certs.Request{Role: certs.RolePerson, Name: "Петров Пётр Петрович", PersonalID: "3010190A001PB1"})
	const otherAddress = "220004, г. Минск, ул. Немига, д. 3, кв. 7"
	other.registerActive(otherAddress)

	names := map[string]string{citizenAddress: "Иванову Ивану Ивановичу", orgAddress: orgReq.Name, otherAddress: "Петрову Петру Петровичу"}
	send := func(p *party, to, inReplyTo string, wantStatus int, wantCode string) mailbox.LetterView {
		t.Helper()
		b.clock.Advance(time.Second) // a thread is in the order letters were sent
		letter := map[string]any{"recipient": map[string]string{"name": names[to], "address": to},
			"subject": "Тема", "body": "Текст."}
		if inReplyTo != "" {
			letter["in_reply_to"] = inReplyTo
		}
		status, sent, data := p.send(letter, "")
		if status != wantStatus || (wantCode != "" && !strings.Contains(string(data), `"`+wantCode+`"`)) {
			t.Fatalf("send in reply to %q: %d %s, want %d %s", inReplyTo, status, data, wantStatus, wantCode)
		}
		if wantStatus == 201 && sent.Route != mailbox.RouteElectronic {
			t.Fatalf("letter to %s was routed to %s", to, sent.Route)
		}
		return sent.LetterView
	}
	first := send(org, citizenAddress, "", 201, "")
	// The citizen answers the organization; the organization answers back.
	reply := send(citizen, orgAddress, first.ID, 201, "")
	if reply.InReplyTo != first.ID {
		t.Fatalf("reply's in_reply_to = %q", reply.InReplyTo)
	}
	answer := send(org, citizenAddress, reply.ID, 201, "")
	// A letter to someone else of the thread: the organization sent the
	// first letter, so it may refer to it.
	aside := send(org, otherAddress, first.ID, 201, "")

	// Someone who is no party of a letter cannot answer it, nor tell it
	// from a letter that does not exist.
	send(other, orgAddress, first.ID, 404, "in_reply_to_not_found")
	send(other, orgAddress, "00000000-0000-4000-8000-000000000000", 404, "in_reply_to_not_found")
	send(citizen, orgAddress, "not-a-letter", 400, "bad_in_reply_to")

	// The reply's SubmissionAcceptance seals what it answers.
	if ev := evidenceOf(t, citizen, reply.ID, signing.EventSubmissionAcceptance); ev.Details["in_reply_to"] != first.ID {
		t.Fatalf("SubmissionAcceptance details: %v", ev.Details)
	}
	var v mailbox.LetterView
	org.mustJSON("GET", "/v1/letters/"+reply.ID, nil, &v, 200)
	if v.InReplyTo != first.ID || v.Folder != "inbox" {
		t.Fatalf("organization's view of the reply: in_reply_to %q folder %s", v.InReplyTo, v.Folder)
	}

	thread := func(p *party, id string) []string {
		t.Helper()
		var th struct{ Letters []mailbox.LetterView }
		p.mustJSON("GET", "/v1/letters/"+id+"/thread", nil, &th, 200)
		var ids []string
		for _, l := range th.Letters {
			ids = append(ids, l.ID+"/"+l.Folder)
		}
		return ids
	}
	cases := []struct {
		who  *party
		from string
		want []string
	}{
		{org, answer.ID, []string{first.ID + "/sent", reply.ID + "/inbox", answer.ID + "/sent", aside.ID + "/sent"}},
		{citizen, first.ID, []string{first.ID + "/inbox", reply.ID + "/sent", answer.ID + "/inbox"}}, // not aside
		{other, aside.ID, []string{aside.ID + "/inbox"}},
	}
	for _, c := range cases {
		if got := thread(c.who, c.from); strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("thread from %s:\n got %v\nwant %v", c.from, got, c.want)
		}
	}
	if status, _ := other.json("GET", "/v1/letters/"+first.ID+"/thread", nil, nil); status != 404 {
		t.Fatalf("thread of a letter that is not yours: %d", status)
	}
}
