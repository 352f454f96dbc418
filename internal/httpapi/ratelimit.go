package httpapi

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RateLimit configures per-client token buckets (OWASP ASVS 5.0 §2.4 /
// API4:2023): each authenticated identity, and each remote IP for requests
// without a certificate, gets its own bucket, so one noisy client gets 429
// while others are unaffected.
type RateLimit struct {
	PerSecond float64 // sustained requests per second; 0 disables limiting
	Burst     int
}

// DefaultRateLimit suits an integrating organization's batch sender and a
// print agent (three requests per job).
var DefaultRateLimit = RateLimit{PerSecond: 500, Burst: 1000}

type bucket struct {
	tokens float64
	last   time.Time
}

type limiter struct {
	cfg RateLimit
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
}

func newLimiter(cfg RateLimit, now func() time.Time) *limiter {
	return &limiter{cfg: cfg, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for key; when none is left it says how long until one
// is.
func (l *limiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	// Forget idle clients now and then so the map stays bounded.
	if now.Sub(l.sweep) > time.Minute {
		full := time.Duration(float64(l.cfg.Burst) / l.cfg.PerSecond * float64(time.Second))
		for k, b := range l.buckets {
			if now.Sub(b.last) > full {
				delete(l.buckets, k)
			}
		}
		l.sweep = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(l.cfg.Burst), last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(l.cfg.Burst), b.tokens+now.Sub(b.last).Seconds()*l.cfg.PerSecond)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.cfg.PerSecond * float64(time.Second))
	return false, wait
}

// rateLimit applies the limiter after identification.
func (s *server) rateLimit(next http.Handler) http.Handler {
	if s.RateLimit.PerSecond <= 0 {
		return next
	}
	l := newLimiter(s.RateLimit, s.Now)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := ""
		if id := identityFrom(r.Context()); id != nil {
			key = "id:" + id.ID
		} else {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			key = "ip:" + host
		}
		if ok, wait := l.allow(key); !ok {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			writeErrorCode(w, http.StatusTooManyRequests, "rate_limited", "too many requests from this client; retry later")
			return
		}
		next.ServeHTTP(w, r)
	})
}
