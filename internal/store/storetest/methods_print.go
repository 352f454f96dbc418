package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

// seedJobs stores jobs j0..j(n-1) of region 220, available a minute apart.
func seedJobs(t *testing.T, s mailbox.Store, n int) []mailbox.PrintJob {
	t.Helper()
	js := make([]mailbox.PrintJob, n)
	mustTx(t, s, func(tx mailbox.Tx) error {
		for i := range js {
			js[i] = newJob(fmt.Sprint("j", i), "220", t0.Add(time.Duration(i)*time.Minute))
			if err := tx.CreatePrintJob(ctx(t), js[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return js
}

func notification(id string, next time.Time) mailbox.Notification {
	return mailbox.Notification{ID: id, Kind: mailbox.NotifyLetterWaiting, MailboxID: "m", LetterID: "l", To: "a@example.by", CreatedAt: t0, NextAt: next}
}

func init() {
	// PrintTx
	method("CreatePrintJob", func(t *testing.T, s mailbox.Store) {
		js := seedJobs(t, s, 1)
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error { return tx.CreatePrintJob(ctx(t), js[0]) })
	})
	method("GetPrintJob", func(t *testing.T, s mailbox.Store) {
		js := seedJobs(t, s, 1)
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { _, err := tx.GetPrintJob(ctx(t), "nope", false); return err })
		mustTx(t, s, func(tx mailbox.Tx) error {
			j, err := tx.GetPrintJob(ctx(t), js[0].ID, true)
			if err != nil || j.LetterID != js[0].LetterID || j.State != mailbox.JobQueued || !j.AvailableAt.Equal(t0) || j.Postcode != "220013" {
				return fmt.Errorf("GetPrintJob = %+v, %v", j, err)
			}
			return nil
		})
	})
	method("PrintJobsOfLetter", func(t *testing.T, s mailbox.Store) {
		js := seedJobs(t, s, 2)
		view(t, s, func(tx mailbox.Tx) error {
			got, err := tx.PrintJobsOfLetter(ctx(t), js[1].LetterID)
			if err != nil || !slices.Equal(ids(got, jobID), []string{"j1"}) {
				return fmt.Errorf("PrintJobsOfLetter = %v, %v", ids(got, jobID), err)
			}
			return nil
		})
	})
	method("PrintJobs", func(t *testing.T, s mailbox.Store) {
		seedJobs(t, s, 3)
		view(t, s, func(tx mailbox.Tx) error {
			got, err := tx.PrintJobs(ctx(t), "j0", 1)
			if err != nil || !slices.Equal(ids(got, jobID), []string{"j1"}) {
				return fmt.Errorf("PrintJobs(after j0, 1) = %v, %v", ids(got, jobID), err)
			}
			return nil
		})
	})
	method("UpdatePrintJob", func(t *testing.T, s mailbox.Store) {
		j := seedJobs(t, s, 1)[0]
		j.State, j.Attempts, j.LastError, j.PDFSHA256, j.Pages, j.Sheets = mailbox.JobPrinted, 2, "jam", "abc", 3, 2
		j.PrintedAt, j.PrintedBy, j.LeaseOwner, j.LeaseExpiresAt = t0.Add(time.Hour), "centre", "", time.Time{}
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.UpdatePrintJob(ctx(t), j) })
		view(t, s, func(tx mailbox.Tx) error {
			got, err := tx.GetPrintJob(ctx(t), j.ID, false)
			if err != nil || got.State != j.State || got.Attempts != 2 || got.LastError != "jam" || got.PDFSHA256 != "abc" || got.Pages != 3 ||
				got.Sheets != 2 || !got.PrintedAt.Equal(j.PrintedAt) || got.PrintedBy != "centre" {
				return fmt.Errorf("after UpdatePrintJob: %+v, %v", got, err)
			}
			return nil
		})
	})
	method("LeasePrintJobs", func(t *testing.T, s mailbox.Store) {
		seedJobs(t, s, 3)
		now := t0.Add(90 * time.Second) // j2 is not available yet
		var first []mailbox.PrintJob
		mustTx(t, s, func(tx mailbox.Tx) error {
			var err error
			first, err = tx.LeasePrintJobs(ctx(t), []string{"220"}, "a", 10, now, now.Add(time.Minute))
			slices.SortFunc(first, func(a, b mailbox.PrintJob) int { return strings.Compare(a.ID, b.ID) })
			if err != nil || !slices.Equal(ids(first, jobID), []string{"j0", "j1"}) {
				return fmt.Errorf("LeasePrintJobs = %v, %v", ids(first, jobID), err)
			}
			for _, j := range first {
				if j.State != mailbox.JobLeased || j.LeaseOwner != "a" || j.LeaseToken == 0 || j.Attempts != 1 || j.TakenOver {
					return fmt.Errorf("leased job %+v", j)
				}
			}
			return nil
		})
		mustTx(t, s, func(tx mailbox.Tx) error {
			// Leased jobs are not leased again while their lease runs; other
			// regions' never.
			again, err := tx.LeasePrintJobs(ctx(t), []string{"220"}, "b", 10, now, now.Add(time.Minute))
			other, err2 := tx.LeasePrintJobs(ctx(t), []string{"246"}, "c", 10, now.Add(time.Hour), now.Add(2*time.Hour))
			if errors.Join(err, err2) != nil || len(again) != 0 || len(other) != 0 {
				return fmt.Errorf("leased again: %v, %v, %v", ids(again, jobID), ids(other, jobID), errors.Join(err, err2))
			}
			return nil
		})
		later := now.Add(2 * time.Minute)
		mustTx(t, s, func(tx mailbox.Tx) error {
			// After the lease: taken over with a new token.
			got, err := tx.LeasePrintJobs(ctx(t), []string{"220"}, "b", 1, later, later.Add(time.Minute))
			if err != nil || len(got) != 1 || got[0].ID != "j0" || !got[0].TakenOver || got[0].LeaseOwner != "b" || got[0].LeaseToken <= first[0].LeaseToken {
				return fmt.Errorf("takeover = %+v, %v", got, err)
			}
			return nil
		})
	})
	method("PrintQueueStats", func(t *testing.T, s mailbox.Store) {
		js := seedJobs(t, s, 3)
		js[2].State, js[2].PostedAt = mailbox.JobPosted, t0
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.UpdatePrintJob(ctx(t), js[2]) })
		view(t, s, func(tx mailbox.Tx) error {
			gs, err := tx.PrintQueueStats(ctx(t))
			if err != nil || len(gs) != 1 || gs[0] != (mailbox.PrintJobGroup{Region: "220", State: mailbox.JobQueued, Count: 2, Oldest: t0}) {
				return fmt.Errorf("PrintQueueStats = %+v, %v; want the two queued, not the posted", gs, err)
			}
			return nil
		})
	})
	method("PostedJobs", func(t *testing.T, s mailbox.Store) {
		js := seedJobs(t, s, 3)
		for i, at := range []time.Time{t0.Add(time.Hour), t0.Add(25 * time.Hour)} {
			js[i].State, js[i].PostedAt = mailbox.JobPosted, at
			mustTx(t, s, func(tx mailbox.Tx) error { return tx.UpdatePrintJob(ctx(t), js[i]) })
		}
		view(t, s, func(tx mailbox.Tx) error {
			got, err := tx.PostedJobs(ctx(t), []string{"220"}, t0, t0.Add(24*time.Hour))
			other, err2 := tx.PostedJobs(ctx(t), []string{"246"}, t0, t0.Add(48*time.Hour))
			if errors.Join(err, err2) != nil || !slices.Equal(ids(got, jobID), []string{"j0"}) || len(other) != 0 {
				return fmt.Errorf("PostedJobs = %v, %d, %v", ids(got, jobID), len(other), errors.Join(err, err2))
			}
			return nil
		})
	})
	method("PutBlob", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutBlob(ctx(t), "pdf/j0", []byte("%PDF")) })
		view(t, s, func(tx mailbox.Tx) error {
			b, err := tx.GetBlob(ctx(t), "pdf/j0")
			if err != nil || string(b) != "%PDF" {
				return fmt.Errorf("GetBlob after PutBlob = %q, %v", b, err)
			}
			return nil
		})
	})
	method("GetBlob", func(t *testing.T, s mailbox.Store) {
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { _, err := tx.GetBlob(ctx(t), "nope"); return err })
	})

	// OutboxTx
	method("AddNotification", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.AddNotification(ctx(t), notification("n0", t0)) })
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error { return tx.AddNotification(ctx(t), notification("n0", t0)) })
	})
	method("DueNotifications", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			return errors.Join(tx.AddNotification(ctx(t), notification("n1", t0.Add(time.Minute))), tx.AddNotification(ctx(t), notification("n0", t0)),
				tx.AddNotification(ctx(t), notification("n2", t0.Add(time.Hour))))
		})
		mustTx(t, s, func(tx mailbox.Tx) error {
			due, err := tx.DueNotifications(ctx(t), t0.Add(time.Minute), 10)
			got := ids(due, func(n mailbox.Notification) string { return n.ID })
			slices.Sort(got)
			if err != nil || !slices.Equal(got, []string{"n0", "n1"}) || due[0].To != "a@example.by" {
				return fmt.Errorf("DueNotifications = %v, %v", got, err)
			}
			if due, err = tx.DueNotifications(ctx(t), t0.Add(time.Minute), 1); err != nil || len(due) != 1 {
				return fmt.Errorf("DueNotifications(limit 1) = %d, %v", len(due), err)
			}
			return nil
		})
	})
	method("UpdateNotification", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			return errors.Join(tx.AddNotification(ctx(t), notification("n0", t0)), tx.AddNotification(ctx(t), notification("n1", t0)))
		})
		mustTx(t, s, func(tx mailbox.Tx) error {
			sent, retry := notification("n0", t0), notification("n1", t0)
			sent.SentAt, sent.Attempts = t0, 1
			retry.Attempts, retry.NextAt, retry.LastError = 1, t0.Add(time.Hour), "relay down"
			return errors.Join(tx.UpdateNotification(ctx(t), sent), tx.UpdateNotification(ctx(t), retry))
		})
		mustTx(t, s, func(tx mailbox.Tx) error {
			due, err := tx.DueNotifications(ctx(t), t0.Add(time.Hour), 10)
			if err != nil || len(due) != 1 || due[0].ID != "n1" || due[0].Attempts != 1 || due[0].LastError != "relay down" {
				return fmt.Errorf("after UpdateNotification: %+v, %v; want only the retried one, not the sent", due, err)
			}
			return nil
		})
	})
}
