package mailbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// TestSealAheadTwoProcesses: two services on one database (two processes)
// append to the one evidence log. Each seals ahead of the log head lock
// at the index it predicts; a prediction the other process made wrong is
// sealed again under the lock. Whatever the interleaving, every receipt
// verifies against its checkpoint, and the audit of the whole log (each
// envelope at its index, each letter's chain) passes.
func TestSealAheadTwoProcesses(t *testing.T) {
	for _, e := range []struct {
		name string
		open func(*testing.T) mailbox.Store
	}{{"sqlite", storetest.NewSQLite}, {"postgres", storetest.NewPostgres}} {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			var cfg mailbox.Config
			w := newTestWorld(t, e.open(t), nil, func(c *mailbox.Config) { cfg = *c })
			a, org, person := w.svc, w.org, w.person
			b, err := mailbox.NewService(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.Close)
			var mu sync.Mutex
			var letters []mailbox.LetterView
			submit := func(svc *mailbox.Service, i int) error {
				d, err := svc.NewDraft()
				if err != nil {
					return err
				}
				defer d.Close()
				v, _, err := svc.Submit(ctx, org, mailbox.Submission{RecipientName: "Иванову И.И.",
					RecipientAddress: "г. Минск, ул. Дорошевича 8-5, 220013", Registered: i < 100 && i%2 == 0,
					Subject: fmt.Sprint("письмо ", i), Body: "текст"}, d)
				if err != nil {
					return err
				}
				mu.Lock()
				letters = append(letters, v)
				mu.Unlock()
				return nil
			}
			// One process alone: its predictions hold.
			for i := range 3 {
				if err := submit(a, i); err != nil {
					t.Fatal(err)
				}
			}
			hits, misses := mailbox.LogOrderStats(a)
			if hits < 3 || misses != 0 {
				t.Fatalf("one process appending alone: %d hits, %d misses; want 3 hits, no miss", hits, misses)
			}
			// Each append after the first extends the tree from the
			// compact range the last one left (no node read).
			if fh, _ := mailbox.FrontierStats(a); fh < 2 {
				t.Fatalf("one process appending alone: %d appends built on its own range; want at least 2", fh)
			}
			_, fm := mailbox.FrontierStats(a)
			// The other process appends: the first process's next
			// prediction is short and is sealed again.
			if err := submit(b, 3); err != nil {
				t.Fatal(err)
			}
			if err := submit(a, 4); err != nil {
				t.Fatal(err)
			}
			if _, misses := mailbox.LogOrderStats(a); misses != 1 {
				t.Fatalf("after the other process appended: %d misses; want 1", misses)
			}
			// Nor is the first process's range built on: the head moved.
			if _, m := mailbox.FrontierStats(a); m != fm+1 {
				t.Fatalf("after the other process appended: %d appends of the first read the range again; want 1", m-fm)
			}
			// Both at once, with the recipient's reads (access events of
			// existing letters, through recordLetter) in between.
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for w := range 8 {
				wg.Go(func() {
					for k := range 4 {
						svc := a
						if (w+k)%2 == 1 {
							svc = b
						}
						if err := submit(svc, 100+10*w+k); err != nil {
							errs <- err
							return
						}
						mu.Lock()
						id := letters[len(letters)-1].ID
						mu.Unlock()
						if _, err := svc.Content(ctx, person, id); err != nil {
							errs <- fmt.Errorf("reading %s: %w", id, err)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for _, v := range letters {
				raw, err := json.Marshal(v.Receipt)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := signing.VerifyBundle(raw, signing.VerifyOptions{Trust: w.trust}); err != nil {
					t.Fatalf("the receipt of letter %s: %v", v.ID, err)
				}
			}
			rep, err := a.Audit(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Letters != len(letters) {
				t.Fatalf("audit saw %d letters; %d were sent", rep.Letters, len(letters))
			}
			ha, ma := mailbox.LogOrderStats(a)
			hb, mb := mailbox.LogOrderStats(b)
			t.Logf("process a: %d hits, %d misses; process b: %d hits, %d misses", ha, ma, hb, mb)
		})
	}
}

// TestLargeGroupWritesBeforeItsTurn: a group whose content is small is
// sealed before its letters are written, so each letter row is written
// once; one with much content (a 5 MiB attachment) writes it before taking
// its turn in the log order, so other appends do not wait behind the
// upload, and writes its letters' chains again once sealed.
func TestLargeGroupWritesBeforeItsTurn(t *testing.T) {
	ctx := context.Background()
	store, stmts := storetest.NewCounted(t, "sqlite")
	w := newTestWorld(t, store, nil)
	send := func(attachment int) {
		t.Helper()
		d, err := w.svc.NewDraft()
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if attachment > 0 {
			if err := d.AddAttachment("отчёт.txt", "text/plain", strings.NewReader(strings.Repeat("а", attachment/2))); err != nil {
				t.Fatal(err)
			}
		}
		stmts.Reset()
		if _, _, err := w.svc.Submit(ctx, w.org, mailbox.Submission{RecipientName: "Иванову И.И.",
			RecipientAddress: "г. Минск, ул. Дорошевича 8-5, 220013", Subject: "s", Body: "b"}, d); err != nil {
			t.Fatal(err)
		}
	}
	chainWrites := func() int {
		n := 0
		for _, q := range stmts.Statements() {
			if strings.HasPrefix(strings.TrimSpace(q), "UPDATE letters SET last_evidence") {
				n++
			}
		}
		return n
	}
	send(0)
	if n := chainWrites(); n != 0 {
		t.Errorf("a small letter's chain was written again %d times; want its row written once", n)
	}
	send(5 << 20)
	if n := chainWrites(); n != 1 {
		t.Errorf("a letter with 5 MiB of attachments: %d chain writes; want 1 (content written before its turn)", n)
	}
}
