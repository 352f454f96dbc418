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

// `npes print-agent` end to end: flags, credential directory, progress on
// standard output, logs on standard error, exit statuses.
func TestCommand(t *testing.T) {
	t.Parallel()
	h := start(t, "", nil)
	letters := []sent{h.sendHTTP(t, "Извещение")}
	letters = append(letters, h.submit(t, 2)...)
	id := h.credential(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель", Regions: []string{"246"}})
	spool := t.TempDir()
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := cli.Main(context.Background(), append([]string{"print-agent"}, args...), &cli.Env{
			Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		})
		return code, stdout.String(), stderr.String()
	}

	code, out, errOut := run("--server", h.base, "--id", id, "--spool", spool, "--once", "--batch", "2", "--lease-seconds", "60")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if m := progressLine.FindAllStringSubmatch(out, -1); len(m) == 0 || m[len(m)-1][1] != "3" || m[len(m)-1][2] != "3" {
		t.Fatalf("progress: %q", out)
	}
	if !strings.Contains(errOut, "msg=printed") || !strings.Contains(errOut, "msg=posted") {
		t.Fatalf("log: %s", errOut)
	}
	if files := spoolPDFs(t, spool); len(files) != 3 {
		t.Fatalf("spool: %v", files)
	}
	if st := h.jobStates(t, letters); st[mailbox.JobPosted] != 3 {
		t.Fatalf("job states %v", st)
	}
	if rows := manifestRows(t, spool); len(rows) != 1 || len(rows[0]) != 3 {
		t.Fatalf("manifest: %v", rows)
	}

	// --json logs JSON.
	if code, _, errOut := run("--server", h.base, "--id", id, "--spool", spool, "--once", "--json"); code != 0 || !strings.HasPrefix(errOut, `{"time":`) {
		t.Fatalf("--json: exit %d, log %q", code, errOut)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--server", h.base, "--id", id, "--once"}, 2, "--spool"},
		{[]string{"--server", h.base, "--spool", spool, "--once"}, 2, "--id"},
		{[]string{"--server", h.base, "--id", id, "--spool", spool, "--printer", "lp:a b"}, 2, "lp:QUEUE"},
		{[]string{"--server", h.base, "--id", id, "--spool", spool, "--batch", "0"}, 2, "--batch"},
		{[]string{"--server", h.base, "--id", id, "--spool", spool, "--lease-seconds", "5"}, 2, "--lease-seconds"},
		{[]string{"--server", h.base, "--id", id, "--spool", spool, "extra"}, 2, "unexpected argument"},
	} {
		code, _, errOut := run(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d %q, want %d mentioning %s", tc.args, code, errOut, tc.code, tc.msg)
		}
	}

	// Another role's credential is refused by the server: exit 1, and
	// the spool is untouched.
	org := h.credential(t, certs.Request{Role: certs.RoleOrg, Name: "ОАО «Связь»", UNP: "100289067"})
	if code, _, errOut := run("--server", h.base, "--id", org, "--spool", t.TempDir(), "--once"); code != 1 || !strings.Contains(errOut, "forbidden") {
		t.Fatalf("org credential: exit %d %q", code, errOut)
	}
}
