package bench_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/npes/npes/internal/store/postgres"
	"github.com/npes/npes/internal/store/sqlite"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// BenchmarkLeasePrintJobs measures the store's claim, the transaction
// hybrid.Queue.Lease runs (LeasePrintJobs: CTE, FOR UPDATE SKIP LOCKED on
// PostgreSQL, UPDATE … RETURNING every column), one batch of 100 per
// operation, from a queue refilled with 20,000 jobs whenever it runs dry.
// As with four agents that report what they print, at most four batches
// are leased at a time: the oldest is marked printed (outside the timer)
// when a fifth is claimed, so leased rows do not pile up in the claimable
// index. `npes bench lease` measures the same claim through the API.
func BenchmarkLeasePrintJobs(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			var st mailbox.Store
			var err error
			if engine == "postgres" {
				st, err = postgres.Open(b.Context(), storetest.PostgresURL(b), postgres.Options{})
			} else {
				st, err = sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "npes.db"), sqlite.Options{})
			}
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			const batch, refill = 100, 20_000
			seeded := 0
			seed := func() {
				base := time.Now().Add(-time.Hour)
				for done := 0; done < refill; done += 1000 {
					err := st.InTx(b.Context(), func(tx mailbox.Tx) error {
						for i := range 1000 {
							at := base.Add(time.Duration(seeded) * time.Microsecond)
							seeded++
							if err := tx.CreatePrintJob(b.Context(), mailbox.PrintJob{
								ID: fmt.Sprintf("job-%09d-%d", seeded, i), Kind: mailbox.JobLetter, Region: "231", Postcode: "231300",
								RecipientName: "Сидоров С.С.", State: mailbox.JobQueued, AvailableAt: at, CreatedAt: at,
							}); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			seed()
			leased := 0
			var outstanding [][]mailbox.PrintJob
			b.ReportAllocs()
			for b.Loop() {
				var jobs []mailbox.PrintJob
				now := time.Now()
				err := st.InTx(b.Context(), func(tx mailbox.Tx) error {
					var err error
					jobs, err = tx.LeasePrintJobs(b.Context(), []string{"231"}, "bench", batch, now, now.Add(10*time.Minute))
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				leased += len(jobs)
				outstanding = append(outstanding, jobs)
				if len(outstanding) > 4 || len(jobs) < batch {
					b.StopTimer()
					done := outstanding[0]
					outstanding = outstanding[1:]
					err := st.InTx(b.Context(), func(tx mailbox.Tx) error {
						for _, j := range done {
							j.State, j.PrintedAt = mailbox.JobPrinted, now
							if err := tx.UpdatePrintJob(b.Context(), j); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
					if len(jobs) < batch {
						seed()
					}
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(leased)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}
