package postgres_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

func ev(id string, index uint64) mailbox.EvidenceRecord {
	return mailbox.EvidenceRecord{ID: id, LetterID: "L-" + id, Event: "Submission", LogIndex: index,
		Envelope: []byte("env-" + id), CreatedAt: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
}

// The querier's round trips: BEGIN goes with the first statement, held
// statements with the next one or with COMMIT, and a transaction that ran
// nothing sends nothing. Each case also checks what was committed, so a
// round trip saved can never be a write lost.
func TestQuerierRoundTrips(t *testing.T) {
	t.Parallel()
	store, log := storetest.NewCounted(t, "postgres")
	ctx := t.Context()
	count := func(t *testing.T, index uint64) int {
		t.Helper()
		var n int
		if err := store.View(ctx, func(tx mailbox.Tx) error {
			es, err := tx.EvidenceByIndex(ctx, index, index+1)
			n = len(es)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	run := func(t *testing.T, want int, fn func(mailbox.Tx) error) error {
		t.Helper()
		log.Reset()
		err := store.InTx(ctx, fn)
		if got := log.RoundTrips(); got != want {
			t.Errorf("round trips = %d, want %d (statements %q)", got, want, log.Statements())
		}
		return err
	}

	t.Run("nothing", func(t *testing.T) {
		if err := run(t, 0, func(mailbox.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("held writes only: one round trip with BEGIN and COMMIT", func(t *testing.T) {
		if err := run(t, 1, func(tx mailbox.Tx) error {
			return tx.AddEvidences(ctx, []mailbox.EvidenceRecord{ev("a", 100), ev("b", 101)})
		}); err != nil {
			t.Fatal(err)
		}
		if count(t, 100) != 1 || count(t, 101) != 1 {
			t.Fatal("the held writes were not committed")
		}
	})
	t.Run("query, then held writes", func(t *testing.T) {
		if err := run(t, 2, func(tx mailbox.Tx) error {
			if _, err := tx.GetLogHead(ctx); err != nil {
				return err
			}
			return tx.AddEvidences(ctx, []mailbox.EvidenceRecord{ev("c", 102)})
		}); err != nil {
			t.Fatal(err)
		}
		if count(t, 102) != 1 {
			t.Fatal("the held write was not committed")
		}
	})
	t.Run("a held write that fails fails the next statement and the transaction", func(t *testing.T) {
		var atNext error
		err := run(t, 2, func(tx mailbox.Tx) error { // the pipeline, then the ROLLBACK
			if err := tx.AddEvidences(ctx, []mailbox.EvidenceRecord{ev("d", 103)}); err != nil {
				return err
			}
			if err := tx.AddEvidences(ctx, []mailbox.EvidenceRecord{ev("a2", 100)}); err != nil { // log_index taken
				return err
			}
			_, atNext = tx.GetLogHead(ctx)
			return atNext
		})
		if !errors.Is(atNext, mailbox.ErrConflict) || !errors.Is(err, mailbox.ErrConflict) {
			t.Fatalf("next statement: %v; transaction: %v; want ErrConflict from both", atNext, err)
		}
		if count(t, 103) != 0 {
			t.Fatal("a write of the failed transaction was committed")
		}
	})
	t.Run("a held write that fails at commit commits nothing", func(t *testing.T) {
		err := run(t, 2, func(tx mailbox.Tx) error { // BEGIN..COMMIT, then the ROLLBACK of the aborted transaction
			return tx.AddEvidences(ctx, []mailbox.EvidenceRecord{ev("e", 104), ev("b2", 101)})
		})
		if !errors.Is(err, mailbox.ErrConflict) {
			t.Fatalf("commit: %v, want ErrConflict", err)
		}
		if count(t, 104) != 0 {
			t.Fatal("a write of the failed transaction was committed")
		}
	})
	t.Run("held bytes are bounded: past 4 MiB the held writes go out at once", func(t *testing.T) {
		big := ev("big", 105)
		big.Envelope = make([]byte, 5<<20)
		if err := run(t, 2, func(tx mailbox.Tx) error {
			if err := tx.AddEvidences(ctx, []mailbox.EvidenceRecord{big}); err != nil {
				return err
			}
			if got := log.RoundTrips(); got != 1 {
				return fmt.Errorf("round trips after holding 5 MiB = %d, want 1 (sent at once)", got)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if count(t, 105) != 1 {
			t.Fatal("the write sent early was not committed")
		}
	})
	t.Run("View is read-only", func(t *testing.T) {
		err := store.View(ctx, func(tx mailbox.Tx) error {
			if _, err := tx.GetLogHead(ctx); err != nil {
				return err
			}
			_, err := tx.NextCounter(ctx, "querier_test")
			return err
		})
		if err == nil {
			t.Fatal("a write inside View succeeded")
		}
	})
}
