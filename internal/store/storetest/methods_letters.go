package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

// seedLetters stores n letters from snd to rcp, one second apart.
func seedLetters(t *testing.T, s mailbox.Store, n int) []mailbox.Letter {
	t.Helper()
	ls := make([]mailbox.Letter, n)
	for i := range ls {
		ls[i] = newLetter(letterID(i), "snd", "rcp", t0.Add(time.Duration(i)*time.Second))
	}
	mustTx(t, s, func(tx mailbox.Tx) error { return tx.CreateLetters(ctx(t), ls) })
	return ls
}

func letterIDOf(l mailbox.Letter) string { return l.ID }

func evidence(id, letter string, seq int, index uint64) mailbox.EvidenceRecord {
	return mailbox.EvidenceRecord{ID: id, LetterID: letter, Seq: seq, Event: "E" + id, LogIndex: index, Envelope: []byte("env-" + id), CreatedAt: t0}
}

func readChunks(t *testing.T, tx mailbox.Tx, letter string, part int) ([]string, error) {
	var got []string
	err := tx.Chunks(ctx(t), letter, part, func(c int, d []byte) error {
		got = append(got, fmt.Sprintf("%d:%s", c, d))
		return nil
	})
	return got, err
}

// Letters of seedLetters, for the content tables' foreign keys.
var L, M, N = letterID(0), letterID(1), letterID(2)

