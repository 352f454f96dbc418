package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/npes/npes/mailbox"
)

func init() {
	register("MailboxLog", testMailboxLog)
	register("LetterChains", testLetterChains)
	register("AuditPages", testAuditPages)
}

// testMailboxLog: mailbox entries share the log's index space with letter
// evidence (EvidenceByIndex merges both in index order), are listed per
// mailbox in sequence, and are unique per (mailbox, seq) and per index;
// CheckpointAtLeast finds the smallest stored checkpoint of at least a size.
func testMailboxLog(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustTx(t, s, func(tx mailbox.Tx) error {
		if err := tx.AddEvidences(ctx(t), []mailbox.EvidenceRecord{
			{ID: "e0", LetterID: "L", Seq: 0, Event: "SubmissionAcceptance", LogIndex: 1, Envelope: []byte("e0"), CreatedAt: t0},
			{ID: "e1", LetterID: "L", Seq: 1, Event: "ContentConsignment", LogIndex: 3, Envelope: []byte("e1"), CreatedAt: t0},
		}); err != nil {
			return err
		}
		return tx.AddMailboxEntries(ctx(t), []mailbox.EvidenceRecord{
			{ID: "m0", MailboxID: "M", Seq: 0, Event: "CredentialBound", LogIndex: 0, Envelope: []byte("m0"), CreatedAt: t0},
			{ID: "m1", MailboxID: "M", Seq: 1, Event: "MailboxActivated", LogIndex: 2, Envelope: []byte("m1"), CreatedAt: t0},
			{ID: "n0", MailboxID: "N", Seq: 0, Event: "CredentialBound", LogIndex: 4, Envelope: []byte("n0"), CreatedAt: t0},
		})
	})
	mustTx(t, s, func(tx mailbox.Tx) error {
		all, err := tx.EvidenceByIndex(ctx(t), 0, 5)
		if err != nil {
			return err
		}
		var got []string
		for i, r := range all {
			if r.LogIndex != uint64(i) || string(r.Envelope) != r.ID || (r.LetterID == "") == (r.MailboxID == "") {
				return fmt.Errorf("EvidenceByIndex[%d] = %+v", i, r)
			}
			got = append(got, r.ID)
		}
		if !slices.Equal(got, []string{"m0", "e0", "m1", "e1", "n0"}) {
			return fmt.Errorf("EvidenceByIndex order %v", got)
		}
		part, err := tx.EvidenceByIndex(ctx(t), 2, 4)
		if err != nil || len(part) != 2 || part[0].ID != "m1" || part[1].ID != "e1" {
			return fmt.Errorf("EvidenceByIndex(2, 4) = %+v, %v", part, err)
		}
		m, err := tx.MailboxEntriesOf(ctx(t), "M")
		if err != nil || len(m) != 2 || m[0].ID != "m0" || m[1].Seq != 1 || m[1].MailboxID != "M" || m[1].Event != "MailboxActivated" ||
			!m[1].CreatedAt.Equal(t0) || m[1].LetterID != "" {
			return fmt.Errorf("MailboxEntriesOf(M) = %+v, %v", m, err)
		}
		if none, err := tx.MailboxEntriesOf(ctx(t), "nope"); err != nil || len(none) != 0 {
			return fmt.Errorf("MailboxEntriesOf(nope) = %+v, %v", none, err)
		}
		if evs, err := tx.EvidenceOf(ctx(t), "L"); err != nil || len(evs) != 2 || evs[0].MailboxID != "" {
			return fmt.Errorf("EvidenceOf(L) = %+v, %v", evs, err)
		}
		if _, _, err := tx.CheckpointAtLeast(ctx(t), 1); !errors.Is(err, mailbox.ErrNotFound) {
			return fmt.Errorf("CheckpointAtLeast without checkpoints: %v", err)
		}
		for _, size := range []uint64{2, 5, 9} {
			if err := tx.PutCheckpoint(ctx(t), size, []byte(fmt.Sprint("note ", size)), t0); err != nil {
				return err
			}
		}
		for _, c := range []struct{ at, want uint64 }{{0, 2}, {2, 2}, {3, 5}, {5, 5}, {6, 9}} {
			size, note, err := tx.CheckpointAtLeast(ctx(t), c.at)
			if err != nil || size != c.want || string(note) != fmt.Sprint("note ", c.want) {
				return fmt.Errorf("CheckpointAtLeast(%d) = %d %q %v, want %d", c.at, size, note, err, c.want)
			}
		}
		if _, _, err := tx.CheckpointAtLeast(ctx(t), 10); !errors.Is(err, mailbox.ErrNotFound) {
			return fmt.Errorf("CheckpointAtLeast beyond the latest: %v", err)
		}
		return nil
	})
	for _, dup := range []mailbox.EvidenceRecord{
		{ID: "m9", MailboxID: "M", Seq: 1, Event: "CredentialUnbound", LogIndex: 9, Envelope: []byte{}, CreatedAt: t0}, // (mailbox, seq) again
		{ID: "m8", MailboxID: "M", Seq: 2, Event: "CredentialUnbound", LogIndex: 2, Envelope: []byte{}, CreatedAt: t0}, // index again
	} {
		err := s.InTx(ctx(t), func(tx mailbox.Tx) error { return tx.AddMailboxEntries(ctx(t), []mailbox.EvidenceRecord{dup}) })
		if !errors.Is(err, mailbox.ErrConflict) {
			t.Fatalf("duplicate mailbox entry %s: %v, want ErrConflict", dup.ID, err)
		}
	}
}

