package mailbox

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/npes/npes/certs"
)

// The web consoles of print centres and operators (DESIGN §12) read lists
// and aggregates that no API route needs: the queue of a centre's regions,
// pending proofs and recoveries, a certificate search, letters per day and
// the audit runs. They go through the same service and the same rules:
// a centre sees only its regions, the rest is the operator's.

// ConsoleJobQuery selects print jobs for a console, oldest first.
type ConsoleJobQuery struct {
	Regions []string // the centre's regions; nil for every region (operator)
	States  []string // required: the states to list
	// PrintedBy, when set, keeps the jobs this identity printed.
	PrintedBy string
	// NewestFirst lists the newest jobs first (the oldest by default).
	NewestFirst bool
	Limit       int
}

// LetterDayCount counts the letters created on one day (in the zone the
// caller asked for) by route, kind and state.
type LetterDayCount struct {
	Day        time.Time // midnight of the day, in the asked zone
	Route      string
	Registered bool
	State      string
	Count      int64
}

// AuditRun is one background audit of the evidence log started from the
// operator's console, and its outcome.
type AuditRun struct {
	ID         string
	StartedBy  string // the operator's certificate identity
	StartedAt  time.Time
	FinishedAt time.Time // zero while running
	Status     string    // running, passed, failed, abandoned
	Report     AuditReport
	Error      string // why it failed
}

// Audit run states.
const (
	AuditRunning   = "running"
	AuditPassed    = "passed"
	AuditFailed    = "failed"
	AuditAbandoned = "abandoned"
)

// ConsoleTx is the stores' side of the consoles.
type ConsoleTx interface {
	// ConsoleJobs lists up to q.Limit jobs in q.States (of q.Regions when
	// set, printed by q.PrintedBy when set), oldest (or newest) first.
	ConsoleJobs(ctx context.Context, q ConsoleJobQuery) ([]PrintJob, error)
	// LetterDayCounts counts the letters created in [from, to) by day
	// (days start at midnight of the zone offset east of UTC), route,
	// registered and state, ordered by day, route, registered, state.
	LetterDayCounts(ctx context.Context, from, to time.Time, offset time.Duration) ([]LetterDayCount, error)
	// PendingMailboxList lists up to limit pending mailboxes, oldest
	// first (the proofs an operator may verify at a counter).
	PendingMailboxList(ctx context.Context, limit int) ([]Mailbox, error)
	// PendingRecoveries lists up to limit pending recoveries, oldest first.
	PendingRecoveries(ctx context.Context, limit int) ([]Recovery, error)
	// SearchCertificates lists up to limit certificates whose serial is
	// serial (canonical form; "" for none) or whose name contains one of
	// names (exact substrings), newest first.
	SearchCertificates(ctx context.Context, serial string, names []string, limit int) ([]CertificateRecord, error)
	// StartAuditRun stores a running audit; ErrConflict when another is
	// running.
	StartAuditRun(ctx context.Context, r AuditRun) error
	// FinishAuditRun writes a run's status, report, error and end;
	// ErrNotFound when there is no such run.
	FinishAuditRun(ctx context.Context, r AuditRun) error
	// AuditRuns lists up to limit runs, newest first.
	AuditRuns(ctx context.Context, limit int) ([]AuditRun, error)
}

// Console list limits.
const (
	MaxConsoleRows = 200
)

func operatorOnly(c Caller) error {
	if c.Identity.Role != certs.RoleOperator {
		return Errorf(ErrForbidden, "forbidden", "only an operator may do this")
	}
	return nil
}

// ConsoleJobs lists print jobs for a console: a print centre's are of its
// regions only, whatever it asks; an operator's of every region.
func (s *Service) ConsoleJobs(ctx context.Context, c Caller, q ConsoleJobQuery) ([]PrintJob, error) {
	switch c.Identity.Role {
	case certs.RoleOperator:
	case certs.RolePrintCenter:
		if len(c.Identity.Regions) == 0 {
			return nil, Errorf(ErrForbidden, "no_regions", "the certificate names no regions")
		}
		regions := c.Identity.Regions
		if q.Regions != nil {
			regions = slices.DeleteFunc(slices.Clone(q.Regions), func(r string) bool { return !slices.Contains(c.Identity.Regions, r) })
		}
		q.Regions = regions
		if len(q.Regions) == 0 {
			return nil, nil
		}
	default:
		return nil, Errorf(ErrForbidden, "forbidden", "only print centres and operators see the print queue")
	}
	if len(q.States) == 0 {
		return nil, nil
	}
	if q.Limit <= 0 || q.Limit > MaxConsoleRows {
		q.Limit = MaxConsoleRows
	}
	var out []PrintJob
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ConsoleJobs(ctx, q)
		return err
	})
	return out, err
}

// QueueStats counts the jobs that are not posted by region and state: a
// print centre's regions only, every region for an operator.
func (s *Service) QueueStats(ctx context.Context, c Caller) ([]PrintJobGroup, error) {
	if c.Identity.Role != certs.RoleOperator && c.Identity.Role != certs.RolePrintCenter {
		return nil, Errorf(ErrForbidden, "forbidden", "only print centres and operators see the print queue")
	}
	var groups []PrintJobGroup
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		groups, err = tx.PrintQueueStats(ctx)
		return err
	})
	if err != nil || c.Identity.Role == certs.RoleOperator {
		return groups, err
	}
	return slices.DeleteFunc(groups, func(g PrintJobGroup) bool { return !slices.Contains(c.Identity.Regions, g.Region) }), nil
}

