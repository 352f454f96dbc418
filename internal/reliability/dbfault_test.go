package reliability_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/signing"
)

// cleanRefusal checks a 503 the way a client relies on it: the API's
// error shape, code "unavailable" and a Retry-After in seconds.
func cleanRefusal(r reply) error {
	if r.status != 503 {
		return fmt.Errorf("status %d, want 503: %s", r.status, r.body)
	}
	if code := errorCode(r.body); code != "unavailable" {
		return fmt.Errorf("503 with error code %q: %s", code, r.body)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		return fmt.Errorf("503 without a usable Retry-After (%q)", r.header.Get("Retry-After"))
	}
	return nil
}

// TestDatabaseFaults puts a TCP proxy between `npes serve` and PostgreSQL:
// connections are cut again and again under load (mid-transaction, mid-
// commit), then the database is down for a while, then back. Clients get
// 201 or a clean 503 with Retry-After, never a 500; the server recovers
// without a restart; nothing half-written is visible: every key maps to one
// complete letter and the log audits. Scenario 3 of RELIABILITY.md.
func TestDatabaseFaults(t *testing.T) {
	t.Parallel()
	k := knobsFor(t)
	rng := k.rng(3)
	url := storetest.PostgresURL(t)
	d := newDeployment(t, url)
	px := newFaultProxy(t, hostOf(t, url))
	n := d.start(t, nodeOpts{name: "faults", dbURL: viaProxy(t, url, px)})
	org := d.party(t, orgReq)
	org.registerActive(t, n.base, orgAddress)
	d.party(t, citizenReq).registerActive(t, n.base, citizenAddress)
	ctx := t.Context()

	// Phase 1: cuts under load. Every answer is a 201 or a clean 503.
	subs := makeSubmissions(rng, "fault", k.n(120))
	acks := map[string]ack{}
	var mu sync.Mutex
	var refused, created int
	stop := make(chan struct{})
	var cutter sync.WaitGroup
	cutter.Add(1)
	go func() {
		defer cutter.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(30+rng.IntN(120)) * time.Millisecond):
				px.cut()
			}
		}
	}()
	jobs := make(chan submission)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				r, got, err := org.send(ctx, n.base, s.letter, s.key, s.atts...)
				mu.Lock()
				switch {
				case err != nil:
					t.Errorf("%s: transport error while the database flaps: %v", s.key, err)
				case r.status == 201:
					created++
					a := ack{key: s.key, letterID: got.ID, content: got.ContentSHA256, bodySHA: signing.DigestHex([]byte(s.body))}
					for _, e := range got.Evidence {
						a.receipts = append(a.receipts, []byte(e))
					}
					acks[s.key] = a
				default:
					if err := cleanRefusal(r); err != nil {
						t.Errorf("%s while the database flaps: %v", s.key, err)
					}
					refused++
				}
				mu.Unlock()
			}
		}()
	}
	for _, s := range subs {
		jobs <- s
	}
	close(jobs)
	wg.Wait()
	close(stop)
	cutter.Wait()
	t.Logf("under cuts: %d created, %d refused with 503, %d connection pairs cut", created, refused, px.cutCount.Load())
	if refused == 0 || created == 0 {
		t.Errorf("the cuts never met a request (%d created, %d refused): the phase proves nothing", created, refused)
	}

	// Phase 2: the database is down. Public and authenticated routes, over
	// kept-alive and over new connections (after the revocation cache's
	// lifetime, so the handshake cannot use a fresh copy), answer 503.
	px.down()
	time.Sleep(1500 * time.Millisecond)
	fresh := d.partyOf(t, org.cred)
	fresh.hc = d.httpClient(t, &org.cred, false)
	anon := d.anonymous(t)
	var ackedID string
	for _, a := range acks {
		ackedID = a.letterID
		break
	}
	outage := makeSubmissions(rng, "outage", 4)
	probes := []struct {
		name string
		do   func() (reply, error)
	}{
		{"health", func() (reply, error) { return anon.call(ctx, "GET", n.base+"/v1/health", nil, "", nil) }},
		{"checkpoint", func() (reply, error) { return anon.call(ctx, "GET", n.base+"/v1/log/checkpoint", nil, "", nil) }},
		{"letter", func() (reply, error) { return org.call(ctx, "GET", n.base+"/v1/letters/"+ackedID, nil, "", nil) }},
		{"inbox on a new connection", func() (reply, error) {
			return fresh.call(ctx, "GET", n.base+"/v1/letters?folder=sent", nil, "", nil)
		}},
		{"submission", func() (reply, error) {
			r, _, err := org.send(ctx, n.base, outage[0].letter, outage[0].key, outage[0].atts...)
			return r, err
		}},
		{"submission on a new connection", func() (reply, error) {
			r, _, err := fresh.send(ctx, n.base, outage[1].letter, outage[1].key, outage[1].atts...)
			return r, err
		}},
	}
	for _, p := range probes {
		r, err := p.do()
		if err != nil {
			t.Errorf("database down, %s: transport error %v (want a 503)", p.name, err)
			continue
		}
		if err := cleanRefusal(r); err != nil {
			t.Errorf("database down, %s: %v", p.name, err)
		}
	}

	// Phase 3: the database is back; the server recovers by itself.
	px.up()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := anon.call(ctx, "GET", n.base+"/v1/health", nil, "", nil)
		if err == nil && r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not recover within 60 s of the database's return: %v %d %s\n%s", err, r.status, r.body, n.out.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	all := append(subs, outage...)
	final := resubmit(t, fresh, n, all, acks, 8)
	letters, keys := invariants(t, d.dbURL)
	if len(letters) != len(final) {
		t.Errorf("%d letters in the database for %d keys", len(letters), len(final))
	}
	for key, id := range final {
		if keys[key] != id {
			t.Errorf("key %s maps to %q in the database, the client was given %s", key, keys[key], id)
		}
	}
	var acked []ack
	for _, a := range acks {
		acked = append(acked, a)
	}
	checkReceipts(t, d.dbURL, d.jwks(t), acked)
	t.Log(audit(t, d, nil))
	if lines := n.out.grep("panic"); len(lines) > 0 {
		t.Errorf("the server panicked: %v", lines)
	}
	if t.Failed() {
		t.Logf("server errors:\n%s", strings.Join(n.out.grep("level=ERROR"), "\n"))
	}
}
