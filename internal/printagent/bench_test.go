package printagent_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/npes/npes/mailbox"
)

// BenchmarkLease measures the print-centre lease route end to end (mTLS,
// JSON, the claim transaction) with batches of 100, on PostgreSQL and, as
// the baseline of the same run, SQLite: one centre leasing in a loop, and
// two centres (different certificates, one region) leasing concurrently,
// where PostgreSQL's FOR UPDATE SKIP LOCKED lets them pass each other.
// It reports jobs/s and leases/s.
//
//	NPES_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//	  go test ./internal/printagent -run '^$' -bench Lease
func BenchmarkLease(b *testing.B) {
	const jobs, batch = 5000, 100
	for _, name := range []string{"postgres", "sqlite"} {
		for _, centres := range []int{1, 2} {
			b.Run(name+"/centres="+string(rune('0'+centres)), func(b *testing.B) {
				h := start(b, engines[name](b), nil)
				insertJobs(b, h, jobs)
				var leased, calls atomic.Int64
				lease := func(c leaser) {
					var r leaseReply
					if _, err := c.JSON(context.Background(), "POST", "/v1/print/leases", map[string]int{"max": batch, "lease_seconds": 10}, &r); err != nil {
						b.Error(err)
						return
					}
					calls.Add(1)
					leased.Add(int64(len(r.Jobs)))
					if len(r.Jobs) < batch {
						// All held: let the leases lapse, so the next
						// round claims expired leases (the same work).
						h.clock.Advance(11 * time.Second)
					}
				}
				b.ResetTimer()
				if centres == 1 {
					c := h.centre(b, "РЦ Гомель", "246")
					for b.Loop() {
						lease(c)
					}
				} else {
					var n atomic.Int64
					b.SetParallelism(1) // GOMAXPROCS goroutines
					b.RunParallel(func(pb *testing.PB) {
						c := h.centre(b, "РЦ Гомель "+string(rune('A'+n.Add(1))), "246")
						for pb.Next() {
							lease(c)
						}
					})
				}
				s := b.Elapsed().Seconds()
				b.ReportMetric(float64(leased.Load())/s, "jobs/s")
				b.ReportMetric(float64(calls.Load())/s, "leases/s")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

type leaser interface {
	JSON(ctx context.Context, method, path string, in, out any) ([]byte, error)
}

// insertJobs queues n print jobs of region 246 straight into the store:
// the lease benchmark needs rows to claim, not documents.
func insertJobs(b *testing.B, h *harness, n int) {
	b.Helper()
	now := h.clock.Now()
	err := h.srv.Store.InTx(b.Context(), func(tx mailbox.Tx) error {
		for i := range n {
			err := tx.CreatePrintJob(b.Context(), mailbox.PrintJob{
				ID: uuid.NewString(), Kind: mailbox.JobLetter, LetterID: uuid.NewString(), Region: "246",
				Postcode: "246050", RecipientName: "Сидоров С.С.", State: mailbox.JobQueued,
				AvailableAt: now.Add(time.Duration(i) * time.Microsecond), CreatedAt: now,
				PDFSHA256: "00", Pages: 1, Sheets: 1,
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
