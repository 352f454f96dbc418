package addressing_test

import (
	"testing"

	"github.com/npes/npes/addressing"
)

// BenchmarkParse measures parse + normalize + match key over a mix of the
// published addresses and the table's forms. The target is at least
// 100,000 addresses per second on one core:
//
//	go test -run '^$' -bench Parse -benchmem -cpu 1 ./addressing/
func BenchmarkParse(b *testing.B) {
	inputs := readTestdata(b)
	for _, c := range parseCases {
		if c.err == "" {
			inputs = append(inputs, c.in)
		}
	}
	// Warm the lookup tables so that their one-time construction is not
	// measured.
	for _, s := range inputs {
		_, _ = addressing.Parse(s)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		a, _ := addressing.Parse(inputs[n%len(inputs)])
		_ = a.MatchKey()
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "addr/s")
}
