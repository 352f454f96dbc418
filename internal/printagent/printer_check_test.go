package printagent_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/cli"
	"github.com/npes/npes/mailbox"
)

// TestPrinterCheckedFirst: `--printer lp:QUEUE` without lp installed fails
// before anything is leased, so the queued jobs stay free for an agent that
// can print them; and a run that prints one letter says "printed 1/1" once.
func TestPrinterCheckedFirst(t *testing.T) {
	h := start(t, "", nil) // not parallel: PATH
	letters := h.submit(t, 1)
	id := h.credential(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель", Regions: []string{"246"}})
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := cli.Main(context.Background(), append([]string{"print-agent", "--server", h.base, "--id", id, "--once"}, args...), &cli.Env{
			Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		})
		return code, stdout.String(), stderr.String()
	}

	t.Setenv("PATH", t.TempDir()) // a PATH without lp
	code, _, errOut := run("--spool", t.TempDir(), "--printer", "lp:OFFICE")
	if code != 1 || !strings.Contains(errOut, "lp(1)") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("without lp: exit %d, stderr %q; want exit 1 and one line naming lp(1)", code, errOut)
	}
	if st := h.jobStates(t, letters); st[mailbox.JobQueued] != 1 {
		t.Fatalf("job states %v after a run without lp: want the job still queued", st)
	}

	code, out, errOut := run("--spool", t.TempDir())
	if code != 0 {
		t.Fatalf("spool run: exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "printed 1/1"); n != 1 {
		t.Fatalf("progress says printed 1/1 %d times:\n%s", n, out)
	}
}
