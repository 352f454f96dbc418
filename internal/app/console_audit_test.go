package app_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

// TestAuditRunsOneAtATime: a second audit while one runs is refused with
// audit_running; a run left running by a stopped process is marked
// abandoned by the next start once it is stale; only operators start them.
func TestAuditRunsOneAtATime(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	svc := b.srv.Service
	op := mailbox.Caller{Identity: certs.Identity{ID: "op-1", Role: certs.RoleOperator, Serial: "01"}}
	first, err := svc.StartAuditRun(t.Context(), op, "run-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.StartAuditRun(t.Context(), op, "run-2", time.Hour)
	var de *mailbox.Error
	if !errors.As(err, &de) || de.Code != "audit_running" || !errors.Is(err, mailbox.ErrConflict) {
		t.Fatalf("second start: %v, want audit_running", err)
	}
	person := mailbox.Caller{Identity: certs.Identity{ID: "p", Role: certs.RolePerson}}
	if _, err := svc.StartAuditRun(t.Context(), person, "run-x", time.Hour); !errors.Is(err, mailbox.ErrForbidden) {
		t.Fatalf("a person starting an audit: %v", err)
	}
	if _, err := svc.AuditRuns(t.Context(), person, 10); !errors.Is(err, mailbox.ErrForbidden) {
		t.Fatalf("a person listing audits: %v", err)
	}
	// The first run's process died: after staleAfter the next start
	// abandons it.
	b.clock.Advance(2 * time.Hour)
	if _, err := svc.StartAuditRun(t.Context(), op, "run-3", time.Hour); err != nil {
		t.Fatalf("start after a stale run: %v", err)
	}
	runs, err := svc.AuditRuns(t.Context(), op, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != "run-3" || runs[0].Status != mailbox.AuditRunning || runs[1].ID != first.ID || runs[1].Status != mailbox.AuditAbandoned {
		t.Fatalf("runs: %+v", runs)
	}
	run := runs[0]
	run.Status = mailbox.AuditPassed
	if err := svc.FinishAuditRun(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartAuditRun(t.Context(), op, "run-4", time.Hour); err != nil {
		t.Fatalf("start after a finished run: %v", err)
	}
}

// TestAuditStartRefusedInConsole: while a run is marked running (by this
// or another process), the console's start is refused with a clear
// message and starts nothing.
func TestAuditStartRefusedInConsole(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	op := b.operator(t)
	c := b.portal(t, &op.cred)
	c.signInAs("/operator")
	other := mailbox.Caller{Identity: certs.Identity{ID: "op-2", Role: certs.RoleOperator, Serial: "02"}}
	if _, err := b.srv.Service.StartAuditRun(t.Context(), other, "elsewhere", time.Hour); err != nil {
		t.Fatal(err)
	}
	resp, _ := c.do("POST", "/operator/audits", map[string]string{"Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/operator/audits?err=audit_running" {
		t.Fatalf("start while running: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body := c.do("GET", "/operator/audits?err=audit_running&lang=en", nil)
	if !strings.Contains(body, "An audit is already running. Wait for its result before starting another.") {
		t.Fatalf("no clear message: %s", body)
	}
	runs, err := b.srv.Service.AuditRuns(t.Context(), other, 10)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs after a refused start: %d %v", len(runs), err)
	}
}

// TestOperatorCounterRecovery: a holder lost the credential; the operator
// revokes it in the console, the holder's new certificate asks for a
// recovery, and the operator verifies it at the counter.
func TestOperatorCounterRecovery(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	op := b.operator(t)
	c := b.portal(t, &op.cred)
	c.signInAs("/operator")
	post := func(path string, form url.Values) string {
		t.Helper()
		resp, body := c.send("POST", path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
		if resp.StatusCode != 303 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		return resp.Header.Get("Location")
	}
	if loc := post("/operator/certificates/"+citizen.serial(t)+"/revoke", url.Values{"reason": {"1"}, "q": {"Иванов"}}); !strings.Contains(loc, "done=revoked") {
		t.Fatalf("revoke: %s", loc)
	}
	if status, _, err := get(t, b.client(t, &citizen.cred), b.base+"/v1/whoami"); err == nil && status == 200 {
		t.Fatal("the revoked certificate still works")
	}
	renewed := b.party(t, citizenReq)
	var rec struct{ ID, Status string }
	renewed.mustJSON("POST", "/v1/mailboxes/recoveries", map[string]string{"address": citizenAddress}, &rec, 202)
	_, body := c.do("GET", "/operator/counter?lang=en", nil)
	if !strings.Contains(body, rec.ID) || !strings.Contains(body, citizenReq.Name) {
		t.Fatalf("the pending recovery is not listed")
	}
	if loc := post("/operator/recoveries/"+rec.ID+"/verify", nil); loc != "/operator/counter?done=recovered" {
		t.Fatalf("verify recovery: %s", loc)
	}
	var mine struct {
		Mailboxes []struct{ ID, Status string } `json:"mailboxes"`
	}
	renewed.mustJSON("GET", "/v1/mailboxes/me", nil, &mine, 200)
	if len(mine.Mailboxes) != 1 || mine.Mailboxes[0].Status != mailbox.StatusActive {
		t.Fatalf("after the counter recovery: %+v", mine.Mailboxes)
	}
	// The operator cannot revoke the certificate the console session rests on.
	if loc := post("/operator/certificates/"+op.serial(t)+"/revoke", url.Values{"reason": {"1"}}); !strings.Contains(loc, "err=self_revoke") {
		t.Fatalf("self-revocation: %s", loc)
	}
}
