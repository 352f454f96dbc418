package reliability_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/signing"
)

// submission is one letter a client will send, with its idempotency key.
type submission struct {
	key    string
	letter map[string]any
	atts   []attachment
	body   string
}

// makeSubmissions draws a trial's letters: mostly electronic (registered
// or simple) to the citizen, some to an address without a mailbox (print
// route: PDF rendering and a print job in the same transaction), some with
// an attachment (content in several parts).
func makeSubmissions(rng *rand.Rand, prefix string, n int) []submission {
	subs := make([]submission, n)
	for i := range subs {
		key := fmt.Sprintf("%s-%d-%08x", prefix, i, rng.Uint32())
		body := fmt.Sprintf("Письмо %s.\nТекст письма, строка 2.", key)
		letter := map[string]any{"subject": "Уведомление " + key, "body": body}
		switch r := rng.IntN(8); {
		case r == 0:
			letter["recipient"] = map[string]string{"name": "Сидорову С.С.", "address": printAddress}
			letter["registered"] = true
		case r <= 4:
			letter["recipient"] = map[string]string{"name": "Иванову Ивану Ивановичу", "address": citizenAddress}
			letter["registered"] = true
		default:
			letter["recipient"] = map[string]string{"name": "Иванов И.И.", "address": citizenAddress}
		}
		s := submission{key: key, letter: letter, body: body}
		if rng.IntN(4) == 0 {
			s.atts = []attachment{{name: "справка-" + key + ".txt", ctype: "text/plain", data: []byte("Справка " + key + "\n")}}
		}
		subs[i] = s
	}
	return subs
}

// checkpointCollector fetches signed checkpoints while a node runs: each
// one handed out before a crash must stay consistent with the log after it.
type checkpointCollector struct {
	mu    sync.Mutex
	notes [][]byte
	last  string
}

func (c *checkpointCollector) fetch(ctx context.Context, p *party, base string) {
	r, err := p.call(ctx, "GET", base+"/v1/log/checkpoint", nil, "", nil)
	if err != nil || r.status != 200 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if string(r.body) != c.last {
		c.notes = append(c.notes, r.body)
		c.last = string(r.body)
	}
}

func (c *checkpointCollector) all() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.notes...)
}

// fireResult is what the clients saw of a trial.
type fireResult struct {
	acks      map[string]ack // by key
	refused   int            // clean 429/503 before the kill
	cut       int            // transport errors after the kill
	inFlight  int64          // requests in flight at the kill
	completed int64          // responses before the kill
}

// fireAndKill sends subs with conc concurrent clients and kills the node
// (SIGKILL) right after the killAt-th response, plus delay, while the
// others are in flight. Every 201 before the kill is an acknowledgement.
func fireAndKill(t *testing.T, p *party, n *node, subs []submission, conc, killAt int, delay time.Duration, cps *checkpointCollector) fireResult {
	t.Helper()
	ctx := t.Context()
	res := fireResult{acks: map[string]ack{}}
	var mu sync.Mutex
	var killed atomic.Bool
	var completed, inFlight atomic.Int64
	var once sync.Once
	kill := func() {
		once.Do(func() {
			time.Sleep(delay)
			res.inFlight = inFlight.Load()
			res.completed = completed.Load()
			killed.Store(true)
			_ = n.cmd.Process.Kill()
		})
	}
	if killAt == 0 {
		go kill()
	}
	stopPoll := make(chan struct{})
	var pollWG sync.WaitGroup
	pollWG.Add(1)
	go func() {
		defer pollWG.Done()
		anon := p.d.anonymous(t)
		for {
			select {
			case <-stopPoll:
				return
			case <-time.After(20 * time.Millisecond):
				if !killed.Load() {
					cps.fetch(ctx, anon, n.base)
				}
			}
		}
	}()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				s := subs[i]
				inFlight.Add(1)
				r, reply, err := p.send(ctx, n.base, s.letter, s.key, s.atts...)
				inFlight.Add(-1)
				dead := killed.Load()
				mu.Lock()
				switch {
				case err != nil && dead:
					res.cut++
				case err != nil:
					t.Errorf("%s: transport error before the kill: %v", s.key, err)
				case r.status == 201:
					a := ack{key: s.key, letterID: reply.ID, content: reply.ContentSHA256, bodySHA: signing.DigestHex([]byte(s.body))}
					for _, e := range reply.Evidence {
						a.receipts = append(a.receipts, []byte(e))
					}
					res.acks[s.key] = a
				case r.status == 429 || r.status == 503:
					res.refused++
				default:
					t.Errorf("%s: %d %s", s.key, r.status, r.body)
				}
				mu.Unlock()
				if completed.Add(1) == int64(killAt) {
					go kill()
				}
			}
		}()
	}
	for i := range subs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	kill() // the whole batch answered before the chosen moment
	<-n.done
	close(stopPoll)
	pollWG.Wait()
	return res
}

