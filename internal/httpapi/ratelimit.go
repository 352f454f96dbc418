package httpapi

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
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

// client is one identity's limiter and when it last asked.
type client struct {
	lim  *rate.Limiter
	last time.Time
}

// limiter keeps one token bucket (golang.org/x/time/rate) per client. The
// clock is injected: every call passes the time explicitly (AllowN and
// ReserveN take it), so tests and the server's clock agree.
type limiter struct {
	cfg RateLimit
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*client
	sweep   time.Time
}

func newLimiter(cfg RateLimit, now func() time.Time) *limiter {
	// A burst below one would refuse every request forever.
	cfg.Burst = max(cfg.Burst, 1)
	return &limiter{cfg: cfg, now: now, buckets: map[string]*client{}}
}

// allow takes a token for key; when none is left it says how long until one
// is.
func (l *limiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	// Forget idle clients now and then so the map stays bounded. A client
	// idle for longer than a full refill has a full bucket, so forgetting it
	// changes nothing.
	if now.Sub(l.sweep) > time.Minute {
		full := time.Duration(float64(l.cfg.Burst) / l.cfg.PerSecond * float64(time.Second))
		for k, c := range l.buckets {
			if now.Sub(c.last) > full {
				delete(l.buckets, k)
			}
		}
		l.sweep = now
	}
	c := l.buckets[key]
	if c == nil {
		c = &client{lim: rate.NewLimiter(rate.Limit(l.cfg.PerSecond), l.cfg.Burst)}
		l.buckets[key] = c
	}
	c.last = now
	r := c.lim.ReserveN(now, 1)
	if wait := r.DelayFrom(now); wait > 0 {
		// Refused: give the token back, so a client that keeps asking
		// while limited does not push its own refill further away.
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
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
