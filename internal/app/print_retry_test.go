package app_test

import (
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// deadJob sends org a letter to Grodno (region 230) and lets pc fail it
// until the job dies; it returns the letter and job ids.
func deadJob(t *testing.T, b *bundle, org, pc *party) (letterID, jobID string) {
	t.Helper()
	status, sent, data := org.send(map[string]any{"recipient": map[string]string{"name": "Адамовичу А.А.", "address": "230025, г. Гродно, ул. Ожешко, 3"},
		"registered": true, "subject": "Повестка", "body": "x"}, "")
	if status != 201 {
		t.Fatalf("send: %d %s", status, data)
	}
	for attempt := 1; attempt <= mailboxMaxAttempts; {
		var l jobsReply
		pc.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10}, &l, 200)
		if len(l.Jobs) == 0 {
			b.clock.Advance(7 * time.Hour) // past the backoff
			continue
		}
		for _, j := range l.Jobs {
			pc.mustJSON("POST", "/v1/print/jobs/"+j.ID+"/failed", map[string]any{"lease_token": j.LeaseToken, "reason": "замятие бумаги"}, nil, 200)
			if j.LetterID == sent.ID {
				jobID = j.ID
				attempt++
			}
		}
	}
	return sent.ID, jobID
}

// mailboxMaxAttempts is hybrid.DefaultMaxAttempts (the server's default).
const mailboxMaxAttempts = 5

func TestPrintRetry(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(*testing.T) string{
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
		"sqlite":   func(t *testing.T) string { return "" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := url(t)
			b := setup(t, url)
			org := b.party(t, orgReq)
			org.registerActive(orgAddress)
			grodno := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гродно", Regions: []string{"230"}})
			minsk := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Минск", Regions: []string{"220"}})
			op := b.party(t, certs.Request{Role: certs.RoleOperator, Name: "Оператор"})
			letter, job := deadJob(t, b, org, grodno)

			// Only a centre of the region or an operator; another region's
			// job does not exist for a centre.
			if status, _ := minsk.json("POST", "/v1/print/jobs/"+job+"/retry", nil, nil); status != 404 {
				t.Fatalf("centre of another region: %d", status)
			}
			if status, _ := org.json("POST", "/v1/print/jobs/"+job+"/retry", nil, nil); status != 403 {
				t.Fatalf("org: %d", status)
			}
			if status, _ := op.json("POST", "/v1/print/jobs/nonexistent/retry", nil, nil); status != 404 {
				t.Fatalf("operator, unknown job: %d", status)
			}
			var j struct {
				State    string `json:"state"`
				Attempts int    `json:"attempts"`
			}
			grodno.mustJSON("POST", "/v1/print/jobs/"+job+"/retry", nil, &j, 200)
			if j.State != mailbox.JobQueued || j.Attempts != 0 {
				t.Fatalf("retried job: %+v", j)
			}
			if status, data := op.json("POST", "/v1/print/jobs/"+job+"/retry", nil, nil); status != 409 {
				t.Fatalf("retrying a queued job: %d %s", status, data)
			}
			ev := evidenceOf(t, org, letter, signing.EventPrintRetried)
			if ev.Details["print_job"] != job || ev.Details["attempts"] != "5" || ev.Details["by_role"] != "printcenter" {
				t.Fatalf("PrintRetried details: %v", ev.Details)
			}
			var v mailbox.LetterView
			org.mustJSON("GET", "/v1/letters/"+letter, nil, &v, 200)
			if v.State != mailbox.StatePrintQueued {
				t.Fatalf("letter state %s", v.State)
			}
			// The job is offered again at once and can die and be retried
			// again, this time by an operator.
			var l jobsReply
			grodno.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10}, &l, 200)
			if len(l.Jobs) != 1 || l.Jobs[0].ID != job {
				t.Fatalf("lease after retry: %+v", l.Jobs)
			}
			// The log still folds to the rows (audit) with the new event.
			if _, err := app.Audit(t.Context(), app.Config{DataDir: b.srv.Data.Root, DatabaseURL: url}, nil); err != nil {
				t.Fatalf("audit after a retry: %v", err)
			}
			// The bundle with PrintRetried verifies offline against pinned
			// trust (npes verify's check).
			status, bundle := org.do("GET", "/v1/letters/"+letter+"/bundle", nil, "", nil, nil)
			if status != 200 {
				t.Fatalf("bundle: %d", status)
			}
			rep, err := signing.VerifyBundle(bundle, signing.VerifyOptions{Trust: org.trust()})
			if err != nil {
				t.Fatalf("a bundle with PrintRetried does not verify: %v", err)
			}
			found := false
			for _, e := range rep.Evidence {
				found = found || e.Event == signing.EventPrintRetried
			}
			if !found {
				t.Errorf("the verified bundle has no PrintRetried: %+v", rep.Evidence)
			}
		})
	}
}
