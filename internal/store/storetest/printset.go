package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

// testLettersSetBased: GetLetters reads many letters in one statement
// (missing ids left out), UpdateLetters writes UpdateLetter's fields of
// many, and a missing letter fails the whole write; AddNotifications
// inserts many notifications.
func testLettersSetBased(t *testing.T, newStore Factory) {
	s := newStore(t)
	ids := []string{"00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000003"}
	mustTx(t, s, func(tx mailbox.Tx) error {
		for _, id := range ids {
			if err := tx.CreateLetter(ctx(t), newLetter(id, "snd", "rcp", t0)); err != nil {
				return err
			}
		}
		return nil
	})
	var got []mailbox.Letter
	mustTx(t, s, func(tx mailbox.Tx) error {
		var err error
		got, err = tx.GetLetters(ctx(t), append(ids[:2:2], "nope"), true)
		return err
	})
	if len(got) != 2 {
		t.Fatalf("GetLetters: %d letters, want 2", len(got))
	}
	for i := range got {
		l := &got[i]
		l.Tracking, l.Route, l.RouteReason, l.State = fmt.Sprint("RR12345678", i, "BY"), mailbox.RoutePrint, "no_mailbox", mailbox.StateAccepted
		l.RecipientMailbox, l.ReadAt, l.LastEvidence, l.EvidenceCount, l.NotificationID = "", t0.Add(time.Minute), "h", 4, "n"
	}
	notes := []mailbox.Notification{
		{ID: "n1", Kind: mailbox.NotifyReceiptReady, MailboxID: "snd", LetterID: ids[0], To: "a@example.org", CreatedAt: t0, NextAt: t0},
		{ID: "n2", Kind: mailbox.NotifyReceiptReady, MailboxID: "snd", LetterID: ids[1], To: "a@example.org", CreatedAt: t0, NextAt: t0},
	}
	mustTx(t, s, func(tx mailbox.Tx) error {
		if err := tx.UpdateLetters(ctx(t), got); err != nil {
			return err
		}
		return tx.AddNotifications(ctx(t), notes)
	})
	err := s.InTx(ctx(t), func(tx mailbox.Tx) error {
		return tx.UpdateLetters(ctx(t), []mailbox.Letter{newLetter("nope", "snd", "rcp", t0)})
	})
	if !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("update of a missing letter: %v, want not found", err)
	}
	err = s.InTx(ctx(t), func(tx mailbox.Tx) error {
		for _, want := range got {
			l, err := tx.GetLetter(ctx(t), want.ID, false)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(l, want) {
				t.Errorf("letter %s:\n got %+v\nwant %+v", want.ID, l, want)
			}
		}
		due, err := tx.DueNotifications(ctx(t), t0, 10)
		if len(due) != 2 {
			t.Errorf("%d notifications due, want 2", len(due))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

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
