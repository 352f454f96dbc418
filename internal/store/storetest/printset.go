package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

func init() { register("PrintJobsSetBased", testPrintJobsSetBased) }

// testPrintJobsSetBased: many jobs are read in id order in one statement
// (missing ids left out) and written in one statement, every field as
// UpdatePrintJob writes it; a missing job fails the whole write.
func testPrintJobsSetBased(t *testing.T, newStore Factory) {
	s := newStore(t)
	var ids []string
	mustTx(t, s, func(tx mailbox.Tx) error {
		for i := 4; i >= 0; i-- {
			j := newJob(fmt.Sprint("s", i), "220", t0)
			ids = append(ids, j.ID)
			if err := tx.CreatePrintJob(ctx(t), j); err != nil {
				return err
			}
		}
		return nil
	})
	var got []mailbox.PrintJob
	mustTx(t, s, func(tx mailbox.Tx) error {
		var err error
		got, err = tx.GetPrintJobs(ctx(t), append(ids, "nope"), true)
		return err
	})
	if len(got) != 5 || got[0].ID != "s0" || got[4].ID != "s4" {
		t.Fatalf("GetPrintJobs: %d jobs, first %q", len(got), got[0].ID)
	}
	later := t0.Add(time.Hour)
	for i := range got[:3] {
		j := &got[i]
		j.State, j.Attempts, j.AvailableAt, j.LeaseToken, j.LeaseOwner, j.LeaseExpiresAt = mailbox.JobPrinted, 2, later, 7, "centre-1", later.Add(time.Minute)
		j.PDFSHA256, j.Pages, j.Sheets, j.LastError, j.PrintedAt, j.PostedAt, j.PrintedBy = "ab", 3, 2, "jam", later, later.Add(time.Second), "centre-1"
	}
	mustTx(t, s, func(tx mailbox.Tx) error { return tx.UpdatePrintJobs(ctx(t), got[:3]) })
	err := s.InTx(ctx(t), func(tx mailbox.Tx) error {
		return tx.UpdatePrintJobs(ctx(t), []mailbox.PrintJob{got[3], newJob("nope", "220", t0)})
	})
	if !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("update with a missing job: %v, want not found", err)
	}
	for i, want := range got {
		var j mailbox.PrintJob
		if err := s.View(ctx(t), func(tx mailbox.Tx) error {
			var err error
			j, err = tx.GetPrintJob(ctx(t), want.ID, false)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if i >= 3 {
			want = newJob(want.ID, "220", t0)
		}
		if !reflect.DeepEqual(j, want) {
			t.Errorf("job %s:\n got %+v\nwant %+v", want.ID, j, want)
		}
	}
}
