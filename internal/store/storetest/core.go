package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

func init() {
	register("Mailboxes", testMailboxes)
	register("Letters", testLetters)
	register("Evidence", testEvidence)
	register("PrintJobs", testPrintJobs)
	register("LeaseConcurrency", testLeaseConcurrency)
	register("Outbox", testOutbox)
}

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 123000, time.UTC)

func newMailbox(id, holder, key string) mailbox.Mailbox {
	return mailbox.Mailbox{ID: id, Kind: mailbox.KindPerson, HolderName: "Иванов Иван", PersonalID: holder,
		HolderKey: "pn:" + holder, OwnerIdentity: "owner-" + id, Address: "г. Минск", AddressJSON: []byte(`{}`),
		MatchKey: key, Postcode: "220013", Status: mailbox.StatusPending, ActivationHash: []byte{1, 2, 3}, CreatedAt: t0}
}

func testMailboxes(t *testing.T, newStore Factory) {
	s := newStore(t)
	a := newMailbox("mb-a", "3140582A001PB3", "key-1")
	b := newMailbox("mb-b", "3140582A002PB4", "key-1") // another holder, same address
	mustTx(t, s, func(tx mailbox.Tx) error {
		if err := tx.CreateMailbox(ctx(t), a); err != nil {
			return err
		}
		return tx.CreateMailbox(ctx(t), b)
	})
	dup := newMailbox("mb-c", "3140582A001PB3", "key-1")
	err := s.InTx(ctx(t), func(tx mailbox.Tx) error { return tx.CreateMailbox(ctx(t), dup) })
	if !errors.Is(err, mailbox.ErrConflict) {
		t.Fatalf("same holder at the same address: %v, want ErrConflict", err)
	}
	mustTx(t, s, func(tx mailbox.Tx) error {
		a.Status, a.Attempts, a.ActivatedAt, a.Email = mailbox.StatusActive, 2, t0.Add(time.Hour), "a@example.by"
		if err := tx.UpdateMailbox(ctx(t), a); err != nil {
			return err
		}
		got, err := tx.GetMailbox(ctx(t), "mb-a")
		if err != nil {
			return err
		}
		if got.Status != mailbox.StatusActive || got.Attempts != 2 || !got.ActivatedAt.Equal(a.ActivatedAt) || got.Email != a.Email || !bytes.Equal(got.ActivationHash, []byte{1, 2, 3}) || !got.CreatedAt.Equal(t0) {
			return fmt.Errorf("mailbox round trip: %+v", got)
		}
		at, err := tx.MailboxesByMatchKey(ctx(t), "key-1")
		if err != nil || len(at) != 2 {
			return fmt.Errorf("MailboxesByMatchKey = %d, %v", len(at), err)
		}
		if err := tx.BindCredential(ctx(t), mailbox.Credential{MailboxID: "mb-a", IdentityID: "id-1", Serial: "01", SPKISHA256: "aa", BoundAt: t0}); err != nil {
			return err
		}
		if err := tx.BindCredential(ctx(t), mailbox.Credential{MailboxID: "mb-b", IdentityID: "id-1", Serial: "01", SPKISHA256: "aa", BoundAt: t0}); err != nil {
			return err
		}
		mine, err := tx.MailboxesOfIdentity(ctx(t), "id-1")
		if err != nil || len(mine) != 2 {
			return fmt.Errorf("MailboxesOfIdentity = %d, %v", len(mine), err)
		}
		if err := tx.UnbindCredential(ctx(t), "mb-b", "id-1", t0.Add(time.Minute)); err != nil {
			return err
		}
		if err := tx.UnbindCredential(ctx(t), "mb-b", "id-1", t0.Add(time.Minute)); !errors.Is(err, mailbox.ErrNotFound) {
			return fmt.Errorf("unbinding twice: %v", err)
		}
		mine, _ = tx.MailboxesOfIdentity(ctx(t), "id-1")
		if len(mine) != 1 || mine[0].ID != "mb-a" {
			return fmt.Errorf("after unbind: %+v", mine)
		}
		creds, err := tx.Credentials(ctx(t), "mb-b")
		if err != nil || len(creds) != 1 || creds[0].UnboundAt.IsZero() {
			return fmt.Errorf("Credentials = %+v, %v", creds, err)
		}
		// Re-binding revives the binding.
		if err := tx.BindCredential(ctx(t), mailbox.Credential{MailboxID: "mb-b", IdentityID: "id-1", Serial: "01", SPKISHA256: "aa", BoundAt: t0.Add(time.Hour)}); err != nil {
			return err
		}
		mine, _ = tx.MailboxesOfIdentity(ctx(t), "id-1")
		if len(mine) != 2 {
			return fmt.Errorf("after rebind: %d", len(mine))
		}
		if _, err := tx.GetMailbox(ctx(t), "nope"); !errors.Is(err, mailbox.ErrNotFound) {
			return fmt.Errorf("GetMailbox(nope) = %v", err)
		}
		return nil
	})
}

