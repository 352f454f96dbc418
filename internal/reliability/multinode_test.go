package reliability_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing/tlog"
)

// printJob is a leased job as the API shows it.
type printJob struct {
	ID         string `json:"id"`
	LetterID   string `json:"letter_id"`
	Tracking   string `json:"tracking"`
	PDFSHA256  string `json:"pdf_sha256"`
	LeaseToken int64  `json:"lease_token"`
	State      string `json:"state"`
	Sheets     int    `json:"sheets"`
}

// keptCheckpoint is a checkpoint as one node served it.
type keptCheckpoint struct {
	node string
	note []byte
	cp   tlog.Checkpoint
}

// TestSeveralNodes runs three `npes serve` processes on one data directory
// and one PostgreSQL under mixed load: submissions to every node (registered
// electronic letters and printed ones), acceptances signed by the recipient
// through any node, and two print centres of one region leasing, printing
// and posting through any node. Afterwards S10 serials are unique, every
// checkpoint any node served is signed and consistent with every other
// (consistency proofs between every pair, verified here), every print job
// was printed once by one centre, and the log audits. Scenario 2 of
// RELIABILITY.md.
func TestSeveralNodes(t *testing.T) {
	t.Parallel()
	k := knobsFor(t)
	d := newDeployment(t, storetest.PostgresURL(t))
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, d.start(t, nodeOpts{name: fmt.Sprintf("node-%d", i)}))
	}
	org := d.party(t, orgReq)
	org.registerActive(t, nodes[0].base, orgAddress)
	citizen := d.party(t, citizenReq)
	citizen.registerActive(t, nodes[1].base, citizenAddress)
	centres := []*party{d.party(t, gomelPCReq), d.party(t, gomelPC2Req)}
	anon := d.anonymous(t)
	ctx := t.Context()
	perNode := k.n(24)

	var mu sync.Mutex
	tracking := map[string]string{}    // S10 → letter
	printLetters := map[string]bool{}  // letters routed to print
	printedBy := map[string][]string{} // job → centres whose printed report was accepted
	var checkpoints []keptCheckpoint
	noteKey := d.noteKey(t)
	keep := func(name string, note []byte) {
		cp, err := tlog.OpenCheckpoint(note, noteKey)
		if err != nil {
			t.Errorf("checkpoint from %s does not verify: %v\n%s", name, err, note)
			return
		}
		mu.Lock()
		checkpoints = append(checkpoints, keptCheckpoint{node: name, note: note, cp: cp})
		mu.Unlock()
	}

	// The checkpoint poller reads every node in turn while the load runs.
	stopPoll := make(chan struct{})
	var pollWG sync.WaitGroup
	pollWG.Add(1)
	go func() {
		defer pollWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stopPoll:
				return
			case <-time.After(40 * time.Millisecond):
			}
			n := nodes[i%len(nodes)]
			if r, err := anon.call(ctx, "GET", n.base+"/v1/log/checkpoint", nil, "", nil); err == nil && r.status == 200 {
				keep(n.name, r.body)
			}
		}
	}()

	// Submitters, one per node; registered electronic letters go on to the
	// acceptor.
	toAccept := make(chan string, 3*perNode)
	var submitters sync.WaitGroup
	for i, n := range nodes {
		submitters.Add(1)
		go func() {
			defer submitters.Done()
			for j := range perNode {
				letter := map[string]any{"registered": true, "subject": fmt.Sprintf("узел %d письмо %d", i, j), "body": "Текст."}
				if j%2 == 0 {
					letter["recipient"] = map[string]string{"name": "Сидорову С.С.", "address": printAddress}
				} else {
					letter["recipient"] = map[string]string{"name": "Иванову И.И.", "address": citizenAddress}
				}
				r, s, err := org.send(ctx, n.base, letter, fmt.Sprintf("n%d-%d", i, j))
				if err != nil || r.status != 201 {
					t.Errorf("send on %s: %v %d %s", n.name, err, r.status, r.body)
					continue
				}
				mu.Lock()
				if prev, dup := tracking[s.Tracking]; dup {
					t.Errorf("S10 %s given to %s and %s", s.Tracking, prev, s.ID)
				}
				tracking[s.Tracking] = s.ID
				if s.Route == mailbox.RoutePrint {
					printLetters[s.ID] = true
				}
				mu.Unlock()
				if s.Route == mailbox.RouteElectronic {
					toAccept <- s.ID
				}
			}
		}()
	}
	go func() { submitters.Wait(); close(toAccept) }()

	// The acceptor reads each letter and signs for it through random nodes.
	var acceptor sync.WaitGroup
	acceptor.Add(1)
	accepted := 0
	go func() {
		defer acceptor.Done()
		rng := k.rng(21)
		for id := range toAccept {
			var v mailbox.LetterView
			r, err := citizen.call(ctx, "GET", nodes[rng.IntN(3)].base+"/v1/letters/"+id, nil, "", nil)
			if err != nil || r.status != 200 || json.Unmarshal(r.body, &v) != nil {
				t.Errorf("recipient reading %s: %v %d %s", id, err, r.status, r.body)
				continue
			}
			jws := signStatement(t, citizen.cred, mailbox.NewStatement(v, mailbox.DecisionAccept, "", time.Now()))
			body := strings.NewReader(fmt.Sprintf(`{"jws":%q}`, jws))
			r, err = citizen.call(ctx, "POST", nodes[rng.IntN(3)].base+"/v1/letters/"+id+"/accept", body, "application/json", nil)
			if err != nil || r.status != 200 {
				t.Errorf("accepting %s: %v %d %s", id, err, r.status, r.body)
				continue
			}
			accepted++
		}
	}()

	// Two print centres of the same region compete for the jobs through
	// random nodes until every printed letter is posted.
	var printers sync.WaitGroup
	submitted := make(chan struct{})
	go func() { submitters.Wait(); close(submitted) }()
	for ci, pc := range centres {
		printers.Add(1)
		go func() {
			defer printers.Done()
			rng := k.rng(uint64(30 + ci))
			deadline := time.Now().Add(3 * time.Minute)
			for time.Now().Before(deadline) {
				jobs := lease(t, pc, nodes[rng.IntN(3)].base, 3)
				if len(jobs) == 0 {
					select {
					case <-submitted:
						if postedAll(t, d.dbURL) {
							return
						}
					default:
					}
					time.Sleep(30 * time.Millisecond)
					continue
				}
				for _, j := range jobs {
					printJobThrough(t, pc, nodes, rng, j)
					mu.Lock()
					printedBy[j.ID] = append(printedBy[j.ID], pc.id.Name)
					mu.Unlock()
				}
			}
			t.Errorf("%s: print jobs still open after 3 minutes", pc.id.Name)
		}()
	}
	submitters.Wait()
	acceptor.Wait()
	printers.Wait()
	close(stopPoll)
	pollWG.Wait()
	for _, n := range nodes {
		if r, err := anon.call(ctx, "GET", n.base+"/v1/log/checkpoint", nil, "", nil); err == nil && r.status == 200 {
			keep(n.name, r.body)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// S10 serials: unique in the replies (above) and in the database.
	if len(tracking) != 3*perNode {
		t.Errorf("%d distinct S10 serials for %d registered letters", len(tracking), 3*perNode)
	}
	// Each print job printed once, by one centre, and posted.
	for job, by := range printedBy {
		if len(by) != 1 {
			t.Errorf("job %s printed by %v", job, by)
		}
	}
	checkPrintedOnce(t, d.dbURL, printLetters)

	// Checkpoints: every pair consistent, each proof fetched from a node
	// and verified here.
	// Every pair of up to 40 sizes (at most 200 however large the run:
	// the pairs grow with the square).
	pairs := checkConsistency(t, anon, nodes, checkpoints, min(k.n(40), 200))
	t.Logf("%d letters (%d printed, %d accepted); %d checkpoints from 3 nodes, %d consistency proofs verified",
		len(tracking), len(printLetters), accepted, len(checkpoints), pairs)
	var notes [][]byte
	for _, c := range checkpoints {
		notes = append(notes, c.note)
	}
	invariants(t, d.dbURL)
	t.Log(audit(t, d, notes))
}

// lease asks for up to max jobs of the centre's regions.
func lease(t *testing.T, pc *party, base string, max int) []printJob {
	body := strings.NewReader(fmt.Sprintf(`{"max":%d,"lease_seconds":600}`, max))
	r, err := pc.call(t.Context(), "POST", base+"/v1/print/leases", body, "application/json", nil)
	if err != nil || r.status != 200 {
		t.Errorf("lease: %v %d %s", err, r.status, r.body)
		return nil
	}
	var out struct{ Jobs []printJob }
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Errorf("lease reply: %v", err)
	}
	return out.Jobs
}

