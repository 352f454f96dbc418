package hybrid_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/hybrid"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// maxReportStatements bounds the statements of one batch of reports, every
// one applied: the jobs (lock, update), their letters (lock, update), the
// senders' mailboxes, the notifications, and the log append (head lock,
// nodes, head, evidence, letters' chains, checkpoint): 12. The append reads
// no node: the head is as this process's last append left it, whose
// compact range it remembers (mailbox/frontier.go).
const maxReportStatements = 12

// maxReportRoundTrips bounds the round trips of one batch of reports on
// PostgreSQL: the writes above wait in the store's querier and go out with
// the next statement whose answer is needed (BEGIN with the jobs' lock,
// the jobs' and letters' updates and the notifications with the head
// lock, the log's writes with COMMIT): 5 where each statement was one.
const maxReportRoundTrips = 5

// TestReportBatchStatements: a batch of reports costs the same number of
// statements whatever its size and however many senders its letters have:
// set-based, never one statement per job (issue 16). The statements are
// counted where they reach the database, on both engines, and so are the
// round trips on PostgreSQL.
func TestReportBatchStatements(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			store, log := storetest.NewCounted(t, engine)
			w := newPrintWorldOn(t, store)
			// Three senders, so that every batch of more than one report
			// names several; the first two have a notification address
			// (every batch notifies someone), w.org has none.
			var senders []mailbox.Caller
			for i, unp := range []string{"190000001", "190000002"} {
				c, _ := w.core.Issue(t, certs.Request{Role: certs.RoleOrg, Name: fmt.Sprintf("ООО «Отправитель %d»", i), UNP: unp})
				m, err := w.svc.RegisterMailbox(t.Context(), c, mailbox.RegisterRequest{Address: "230025, г. Гродно, ул. Ожешко, 3", Email: fmt.Sprintf("s%d@example.by", i)})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.svc.VerifyAddress(t.Context(), w.operator, m.ID); err != nil {
					t.Fatal(err)
				}
				senders = append(senders, c)
			}
			senders = append(senders, w.org)
			pc := centre("pc", "220")
			counts := map[string][]int{}
			trips := map[string][]int{}
			lists := map[string][][]string{}
			sizes := []int{1, 3, 40}
			for _, n := range sizes {
				for i := range n {
					w.sendAs(t, senders[i%len(senders)], i)
				}
				jobs := w.lease(t, pc, n)
				if len(jobs) != n {
					t.Fatalf("leased %d jobs, want %d", len(jobs), n)
				}
				for _, outcome := range []string{hybrid.OutcomePrinted, hybrid.OutcomePosted} {
					reports := make([]hybrid.Report, n)
					for i, j := range jobs {
						reports[i] = hybrid.Report{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: outcome, Sheets: j.Sheets}
					}
					log.Reset()
					res, err := w.q.ReportBatch(t.Context(), pc, reports)
					stmts := log.Statements()
					trips[outcome] = append(trips[outcome], log.RoundTrips())
					if err != nil {
						t.Fatal(err)
					}
					for i, r := range res {
						if r.Err != nil {
							t.Fatalf("%s report %d of %d: %v", outcome, i, n, r.Err)
						}
					}
					counts[outcome] = append(counts[outcome], len(stmts))
					lists[outcome] = append(lists[outcome], stmts)
				}
			}
			for outcome, c := range counts {
				if slices.Max(c) != slices.Min(c) || c[0] > maxReportStatements {
					var b strings.Builder
					for k, n := range sizes {
						fmt.Fprintf(&b, "\n-- batch of %d: %d statements", n, c[k])
						for _, s := range lists[outcome][k] {
							fmt.Fprintf(&b, "\n   %.90s", strings.Join(strings.Fields(s), " "))
						}
					}
					t.Fatalf("%s: statements per batch %v for batches of %v, want one count ≤ %d for every size:%s", outcome, c, sizes, maxReportStatements, b.String())
				}
			}
			if engine != "postgres" {
				return
			}
			for outcome, c := range trips {
				if slices.Max(c) != slices.Min(c) || c[0] > maxReportRoundTrips {
					t.Errorf("%s: round trips per batch %v for batches of %v, want one count ≤ %d for every size", outcome, c, sizes, maxReportRoundTrips)
				}
			}
		})
	}
}

// sendAs submits one letter of c that is printed.
func (w *printWorld) sendAs(t *testing.T, c mailbox.Caller, i int) string {
	t.Helper()
	d, err := w.svc.NewDraft()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v, _, err := w.svc.Submit(t.Context(), c, mailbox.Submission{RecipientName: "Петрову П.П.",
		RecipientAddress: fmt.Sprintf("220013, г. Минск, ул. Дорошевича, 8, кв. %d", i+1), Subject: "s", Body: "b"}, d)
	if err != nil {
		t.Fatal(err)
	}
	if v.Route != mailbox.RoutePrint {
		t.Fatalf("letter routed %s, want print", v.Route)
	}
	return v.ID
}
