package mailbox_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/npes/npes/internal/coretest"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// TestPrintJobPort is the contract of the port the print path (hybrid)
// works through: its rule sees each job locked, a refusal writes nothing of
// that job, and what it decides is written with its evidence in one
// transaction.
func TestPrintJobPort(t *testing.T) {
	t.Parallel()
	w := newTestWorld(t, storetest.NewSQLite(t), coretest.StandIn{})
	v, _, err := w.submit(t, mailbox.Submission{RecipientName: "Петрову П.П.", RecipientAddress: "246050, г. Гомель, ул. Билецкого, 10"})
	if err != nil || v.Route != mailbox.RoutePrint {
		t.Fatalf("Submit = %s, %v; want print", v.Route, err)
	}
	jobs, err := w.svc.LeasePrintJobs(t.Context(), []string{"246"}, "pc", 10, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].LetterID != v.ID || jobs[0].LeaseOwner != "pc" {
		t.Fatalf("LeasePrintJobs = %+v, %v", jobs, err)
	}
	job := jobs[0]
	refused := mailbox.Errorf(mailbox.ErrConflict, "refused", "by the rule")

	t.Run("ReadPrintJob", func(t *testing.T) {
		for _, tc := range []struct {
			name          string
			id            string
			pdf, evidence bool
			refuse        bool
			found         bool
			code          string
		}{
			{name: "document and evidence", id: job.ID, pdf: true, evidence: true, found: true},
			{name: "refused by the rule", id: job.ID, pdf: true, refuse: true, found: true, code: "refused"},
			{name: "unknown job", id: "00000000-0000-4000-8000-000000000000", refuse: true, code: "refused"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var sawFound bool
				j, pdf, evs, err := w.svc.ReadPrintJob(t.Context(), tc.id, tc.pdf, tc.evidence, func(j mailbox.PrintJob, found bool) error {
					sawFound = found
					if tc.refuse {
						return refused
					}
					return nil
				})
				if sawFound != tc.found || coretest.Code(err) != tc.code {
					t.Fatalf("found %v, err %v; want %v, %q", sawFound, err, tc.found, tc.code)
				}
				if tc.code != "" {
					if pdf != nil || evs != nil {
						t.Fatal("a refused read returned content")
					}
					return
				}
				if j.ID != job.ID || !bytes.Equal(pdf, coretest.Doc(v.ID).PDF) {
					t.Fatalf("job %s, pdf %q", j.ID, pdf)
				}
				var events []string
				for _, e := range evs {
					events = append(events, e.Event)
				}
				if !slices.Contains(events, string(signing.EventRelayToNonERDS)) {
					t.Fatalf("evidence %v", events)
				}
			})
		}
	})

	t.Run("ChangePrintJobs", func(t *testing.T) {
		unknown := "00000000-0000-4000-8000-000000000000"
		var seen []bool
		var letterState string
		res, err := w.svc.ChangePrintJobs(t.Context(), []string{job.ID, unknown, job.ID}, true,
			func(i int, j mailbox.PrintJob, found bool, state string) (mailbox.JobChange, error) {
				seen = append(seen, found)
				switch i {
				case 0: // refused: nothing of it is written
					j.State = mailbox.JobDead
					return mailbox.JobChange{Job: j, Write: true, Events: []signing.Evidence{{Event: signing.EventDeliveryFailed}}}, refused
				case 1:
					return mailbox.JobChange{}, errors.New("no such job")
				}
				letterState = state
				j.State, j.PrintedAt, j.PrintedBy = mailbox.JobPrinted, w.clk.Now(), "pc"
				return mailbox.JobChange{Job: j, Write: true, Events: []signing.Evidence{{Event: signing.EventPrinted, PDFSHA256: j.PDFSHA256}}}, nil
			})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seen, []bool{true, false, true}) || letterState != mailbox.StatePrintQueued {
			t.Fatalf("rule saw found %v, letter state %q", seen, letterState)
		}
		if coretest.Code(res[0].Err) != "refused" || res[1].Err == nil || res[2].Err != nil || res[2].Job.State != mailbox.JobPrinted {
			t.Fatalf("results %+v", res)
		}
		lv, err := w.svc.GetLetter(t.Context(), w.org, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		var events []string
		for _, e := range lv.Evidence {
			events = append(events, e.Event)
		}
		if want := []string{"SubmissionAcceptance", "RelayToNonERDS", "Printed"}; !slices.Equal(events, want) {
			t.Fatalf("letter events %v, want %v (the refused change records nothing)", events, want)
		}
		if lv.State != mailbox.StatePrinted {
			t.Fatalf("letter state %s, want %s", lv.State, mailbox.StatePrinted)
		}
	})

	t.Run("PostedPrintJobs", func(t *testing.T) {
		_, err := w.svc.ChangePrintJobs(t.Context(), []string{job.ID}, false, func(_ int, j mailbox.PrintJob, _ bool, _ string) (mailbox.JobChange, error) {
			j.State, j.PostedAt = mailbox.JobPosted, w.clk.Now()
			return mailbox.JobChange{Job: j, Write: true}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		now := w.clk.Now()
		got, err := w.svc.PostedPrintJobs(t.Context(), []string{"246"}, now.Add(-time.Hour), now.Add(time.Hour))
		other, err2 := w.svc.PostedPrintJobs(t.Context(), []string{"220"}, now.Add(-time.Hour), now.Add(time.Hour))
		if errors.Join(err, err2) != nil || len(got) != 1 || got[0].ID != job.ID || len(other) != 0 {
			t.Fatalf("PostedPrintJobs = %d, %d, %v", len(got), len(other), errors.Join(err, err2))
		}
	})
}