func init() {
	// LetterTx
	method("CreateLetter", func(t *testing.T, s mailbox.Store) {
		l := newLetter(letterID(1), "snd", "rcp", t0)
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.CreateLetter(ctx(t), l) })
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error { return tx.CreateLetter(ctx(t), l) })
	})
	method("CreateLetters", func(t *testing.T, s mailbox.Store) {
		ls := seedLetters(t, s, 3)
		view(t, s, func(tx mailbox.Tx) error {
			for _, want := range ls {
				got, err := tx.GetLetter(ctx(t), want.ID, false)
				if err != nil || got.Subject != want.Subject || !got.CreatedAt.Equal(want.CreatedAt) || len(got.Attachments) != 1 || got.Attachments[0].Name != "a.pdf" {
					return fmt.Errorf("letter %s after CreateLetters: %+v, %v", want.ID, got, err)
				}
			}
			return nil
		})
		// All or nothing: one duplicate refuses the batch.
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error {
			return tx.CreateLetters(ctx(t), []mailbox.Letter{newLetter(letterID(7), "snd", "rcp", t0), ls[0]})
		})
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { _, err := tx.GetLetter(ctx(t), letterID(7), false); return err })
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.CreateLetters(ctx(t), nil) })
	})
	method("GetLetter", func(t *testing.T, s mailbox.Store) {
		seedLetters(t, s, 1)
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { _, err := tx.GetLetter(ctx(t), letterID(9), false); return err })
		mustTx(t, s, func(tx mailbox.Tx) error {
			l, err := tx.GetLetter(ctx(t), letterID(0), true)
			if err != nil || l.RecipientMailbox != "rcp" || l.PrintIfUnsigned != 48*time.Hour || !bytes.Equal(l.ContentKey, []byte{9}) {
				return fmt.Errorf("GetLetter(lock) = %+v, %v", l, err)
			}
			return nil
		})
	})
	method("UpdateLetter", func(t *testing.T, s mailbox.Store) {
		l := seedLetters(t, s, 1)[0]
		l.Tracking, l.Route, l.RouteReason, l.State, l.RecipientMailbox = "RR000000017BY", mailbox.RoutePrint, mailbox.ReasonNoMailbox, mailbox.StatePrintQueued, ""
		l.ReadAt, l.LastEvidence, l.EvidenceCount, l.NotificationID = t0.Add(time.Hour), "h", 3, "n"
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.UpdateLetter(ctx(t), l) })
		view(t, s, func(tx mailbox.Tx) error {
			got, err := tx.GetLetter(ctx(t), l.ID, false)
			if err != nil || got.Tracking != l.Tracking || got.Route != l.Route || got.RouteReason != l.RouteReason || got.State != l.State ||
				got.RecipientMailbox != "" || !got.ReadAt.Equal(l.ReadAt) || got.LastEvidence != "h" || got.EvidenceCount != 3 || got.NotificationID != "n" {
				return fmt.Errorf("after UpdateLetter: %+v, %v", got, err)
			}
			return nil
		})
	})
	method("ListLetters", func(t *testing.T, s mailbox.Store) {
		ls := seedLetters(t, s, 3)
		view(t, s, func(tx mailbox.Tx) error {
			page, err := tx.ListLetters(ctx(t), mailbox.LetterQuery{Mailboxes: []string{"rcp"}, Folder: "inbox", Limit: 2})
			if got := ids(page, letterIDOf); err != nil || !slices.Equal(got, []string{ls[2].ID, ls[1].ID}) {
				return fmt.Errorf("first page %v, %v", got, err)
			}
			rest, err := tx.ListLetters(ctx(t), mailbox.LetterQuery{Mailboxes: []string{"rcp"}, Folder: "inbox", Limit: 2,
				BeforeTime: page[1].CreatedAt, BeforeID: page[1].ID})
			if got := ids(rest, letterIDOf); err != nil || !slices.Equal(got, []string{ls[0].ID}) {
				return fmt.Errorf("second page %v, %v", got, err)
			}
			other, err := tx.ListLetters(ctx(t), mailbox.LetterQuery{Mailboxes: []string{"rcp"}, Folder: "sent", Limit: 10})
			if err != nil || len(other) != 0 {
				return fmt.Errorf("the recipient's sent folder has %d, %v", len(other), err)
			}
			return nil
		})
		t.Run("search and filters", func(t *testing.T) {
			s := s
			more := []mailbox.Letter{newLetter(letterID(10), "snd", "rcp", t0.Add(time.Hour)), newLetter(letterID(11), "snd", "rcp", t0.Add(2*time.Hour)),
				newLetter(letterID(12), "snd", "rcp", t0.Add(3*time.Hour)), newLetter(letterID(13), "snd", "rcp", t0.Add(4*time.Hour))}
			more[0].Subject, more[0].Tracking = "Ответ на ЖАЛОБУ 100%", "RR000000017BY"
			more[1].SenderName, more[1].Registered, more[1].State = "Мінскі гарвыканкам", false, mailbox.StateDelivered
			more[2].Subject, more[2].State = "Повестка", mailbox.StateAccepted
			// Named by mailbox: the holder's name is not searchable.
			more[3].RecipientName, more[3].RecipientByMailbox = "Тайный Получатель", true
			mustTx(t, s, func(tx mailbox.Tx) error { return tx.CreateLetters(ctx(t), more) })
			cases := []struct {
				name string
				q    mailbox.LetterQuery
				want []string
			}{
				{"subject, Cyrillic case folded", mailbox.LetterQuery{Search: mailbox.NormalizeSearch("жалоб")}, []string{letterID(10)}},
				{"a percent sign is literal", mailbox.LetterQuery{Search: "100%"}, []string{letterID(10)}},
				{"an underscore is literal", mailbox.LetterQuery{Search: "_"}, nil},
				{"tracking number", mailbox.LetterQuery{Search: "rr000000017by"}, []string{letterID(10)}},
				{"sender, Belarusian", mailbox.LetterQuery{Search: mailbox.NormalizeSearch("ГАРВЫКАНКАМ")}, []string{letterID(11)}},
				{"recipient name", mailbox.LetterQuery{Search: "иванов"}, []string{letterID(12), letterID(11), letterID(10), ls[2].ID, ls[1].ID, ls[0].ID}},
				{"hidden recipient name", mailbox.LetterQuery{Search: mailbox.NormalizeSearch("Тайный")}, nil},
				{"state", mailbox.LetterQuery{States: []string{mailbox.StateAccepted, mailbox.StateDelivered}}, []string{letterID(12), letterID(11)}},
				{"simple only", mailbox.LetterQuery{Registered: -1}, []string{letterID(11)}},
				{"registered, dates", mailbox.LetterQuery{Registered: 1, Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)}, []string{letterID(10)}},
				{"search with a cursor and a limit", mailbox.LetterQuery{Search: "иванов", BeforeTime: t0.Add(2 * time.Hour), BeforeID: letterID(11), Limit: 2},
					[]string{letterID(10), ls[2].ID}},
			}
			for _, c := range cases {
				c.q.Mailboxes, c.q.Folder = []string{"rcp"}, "inbox"
				if c.q.Limit == 0 {
					c.q.Limit = 50
				}
				view(t, s, func(tx mailbox.Tx) error {
					got, err := tx.ListLetters(ctx(t), c.q)
					if ids := ids(got, letterIDOf); err != nil || !slices.Equal(ids, c.want) {
						return fmt.Errorf("%s: %v, %v; want %v", c.name, ids, err, c.want)
					}
					return nil
				})
			}
		})
	})
	method("LetterIDs", func(t *testing.T, s mailbox.Store) {
		seedLetters(t, s, 3)
		view(t, s, func(tx mailbox.Tx) error {
			got, err := tx.LetterIDs(ctx(t), letterID(0), 10)
			if err != nil || !slices.Equal(got, []string{letterID(1), letterID(2)}) {
				return fmt.Errorf("LetterIDs = %v, %v", got, err)
			}
			return nil
		})
	})
	method("DueLetters", func(t *testing.T, s mailbox.Store) {
		ls := seedLetters(t, s, 2)
		ls[1].State = mailbox.StateAccepted
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.UpdateLetter(ctx(t), ls[1]) })
		mustTx(t, s, func(tx mailbox.Tx) error {
			due, err := tx.DueLetters(ctx(t), ls[0].Deadline.Add(time.Second), 10)
			if got := ids(due, letterIDOf); err != nil || !slices.Equal(got, []string{ls[0].ID}) {
				return fmt.Errorf("DueLetters after the deadline = %v, %v", got, err)
			}
			if due, err = tx.DueLetters(ctx(t), ls[0].Deadline.Add(-time.Second), 10); err != nil || len(due) != 0 {
				return fmt.Errorf("DueLetters before the deadline = %d, %v", len(due), err)
			}
			return nil
		})
	})
	method("PutChunk", func(t *testing.T, s mailbox.Store) {
		seedLetters(t, s, 1)
		mustTx(t, s, func(tx mailbox.Tx) error {
			return errors.Join(tx.PutChunk(ctx(t), L, 1, 1, []byte("b")), tx.PutChunk(ctx(t), L, 1, 0, []byte("a")))
		})
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error { return tx.PutChunk(ctx(t), L, 1, 0, []byte("x")) })
	})
	method("PutChunks", func(t *testing.T, s mailbox.Store) {
		seedLetters(t, s, 3)
		mustTx(t, s, func(tx mailbox.Tx) error {
			return tx.PutChunks(ctx(t), []mailbox.Chunk{{LetterID: L, Part: 0, Index: 1, Data: []byte("b")},
				{LetterID: L, Part: 0, Index: 0, Data: []byte("a")}, {LetterID: M, Part: 0, Index: 0, Data: []byte("m")}})
		})
		view(t, s, func(tx mailbox.Tx) error {
			got, err := readChunks(t, tx, L, 0)
			if err != nil || !slices.Equal(got, []string{"0:a", "1:b"}) {
				return fmt.Errorf("chunks of L = %v, %v", got, err)
			}
			return nil
		})
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error {
			return tx.PutChunks(ctx(t), []mailbox.Chunk{{LetterID: N, Part: 0, Index: 0, Data: []byte("n")}, {LetterID: L, Part: 0, Index: 0, Data: []byte("x")}})
		})
		view(t, s, func(tx mailbox.Tx) error {
			got, err := readChunks(t, tx, N, 0)
			if err != nil || len(got) != 0 {
				return fmt.Errorf("a refused batch left %v, %v", got, err)
			}
			return nil
		})
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutChunks(ctx(t), nil) })
	})
	method("Chunks", func(t *testing.T, s mailbox.Store) {
		seedLetters(t, s, 1)
		mustTx(t, s, func(tx mailbox.Tx) error {
			return errors.Join(tx.PutChunk(ctx(t), L, 1, 1, []byte("b")), tx.PutChunk(ctx(t), L, 1, 0, []byte("a")), tx.PutChunk(ctx(t), L, 2, 0, []byte("z")))
		})
		view(t, s, func(tx mailbox.Tx) error {
			got, err := readChunks(t, tx, L, 1)
			if err != nil || !slices.Equal(got, []string{"0:a", "1:b"}) {
				return fmt.Errorf("Chunks = %v, %v; want part 1 in order", got, err)
			}
			stop := errors.New("stop")
			if err := tx.Chunks(ctx(t), L, 1, func(int, []byte) error { return stop }); !errors.Is(err, stop) {
				return fmt.Errorf("callback error not returned: %v", err)
			}
			return nil
		})
	})
	method("PutIdempotencyKey", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutIdempotencyKey(ctx(t), "snd", "k", "h", "L", t0) })
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error { return tx.PutIdempotencyKey(ctx(t), "snd", "k", "h2", "M", t0) })
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutIdempotencyKey(ctx(t), "other", "k", "h", "N", t0) })
	})
	method("TryPutIdempotencyKey", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			ok1, err1 := tx.TryPutIdempotencyKey(ctx(t), "snd", "k", "h", "L", t0)
			ok2, err2 := tx.TryPutIdempotencyKey(ctx(t), "snd", "k", "h2", "M", t0)
			if err := errors.Join(err1, err2); err != nil || !ok1 || ok2 {
				return fmt.Errorf("TryPutIdempotencyKey = %v, %v, %v; want true, false", ok1, ok2, err)
			}
			// The transaction goes on after a used key.
			_, l, err := tx.GetIdempotencyKey(ctx(t), "snd", "k")
			if err != nil || l != "L" {
				return fmt.Errorf("the first letter is kept: %q, %v", l, err)
			}
			return nil
		})
	})
	method("GetIdempotencyKey", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutIdempotencyKey(ctx(t), "snd", "k", "h", "L", t0) })
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { _, _, err := tx.GetIdempotencyKey(ctx(t), "other", "k"); return err })
		view(t, s, func(tx mailbox.Tx) error {
			h, l, err := tx.GetIdempotencyKey(ctx(t), "snd", "k")
			if err != nil || h != "h" || l != "L" {
				return fmt.Errorf("GetIdempotencyKey = %q %q %v", h, l, err)
			}
			return nil
		})
	})

	// EvidenceTx
	method("GetLogHead", func(t *testing.T, s mailbox.Store) {
		view(t, s, func(tx mailbox.Tx) error {
			h, err := tx.GetLogHead(ctx(t))
			if err != nil || h.Size != 0 || len(h.Root) != 32 {
				return fmt.Errorf("empty log head = %+v, %v; want size 0 with the empty tree's root", h, err)
			}
			return nil
		})
	})
	method("LockLogHead", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			if _, err := tx.LockLogHead(ctx(t)); err != nil {
				return err
			}
			return tx.SetLogHead(ctx(t), mailbox.LogHead{Size: 1, Root: bytes.Repeat([]byte{1}, 32)})
		})
		mustTx(t, s, func(tx mailbox.Tx) error {
			h, err := tx.LockLogHead(ctx(t))
			if err != nil || h.Size != 1 || h.Root[0] != 1 {
				return fmt.Errorf("LockLogHead = %+v, %v", h, err)
			}
			return nil
		})
	})
	method("HoldsLogHead", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			if tx.HoldsLogHead() {
				return fmt.Errorf("HoldsLogHead = true before LockLogHead")
			}
			if _, err := tx.GetLogHead(ctx(t)); err != nil || tx.HoldsLogHead() {
				return fmt.Errorf("HoldsLogHead after GetLogHead (%v) = %v; want false: reading does not lock", err, tx.HoldsLogHead())
			}
			if _, err := tx.LockLogHead(ctx(t)); err != nil {
				return err
			}
			if !tx.HoldsLogHead() {
				return fmt.Errorf("HoldsLogHead = false after LockLogHead")
			}
			return nil
		})
		mustTx(t, s, func(tx mailbox.Tx) error {
			if tx.HoldsLogHead() {
				return fmt.Errorf("HoldsLogHead = true in a new transaction")
			}
			return nil
		})
	})
	method("SetLogHead", func(t *testing.T, s mailbox.Store) {
		for size := uint64(1); size <= 2; size++ {
			// The head is written under the lock the append path takes.
			mustTx(t, s, func(tx mailbox.Tx) error {
				if _, err := tx.LockLogHead(ctx(t)); err != nil {
					return err
				}
				return tx.SetLogHead(ctx(t), mailbox.LogHead{Size: size, Root: bytes.Repeat([]byte{byte(size)}, 32)})
			})
		}
		view(t, s, func(tx mailbox.Tx) error {
			h, err := tx.GetLogHead(ctx(t))
			if err != nil || h.Size != 2 || h.Root[0] != 2 {
				return fmt.Errorf("GetLogHead after SetLogHead = %+v, %v", h, err)
			}
			return nil
		})
	})
	nodes := []mailbox.LogNode{{Level: 0, Index: 0, Hash: []byte{1}}, {Level: 0, Index: 1, Hash: []byte{2}}, {Level: 1, Index: 0, Hash: []byte{3}}}
	method("PutLogNodes", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutLogNodes(ctx(t), nodes) })
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error {
			return tx.PutLogNodes(ctx(t), []mailbox.LogNode{{Level: 0, Index: 1, Hash: []byte{9}}})
		})
	})
	method("LogNodes", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutLogNodes(ctx(t), nodes) })
		view(t, s, func(tx mailbox.Tx) error {
			got, err := tx.LogNodes(ctx(t), []mailbox.LogNode{{Level: 1, Index: 0}, {Level: 0, Index: 0}})
			if err != nil || len(got) != 2 || got[0][0] != 3 || got[1][0] != 1 {
				return fmt.Errorf("LogNodes = %v, %v; want in the order asked", got, err)
			}
			return nil
		})
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error {
			_, err := tx.LogNodes(ctx(t), []mailbox.LogNode{{Level: 0, Index: 0}, {Level: 3, Index: 0}})
			return err
		})
	})
	method("AddEvidence", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.AddEvidence(ctx(t), evidence("e0", "L", 0, 0)) })
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error { return tx.AddEvidence(ctx(t), evidence("e1", "M", 0, 0)) })
	})
	method("AddEvidences", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			return tx.AddEvidences(ctx(t), []mailbox.EvidenceRecord{evidence("e1", "L", 1, 1), evidence("e0", "L", 0, 0), evidence("f0", "M", 0, 2)})
		})
		view(t, s, func(tx mailbox.Tx) error {
			evs, err := tx.EvidenceOf(ctx(t), "L")
			if got := ids(evs, func(e mailbox.EvidenceRecord) string { return e.ID }); err != nil || !slices.Equal(got, []string{"e0", "e1"}) || string(evs[1].Envelope) != "env-e1" {
				return fmt.Errorf("EvidenceOf after AddEvidences = %v, %v", got, err)
			}
			return nil
		})
		// All or nothing: a taken log index refuses the batch.
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error {
			return tx.AddEvidences(ctx(t), []mailbox.EvidenceRecord{evidence("g0", "N", 0, 3), evidence("g1", "N", 1, 2)})
		})
		view(t, s, func(tx mailbox.Tx) error {
			evs, err := tx.EvidenceOf(ctx(t), "N")
			if err != nil || len(evs) != 0 {
				return fmt.Errorf("a refused batch left %d, %v", len(evs), err)
			}
			return nil
		})
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.AddEvidences(ctx(t), nil) })
	})
	method("EvidenceOf", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			return errors.Join(tx.AddEvidence(ctx(t), evidence("e1", "L", 1, 5)), tx.AddEvidence(ctx(t), evidence("e0", "L", 0, 7)))
		})
		view(t, s, func(tx mailbox.Tx) error {
			evs, err := tx.EvidenceOf(ctx(t), "L")
			if err != nil || len(evs) != 2 || evs[0].Seq != 0 || evs[0].LogIndex != 7 || !evs[0].CreatedAt.Equal(t0) {
				return fmt.Errorf("EvidenceOf = %+v, %v; want by sequence", evs, err)
			}
			return nil
		})
	})
	method("EvidenceSummaries", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			return tx.AddEvidences(ctx(t), []mailbox.EvidenceRecord{evidence("m0", "M", 0, 0), evidence("l0", "L", 0, 1), evidence("k0", "K", 0, 2)})
		})
		view(t, s, func(tx mailbox.Tx) error {
			sums, err := tx.EvidenceSummaries(ctx(t), []string{"M", "L"})
			if got := ids(sums, func(e mailbox.EvidenceRecord) string { return e.ID }); err != nil || !slices.Equal(got, []string{"l0", "m0"}) || sums[0].Envelope != nil {
				return fmt.Errorf("EvidenceSummaries = %v, %v; want by letter, no envelopes", got, err)
			}
			return nil
		})
	})
	method("EvidenceByIndex", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			return errors.Join(tx.AddEvidences(ctx(t), []mailbox.EvidenceRecord{evidence("l1", "L", 1, 2), evidence("l0", "L", 0, 0)}),
				tx.AddMailboxEntries(ctx(t), []mailbox.EvidenceRecord{{ID: "m0", MailboxID: "M", Event: "CredentialBound", LogIndex: 1, Envelope: []byte("m"), CreatedAt: t0}}))
		})
		view(t, s, func(tx mailbox.Tx) error {
			got, err := tx.EvidenceByIndex(ctx(t), 0, 2)
			if ids := ids(got, func(e mailbox.EvidenceRecord) string { return e.ID }); err != nil || !slices.Equal(ids, []string{"l0", "m0"}) {
				return fmt.Errorf("EvidenceByIndex[0, 2) = %v, %v", ids, err)
			}
			return nil
		})
	})
	method("AddMailboxEntries", func(t *testing.T, s mailbox.Store) {
		e := mailbox.EvidenceRecord{ID: "m0", MailboxID: "M", Event: "CredentialBound", LogIndex: 0, Envelope: []byte("m"), CreatedAt: t0}
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.AddMailboxEntries(ctx(t), []mailbox.EvidenceRecord{e}) })
		e2 := e
		e2.ID, e2.MailboxID = "n0", "N"
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error { return tx.AddMailboxEntries(ctx(t), []mailbox.EvidenceRecord{e2}) })
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.AddMailboxEntries(ctx(t), nil) })
	})
	method("MailboxEntriesOf", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			return tx.AddMailboxEntries(ctx(t), []mailbox.EvidenceRecord{
				{ID: "m1", MailboxID: "M", Seq: 1, Event: "MailboxActivated", LogIndex: 2, Envelope: []byte("1"), CreatedAt: t0},
				{ID: "m0", MailboxID: "M", Seq: 0, Event: "CredentialBound", LogIndex: 0, Envelope: []byte("0"), CreatedAt: t0},
				{ID: "n0", MailboxID: "N", Seq: 0, Event: "CredentialBound", LogIndex: 1, Envelope: []byte("n"), CreatedAt: t0}})
		})
		view(t, s, func(tx mailbox.Tx) error {
			es, err := tx.MailboxEntriesOf(ctx(t), "M")
			if got := ids(es, func(e mailbox.EvidenceRecord) string { return e.ID }); err != nil || !slices.Equal(got, []string{"m0", "m1"}) || es[1].Event != "MailboxActivated" {
				return fmt.Errorf("MailboxEntriesOf = %v, %v", got, err)
			}
			return nil
		})
	})
	method("SetLetterChains", func(t *testing.T, s mailbox.Store) {
		ls := seedLetters(t, s, 2)
		ls[0].LastEvidence, ls[0].EvidenceCount = "h0", 2
		ls[1].LastEvidence, ls[1].EvidenceCount = "h1", 3
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.SetLetterChains(ctx(t), ls) })
		view(t, s, func(tx mailbox.Tx) error {
			for _, want := range ls {
				got, err := tx.GetLetter(ctx(t), want.ID, false)
				if err != nil || got.LastEvidence != want.LastEvidence || got.EvidenceCount != want.EvidenceCount {
					return fmt.Errorf("chain of %s = %q %d, %v", want.ID, got.LastEvidence, got.EvidenceCount, err)
				}
			}
			return nil
		})
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error {
			return tx.SetLetterChains(ctx(t), []mailbox.Letter{ls[0], newLetter(letterID(9), "snd", "rcp", t0)})
		})
	})
	checkpoints := func(t *testing.T, s mailbox.Store, sizes ...uint64) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			for _, size := range sizes {
				if err := tx.PutCheckpoint(ctx(t), size, []byte(fmt.Sprint("note ", size)), t0); err != nil {
					return err
				}
			}
			return nil
		})
	}
	method("PutCheckpoint", func(t *testing.T, s mailbox.Store) {
		checkpoints(t, s, 3, 3) // once per size: the second is a no-op
		view(t, s, func(tx mailbox.Tx) error {
			size, note, err := tx.LatestCheckpoint(ctx(t))
			if err != nil || size != 3 || string(note) != "note 3" {
				return fmt.Errorf("LatestCheckpoint = %d %q %v", size, note, err)
			}
			return nil
		})
	})
	method("LatestCheckpoint", func(t *testing.T, s mailbox.Store) {
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { _, _, err := tx.LatestCheckpoint(ctx(t)); return err })
		checkpoints(t, s, 5, 9, 7)
		view(t, s, func(tx mailbox.Tx) error {
			if size, _, err := tx.LatestCheckpoint(ctx(t)); err != nil || size != 9 {
				return fmt.Errorf("LatestCheckpoint = %d, %v; want the largest", size, err)
			}
			return nil
		})
	})
	method("CheckpointAtLeast", func(t *testing.T, s mailbox.Store) {
		checkpoints(t, s, 5, 9)
		view(t, s, func(tx mailbox.Tx) error {
			for _, c := range []struct{ size, want uint64 }{{1, 5}, {5, 5}, {6, 9}, {9, 9}} {
				if got, note, err := tx.CheckpointAtLeast(ctx(t), c.size); err != nil || got != c.want || string(note) != fmt.Sprint("note ", c.want) {
					return fmt.Errorf("CheckpointAtLeast(%d) = %d %q %v; want %d", c.size, got, note, err, c.want)
				}
			}
			return nil
		})
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { _, _, err := tx.CheckpointAtLeast(ctx(t), 10); return err })
	})
	method("Checkpoints", func(t *testing.T, s mailbox.Store) {
		checkpoints(t, s, 9, 5, 7)
		view(t, s, func(tx mailbox.Tx) error {
			var got []uint64
			err := tx.Checkpoints(ctx(t), func(size uint64, note []byte) error {
				if string(note) != fmt.Sprint("note ", size) {
					return fmt.Errorf("note of %d = %q", size, note)
				}
				got = append(got, size)
				return nil
			})
			if err != nil || !slices.Equal(got, []uint64{5, 7, 9}) {
				return fmt.Errorf("Checkpoints = %v, %v; want smallest first", got, err)
			}
			stop := errors.New("stop")
			if err := tx.Checkpoints(ctx(t), func(uint64, []byte) error { return stop }); !errors.Is(err, stop) {
				return fmt.Errorf("callback error not returned: %v", err)
			}
			return nil
		})
	})
}
