package tlog_test

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/npes/npes/signing/tlog"
)

// BenchmarkAppend appends to a log of one million leaves held in a
// MemoryStore: read the compact range, hash, return the new nodes. The
// log is built once; each iteration appends at size 1e6 without
// persisting, so every iteration does the same work.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	const size = 1_000_000
	m := tlog.NewMemoryStore()
	batch := make([][]byte, 0, 4096)
	var leaf [8]byte
	for i := uint64(0); i < size; i++ {
		binary.BigEndian.PutUint64(leaf[:], i)
		batch = append(batch, tlog.LeafHash(leaf[:]))
		if len(batch) == cap(batch) || i == size-1 {
			if _, _, err := m.Append(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	next := tlog.LeafHash([]byte("next"))
	b.Run("one", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := tlog.Append(ctx, m, size, next); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("batch-of-64", func(b *testing.B) {
		leaves := make([][]byte, 64)
		for i := range leaves {
			leaves[i] = next
		}
		for b.Loop() {
			if _, _, err := tlog.AppendBatch(ctx, m, size, leaves); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/leaf")
	})
	b.Run("inclusion-proof", func(b *testing.B) {
		for b.Loop() {
			if _, err := tlog.InclusionProof(ctx, m, 123_457, size); err != nil {
				b.Fatal(err)
			}
		}
	})
}