// printJobThrough downloads a leased job's PDF, checks its digest, and
// reports it printed and posted, each step through a random node.
func printJobThrough(t *testing.T, pc *party, nodes []*node, rng *rand.Rand, j printJob) {
	ctx := t.Context()
	tok := map[string]string{"X-Lease-Token": fmt.Sprint(j.LeaseToken)}
	r, err := pc.call(ctx, "GET", nodes[rng.IntN(3)].base+"/v1/print/jobs/"+j.ID+"/pdf", nil, "", tok)
	if err != nil || r.status != 200 {
		t.Errorf("PDF of %s: %v %d %s", j.ID, err, r.status, r.body)
		return
	}
	if sum := sha256.Sum256(r.body); hex.EncodeToString(sum[:]) != j.PDFSHA256 {
		t.Errorf("PDF of %s does not match its digest", j.ID)
	}
	for _, step := range []string{"printed", "posted"} {
		body := strings.NewReader(fmt.Sprintf(`{"lease_token":%d,"sheets":%d}`, j.LeaseToken, j.Sheets))
		r, err := pc.call(ctx, "POST", nodes[rng.IntN(3)].base+"/v1/print/jobs/"+j.ID+"/"+step, body, "application/json", nil)
		if err != nil || r.status != 200 {
			t.Errorf("%s %s: %v %d %s", step, j.ID, err, r.status, r.body)
			return
		}
	}
}

