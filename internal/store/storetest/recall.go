package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

func init() {
	register("CancelledJobs", testCancelledJobs)
}

// testThreads: a thread is its first letter and every letter naming it as
// ThreadID, oldest first; InReplyTo and ThreadID round-trip.
func testThreads(t *testing.T, newStore Factory) {
	s := newStore(t)
	id := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
	mustTx(t, s, func(tx mailbox.Tx) error {
		for i, reply := range []struct{ inReplyTo, thread int }{{-1, -1}, {0, 0}, {1, 0}, {-1, -1}, {3, 3}, {0, 0}} {
			// Created newest first, so the order comes from created_at.
			l := newLetter(id(i), "snd", "rcp", t0.Add(time.Duration(10-i)*time.Second))
			if reply.inReplyTo >= 0 {
				l.InReplyTo, l.ThreadID = id(reply.inReplyTo), id(reply.thread)
			}
			if err := tx.CreateLetter(ctx(t), l); err != nil {
				return err
			}
		}
		return nil
	})
	cases := []struct {
		thread string
		limit  int
		want   []string
	}{
		{id(0), 10, []string{id(5), id(2), id(1), id(0)}},
		{id(0), 2, []string{id(5), id(2)}},
		{id(3), 10, []string{id(4), id(3)}},
		{id(9), 10, nil},
		{"", 10, nil}, // roots have thread_id '': '' names no thread
	}
	for _, c := range cases {
		var got []string
		err := s.View(ctx(t), func(tx mailbox.Tx) error {
			ls, err := tx.ThreadLetters(ctx(t), c.thread, c.limit)
			for _, l := range ls {
				got = append(got, l.ID)
			}
			return err
		})
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ThreadLetters(%q, %d) = %v %v, want %v", c.thread, c.limit, got, err, c.want)
		}
	}
	err := s.View(ctx(t), func(tx mailbox.Tx) error {
		l, err := tx.GetLetter(ctx(t), id(2), false)
		if err != nil || l.InReplyTo != id(1) || l.ThreadID != id(0) {
			return fmt.Errorf("GetLetter = in_reply_to %q thread %q %v", l.InReplyTo, l.ThreadID, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testCancelledJobs: a cancelled job is never leased, however long after.
func testCancelledJobs(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustTx(t, s, func(tx mailbox.Tx) error {
		for _, id := range []string{"c0", "c1"} {
			if err := tx.CreatePrintJob(ctx(t), newJob(id, "220", t0)); err != nil {
				return err
			}
		}
		j, err := tx.GetPrintJob(ctx(t), "c0", true)
		if err != nil {
			return err
		}
		j.State = mailbox.JobCancelled
		return tx.UpdatePrintJob(ctx(t), j)
	})
	mustTx(t, s, func(tx mailbox.Tx) error {
		got, err := tx.LeasePrintJobs(ctx(t), []string{"220"}, "agent", 10, t0.Add(24*time.Hour), t0.Add(25*time.Hour))
		if err != nil || len(got) != 1 || got[0].ID != "c1" {
			return fmt.Errorf("leased %+v %v, want only c1", got, err)
		}
		return nil
	})
}
