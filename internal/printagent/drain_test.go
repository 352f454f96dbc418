package printagent_test

import (
	"flag"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/npes/npes/internal/printagent"
	"github.com/npes/npes/mailbox"
)

// drainJobs is the size of the two-agent drain. The print path is sized
// for 1,000 jobs a drain (run with -drain-jobs 1000); the default keeps a
// CI run short, since
// queueing a letter costs a render and two sealed evidence records and
// printing it two more.
var drainJobs = flag.Int("drain-jobs", 200, "letters for the two-agent drain test")

var progressLine = regexp.MustCompile(`(?m)^printed (\d+)/(\d+), \d+\.\d jobs/s`)

// Two print centres of one region (different certificates) drain the queue
// at the same time: every job is printed exactly once, the server has each
// one posted, and the manifest lists each posted item once, presorted by
// postcode.
func TestTwoAgentsDrain(t *testing.T) {
	t.Parallel()
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := start(t, url(t), nil)
			n := *drainJobs
			var letters []sent
			for range 5 { // some through the API, the rest in-process
				letters = append(letters, h.sendHTTP(t, "Извещение"))
			}
			t0 := time.Now()
			letters = append(letters, h.submit(t, n-len(letters))...)
			t.Logf("%s: queued %d letters in %v", name, n, time.Since(t0).Round(time.Millisecond))

			agents := []struct {
				spool string
				prog  *lockedBuffer
				opts  printagent.Options
			}{{spool: t.TempDir()}, {spool: t.TempDir()}}
			errs := make(chan error, len(agents))
			t0 = time.Now()
			for i := range agents {
				a := &agents[i]
				a.prog = &lockedBuffer{}
				a.opts = h.options(t, h.centre(t, "РЦ Гомель "+string(rune('A'+i)), "246"), a.spool)
				a.opts.Batch, a.opts.Progress = 50, a.prog
				go func() { errs <- printagent.Run(t.Context(), a.opts) }()
			}
			for range agents {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			elapsed := time.Since(t0)
			t.Logf("%s: two agents printed and posted %d jobs in %v (%.0f jobs/s)", name, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())

			// Exactly once locally: the spools are disjoint and together
			// hold every letter.
			want := make([]string, len(letters))
			for i, l := range letters {
				want[i] = l.Tracking + ".pdf"
			}
			sort.Strings(want)
			var got []string
			for i, a := range agents {
				files := spoolPDFs(t, a.spool)
				if len(files) == 0 {
					t.Errorf("agent %d printed nothing: not a concurrent drain", i)
				}
				got = append(got, files...)
				m := progressLine.FindAllStringSubmatch(a.prog.String(), -1)
				if len(m) == 0 {
					t.Errorf("agent %d wrote no progress line: %q", i, a.prog.String())
				} else if last := m[len(m)-1]; last[1] != last[2] || last[1] != strconv.Itoa(len(files)) {
					t.Errorf("agent %d: last progress %q, spool has %d files", i, last[0], len(files))
				}
			}
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Fatalf("spools hold %d files (%d distinct), want the %d letters once each", len(got), len(slices.Compact(slices.Clone(got))), len(want))
			}
			// Exactly once on the server.
			if st := h.jobStates(t, letters); st[mailbox.JobPosted] != n || len(st) != 1 {
				t.Fatalf("job states %v, want %d posted", st, n)
			}
			// The manifest, from an agent's last refresh after everything
			// was posted: each item once, presorted by postcode.
			final := h.options(t, agents[0].opts.Client, agents[0].spool)
			if err := printagent.Run(t.Context(), final); err != nil {
				t.Fatal(err)
			}
			checkManifest(t, manifestRows(t, agents[0].spool), letters)
		})
	}
}

// checkManifest checks that the manifest files list each letter exactly
// once, with its postcode, each file in postcode order.
func checkManifest(t *testing.T, files [][][]string, letters []sent) {
	t.Helper()
	want := map[string]string{}
	for _, l := range letters {
		want[l.Tracking] = l.Postcode
	}
	seen := map[string]bool{}
	for _, rows := range files {
		for i, r := range rows {
			if len(r) < 4 { // the contract's columns; job_id may follow
				t.Fatalf("manifest row %v", r)
			}
			if seen[r[0]] {
				t.Fatalf("manifest lists %s twice", r[0])
			}
			seen[r[0]] = true
			if pc, ok := want[r[0]]; !ok || pc != r[1] || r[3] == "" || r[3] == "0" {
				t.Fatalf("manifest row %v: want postcode %q (known letter: %v)", r, pc, ok)
			}
			if i > 0 && rows[i-1][1] > r[1] {
				t.Fatalf("manifest not presorted by postcode: %v before %v", rows[i-1], r)
			}
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("manifest lists %d items, want %d", len(seen), len(want))
	}
}