// postedAll reports whether every letter print job is posted.
func postedAll(t *testing.T, dbURL string) bool {
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Error(err)
		return true
	}
	defer conn.Close(t.Context())
	var open int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM print_jobs WHERE kind = 'letter' AND state <> 'posted'`).Scan(&open); err != nil {
		t.Error(err)
		return true
	}
	return open == 0
}

// checkPrintedOnce checks that every printed letter has exactly one
// Printed and one Posted evidence, and its one job is posted.
func checkPrintedOnce(t *testing.T, dbURL string, printLetters map[string]bool) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	for id := range printLetters {
		var printed, posted, jobs int
		err := conn.QueryRow(t.Context(), `SELECT
			(SELECT count(*) FROM evidence WHERE letter_id = $1 AND event = 'Printed'),
			(SELECT count(*) FROM evidence WHERE letter_id = $1 AND event = 'Posted'),
			(SELECT count(*) FROM print_jobs WHERE letter_id = $1 AND state = 'posted')`, id).Scan(&printed, &posted, &jobs)
		if err != nil {
			t.Fatal(err)
		}
		if printed != 1 || posted != 1 || jobs != 1 {
			t.Errorf("letter %s: %d Printed, %d Posted evidence, %d posted jobs; want 1 each", id, printed, posted, jobs)
		}
	}
}

// checkConsistency verifies a consistency proof between every pair of
// distinct checkpoints (at most limit of them, spread over the sizes seen),
// each proof served by a different node in turn; equal sizes must have
// equal roots. It returns the number of proofs verified.
func checkConsistency(t *testing.T, anon *party, nodes []*node, kept []keptCheckpoint, limit int) int {
	t.Helper()
	bySize := map[uint64]keptCheckpoint{}
	for _, c := range kept {
		if prev, ok := bySize[c.cp.Size]; ok {
			if string(prev.cp.Hash) != string(c.cp.Hash) {
				t.Errorf("two roots for size %d: %s and %s served different trees", c.cp.Size, prev.node, c.node)
			}
			continue
		}
		bySize[c.cp.Size] = c
	}
	var sizes []uint64
	for s := range bySize {
		if s > 0 {
			sizes = append(sizes, s)
		}
	}
	slices.Sort(sizes)
	if len(sizes) > limit {
		step := float64(len(sizes)-1) / float64(limit-1)
		var picked []uint64
		for i := range limit {
			picked = append(picked, sizes[int(float64(i)*step+0.5)])
		}
		sizes = picked
	}
	if len(sizes) < 3 {
		t.Errorf("only %d distinct checkpoint sizes seen: the poller saw no growth", len(sizes))
	}
	proofs := 0
	for i, from := range sizes {
		for _, to := range sizes[i+1:] {
			n := nodes[proofs%len(nodes)]
			r, err := anon.call(t.Context(), "GET", fmt.Sprintf("%s/v1/log/proof/consistency?from=%d&to=%d", n.base, from, to), nil, "", nil)
			if err != nil || r.status != 200 {
				t.Fatalf("consistency %d→%d from %s: %v %d %s", from, to, n.name, err, r.status, r.body)
			}
			var p struct{ Proof [][]byte }
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatal(err)
			}
			a, b := bySize[from], bySize[to]
			if err := tlog.VerifyConsistency(from, to, p.Proof, a.cp.Hash, b.cp.Hash); err != nil {
				t.Errorf("checkpoint %d (from %s) and %d (from %s) are not consistent: %v", from, a.node, to, b.node, err)
			}
			proofs++
		}
	}
	return proofs
}
