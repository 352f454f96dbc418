package printagent_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/npes/npes/internal/printagent"
	"github.com/npes/npes/mailbox"
)

// fakeLPScript stands in for CUPS' lp(1): it records each successful
// submission's argv (one line, arguments separated by "|"), keeps a copy of
// the file, and answers as lp does. While the file named by FAKE_LP_FAIL
// exists it refuses, as lp does for an unknown queue.
const fakeLPScript = `#!/bin/sh
if [ -e "$FAKE_LP_FAIL" ]; then
	echo "lp: The printer or class does not exist." >&2
	exit 1
fi
line=""
for a in "$@"; do line="$line$a|"; last="$a"; done
cp "$last" "$FAKE_LP_OUT/" || exit 1
printf '%s\n' "$line" >> "$FAKE_LP_LOG"
n=$(wc -l < "$FAKE_LP_LOG")
echo "request id is $2-$n (1 file(s))"
`

type fakeLP struct{ log, out, fail string }

// installFakeLP puts the fake lp first on PATH for the test. It uses
// t.Setenv, so its tests do not run in parallel with others.
func installFakeLP(t *testing.T) *fakeLP {
	t.Helper()
	dir := t.TempDir()
	f := &fakeLP{log: filepath.Join(dir, "calls"), out: filepath.Join(dir, "out"), fail: filepath.Join(dir, "fail")}
	if err := os.Mkdir(f.out, 0o700); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "lp"), []byte(fakeLPScript), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_LP_LOG", f.log)
	t.Setenv("FAKE_LP_OUT", f.out)
	t.Setenv("FAKE_LP_FAIL", f.fail)
	return f
}

// calls returns the argv (without "lp") of each successful submission.
func (f *fakeLP) calls(t *testing.T) [][]string {
	t.Helper()
	data, err := os.ReadFile(f.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line != "" {
			out = append(out, strings.Split(strings.TrimSuffix(line, "|"), "|"))
		}
	}
	return out
}

// `--printer lp:QUEUE` runs lp directly with the right argv: -d QUEUE, the
// tracking number as the title, the absolute path of the checked PDF; a
// printer that refuses keeps the job (nothing reported failed, nothing
// lost) until it accepts, and then prints it once.
func TestLPPrinter(t *testing.T) {
	lp := installFakeLP(t)
	h := start(t, "", nil)
	letters := []sent{h.sendHTTP(t, "Первое"), h.sendHTTP(t, "Второе")}
	o := h.options(t, h.centre(t, "РЦ Гомель", "246"), t.TempDir())
	o.Printer = "lp:Gomel_Office-1"

	// The queue refuses: the agent retries, gives up (Once), and reports
	// nothing to the server.
	if err := os.WriteFile(lp.fail, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := printagent.Run(t.Context(), o); err == nil || !strings.Contains(err.Error(), "printer or class does not exist") {
		t.Fatalf("refusing printer: %v", err)
	}
	if st := h.jobStates(t, letters); st[mailbox.JobLeased] != 2 {
		t.Fatalf("after lp refused: %v, want both jobs still leased", st)
	}
	if err := os.Remove(lp.fail); err != nil {
		t.Fatal(err)
	}
	if err := printagent.Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}

	calls := lp.calls(t)
	if len(calls) != 2 {
		t.Fatalf("lp ran %d times, want 2: %q", len(calls), calls)
	}
	work := filepath.Join(o.Spool, ".npes", "work") + string(filepath.Separator)
	for i, argv := range calls {
		if len(argv) != 5 || argv[0] != "-d" || argv[1] != "Gomel_Office-1" || argv[2] != "-t" ||
			argv[3] != letters[i].Tracking || !strings.HasPrefix(argv[4], work) || !strings.HasSuffix(argv[4], ".pdf") {
			t.Errorf("lp argv %q, want -d Gomel_Office-1 -t %s %s…pdf", argv, letters[i].Tracking, work)
		}
		copied, err := os.ReadFile(filepath.Join(lp.out, filepath.Base(argv[4])))
		if err != nil || !strings.HasPrefix(string(copied), "%PDF-") {
			t.Errorf("lp did not get the PDF: %v", err)
		}
	}
	if st := h.jobStates(t, letters); st[mailbox.JobPosted] != 2 {
		t.Fatalf("job states %v", st)
	}
	// lp has its copy; the agent keeps none, and the spool holds only the
	// manifest and the journal.
	if left, _ := os.ReadDir(filepath.Join(o.Spool, ".npes", "work")); len(left) != 0 {
		t.Errorf("work files left behind: %v", left)
	}
	if files := spoolPDFs(t, o.Spool); len(files) != 0 {
		t.Errorf("lp mode wrote spool files %v", files)
	}
	checkManifest(t, manifestRows(t, o.Spool), letters)
}

// crashPoints are every place the process can die: after each step's work
// and before its journal record (durable false), and after the record.
var crashPoints = []struct {
	step    printagent.Step
	durable bool
}{
	{printagent.StepLeased, false}, {printagent.StepLeased, true},
	{printagent.StepDownloaded, false}, {printagent.StepDownloaded, true},
	{printagent.StepPrinting, false}, {printagent.StepPrinting, true},
	{printagent.StepPrinted, false}, {printagent.StepPrinted, true},
	{printagent.StepReportedPrinted, false}, {printagent.StepReportedPrinted, true},
	{printagent.StepReportedPosted, false}, {printagent.StepReportedPosted, true},
}