// resubmit sends every submission again with its key on a fresh node: each
// must answer 201, an acknowledged key with its original letter, receipts
// and digest (Idempotent-Replayed). It returns key → letter id.
func resubmit(t *testing.T, p *party, n *node, subs []submission, acks map[string]ack, conc int) map[string]string {
	t.Helper()
	out := map[string]string{}
	var mu sync.Mutex
	jobs := make(chan submission)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				var r reply
				var got sent
				var err error
				// A clean 429 or 503 asks to retry; nothing else may happen.
				// Retries are bounded by time, not count: a busy machine
				// may need longer to drain what the node has queued.
				deadline := time.Now().Add(2 * time.Minute)
				for {
					r, got, err = p.send(t.Context(), n.base, s.letter, s.key, s.atts...)
					if err != nil || (r.status != 429 && r.status != 503) || time.Now().After(deadline) {
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
				if err != nil || r.status != 201 {
					t.Errorf("resubmitting %s: %v %d %s", s.key, err, r.status, r.body)
					continue
				}
				if a, ok := acks[s.key]; ok {
					if got.ID != a.letterID {
						t.Errorf("key %s: acknowledged as letter %s, now answered with %s: a duplicate", s.key, a.letterID, got.ID)
					}
					if r.header.Get("Idempotent-Replayed") != "true" {
						t.Errorf("key %s: retry of an acknowledged letter not marked as replayed", s.key)
					}
					if got.ContentSHA256 != a.content {
						t.Errorf("key %s: content digest changed from %s to %s", s.key, a.content, got.ContentSHA256)
					}
					for i := range min(len(a.receipts), len(got.Evidence)) {
						if string(got.Evidence[i]) != string(a.receipts[i]) {
							t.Errorf("key %s: receipt %d changed after the crash", s.key, i)
						}
					}
				}
				mu.Lock()
				out[s.key] = got.ID
				mu.Unlock()
			}
		}()
	}
	for _, s := range subs {
		jobs <- s
	}
	close(jobs)
	wg.Wait()
	return out
}

// TestCrashDurabilityHTTP kills `npes serve` with SIGKILL at a random moment
// during concurrent HTTP submissions, restarts it, and checks that nothing
// acknowledged was lost, nothing was duplicated, no evidence exists without
// its letter, and the evidence log audits from the first leaf (with every
// checkpoint handed out before the crash). Scenario 1 of RELIABILITY.md.
func TestCrashDurabilityHTTP(t *testing.T) {
	t.Parallel()
	k := knobsFor(t)
	rng := k.rng(1)
	d := newDeployment(t, storetest.PostgresURL(t))
	n := d.start(t, nodeOpts{name: "http-0"})
	org := d.party(t, orgReq)
	org.registerActive(t, n.base, orgAddress)
	d.party(t, citizenReq).registerActive(t, n.base, citizenAddress)

	perTrial := k.n(50)
	conc := min(32, max(8, perTrial/4))
	cps := &checkpointCollector{}
	var acked []ack
	ledger := map[string]string{} // every key sent so far → its letter
	var totalAcked, totalCut, totalRefused int
	for trial := range k.trials {
		subs := makeSubmissions(rng, fmt.Sprintf("h%d", trial), perTrial)
		killAt := rng.IntN(perTrial)
		delay := time.Duration(rng.IntN(3000)) * time.Microsecond
		res := fireAndKill(t, org, n, subs, conc, killAt, delay, cps)
		n = d.start(t, nodeOpts{name: fmt.Sprintf("http-%d", trial+1)})
		final := resubmit(t, org, n, subs, res.acks, conc)
		for key, id := range final {
			ledger[key] = id
		}
		for _, a := range res.acks {
			acked = append(acked, a)
		}
		totalAcked += len(res.acks)
		totalCut += res.cut
		totalRefused += res.refused
		t.Logf("trial %d: killed after %d responses (+%v) with %d in flight: %d acknowledged, %d cut, %d refused",
			trial, res.completed, delay, res.inFlight, len(res.acks), res.cut, res.refused)

		letters, keys := invariants(t, d.dbURL)
		if len(letters) != len(ledger) {
			t.Errorf("trial %d: %d letters in the database, %d keys sent", trial, len(letters), len(ledger))
		}
		for key, id := range ledger {
			if keys[key] != id {
				t.Errorf("trial %d: key %s maps to %q in the database, the client was given %s", trial, key, keys[key], id)
			}
		}
		if t.Failed() {
			t.Fatalf("trial %d failed; node output:\n%s", trial, n.out.tail())
		}
	}
	checkReceipts(t, d.dbURL, d.jwks(t), acked)
	cps.fetch(t.Context(), d.anonymous(t), n.base)
	t.Log(audit(t, d, cps.all()))
	t.Logf("%d trials: %d submissions acknowledged before a kill, %d cut by it, %d refused cleanly; %d checkpoints kept",
		k.trials, totalAcked, totalCut, totalRefused, len(cps.all()))
	if totalAcked == 0 || totalCut == 0 {
		t.Errorf("the kills never hit a batch in progress (%d acknowledged, %d cut): the test proves nothing", totalAcked, totalCut)
	}
	if out := strings.Join(n.out.grep("level=ERROR"), "\n"); out != "" {
		t.Logf("server errors after the last restart:\n%s", out)
	}
}