// testLetterChains: SetLetterChains writes the last evidence hash and
// count of several letters in one statement, leaves every other column
// alone, and fails with ErrNotFound (writing nothing) when a letter is
// missing.
func testLetterChains(t *testing.T, newStore Factory) {
	s := newStore(t)
	ids := []string{"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003"}
	mustTx(t, s, func(tx mailbox.Tx) error {
		for _, id := range ids {
			if err := tx.CreateLetter(ctx(t), newLetter(id, "snd", "rcp", t0)); err != nil {
				return err
			}
		}
		ls := make([]mailbox.Letter, 2)
		for i := range ls {
			ls[i] = mailbox.Letter{ID: ids[i], LastEvidence: fmt.Sprintf("%064d", i+1), EvidenceCount: 10 + i}
		}
		return tx.SetLetterChains(ctx(t), ls)
	})
	mustTx(t, s, func(tx mailbox.Tx) error {
		for i, id := range ids {
			l, err := tx.GetLetter(ctx(t), id, false)
			if err != nil {
				return err
			}
			wantLast, wantCount := fmt.Sprintf("%064d", i+1), 10+i
			if i == 2 {
				wantLast, wantCount = "", 0
			}
			if l.LastEvidence != wantLast || l.EvidenceCount != wantCount || l.State != mailbox.StateAwaitingAcceptance || l.RecipientMailbox != "rcp" {
				return fmt.Errorf("letter %d after SetLetterChains: %q %d %s %s", i, l.LastEvidence, l.EvidenceCount, l.State, l.RecipientMailbox)
			}
		}
		return nil
	})
	err := s.InTx(ctx(t), func(tx mailbox.Tx) error {
		return tx.SetLetterChains(ctx(t), []mailbox.Letter{{ID: ids[2], LastEvidence: "x", EvidenceCount: 1}, {ID: "missing", EvidenceCount: 1}})
	})
	if !errors.Is(err, mailbox.ErrNotFound) {
		t.Fatalf("SetLetterChains with a missing letter: %v, want ErrNotFound", err)
	}
	mustTx(t, s, func(tx mailbox.Tx) error {
		l, err := tx.GetLetter(ctx(t), ids[2], false)
		if err != nil || l.EvidenceCount != 0 {
			return fmt.Errorf("the failed SetLetterChains wrote: %d %v", l.EvidenceCount, err)
		}
		return nil
	})
}

// testAuditPages: Mailboxes, LetterIDs and PrintJobs page through every row
// in id order.
func testAuditPages(t *testing.T, newStore Factory) {
	s := newStore(t)
	const n = 7
	mustTx(t, s, func(tx mailbox.Tx) error {
		for i := n - 1; i >= 0; i-- {
			if err := tx.CreateMailbox(ctx(t), newMailbox(fmt.Sprint("m", i), fmt.Sprint("h", i), "k")); err != nil {
				return err
			}
			if err := tx.CreateLetter(ctx(t), newLetter(fmt.Sprint("l", i), "snd", "rcp", t0)); err != nil {
				return err
			}
			if err := tx.CreatePrintJob(ctx(t), newJob(fmt.Sprint("j", i), "220", t0)); err != nil {
				return err
			}
		}
		return nil
	})
	mustTx(t, s, func(tx mailbox.Tx) error {
		var ms, ls, js []string
		for after := ""; ; {
			page, err := tx.Mailboxes(ctx(t), after, 3)
			if err != nil || len(page) == 0 {
				break
			}
			for _, m := range page {
				ms = append(ms, m.ID)
			}
			after = page[len(page)-1].ID
		}
		for after := ""; ; {
			page, err := tx.LetterIDs(ctx(t), after, 3)
			if err != nil || len(page) == 0 {
				break
			}
			ls = append(ls, page...)
			after = page[len(page)-1]
		}
		for after := ""; ; {
			page, err := tx.PrintJobs(ctx(t), after, 3)
			if err != nil || len(page) == 0 {
				break
			}
			for _, j := range page {
				js = append(js, j.ID)
			}
			after = page[len(page)-1].ID
		}
		for _, c := range []struct {
			what   string
			got    []string
			prefix string
		}{{"Mailboxes", ms, "m"}, {"LetterIDs", ls, "l"}, {"PrintJobs", js, "j"}} {
			want := make([]string, n)
			for i := range want {
				want[i] = fmt.Sprint(c.prefix, i)
			}
			if !slices.Equal(c.got, want) {
				return fmt.Errorf("%s pages: %v, want %v", c.what, c.got, want)
			}
		}
		return nil
	})
}