func newLetter(id, sender, recipient string, created time.Time) mailbox.Letter {
	return mailbox.Letter{ID: id, SenderMailbox: sender, SenderName: "ОАО", SenderAddress: "a", RecipientName: "Иванов",
		RecipientAddress: "b", RecipientJSON: []byte(`{}`), RecipientKey: "k", RecipientPostcode: "220013",
		RecipientMailbox: recipient, Registered: true, Subject: "Тема", Route: mailbox.RouteElectronic,
		State: mailbox.StateAwaitingAcceptance, Deadline: created.Add(240 * time.Hour), PrintIfUnsigned: 48 * time.Hour,
		ContentJSON: []byte(`{"body_sha256":"x"}`), ContentDigest: "d", ContentKey: []byte{9},
		Attachments: []mailbox.AttachmentMeta{{Name: "a.pdf", ContentType: "application/pdf", Size: 3, SHA256: "s", Chunks: 1}},
		Language:    mailbox.LanguageBelarusian, CreatedAt: created, SentByID: "employee-1", SentByName: "Петрова Анна"}
}

func testLetters(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustTx(t, s, func(tx mailbox.Tx) error {
		for i := range 7 {
			l := newLetter(fmt.Sprintf("00000000-0000-4000-8000-%012d", i), "snd", "rcp", t0.Add(time.Duration(i/2)*time.Second))
			if i == 6 {
				l.RecipientMailbox = "other"
			}
			if err := tx.CreateLetter(ctx(t), l); err != nil {
				return err
			}
		}
		return nil
	})
	// Keyset pagination visits every letter once, newest first, with ties
	// on created_at broken by id.
	var seen []string
	q := mailbox.LetterQuery{Mailboxes: []string{"rcp"}, Folder: "inbox", Limit: 2}
	for page := 0; page < 10; page++ {
		var ls []mailbox.Letter
		err := s.View(ctx(t), func(tx mailbox.Tx) error {
			var err error
			ls, err = tx.ListLetters(ctx(t), q)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) == 0 {
			break
		}
		for _, l := range ls {
			seen = append(seen, l.ID[len(l.ID)-1:])
		}
		last := ls[len(ls)-1]
		q.BeforeTime, q.BeforeID = last.CreatedAt, last.ID
	}
	if got := fmt.Sprint(seen); got != "[5 4 3 2 1 0]" {
		t.Fatalf("inbox pages: %s", got)
	}
	mustTx(t, s, func(tx mailbox.Tx) error {
		sent, err := tx.ListLetters(ctx(t), mailbox.LetterQuery{Mailboxes: []string{"snd"}, Folder: "sent", Limit: 100})
		if err != nil || len(sent) != 7 {
			return fmt.Errorf("sent = %d, %v", len(sent), err)
		}
		l, err := tx.GetLetter(ctx(t), "00000000-0000-4000-8000-000000000000", true)
		if err != nil {
			return err
		}
		if !l.Registered || l.PrintIfUnsigned != 48*time.Hour || len(l.Attachments) != 1 || l.Attachments[0].Name != "a.pdf" || !l.Deadline.Equal(t0.Add(240*time.Hour)) ||
			l.Language != mailbox.LanguageBelarusian || l.SentByID != "employee-1" || l.SentByName != "Петрова Анна" {
			return fmt.Errorf("letter round trip: %+v", l)
		}
		l.State, l.ReadAt, l.LastEvidence, l.EvidenceCount, l.NotificationID, l.Tracking = mailbox.StateAccepted, t0, "h", 3, "n", "RR123456785BY"
		if err := tx.UpdateLetter(ctx(t), l); err != nil {
			return err
		}
		got, _ := tx.GetLetter(ctx(t), l.ID, false)
		if got.State != mailbox.StateAccepted || got.EvidenceCount != 3 || got.Tracking != "RR123456785BY" || got.NotificationID != "n" {
			return fmt.Errorf("after update: %+v", got)
		}
		return nil
	})
	// Tracking ids are unique. (A failed statement aborts a PostgreSQL
	// transaction, so expected failures get a transaction of their own.)
	dup := newLetter("00000000-0000-4000-8000-000000000099", "snd", "rcp", t0)
	dup.Tracking = "RR123456785BY"
	if err := s.InTx(ctx(t), func(tx mailbox.Tx) error { return tx.CreateLetter(ctx(t), dup) }); !errors.Is(err, mailbox.ErrConflict) {
		t.Fatalf("duplicate tracking: %v", err)
	}
	mustTx(t, s, func(tx mailbox.Tx) error {
		// Only awaiting letters past their deadline are due.
		due, err := tx.DueLetters(ctx(t), t0.Add(241*time.Hour), 100)
		if err != nil || len(due) != 6 {
			return fmt.Errorf("DueLetters = %d, %v (want 6: one is accepted)", len(due), err)
		}
		due, _ = tx.DueLetters(ctx(t), t0.Add(time.Hour), 100)
		if len(due) != 0 {
			return fmt.Errorf("due before the deadline: %d", len(due))
		}
		// Chunks come back in order.
		id := "00000000-0000-4000-8000-000000000001"
		for _, c := range []int{2, 0, 1} {
			if err := tx.PutChunk(ctx(t), id, 1, c, []byte{byte(c)}); err != nil {
				return err
			}
		}
		var order []int
		if err := tx.Chunks(ctx(t), id, 1, func(c int, d []byte) error {
			if int(d[0]) != c {
				return fmt.Errorf("chunk %d holds %v", c, d)
			}
			order = append(order, c)
			return nil
		}); err != nil {
			return err
		}
		if fmt.Sprint(order) != "[0 1 2]" {
			return fmt.Errorf("chunk order %v", order)
		}
		if err := tx.PutIdempotencyKey(ctx(t), "snd", "k1", "h1", id, t0); err != nil {
			return err
		}
		if ok, err := tx.TryPutIdempotencyKey(ctx(t), "snd", "k1", "h3", "y", t0); err != nil || ok {
			return fmt.Errorf("TryPutIdempotencyKey on a used key = %v %v, want false", ok, err)
		}
		if ok, err := tx.TryPutIdempotencyKey(ctx(t), "snd", "k2", "h3", "y", t0); err != nil || !ok {
			return fmt.Errorf("TryPutIdempotencyKey on a new key = %v %v, want true", ok, err)
		}
		h, l, err := tx.GetIdempotencyKey(ctx(t), "snd", "k1")
		if err != nil || h != "h1" || l != id {
			return fmt.Errorf("GetIdempotencyKey = %s %s %v", h, l, err)
		}
		if _, _, err := tx.GetIdempotencyKey(ctx(t), "other", "k1"); !errors.Is(err, mailbox.ErrNotFound) {
			return fmt.Errorf("key of another sender: %v", err)
		}
		return nil
	})
	err := s.InTx(ctx(t), func(tx mailbox.Tx) error {
		return tx.PutIdempotencyKey(ctx(t), "snd", "k1", "h2", "x", t0)
	})
	if !errors.Is(err, mailbox.ErrConflict) {
		t.Fatalf("idempotency key twice: %v", err)
	}
}

func testEvidence(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustTx(t, s, func(tx mailbox.Tx) error {
		h, err := tx.GetLogHead(ctx(t))
		if err != nil || h.Size != 0 || len(h.Root) != 32 {
			return fmt.Errorf("empty head = %+v, %v", h, err)
		}
		h, err = tx.LockLogHead(ctx(t))
		if err != nil || h.Size != 0 {
			return fmt.Errorf("LockLogHead = %+v, %v", h, err)
		}
		if err := tx.SetLogHead(ctx(t), mailbox.LogHead{Size: 2, Root: bytes.Repeat([]byte{7}, 32)}); err != nil {
			return err
		}
		nodes := []mailbox.LogNode{{Level: 0, Index: 0, Hash: []byte{1}}, {Level: 0, Index: 1, Hash: []byte{2}}, {Level: 1, Index: 0, Hash: []byte{3}}}
		if err := tx.PutLogNodes(ctx(t), nodes); err != nil {
			return err
		}
		got, err := tx.LogNodes(ctx(t), []mailbox.LogNode{{Level: 1, Index: 0}, {Level: 0, Index: 1}})
		if err != nil || len(got) != 2 || got[0][0] != 3 || got[1][0] != 2 {
			return fmt.Errorf("LogNodes = %v, %v", got, err)
		}
		if _, err := tx.LogNodes(ctx(t), []mailbox.LogNode{{Level: 5, Index: 0}}); !errors.Is(err, mailbox.ErrNotFound) {
			return fmt.Errorf("missing node: %v", err)
		}
		return nil
	})
	// Nodes are written once.
	err := s.InTx(ctx(t), func(tx mailbox.Tx) error {
		return tx.PutLogNodes(ctx(t), []mailbox.LogNode{{Level: 0, Index: 0, Hash: []byte{9}}})
	})
	if !errors.Is(err, mailbox.ErrConflict) {
		t.Fatalf("node written twice: %v", err)
	}
	mustTx(t, s, func(tx mailbox.Tx) error {
		h, _ := tx.GetLogHead(ctx(t))
		if h.Size != 2 || h.Root[0] != 7 {
			return fmt.Errorf("head after commit: %+v", h)
		}
		for i := range 3 {
			if err := tx.AddEvidence(ctx(t), mailbox.EvidenceRecord{ID: fmt.Sprint("e", i), LetterID: "L", Seq: i, Event: "E",
				LogIndex: uint64(10 - i), Envelope: []byte{byte(i)}, CreatedAt: t0}); err != nil {
				return err
			}
		}
		evs, err := tx.EvidenceOf(ctx(t), "L")
		if err != nil || len(evs) != 3 || evs[0].Seq != 0 || evs[2].LogIndex != 8 {
			return fmt.Errorf("EvidenceOf = %+v, %v", evs, err)
		}
		sums, err := tx.EvidenceSummaries(ctx(t), []string{"L", "nope"})
		if err != nil || len(sums) != 3 || sums[0].Seq != 0 || sums[2].LogIndex != 8 || sums[1].Envelope != nil {
			return fmt.Errorf("EvidenceSummaries = %+v, %v", sums, err)
		}
		byIdx, err := tx.EvidenceByIndex(ctx(t), 8, 10)
		if err != nil || len(byIdx) != 2 || byIdx[0].LogIndex != 8 {
			return fmt.Errorf("EvidenceByIndex = %+v, %v", byIdx, err)
		}
		if _, _, err := tx.LatestCheckpoint(ctx(t)); !errors.Is(err, mailbox.ErrNotFound) {
			return fmt.Errorf("no checkpoint yet: %v", err)
		}
		for _, size := range []uint64{5, 9, 9, 7} {
			if err := tx.PutCheckpoint(ctx(t), size, []byte(fmt.Sprint("note ", size)), t0); err != nil {
				return err
			}
		}
		size, note, err := tx.LatestCheckpoint(ctx(t))
		if err != nil || size != 9 || string(note) != "note 9" {
			return fmt.Errorf("LatestCheckpoint = %d %q %v", size, note, err)
		}
		return nil
	})
	err = s.InTx(ctx(t), func(tx mailbox.Tx) error {
		return tx.AddEvidence(ctx(t), mailbox.EvidenceRecord{ID: "x", LetterID: "M", Seq: 0, LogIndex: 10, Envelope: []byte{}, CreatedAt: t0})
	})
	if !errors.Is(err, mailbox.ErrConflict) {
		t.Fatalf("two evidence records at one log index: %v", err)
	}
}

func newJob(id, region string, avail time.Time) mailbox.PrintJob {
	return mailbox.PrintJob{ID: id, Kind: mailbox.JobLetter, LetterID: "L-" + id, Region: region, Postcode: region + "013",
		RecipientName: "Иванов", State: mailbox.JobQueued, AvailableAt: avail, CreatedAt: avail}
}

func testPrintJobs(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustTx(t, s, func(tx mailbox.Tx) error {
		for i, r := range []string{"220", "220", "246", "220"} {
			j := newJob(fmt.Sprint("j", i), r, t0.Add(time.Duration(i)*time.Minute))
			if i == 3 {
				j.AvailableAt = t0.Add(time.Hour) // backing off
			}
			if err := tx.CreatePrintJob(ctx(t), j); err != nil {
				return err
			}
		}
		return tx.PutBlob(ctx(t), "pdf/j0", []byte("%PDF"))
	})
	now := t0.Add(10 * time.Minute)
	var leased []mailbox.PrintJob
	mustTx(t, s, func(tx mailbox.Tx) error {
		var err error
		leased, err = tx.LeasePrintJobs(ctx(t), []string{"220"}, "agent-1", 10, now, now.Add(time.Minute))
		return err
	})
	if len(leased) != 2 {
		t.Fatalf("leased %d jobs of region 220, want 2 (one is not yet available, one is another region)", len(leased))
	}
	for _, j := range leased {
		if j.State != mailbox.JobLeased || j.LeaseToken != 1 || j.LeaseOwner != "agent-1" || j.Attempts != 1 || !j.LeaseExpiresAt.Equal(now.Add(time.Minute)) || j.TakenOver {
			t.Fatalf("leased job: %+v", j)
		}
	}
	mustTx(t, s, func(tx mailbox.Tx) error {
		again, err := tx.LeasePrintJobs(ctx(t), []string{"220"}, "agent-2", 10, now.Add(30*time.Second), now.Add(2*time.Minute))
		if err != nil || len(again) != 0 {
			return fmt.Errorf("jobs under a live lease leased again: %d %v", len(again), err)
		}
		// After expiry the job is leased again with a higher fencing token.
		again, err = tx.LeasePrintJobs(ctx(t), []string{"220"}, "agent-2", 1, now.Add(2*time.Minute), now.Add(3*time.Minute))
		if err != nil || len(again) != 1 || again[0].LeaseToken != 2 || again[0].LeaseOwner != "agent-2" || !again[0].TakenOver {
			return fmt.Errorf("re-lease after expiry (taken over): %+v %v", again, err)
		}
		j := again[0]
		j.State, j.PostedAt, j.PrintedAt, j.Pages, j.Sheets, j.PDFSHA256, j.LastError = mailbox.JobPosted, now, now, 3, 2, "abc", ""
		j.PrintedBy = "agent-2"
		if err := tx.UpdatePrintJob(ctx(t), j); err != nil {
			return err
		}
		got, err := tx.GetPrintJob(ctx(t), j.ID, true)
		if err != nil || got.State != mailbox.JobPosted || got.Sheets != 2 || !got.PostedAt.Equal(now) || got.PrintedBy != "agent-2" {
			return fmt.Errorf("GetPrintJob = %+v %v", got, err)
		}
		posted, err := tx.PostedJobs(ctx(t), []string{"220", "246"}, now.Add(-time.Hour), now.Add(time.Hour))
		if err != nil || len(posted) != 1 || posted[0].ID != j.ID {
			return fmt.Errorf("PostedJobs = %+v %v", posted, err)
		}
		byLetter, err := tx.PrintJobsOfLetter(ctx(t), "L-"+j.ID)
		if err != nil || len(byLetter) != 1 {
			return fmt.Errorf("PrintJobsOfLetter = %d %v", len(byLetter), err)
		}
		b, err := tx.GetBlob(ctx(t), "pdf/j0")
		if err != nil || string(b) != "%PDF" {
			return fmt.Errorf("GetBlob = %q %v", b, err)
		}
		if _, err := tx.GetBlob(ctx(t), "nope"); !errors.Is(err, mailbox.ErrNotFound) {
			return fmt.Errorf("missing blob: %v", err)
		}
		return nil
	})
}

// testLeaseConcurrency: concurrent agents never lease the same job twice.
func testLeaseConcurrency(t *testing.T, newStore Factory) {
	s := newStore(t)
	const jobs = 200
	mustTx(t, s, func(tx mailbox.Tx) error {
		for i := range jobs {
			if err := tx.CreatePrintJob(ctx(t), newJob(fmt.Sprintf("c%04d", i), "220", t0)); err != nil {
				return err
			}
		}
		return nil
	})
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for a := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var got []mailbox.PrintJob
				err := s.InTx(ctx(t), func(tx mailbox.Tx) error {
					var err error
					got, err = tx.LeasePrintJobs(ctx(t), []string{"220"}, fmt.Sprint("agent-", a), 7, t0, t0.Add(time.Hour))
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, j := range got {
					seen[j.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != jobs {
		t.Fatalf("%d distinct jobs leased, want %d", len(seen), jobs)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("job %s leased %d times", id, n)
		}
	}
}

func testOutbox(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustTx(t, s, func(tx mailbox.Tx) error {
		for i := range 3 {
			if err := tx.AddNotification(ctx(t), mailbox.Notification{ID: fmt.Sprint("n", i), Kind: mailbox.NotifyLetterWaiting,
				MailboxID: "m", LetterID: "l", To: "a@example.by", CreatedAt: t0, NextAt: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
				return err
			}
		}
		return nil
	})
	mustTx(t, s, func(tx mailbox.Tx) error {
		due, err := tx.DueNotifications(ctx(t), t0.Add(90*time.Second), 10)
		if err != nil || len(due) != 2 {
			return fmt.Errorf("DueNotifications = %d %v", len(due), err)
		}
		due[0].SentAt = t0
		due[1].Attempts, due[1].NextAt, due[1].LastError = 1, t0.Add(time.Hour), "relay down"
		if err := tx.UpdateNotification(ctx(t), due[0]); err != nil {
			return err
		}
		return tx.UpdateNotification(ctx(t), due[1])
	})
	mustTx(t, s, func(tx mailbox.Tx) error {
		due, err := tx.DueNotifications(ctx(t), t0.Add(10*time.Minute), 10)
		if err != nil || len(due) != 1 || due[0].ID != "n2" {
			return fmt.Errorf("after send and retry: %+v %v", due, err)
		}
		return nil
	})
}