// MaxStatDays bounds the days of LetterDayCounts one request reads.
const MaxStatDays = 366

// LetterDayCounts counts letters per day (in zone) for the operator.
func (s *Service) LetterDayCounts(ctx context.Context, c Caller, from, to time.Time, zone *time.Location) ([]LetterDayCount, error) {
	if err := operatorOnly(c); err != nil {
		return nil, err
	}
	if !to.After(from) || to.Sub(from) > MaxStatDays*24*time.Hour {
		return nil, Errorf(ErrInvalid, "bad_period", "the period must be 1..%d days", MaxStatDays)
	}
	_, off := from.In(zone).Zone()
	var out []LetterDayCount
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.LetterDayCounts(ctx, from, to, time.Duration(off)*time.Second)
		return err
	})
	for i := range out {
		out[i].Day = out[i].Day.In(zone)
	}
	return out, err
}

// PendingProofs lists pending mailboxes (address not proven) for the
// operator's counter.
func (s *Service) PendingProofs(ctx context.Context, c Caller, limit int) ([]Mailbox, error) {
	if err := operatorOnly(c); err != nil {
		return nil, err
	}
	var out []Mailbox
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.PendingMailboxList(ctx, min(max(limit, 1), MaxConsoleRows))
		return err
	})
	return out, err
}

// PendingRecoveryList lists pending recoveries with their mailboxes for
// the operator's counter.
func (s *Service) PendingRecoveryList(ctx context.Context, c Caller, limit int) ([]Recovery, map[string]Mailbox, error) {
	if err := operatorOnly(c); err != nil {
		return nil, nil, err
	}
	var out []Recovery
	boxes := map[string]Mailbox{}
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		if out, err = tx.PendingRecoveries(ctx, min(max(limit, 1), MaxConsoleRows)); err != nil {
			return err
		}
		for _, r := range out {
			if _, ok := boxes[r.MailboxID]; ok {
				continue
			}
			m, err := tx.GetMailbox(ctx, r.MailboxID)
			if err != nil {
				return err
			}
			boxes[r.MailboxID] = m
		}
		return nil
	})
	return out, boxes, err
}

// SearchCertificates finds certificates by serial (any form
// certs.ParseSerial reads) or by a part of the holder's name, for the
// operator. Names are matched as written, in lower case and with a capital
// first letter (SQLite's LIKE folds ASCII only).
func (s *Service) SearchCertificates(ctx context.Context, c Caller, query string, limit int) ([]CertificateRecord, error) {
	if err := operatorOnly(c); err != nil {
		return nil, err
	}
	query = strings.TrimSpace(query)
	if query == "" {
		return nil, nil
	}
	if len(query) > 200 {
		return nil, Errorf(ErrInvalid, "bad_query", "the search is at most 200 bytes")
	}
	serial := ""
	if n, err := certs.ParseSerial(query); err == nil {
		serial = certs.FormatSerial(n)
	}
	lower := strings.ToLower(query)
	names := []string{query, lower}
	if r := []rune(lower); len(r) > 0 {
		names = append(names, strings.ToUpper(string(r[0]))+string(r[1:]))
	}
	slices.Sort(names)
	names = slices.Compact(names)
	var out []CertificateRecord
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.SearchCertificates(ctx, serial, names, min(max(limit, 1), MaxConsoleRows))
		return err
	})
	return out, err
}

// StartAuditRun records a running audit for the operator; ErrConflict
// (audit_running) while another runs. A run left running longer than
// staleAfter (its process died) is marked abandoned first.
func (s *Service) StartAuditRun(ctx context.Context, c Caller, id string, staleAfter time.Duration) (AuditRun, error) {
	if err := operatorOnly(c); err != nil {
		return AuditRun{}, err
	}
	now := s.now()
	run := AuditRun{ID: id, StartedBy: c.Identity.ID, StartedAt: now, Status: AuditRunning}
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		runs, err := tx.AuditRuns(ctx, 1)
		if err != nil {
			return err
		}
		if len(runs) == 1 && runs[0].Status == AuditRunning {
			if now.Sub(runs[0].StartedAt) < staleAfter {
				return Errorf(ErrConflict, "audit_running", "an audit started at %s is still running; wait for its result", runs[0].StartedAt.Format(time.RFC3339))
			}
			old := runs[0]
			old.Status, old.FinishedAt, old.Error = AuditAbandoned, now, "the process running it stopped before it finished"
			if err := tx.FinishAuditRun(ctx, old); err != nil {
				return err
			}
		}
		err = tx.StartAuditRun(ctx, run)
		if errors.Is(err, ErrConflict) {
			// Another process started one between the read and the insert
			// (the store keeps one running run at most).
			return Errorf(ErrConflict, "audit_running", "another audit is running; wait for its result")
		}
		return err
	})
	if err != nil {
		return AuditRun{}, err
	}
	return run, nil
}

// FinishAuditRun stores a run's outcome.
func (s *Service) FinishAuditRun(ctx context.Context, run AuditRun) error {
	run.FinishedAt = s.now()
	return s.cfg.Store.InTx(ctx, func(tx Tx) error { return tx.FinishAuditRun(ctx, run) })
}

// AuditRuns lists the latest runs for the operator.
func (s *Service) AuditRuns(ctx context.Context, c Caller, limit int) ([]AuditRun, error) {
	if err := operatorOnly(c); err != nil {
		return nil, err
	}
	var out []AuditRun
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.AuditRuns(ctx, min(max(limit, 1), MaxConsoleRows))
		return err
	})
	return out, err
}
