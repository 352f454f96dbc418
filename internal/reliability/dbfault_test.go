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
	//
	// The phase goes in rounds of concurrent submissions, alternating rounds
	// in which the proxy cuts the database connections again and again while
	// the requests are in flight with calm rounds, and keeps going until the
	// cuts have met requests (some refused) and the server has answered
	// between them (some created). How many rounds that takes depends on the
	// machine's speed, so it is bounded by count and time, never assumed.
	const (
		perRound = 8
		minEach  = 5 // created and refused answers the phase must see
	)
	minSubs, maxSubs := k.n(120), k.n(120)*5
	budget := time.Now().Add(4 * time.Minute)
	var subs []submission
	acks := map[string]ack{}
	var mu sync.Mutex
	var refused, created int
	send := func(s submission) {
		r, got, err := org.send(ctx, n.base, s.letter, s.key, s.atts...)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			t.Errorf("%s: transport error while the database flaps: %v", s.key, err)
		case r.status == 201 && got.ID == "":
			t.Errorf("%s: 201 without a letter id: %s", s.key, r.body)
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
	}
	for round := 0; ; round++ {
		mu.Lock()
		c, r := created, refused
		mu.Unlock()
		if len(subs) >= minSubs && c >= minEach && r >= minEach {
			break
		}
		if len(subs) >= maxSubs || time.Now().After(budget) {
			t.Fatalf("after %d rounds (%d submissions) the phase has %d created and %d refused, want at least %d of each: the cuts never met requests, or the server never answered between them",
				round, len(subs), c, r, minEach)
		}
		// Alternate, but spend the rounds on the outcome still missing.
		cutting := round%2 == 0
		if c >= minEach && r < minEach {
			cutting = true
		} else if r >= minEach && c < minEach {
			cutting = false
		}
		batch := makeSubmissions(rng, fmt.Sprintf("fault%d", round), perRound)
		subs = append(subs, batch...)
		var wg sync.WaitGroup
		for _, s := range batch {
			wg.Add(1)
			go func() { defer wg.Done(); send(s) }()
		}
		roundDone := make(chan struct{})
		var cutter sync.WaitGroup
		if cutting {
			cutter.Add(1)
			go func() {
				defer cutter.Done()
				for {
					select {
					case <-roundDone:
						return
					case <-time.After(time.Duration(5+rng.IntN(40)) * time.Millisecond):
						px.cut()
					}
				}
			}()
		}
		wg.Wait()
		close(roundDone)
		cutter.Wait()
	}
	t.Logf("under cuts: %d created, %d refused with 503, %d connection pairs cut, %d submissions", created, refused, px.cutCount.Load(), len(subs))

	// Phase 2: the database is down. Public and authenticated routes, over
	// kept-alive and over new connections (after the revocation cache's
	// lifetime, so the handshake cannot use a fresh copy), answer 503.
	px.down()
	// Not a wait for a condition: the point is that more than the
	// revocation set's refresh interval (1 s) has passed with the database
	// down, so new handshakes rely on the kept set, whatever the machine's
	// speed.
	time.Sleep(1500 * time.Millisecond)
	fresh := d.partyOf(t, org.cred)
	fresh.hc = d.httpClient(t, &org.cred, false)
	anon := d.anonymous(t)
	var ackedID string
	for _, a := range acks {
		ackedID = a.letterID
		break
	}
	if ackedID == "" {
		t.Fatal("no acknowledged letter to read while the database is down")
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
