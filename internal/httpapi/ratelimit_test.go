package httpapi

import (
	"testing"
	"time"
)

func TestLimiterPerClient(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newLimiter(RateLimit{PerSecond: 10, Burst: 5}, func() time.Time { return now })
	for i := range 5 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := l.allow("a")
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("6th request: ok=%v wait=%v, want refused with ~100ms", ok, wait)
	}
	// Another client is unaffected.
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("client b limited by client a's traffic")
	}
	// Refused requests take nothing: asking again while limited does not
	// push the refill further away.
	for range 3 {
		if ok, _ := l.allow("a"); ok {
			t.Fatal("request allowed with an empty bucket")
		}
	}
	now = now.Add(100 * time.Millisecond)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("a token did not refill after 100ms at 10/s")
	}
	if ok, _ := l.allow("a"); ok {
		t.Fatal("more than one token refilled")
	}
	// Idle buckets are forgotten.
	now = now.Add(2 * time.Minute)
	l.allow("c")
	if _, kept := l.buckets["a"]; kept {
		t.Fatal("idle bucket kept")
	}
}
