package app_test

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

type jobsReply struct {
	Jobs []struct {
		ID         string    `json:"id"`
		LetterID   string    `json:"letter_id"`
		Tracking   string    `json:"tracking"`
		Postcode   string    `json:"postcode"`
		Pages      int       `json:"pages"`
		Sheets     int       `json:"sheets"`
		PDFSHA256  string    `json:"pdf_sha256"`
		LeaseToken int64     `json:"lease_token"`
		Expires    time.Time `json:"lease_expires_at"`
	} `json:"jobs"`
}

func TestPrintPath(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(*testing.T) string{
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
		"sqlite":   func(t *testing.T) string { return "" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testPrintPath(t, setup(t, url(t)))
		})
	}
}

func testPrintPath(t *testing.T, b *bundle) {
	org := b.party(t, orgReq)
	org.registerActive(orgAddress) // queues an activation letter for region 220
	gomel := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель", Regions: []string{"246", "247"}})
	gomel2 := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель 2", Regions: []string{"246"}})
	minsk := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Минск", Regions: []string{"220"}})

	status, sent, data := org.send(map[string]any{
		"recipient":  map[string]string{"name": "Сидорову Сидору Сидоровичу", "address": "246050, г. Гомель, ул. Билецкого, 10, кв. 3"},
		"registered": true, "subject": "Извещение", "body": "Уважаемый Сидор Сидорович!\nТекст письма.",
	}, "")
	if status != 201 || sent.Route != "print" {
		t.Fatalf("send: %d %s", status, data)
	}

	// Minsk sees only its activation letter, never Gomel's job.
	var mj jobsReply
	minsk.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 100}, &mj, 200)
	for _, j := range mj.Jobs {
		if j.LetterID == sent.ID {
			t.Fatal("a Minsk print centre leased a Gomel job")
		}
	}
	if len(mj.Jobs) != 1 || mj.Jobs[0].Postcode != "220030" {
		t.Fatalf("Minsk leased %+v, want the org's activation letter", mj.Jobs)
	}

	var lease jobsReply
	gomel.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10, "lease_seconds": 60}, &lease, 200)
	if len(lease.Jobs) != 1 {
		t.Fatalf("Gomel leased %d jobs", len(lease.Jobs))
	}
	job := lease.Jobs[0]
	if job.LetterID != sent.ID || job.Tracking != sent.Tracking || job.Postcode != "246050" || job.Pages < 1 || job.Sheets < 1 || len(job.PDFSHA256) != 64 {
		t.Fatalf("leased job: %+v", job)
	}
	// The PDF: only with the current lease token, and only for its region.
	if status, _ := gomel.do("GET", "/v1/print/jobs/"+job.ID+"/pdf", nil, "", map[string]string{"X-Lease-Token": "999"}, nil); status != 409 {
		t.Fatalf("PDF with a wrong token: %d", status)
	}
	if status, _ := minsk.do("GET", "/v1/print/jobs/"+job.ID+"/pdf", nil, "", map[string]string{"X-Lease-Token": fmt.Sprint(job.LeaseToken)}, nil); status != 404 {
		t.Fatalf("another region's PDF: %d", status)
	}
	status, pdf := gomel.do("GET", "/v1/print/jobs/"+job.ID+"/pdf", nil, "", map[string]string{"X-Lease-Token": fmt.Sprint(job.LeaseToken)}, nil)
	if status != 200 || !strings.HasPrefix(string(pdf), "%PDF-") {
		t.Fatalf("PDF: %d", status)
	}
	sum := sha256.Sum256(pdf)
	if hex.EncodeToString(sum[:]) != job.PDFSHA256 {
		t.Fatal("downloaded PDF does not match its digest")
	}
	// The digest is the one in the RelayToNonERDS evidence.
	relay := evidenceOf(t, org, sent.ID, signing.EventRelayToNonERDS)
	if relay.PDFSHA256 != job.PDFSHA256 || relay.Reason != "no-mailbox" {
		t.Fatalf("RelayToNonERDS: pdf %s reason %s, want %s no-mailbox", relay.PDFSHA256, relay.Reason, job.PDFSHA256)
	}

	// Another centre of the region cannot use a lease it does not hold,
	// even with the right (guessable) token.
	if status, _ := gomel2.do("GET", "/v1/print/jobs/"+job.ID+"/pdf", nil, "", map[string]string{"X-Lease-Token": fmt.Sprint(job.LeaseToken)}, nil); status != 409 {
		t.Fatalf("PDF under someone else's lease: %d", status)
	}
	if status, _ := gomel2.json("POST", "/v1/print/jobs/"+job.ID+"/printed", map[string]any{"lease_token": job.LeaseToken}, nil); status != 409 {
		t.Fatalf("report under someone else's lease: %d", status)
	}
	// Print centres hold no mailbox.
	if status, _ := gomel.json("GET", "/v1/letters?folder=inbox", nil, nil); status != 403 {
		t.Fatalf("print centre listing letters: %d", status)
	}

	// The lease expires; another agent of the region takes the job over and
	// the first agent's late report is refused.
	b.clock.Advance(2 * time.Minute)
	var lease2 jobsReply
	gomel2.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10, "lease_seconds": 600}, &lease2, 200)
	if len(lease2.Jobs) != 1 || lease2.Jobs[0].ID != job.ID || lease2.Jobs[0].LeaseToken <= job.LeaseToken {
		t.Fatalf("re-lease after expiry: %+v", lease2.Jobs)
	}
	if status, data := gomel.json("POST", "/v1/print/jobs/"+job.ID+"/printed", map[string]any{"lease_token": job.LeaseToken}, nil); status != 409 || !strings.Contains(string(data), "stale_lease") {
		t.Fatalf("stale report: %d %s", status, data)
	}
	tok := lease2.Jobs[0].LeaseToken
	// Inserter integrity: the report names the sheets enveloped, and a
	// count other than the job's is refused; nothing is recorded.
	sheets := lease2.Jobs[0].Sheets
	if sheets < 1 {
		t.Fatalf("leased job has %d sheets", sheets)
	}
	for _, tc := range []struct {
		body   map[string]any
		status int
		code   string
	}{
		{map[string]any{"lease_token": tok}, 400, "bad_sheets"},
		{map[string]any{"lease_token": tok, "sheets": sheets + 1}, 409, "sheet_mismatch"},
	} {
		status, data := gomel2.json("POST", "/v1/print/jobs/"+job.ID+"/printed", tc.body, nil)
		if status != tc.status || !strings.Contains(string(data), `"`+tc.code+`"`) {
			t.Fatalf("printed %v: %d %s, want %d %s", tc.body, status, data, tc.status, tc.code)
		}
	}
	var batch struct {
		Results []struct {
			State string
			Error *struct{ Code string }
		}
	}
	gomel2.mustJSON("POST", "/v1/print/reports", map[string]any{"reports": []map[string]any{
		{"id": job.ID, "lease_token": tok, "outcome": "printed", "sheets": sheets + 2}}}, &batch, 200)
	if len(batch.Results) != 1 || batch.Results[0].Error == nil || batch.Results[0].Error.Code != "sheet_mismatch" {
		t.Fatalf("batch report with the wrong sheets: %+v", batch.Results)
	}
	if got := strings.Join(events(t, org, sent.ID), " "); got != "SubmissionAcceptance RelayToNonERDS" {
		t.Fatalf("events after refused reports: %s", got)
	}
	for range 2 { // a retried report records nothing twice
		gomel2.mustJSON("POST", "/v1/print/jobs/"+job.ID+"/printed", map[string]any{"lease_token": tok, "sheets": lease2.Jobs[0].Sheets}, nil, 200)
	}
	if status, _ := gomel2.json("POST", "/v1/print/jobs/"+job.ID+"/events", map[string]any{"event": "Delivered"}, nil); status != 409 {
		t.Fatalf("delivered before posted: %d", status)
	}
	gomel2.mustJSON("POST", "/v1/print/jobs/"+job.ID+"/posted", map[string]any{"lease_token": tok}, nil, 200)
	gomel2.mustJSON("POST", "/v1/print/jobs/"+job.ID+"/events", map[string]any{"event": "Delivered", "details": map[string]string{"office": "246050"}}, nil, 200)
	if status, _ := gomel2.json("POST", "/v1/print/jobs/"+job.ID+"/events", map[string]any{"event": "Teleported"}, nil); status != 400 {
		t.Fatalf("unknown event: %d", status)
	}
	if got := strings.Join(events(t, org, sent.ID), " "); got != "SubmissionAcceptance RelayToNonERDS Printed Posted Delivered" {
		t.Fatalf("events: %s", got)
	}
	// Printed records what the inserter checked: pages, sheets, and the
	// match code every sheet's Data Matrix carries.
	printed := evidenceOf(t, org, sent.ID, signing.EventPrinted)
	if d := printed.Details; d["pages"] != strconv.Itoa(lease2.Jobs[0].Pages) || d["sheets"] != strconv.Itoa(sheets) || d["match_code"] != sent.ID {
		t.Fatalf("Printed details %v, want pages %d, sheets %d, match_code %s", d, lease2.Jobs[0].Pages, sheets, sent.ID)
	}
	status, bb := org.do("GET", "/v1/letters/"+sent.ID+"/bundle", nil, "", nil, nil)
	if status != 200 {
		t.Fatalf("bundle: %d", status)
	}
	if _, err := signing.VerifyBundle(bb, signing.VerifyOptions{Trust: org.trust()}); err != nil {
		t.Fatalf("bundle: %v", err)
	}

	// The manifest lists the posted item once, for the centre's regions.
	day := b.clock.Now().In(time.FixedZone("MSK", 3*3600)).Format("2006-01-02")
	status, man := gomel.do("GET", "/v1/print/manifest?date="+day, nil, "", nil, nil)
	if status != 200 {
		t.Fatalf("manifest: %d %s", status, man)
	}
	rows, err := csv.NewReader(strings.NewReader(string(man))).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][0] != "tracking" || rows[1][0] != sent.Tracking || rows[1][1] != "246050" {
		t.Fatalf("manifest: %q %v", rows, err)
	}
	status, man = minsk.do("GET", "/v1/print/manifest?date="+day, nil, "", nil, nil)
	if status != 200 || strings.Contains(string(man), sent.Tracking) {
		t.Fatalf("Minsk manifest shows a Gomel item: %s", man)
	}

	// A print centre reads no letters and holds no mailbox; others cannot
	// use the print queue.
	if status, _ := gomel.json("GET", "/v1/letters/"+sent.ID, nil, nil); status != 404 {
		t.Fatalf("print centre reading a letter: %d", status)
	}
	if status, _ := gomel.json("POST", "/v1/mailboxes", map[string]string{"address": orgAddress}, nil); status != 403 {
		t.Fatalf("print centre registering a mailbox: %d", status)
	}
	if status, _ := org.json("POST", "/v1/print/leases", map[string]int{"max": 1}, nil); status != 403 {
		t.Fatalf("org leasing print jobs: %d", status)
	}
}

