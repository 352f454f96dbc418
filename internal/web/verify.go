package web

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/npes/npes/signing"
)

// MaxVerifyUpload bounds an uploaded bundle: bundles are JSON of evidence
// envelopes and proofs, far below this; the content itself is not in them.
const MaxVerifyUpload = 4 << 20

// verifyRate is how often one client address may verify: a verification
// costs signature checks (ML-DSA-65 among them), so it is rationed per
// address, with a small burst for a person checking a few files.
var verifyRate = rate.Every(6 * time.Second)

const verifyBurst = 5

type verifyPage struct {
	Checked bool
	Error   string // catalogue key
	Detail  string
	Report  *signing.Report
}

// verifyForm is GET /verify: the public page to check a bundle.
func (p *Portal) verifyForm(w http.ResponseWriter, r *http.Request) {
	p.withSession(w, r, func() { p.render(w, r, http.StatusOK, "verify", "Check a proof", verifyPage{}) })
}

// verifyUpload is POST /verify: the uploaded bundle is checked against the
// operator's pinned keys and identity CA, offline, as `npes verify` does.
func (p *Portal) verifyUpload(w http.ResponseWriter, r *http.Request) {
	p.withSession(w, r, func() {
		if !p.verifyLimiter.allow(clientIP(r), p.now()) {
			w.Header().Set("Retry-After", "6")
			p.render(w, r, http.StatusTooManyRequests, "verify", "Check a proof", verifyPage{Error: "Too many checks from your address. Please wait a minute and try again."})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxVerifyUpload+64<<10)
		f, _, err := r.FormFile("bundle")
		if err != nil {
			var tooBig *http.MaxBytesError
			status, key := http.StatusBadRequest, "Choose a bundle file to check."
			if errors.As(err, &tooBig) {
				status, key = http.StatusRequestEntityTooLarge, "The file is larger than 4 MiB: it is not a bundle."
			}
			p.render(w, r, status, "verify", "Check a proof", verifyPage{Error: key})
			return
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, MaxVerifyUpload+1))
		if err != nil || len(data) > MaxVerifyUpload {
			p.render(w, r, http.StatusRequestEntityTooLarge, "verify", "Check a proof", verifyPage{Error: "The file is larger than 4 MiB: it is not a bundle."})
			return
		}
		trust, err := p.trust()
		if err != nil {
			p.serverError(w, r, err)
			return
		}
		rep, err := signing.VerifyBundle(data, signing.VerifyOptions{Trust: trust})
		if err != nil {
			p.render(w, r, http.StatusUnprocessableEntity, "verify", "Check a proof",
				verifyPage{Checked: true, Error: "This file is NOT a valid proof of this post office.", Detail: err.Error()})
			return
		}
		p.render(w, r, http.StatusOK, "verify", "Check a proof", verifyPage{Checked: true, Report: rep})
	})
}

// trust is what a verifier pins for this operator: the keys GET /v1/keys
// publishes and the identity CA.
func (p *Portal) trust() (*signing.Trust, error) {
	t, err := signing.NewTrust(p.Service.JWKS(), p.CAPEM)
	if err == nil && p.rp != nil {
		// Decisions signed with a passkey are checked against this
		// server's relying party, as a trust file's "webauthn" pins it.
		rp := *p.rp
		t.WebAuthn = &rp
	}
	return t, err
}

// withSession runs a public page with the session, if any, in the
// context, so the layout shows the signed-in menu.
func (p *Portal) withSession(w http.ResponseWriter, r *http.Request, fn func()) {
	s, err := p.session(r)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	if s != nil {
		*r = *r.WithContext(withSession(r.Context(), s))
	}
	fn()
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiter keeps one token bucket per client address, forgetting idle ones.
// The zero value rations as the verify page does (verifyRate, verifyBurst).
type limiter struct {
	every   rate.Limit
	burst   int
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = make(map[string]*bucket)
	}
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		every, burst := l.every, l.burst
		if every == 0 {
			every, burst = verifyRate, verifyBurst
		}
		b = &bucket{l: rate.NewLimiter(every, burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.l.AllowN(now, 1)
}