// The agent dies at every step, with each printer, and restarts from its
// journal (with a torn last record, as a crash mid-write leaves): no job is
// lost, none is printed twice under one lease, none twice in the spool, and
// each is posted and in the manifest once.
func TestCrashResume(t *testing.T) {
	lp := installFakeLP(t) // not parallel: PATH
	h := start(t, "", nil)
	c := h.centre(t, "РЦ Гомель", "246")
	crash := errors.New("simulated crash")
	for _, printer := range []string{"", "lp:Gomel"} {
		for _, p := range crashPoints {
			name := fmt.Sprintf("%s/%s/durable=%v", map[string]string{"": "spool", "lp:Gomel": "lp"}[printer], p.step, p.durable)
			t.Run(name, func(t *testing.T) {
				letters := h.submit(t, 3)
				base := len(lp.calls(t))
				o := h.options(t, c, t.TempDir())
				o.Printer, o.LeaseSeconds = printer, 10
				fired := false
				o.Fault = func(step printagent.Step, _ string, durable bool) error {
					if !fired && step == p.step && durable == p.durable {
						fired = true
						return crash
					}
					return nil
				}
				if err := printagent.Run(t.Context(), o); !errors.Is(err, crash) {
					t.Fatalf("run with a crash at %s: %v", name, err)
				}
				inodes := spoolInodes(t, o.Spool)
				f, err := os.OpenFile(filepath.Join(o.Spool, "journal.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = f.WriteString(`{"time":"2026-11-22T01:`)
				_ = f.Close()

				o.Fault = nil
				// The agent always restarts after its crash (a crash after
				// the batch's Posted report leaves every job posted on the
				// server, and the restart still finishes its journal and
				// manifest), then as often as it takes.
				for i := 0; i < 4 && (i == 0 || h.jobStates(t, letters)[mailbox.JobPosted] < len(letters)); i++ {
					if err := printagent.Run(t.Context(), o); err != nil {
						t.Fatalf("restart %d: %v", i+1, err)
					}
					// Past a lease the dead run held (10 s) and the retry
					// delay of a job handed back as failed (1 min).
					h.clock.Advance(2 * time.Minute)
				}
				if st := h.jobStates(t, letters); st[mailbox.JobPosted] != len(letters) {
					t.Fatalf("job states %v: a job was lost", st)
				}
				checkManifestHas(t, manifestRows(t, o.Spool), letters)

				if printer == "" {
					want := make([]string, len(letters))
					for i, l := range letters {
						want[i] = l.Tracking + ".pdf"
					}
					slices.Sort(want)
					if got := spoolPDFs(t, o.Spool); !slices.Equal(got, want) {
						t.Fatalf("spool %v, want %v", got, want)
					}
					// A document in the spool before the restart was not
					// written again.
					for name, ino := range inodes {
						if now := spoolInodes(t, o.Spool)[name]; now != ino {
							t.Errorf("%s was written again after the restart", name)
						}
					}
					return
				}
				perLease, perTitle := map[string]int{}, map[string]int{}
				for _, argv := range lp.calls(t)[base:] {
					perLease[argv[4]]++
					perTitle[argv[3]]++
				}
				for path, n := range perLease {
					if n > 1 {
						t.Errorf("printed %d times under one lease: %s", n, path)
					}
				}
				// A crash between lp's exit and the journal record leaves
				// the hand-off undecidable: the job is handed back and
				// printed again under its next lease. Everywhere else:
				// once.
				twice := 0
				if p.step == printagent.StepPrinted && !p.durable {
					twice = 1
				}
				n := 0
				for _, l := range letters {
					n += perTitle[l.Tracking]
					if perTitle[l.Tracking] == 0 {
						t.Errorf("%s never reached lp", l.Tracking)
					}
				}
				if n != len(letters)+twice {
					t.Errorf("lp ran %d times for %d letters, want %d", n, len(letters), len(letters)+twice)
				}
			})
		}
	}
}

// spoolInodes maps each spool PDF to its inode: a rewrite (a second
// hand-off) would change it.
func spoolInodes(t *testing.T, dir string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, name := range spoolPDFs(t, dir) {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			t.Skip("no inode numbers on this system")
		}
		out[name] = st.Ino
	}
	return out
}

// checkManifestHas checks that the manifest files list each letter exactly
// once (other letters of the day may be there too), and no item twice.
func checkManifestHas(t *testing.T, files [][][]string, letters []sent) {
	t.Helper()
	count := map[string]int{}
	for _, rows := range files {
		for _, r := range rows {
			count[r[0]]++
		}
	}
	for tr, n := range count {
		if n != 1 {
			t.Errorf("manifest lists %s %d times", tr, n)
		}
	}
	for _, l := range letters {
		if count[l.Tracking] != 1 {
			t.Errorf("manifest lists %s %d times, want once", l.Tracking, count[l.Tracking])
		}
	}
}
