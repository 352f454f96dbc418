package reliability_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// node is one `npes serve` subprocess.
type node struct {
	name  string
	cmd   *exec.Cmd
	base  string // https://127.0.0.1:port
	smtps string // host:port of the implicit-TLS SMTP listener, "" when off
	out   *watcher
	done  chan struct{} // closed when the process has exited
}

// nodeOpts are the knobs of one node.
type nodeOpts struct {
	name string
	// dbURL overrides the deployment's database URL (the fault proxy).
	dbURL string
	// smtp starts the implicit-TLS SMTP listener.
	smtp bool
}

// serverEnv is the environment of a subprocess: the test's, without any
// NPES_* variable, so that only the flags configure the node.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NPES_") {
			env = append(env, kv)
		}
	}
	return env
}

var (
	apiLine  = regexp.MustCompile(`API on https://(\S+)`)
	smtpLine = regexp.MustCompile(`implicit TLS on (\S+)`)
)

// start runs `npes serve` on the deployment and waits until it listens.
func (d *deployment) start(t testing.TB, o nodeOpts) *node {
	t.Helper()
	url := d.dbURL
	if o.dbURL != "" {
		url = o.dbURL
	}
	smtps := "off"
	if o.smtp {
		smtps = "127.0.0.1:0"
	}
	cmd := exec.Command(npesBinary(t), "serve", "--data", d.dataDir, "--database-url", url,
		"--http-addr", "127.0.0.1:0", "--smtp-addr", "off", "--smtps-addr", smtps, "--log-level", "warn")
	cmd.Env = serverEnv()
	dieWithTest(cmd)
	w := &watcher{ready: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = w, w
	n := &node{name: o.name, cmd: cmd, out: w, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(n.done) }()
	t.Cleanup(n.kill)
	select {
	case <-w.ready:
	case <-n.done:
		t.Fatalf("npes serve %s exited before listening:\n%s", o.name, w.tail())
	case <-time.After(90 * time.Second):
		n.kill()
		t.Fatalf("npes serve %s did not listen within 90 s:\n%s", o.name, w.tail())
	}
	n.base = "https://" + w.find(apiLine)
	if o.smtp {
		n.smtps = w.find(smtpLine)
	}
	return n
}

// kill sends SIGKILL (kill -9: no shutdown code runs) and waits for the
// process to be gone.
func (n *node) kill() {
	if n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.done
}

// stop shuts the node down gracefully (SIGINT), killing it if it hangs.
func (n *node) stop(t testing.TB) {
	t.Helper()
	_ = n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.done:
	case <-time.After(45 * time.Second):
		n.kill()
		t.Errorf("node %s ignored SIGINT for 45 s:\n%s", n.name, n.out.tail())
	}
}

// watcher collects a subprocess's output (bounded) and signals when the
// API line appears.
type watcher struct {
	mu    sync.Mutex
	buf   []byte
	lines []string
	ready chan struct{}
	seen  bool
}

const watcherKeep = 64 << 10

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		w.lines = append(w.lines, line)
		if !w.seen && apiLine.MatchString(line) {
			w.seen = true
			close(w.ready)
		}
	}
	// Keep the output bounded: the last lines are what a failure needs.
	for n := w.size(); n > watcherKeep && len(w.lines) > 1; n = w.size() {
		w.lines = w.lines[1:]
	}
	return len(p), nil
}

func (w *watcher) size() int {
	n := 0
	for _, l := range w.lines {
		n += len(l) + 1
	}
	return n
}

func (w *watcher) find(re *regexp.Regexp) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	return ""
}

func (w *watcher) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n") + string(w.buf)
}

// grep returns the output lines that contain s.
func (w *watcher) grep(s string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, l := range w.lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// runNPES runs an npes command to completion and returns its output.
func runNPES(ctx context.Context, t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npesBinary(t), args...)
	cmd.Env = serverEnv()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), fmt.Errorf("npes %s: exit status %d", args[0], ee.ExitCode())
	}
	return string(out), err
}