func evidenceOf(t *testing.T, p *party, letterID string, event signing.Event) signing.Evidence {
	t.Helper()
	var out struct {
		Evidence []json.RawMessage `json:"evidence"`
	}
	p.mustJSON("GET", "/v1/letters/"+letterID+"/evidence", nil, &out, 200)
	for _, raw := range out.Evidence {
		env, err := signing.ParseEnvelope(raw)
		if err != nil {
			t.Fatal(err)
		}
		payload, err := env.Verify(signingKeys(t, p))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := signing.ParseEvidence(payload)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Event == event {
			return *ev
		}
	}
	t.Fatalf("no %s evidence", event)
	return signing.Evidence{}
}

func signingKeys(t *testing.T, p *party) signing.JWKS {
	t.Helper()
	status, data := p.do("GET", "/v1/keys", nil, "", nil, nil)
	if status != 200 {
		t.Fatalf("keys: %d", status)
	}
	k, err := signing.ParseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPoisonJobDies(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	pc := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гродно", Regions: []string{"230"}})
	_, poison, _ := org.send(map[string]any{"recipient": map[string]string{"name": "А", "address": "230025, г. Гродно, ул. Ожешко, 3"}, "body": "x"}, "")
	for attempt := 1; ; attempt++ {
		var l jobsReply
		pc.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10}, &l, 200)
		if len(l.Jobs) == 0 {
			if attempt <= 5 {
				// Backing off: move the clock past the retry delay.
				b.clock.Advance(7 * time.Hour)
				attempt--
				continue
			}
			break
		}
		var j struct{ State string }
		pc.mustJSON("POST", "/v1/print/jobs/"+l.Jobs[0].ID+"/failed", map[string]any{"lease_token": l.Jobs[0].LeaseToken, "reason": "printer jam on sheet 1"}, &j, 200)
		if attempt < 5 && j.State != "queued" || attempt == 5 && j.State != "dead" {
			t.Fatalf("attempt %d: state %s", attempt, j.State)
		}
		if attempt > 5 {
			t.Fatal("a dead job was leased again")
		}
	}
	ev := evidenceOf(t, org, poison.ID, signing.EventDeliveryFailed)
	if ev.Details["reason"] != "printer jam on sheet 1" || ev.Details["stage"] != "print" {
		t.Fatalf("DeliveryFailed details: %v", ev.Details)
	}
	var v mailbox.LetterView
	org.mustJSON("GET", "/v1/letters/"+poison.ID, nil, &v, 200)
	if v.State != "print_dead" {
		t.Fatalf("letter state %s", v.State)
	}
}

