package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/npes/npes/mailbox"
)

// Audit runs: the operator starts an audit of the evidence log; it runs in
// the background, one at a time (in this process by auditRunner, across
// processes by the store), and its result is stored and listed.

// auditStaleAfter: a run still marked running after this long was left by
// a process that stopped; the next start marks it abandoned.
const auditStaleAfter = 6 * time.Hour

type auditRow struct {
	mailbox.AuditRun
	Started  string
	Finished string
}

type auditsPage struct {
	Done, Failed string
	Running      bool
	Runs         []auditRow
}

var auditOutcomes = map[string]string{
	"started":       "The audit has started. Reload this page to see its result.",
	"audit_running": "An audit is already running. Wait for its result before starting another.",
	"failed":        "The action could not be done.",
}

func (p *Portal) operatorAudits(w http.ResponseWriter, r *http.Request) {
	l := p.locale(w, r)
	page := auditsPage{}
	page.Done, page.Failed = flash(r, auditOutcomes)
	runs, err := p.Service.AuditRuns(r.Context(), caller(r), 20)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	for _, run := range runs {
		row := auditRow{AuditRun: run, Started: l.Date(run.StartedAt)}
		if !run.FinishedAt.IsZero() {
			row.Finished = l.Date(run.FinishedAt)
		}
		page.Running = page.Running || run.Status == mailbox.AuditRunning
		page.Runs = append(page.Runs, row)
	}
	p.render(w, r, http.StatusOK, "operator_audits", "Audits", page)
}

func (p *Portal) operatorStartAudit(w http.ResponseWriter, r *http.Request) {
	if _, err := p.startAudit(r.Context(), caller(r)); err != nil {
		code := outcomeCode(err, auditOutcomes)
		if code == "failed" {
			p.Logger.ErrorContext(r.Context(), "starting an audit", "err", err)
		}
		http.Redirect(w, r, "/operator/audits?err="+code, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/operator/audits?done=started", http.StatusSeeOther)
}

// errAuditRunning refuses a second audit in this process.
var errAuditRunning = mailbox.Errorf(mailbox.ErrConflict, "audit_running", "an audit is running; wait for its result")

// startAudit records a running audit and runs it in the background; the
// returned channel is closed when it has finished and its result is
// stored.
func (p *Portal) startAudit(ctx context.Context, c mailbox.Caller) (<-chan struct{}, error) {
	a := &p.Consoles.audits
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		return nil, errAuditRunning
	}
	run, err := p.Service.StartAuditRun(ctx, c, uuid.NewString(), auditStaleAfter)
	if err != nil {
		return nil, err
	}
	a.running, a.done = true, make(chan struct{})
	done := a.done
	bg := p.Consoles.Background
	if bg == nil {
		bg = context.WithoutCancel(ctx)
	}
	p.Logger.InfoContext(ctx, "audit started from the operator console", "run", run.ID, "operator", c.Identity.Serial)
	go func() {
		defer func() {
			a.mu.Lock()
			a.running = false
			a.mu.Unlock()
			close(done)
		}()
		rep, err := p.Consoles.Audit(bg)
		run.Report, run.Status = rep, mailbox.AuditPassed
		switch {
		case err != nil && bg.Err() != nil:
			run.Status, run.Error = mailbox.AuditAbandoned, "the server stopped before the audit finished"
		case err != nil:
			run.Status, run.Error = mailbox.AuditFailed, err.Error()
			if !errors.Is(err, mailbox.ErrAudit) {
				p.Logger.Error("audit could not run", "run", run.ID, "err", err)
			}
		}
		// Stored even when the server is stopping, so the run does not
		// stay "running".
		if err := p.Service.FinishAuditRun(context.WithoutCancel(bg), run); err != nil {
			p.Logger.Error("storing an audit result", "run", run.ID, "err", err)
		}
		p.Logger.Info("audit finished", "run", run.ID, "status", run.Status)
	}()
	return done, nil
}

// Wait returns when no console audit of this process is running (the
// server calls it after cancelling Background, before closing the store).
func (c *Consoles) Wait() {
	c.audits.mu.Lock()
	done := c.audits.done
	c.audits.mu.Unlock()
	if done != nil {
		<-done
	}
}
