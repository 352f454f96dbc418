package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

func init() {
	methodGroup("Consoles", testConsoles, "ConsoleJobs", "LetterDayCounts", "PendingMailboxList", "PendingRecoveries", "SearchCertificates")
	methodGroup("AuditRuns", testAuditRuns, "StartAuditRun", "FinishAuditRun", "AuditRuns")
}

func jobIDs(js []mailbox.PrintJob) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}

// testConsoles pins the consoles' reads: jobs by state and region (and
// printer), letters per day in a zone, pending proofs and recoveries oldest
// first, and the certificate search (serial, or a part of the name taken
// literally: % and _ are no wildcards).
func testConsoles(t *testing.T, newStore Factory) {
	s := newStore(t)
	minsk := 3 * time.Hour
	mustTx(t, s, func(tx mailbox.Tx) error {
		for i, j := range []struct{ region, state, by string }{
			{"220", mailbox.JobQueued, ""}, {"220", mailbox.JobDead, ""}, {"246", mailbox.JobDead, ""},
			{"220", mailbox.JobPosted, "pc-1"}, {"220", mailbox.JobPosted, "pc-2"}, {"220", mailbox.JobLeased, ""},
		} {
			pj := newJob(fmt.Sprint("c", i), j.region, t0.Add(time.Duration(10-i)*time.Minute))
			pj.State, pj.PrintedBy = j.state, j.by
			if err := tx.CreatePrintJob(ctx(t), pj); err != nil {
				return err
			}
		}
		// Letters: 20:59 and 21:00 UTC fall on two Minsk days.
		day := time.Date(2026, 11, 1, 20, 59, 0, 0, time.UTC)
		for i, l := range []struct {
			at         time.Time
			route      string
			registered bool
			state      string
		}{
			{day, mailbox.RouteElectronic, true, mailbox.StateAccepted},
			{day.Add(-time.Hour), mailbox.RouteElectronic, true, mailbox.StateAccepted},
			{day.Add(-2 * time.Hour), mailbox.RoutePrint, false, mailbox.StatePrintQueued},
			{day.Add(time.Minute), mailbox.RouteElectronic, true, mailbox.StateRefused},
			{day.Add(48 * time.Hour), mailbox.RouteElectronic, true, mailbox.StateRefused}, // outside the period
		} {
			lt := newLetter(fmt.Sprintf("00000000-0000-4000-8000-%012d", i+100), "snd", "rcp", l.at)
			lt.Route, lt.Registered, lt.State = l.route, l.registered, l.state
			if err := tx.CreateLetter(ctx(t), lt); err != nil {
				return err
			}
		}
		for i, st := range []string{mailbox.StatusPending, mailbox.StatusActive, mailbox.StatusPending} {
			m := newMailbox(fmt.Sprint("mbc", i), fmt.Sprint("31405820", i, "PB1"), fmt.Sprint("k", i))
			m.Status, m.CreatedAt = st, t0.Add(time.Duration(5-i)*time.Minute)
			if err := tx.CreateMailbox(ctx(t), m); err != nil {
				return err
			}
		}
		for i, st := range []string{mailbox.RecoveryPending, "completed", mailbox.RecoveryPending} {
			r := mailbox.Recovery{ID: fmt.Sprint("RC", i), MailboxID: fmt.Sprint("mbc", i), IdentityID: "I", CertDER: []byte{1},
				Status: st, CodeHash: []byte{9}, CreatedAt: t0.Add(time.Duration(5-i) * time.Minute)}
			if err := tx.CreateRecovery(ctx(t), r); err != nil {
				return err
			}
		}
		for i, name := range []string{"Иванов Иван", "ОАО Белпочта 100%", "Петров_Пётр", "иванова анна"} {
			c := mailbox.CertificateRecord{Serial: fmt.Sprintf("0%X", 10+i), Role: "person", Name: name, IdentityID: fmt.Sprint("id", i),
				NotBefore: t0.Add(time.Duration(i) * time.Minute), NotAfter: t0.Add(time.Hour), CertPEM: []byte("pem")}
			if err := tx.AddCertificate(ctx(t), c); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx mailbox.Tx) error {
		for _, tc := range []struct {
			q    mailbox.ConsoleJobQuery
			want []string
		}{
			{mailbox.ConsoleJobQuery{Regions: []string{"220"}, States: []string{mailbox.JobDead, mailbox.JobQueued, mailbox.JobLeased}, Limit: 10}, []string{"c5", "c1", "c0"}},
			{mailbox.ConsoleJobQuery{States: []string{mailbox.JobDead}, Limit: 10}, []string{"c2", "c1"}},
			{mailbox.ConsoleJobQuery{States: []string{mailbox.JobDead}, Limit: 1}, []string{"c2"}},
			{mailbox.ConsoleJobQuery{States: []string{mailbox.JobDead}, NewestFirst: true, Limit: 10}, []string{"c1", "c2"}},
			{mailbox.ConsoleJobQuery{Regions: []string{"220"}, States: []string{mailbox.JobPosted}, PrintedBy: "pc-1", Limit: 10}, []string{"c3"}},
			{mailbox.ConsoleJobQuery{Regions: []string{}, States: []string{mailbox.JobDead}, Limit: 10}, []string{}},
			{mailbox.ConsoleJobQuery{Regions: []string{"230"}, States: []string{mailbox.JobDead}, Limit: 10}, []string{}},
		} {
			got, err := tx.ConsoleJobs(ctx(t), tc.q)
			if err != nil {
				return err
			}
			if !slices.Equal(jobIDs(got), tc.want) {
				return fmt.Errorf("ConsoleJobs(%+v) = %v, want %v", tc.q, jobIDs(got), tc.want)
			}
		}

		from := time.Date(2026, 10, 31, 21, 0, 0, 0, time.UTC) // 1 Nov, 00:00 in Minsk
		counts, err := tx.LetterDayCounts(ctx(t), from, from.Add(48*time.Hour), minsk)
		if err != nil {
			return err
		}
		zone := time.FixedZone("MSK", 3*3600)
		got := make([]string, len(counts))
		for i, c := range counts {
			got[i] = fmt.Sprint(c.Day.In(zone).Format("2006-01-02 15:04"), " ", c.Route, " ", c.Registered, " ", c.State, " ", c.Count)
		}
		want := []string{
			"2026-11-01 00:00 electronic true accepted 2",
			"2026-11-01 00:00 print false print_queued 1",
			"2026-11-02 00:00 electronic true refused 1",
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("LetterDayCounts =\n%q\nwant\n%q", got, want)
		}

		ms, err := tx.PendingMailboxList(ctx(t), 10)
		if err != nil {
			return err
		}
		if len(ms) != 2 || ms[0].ID != "mbc2" || ms[1].ID != "mbc0" {
			return fmt.Errorf("PendingMailboxList = %+v", ms)
		}
		if ms, err = tx.PendingMailboxList(ctx(t), 1); err != nil || len(ms) != 1 {
			return fmt.Errorf("PendingMailboxList(1) = %d %v", len(ms), err)
		}
		rs, err := tx.PendingRecoveries(ctx(t), 10)
		if err != nil {
			return err
		}
		if len(rs) != 2 || rs[0].ID != "RC2" || rs[1].ID != "RC0" {
			return fmt.Errorf("PendingRecoveries = %+v", rs)
		}

		for _, tc := range []struct {
			serial string
			names  []string
			want   []string
		}{
			{"0B", nil, []string{"0B"}},
			{"", []string{"Иванов"}, []string{"0A"}},
			{"", []string{"Иванов", "иванов"}, []string{"0D", "0A"}},
			{"", []string{"100%"}, []string{"0B"}},
			{"", []string{"%"}, []string{"0B"}},
			{"", []string{"в_П"}, []string{"0C"}},
			{"", []string{"в П"}, []string{}},
			{"0C", []string{"Иван"}, []string{"0C", "0A"}},
		} {
			cs, err := tx.SearchCertificates(ctx(t), tc.serial, tc.names, 10)
			if err != nil {
				return err
			}
			got := []string{}
			for _, c := range cs {
				got = append(got, c.Serial)
			}
			if !slices.Equal(got, tc.want) {
				return fmt.Errorf("SearchCertificates(%q, %q) = %v, want %v", tc.serial, tc.names, got, tc.want)
			}
		}
		return nil
	})
}

// testAuditRuns: one running run at most; finishing stores the report and
// frees the slot; runs are listed newest first.
func testAuditRuns(t *testing.T, newStore Factory) {
	s := newStore(t)
	first := mailbox.AuditRun{ID: "A1", StartedBy: "op", StartedAt: t0, Status: mailbox.AuditRunning}
	mustTx(t, s, func(tx mailbox.Tx) error { return tx.StartAuditRun(ctx(t), first) })
	second := mailbox.AuditRun{ID: "A2", StartedBy: "op", StartedAt: t0.Add(time.Minute), Status: mailbox.AuditRunning}
	err := s.InTx(ctx(t), func(tx mailbox.Tx) error { return tx.StartAuditRun(ctx(t), second) })
	if !errors.Is(err, mailbox.ErrConflict) {
		t.Fatalf("a second running audit: %v, want ErrConflict", err)
	}
	first.Status, first.FinishedAt = mailbox.AuditPassed, t0.Add(30*time.Second)
	first.Report = mailbox.AuditReport{Leaves: 42, Letters: 7, Mailboxes: 2, PrintJobs: 1, Checkpoints: 3, Root: "abc"}
	mustTx(t, s, func(tx mailbox.Tx) error {
		if err := tx.FinishAuditRun(ctx(t), first); err != nil {
			return err
		}
		return tx.StartAuditRun(ctx(t), second)
	})
	err = s.InTx(ctx(t), func(tx mailbox.Tx) error {
		return tx.FinishAuditRun(ctx(t), mailbox.AuditRun{ID: "nope", Status: mailbox.AuditFailed})
	})
	if !errors.Is(err, mailbox.ErrNotFound) {
		t.Fatalf("finishing a missing run: %v", err)
	}
	view(t, s, func(tx mailbox.Tx) error {
		runs, err := tx.AuditRuns(ctx(t), 10)
		if err != nil {
			return err
		}
		if len(runs) != 2 || runs[0].ID != "A2" || runs[0].Status != mailbox.AuditRunning || !runs[0].FinishedAt.IsZero() {
			return fmt.Errorf("runs = %+v", runs)
		}
		r := runs[1]
		if r.ID != "A1" || r.Status != mailbox.AuditPassed || !r.StartedAt.Equal(t0) || !r.FinishedAt.Equal(first.FinishedAt) || r.Report != first.Report || r.StartedBy != "op" {
			return fmt.Errorf("finished run = %+v", r)
		}
		if runs, err = tx.AuditRuns(ctx(t), 1); err != nil || len(runs) != 1 {
			return fmt.Errorf("AuditRuns(1) = %d %v", len(runs), err)
		}
		return nil
	})
}
