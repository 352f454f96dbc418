package postgres_test

import (
	"context"

	"fmt"
	"github.com/jackc/pgx/v5"
	"testing"
	"time"

	"github.com/npes/npes/internal/store/postgres"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// BenchmarkInboxSearch compares a search over a 20,000-letter inbox
// (LIKE on search_text within the mailbox's index range) with the plain
// first page, the baseline measured in the same run:
//
//	go test -run '^$' -bench InboxSearch -benchtime 200x ./internal/store/postgres
func BenchmarkInboxSearch(b *testing.B) {
	const n = 20000
	url := storetest.PostgresURL(b)
	ctx := context.Background()
	s, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for start := 0; start < n; start += 1000 {
		ls := make([]mailbox.Letter, 0, 1000)
		for i := start; i < start+1000; i++ {
			ls = append(ls, mailbox.Letter{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), SenderMailbox: "org", SenderName: "ОАО «Белтелеком»",
				RecipientName: "Иванов Иван", RecipientMailbox: "rcp", RecipientJSON: []byte(`{}`), Subject: fmt.Sprintf("Счёт за услуги № %d", i),
				Route: mailbox.RouteElectronic, State: mailbox.StateDelivered, ContentJSON: []byte(`{}`), ContentKey: []byte{1}, CreatedAt: t0.Add(time.Duration(i) * time.Second)})
		}
		if err := s.InTx(ctx, func(tx mailbox.Tx) error { return tx.CreateLetters(ctx, ls) }); err != nil {
			b.Fatal(err)
		}
	}
	// Statistics as autovacuum keeps them: without them the planner takes
	// the mailbox for small and sorts all of it (160 ms here).
	if err := analyze(ctx, url); err != nil {
		b.Fatal(err)
	}
	base := mailbox.LetterQuery{Mailboxes: []string{"rcp"}, Folder: "inbox", Limit: 26}
	for _, bc := range []struct {
		name   string
		search string
		want   int
	}{
		{"first page (baseline)", "", 26},
		{"search, many matches", mailbox.NormalizeSearch("СЧЁТ"), 26},
		{"search, selective (№ 7: 6,878 matches)", "№ 7", 26},
		{"search, no match (scans the inbox)", "повестка", 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := base
			q.Search = bc.search
			for b.Loop() {
				err := s.View(ctx, func(tx mailbox.Tx) error {
					ls, err := tx.ListLetters(ctx, q)
					if err == nil && len(ls) != bc.want {
						err = fmt.Errorf("%d letters, want %d", len(ls), bc.want)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func analyze(ctx context.Context, url string) error {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "ANALYZE letters")
	return err
}
