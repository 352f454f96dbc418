package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

func init() {
	register("PrintQueueStats", testPrintQueueStats)
	register("LeaseTakeover", testLeaseTakeover)
}

// testPrintQueueStats: jobs are counted by region and state with the
// creation time of the oldest; posted jobs are left out.
func testPrintQueueStats(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustTx(t, s, func(tx mailbox.Tx) error {
		got, err := tx.PrintQueueStats(ctx(t))
		if err != nil || len(got) != 0 {
			return fmt.Errorf("empty queue: %+v %v", got, err)
		}
		jobs := []struct {
			region, state string
			created       time.Duration
		}{
			{"220", mailbox.JobQueued, 5 * time.Minute},
			{"220", mailbox.JobQueued, 2 * time.Minute},
			{"220", mailbox.JobLeased, 1 * time.Minute},
			{"246", mailbox.JobQueued, 7 * time.Minute},
			{"246", mailbox.JobDead, 0},
			{"246", mailbox.JobPosted, -time.Hour},
		}
		for i, j := range jobs {
			pj := newJob(fmt.Sprint("s", i), j.region, t0.Add(j.created))
			pj.State = j.state
			if err := tx.CreatePrintJob(ctx(t), pj); err != nil {
				return err
			}
		}
		return nil
	})
	var got []mailbox.PrintJobGroup
	if err := s.View(ctx(t), func(tx mailbox.Tx) error {
		var err error
		got, err = tx.PrintQueueStats(ctx(t))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := []mailbox.PrintJobGroup{
		{Region: "220", State: mailbox.JobLeased, Count: 1, Oldest: t0.Add(time.Minute)},
		{Region: "220", State: mailbox.JobQueued, Count: 2, Oldest: t0.Add(2 * time.Minute)},
		{Region: "246", State: mailbox.JobDead, Count: 1, Oldest: t0},
		{Region: "246", State: mailbox.JobQueued, Count: 1, Oldest: t0.Add(7 * time.Minute)},
	}
	if !slices.EqualFunc(got, want, func(a, b mailbox.PrintJobGroup) bool {
		return a.Region == b.Region && a.State == b.State && a.Count == b.Count && a.Oldest.Equal(b.Oldest)
	}) {
		t.Fatalf("PrintQueueStats =\n%+v\nwant\n%+v", got, want)
	}
}

// testLeaseTakeover: in one claim of queued and expired jobs, exactly the
// expired ones are marked taken over.
func testLeaseTakeover(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustTx(t, s, func(tx mailbox.Tx) error {
		for i := range 4 {
			if err := tx.CreatePrintJob(ctx(t), newJob(fmt.Sprint("k", i), "220", t0.Add(time.Duration(i)*time.Second))); err != nil {
				return err
			}
		}
		_, err := tx.LeasePrintJobs(ctx(t), []string{"220"}, "agent-1", 2, t0.Add(time.Minute), t0.Add(2*time.Minute))
		return err
	})
	mustTx(t, s, func(tx mailbox.Tx) error {
		got, err := tx.LeasePrintJobs(ctx(t), []string{"220"}, "agent-2", 10, t0.Add(3*time.Minute), t0.Add(4*time.Minute))
		if err != nil {
			return err
		}
		taken := map[string]bool{}
		for _, j := range got {
			taken[j.ID] = j.TakenOver
		}
		want := map[string]bool{"k0": true, "k1": true, "k2": false, "k3": false}
		if fmt.Sprint(taken) != fmt.Sprint(want) {
			return fmt.Errorf("taken over = %v, want %v", taken, want)
		}
		return nil
	})
}