// TestBatchReports: one request reports several jobs; each report succeeds
// or fails on its own, and the evidence lands on each letter.
func TestBatchReports(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	pc := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Брест", Regions: []string{"224"}})
	var ids []string
	for i := range 3 {
		_, sent, data := org.send(map[string]any{"recipient": map[string]string{"name": fmt.Sprint("Петров ", i), "address": "224030, г. Брест, ул. Советская, 1"}, "body": "x"}, "")
		if sent.ID == "" {
			t.Fatalf("send: %s", data)
		}
		ids = append(ids, sent.ID)
	}
	var l jobsReply
	pc.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10}, &l, 200)
	if len(l.Jobs) != 3 {
		t.Fatalf("leased %d", len(l.Jobs))
	}
	reports := []map[string]any{
		{"id": l.Jobs[0].ID, "lease_token": l.Jobs[0].LeaseToken, "outcome": "printed", "sheets": l.Jobs[0].Sheets},
		{"id": l.Jobs[1].ID, "lease_token": l.Jobs[1].LeaseToken + 7, "outcome": "printed"}, // stale
		{"id": l.Jobs[2].ID, "lease_token": l.Jobs[2].LeaseToken, "outcome": "failed"},      // no reason
		{"id": l.Jobs[0].ID, "lease_token": l.Jobs[0].LeaseToken, "outcome": "posted"},      // same job, next step
	}
	var out struct {
		Results []struct {
			ID    string
			State string
			Error *struct{ Code string }
		}
	}
	pc.mustJSON("POST", "/v1/print/reports", map[string]any{"reports": reports}, &out, 200)
	if len(out.Results) != 4 || out.Results[0].State != "printed" || out.Results[1].Error == nil || out.Results[1].Error.Code != "stale_lease" ||
		out.Results[2].Error == nil || out.Results[2].Error.Code != "bad_reason" || out.Results[3].State != "posted" {
		t.Fatalf("results: %+v", out.Results)
	}
	byLetter := map[string]string{}
	for _, j := range l.Jobs {
		byLetter[j.ID] = j.LetterID
	}
	if got := strings.Join(events(t, org, byLetter[l.Jobs[0].ID]), " "); got != "SubmissionAcceptance RelayToNonERDS Printed Posted" {
		t.Fatalf("events of the reported letter: %s", got)
	}
	if got := strings.Join(events(t, org, byLetter[l.Jobs[1].ID]), " "); got != "SubmissionAcceptance RelayToNonERDS" {
		t.Fatalf("events of the stale report's letter: %s", got)
	}
	status, bb := org.do("GET", "/v1/letters/"+byLetter[l.Jobs[0].ID]+"/bundle", nil, "", nil, nil)
	if status != 200 {
		t.Fatalf("bundle: %d", status)
	}
	if _, err := signing.VerifyBundle(bb, signing.VerifyOptions{Trust: org.trust()}); err != nil {
		t.Fatal(err)
	}
	if status, _ := pc.json("POST", "/v1/print/reports", map[string]any{"reports": []any{}}, nil); status != 400 {
		t.Fatalf("empty batch: %d", status)
	}
	_ = ids
}
