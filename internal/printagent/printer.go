package printagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ErrBadPrinter means Options.Printer is neither empty nor "lp:QUEUE" with
// a valid queue name.
var ErrBadPrinter = errors.New(`printagent: printer must be empty (the spool directory) or "lp:QUEUE"`)

// ErrNoLP means Options.Printer names a CUPS queue but lp(1) is not there.
var ErrNoLP = errors.New("printagent: lp(1), the CUPS client, is not installed or not on PATH")

// printer hands a checked PDF to the print room.
type printer interface {
	// handOff prints the document at src (a file in the agent's work
	// directory) as job j and removes or moves src. It returns a receipt
	// for the log and journal (a path, an lp request id). An error wrapping
	// errUncertain means the document may have been queued; any other
	// error means it was not.
	handOff(ctx context.Context, j *job, src string) (receipt string, err error)
	// certain says whether a hand-off interrupted by a crash can be
	// decided afterwards (see agent.printStep).
	certain() bool
	String() string
}

// queueName is what the agent accepts as a CUPS destination: CUPS allows
// any printable character except space, tab, "/", "\" and "#" in a printer
// name, plus "/instance"; the agent accepts the conservative subset that
// never needs quoting and never starts with "-" (which lp would read as an
// option).
var queueName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,126}(/[A-Za-z0-9_.-]{1,127})?$`)

// newPrinter parses Options.Printer.
func newPrinter(spec, spool string) (printer, error) {
	if spec == "" {
		return spoolPrinter{dir: spool}, nil
	}
	q, ok := strings.CutPrefix(spec, "lp:")
	if !ok || !queueName.MatchString(q) {
		return nil, fmt.Errorf("%w: %q", ErrBadPrinter, spec)
	}
	// Checked before anything is leased: without lp every job of the
	// first lease would fail and wait out its lease before another agent
	// could take it.
	if _, err := exec.LookPath("lp"); err != nil {
		return nil, fmt.Errorf("%w: --printer %s prints through it (leave --printer out to print into the spool directory)", ErrNoLP, spec)
	}
	return lpPrinter{queue: q}, nil
}

// spoolPrinter drops each document into a directory (a printer's hot
// folder). The rename is the hand-off: the file appears whole, under its
// final name, or not at all.
type spoolPrinter struct{ dir string }

func (p spoolPrinter) String() string { return "spool:" + p.dir }
func (p spoolPrinter) certain() bool  { return true }

func (p spoolPrinter) handOff(_ context.Context, j *job, src string) (string, error) {
	dst := filepath.Join(p.dir, j.file)
	if err := os.Rename(src, dst); err != nil {
		return "", fmt.Errorf("printagent: spool %s: %w", j.file, err)
	}
	// The document is in the hot folder now, whatever happens next; a
	// failed directory sync only weakens the rename's durability across an
	// operating-system crash, which the printer cannot take back either.
	_ = syncDir(p.dir)
	return dst, nil
}

// lpPrinter submits each document to a CUPS queue with lp(1), executed
// directly: the arguments are separate argv entries, never a shell command
// line, so nothing in a job (a tracking number, a file name) can inject a
// command. lp uploads the file to the scheduler and exits, after which the
// agent removes its copy.
type lpPrinter struct{ queue string }

func (p lpPrinter) String() string { return "lp:" + p.queue }
func (p lpPrinter) certain() bool  { return false }

// lpTimeout bounds one lp run: it only uploads a file to the local
// scheduler.
const lpTimeout = 2 * time.Minute

// lpArgs is the argv of one submission: lp -d QUEUE -t TITLE FILE. The
// title (the S10 id or the job id) is what the operator sees in the CUPS
// queue; FILE is absolute, so it can never be taken for an option.
func lpArgs(queue, title, file string) []string {
	return []string{"lp", "-d", queue, "-t", title, file}
}

func (p lpPrinter) handOff(ctx context.Context, j *job, src string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, lpTimeout)
	defer cancel()
	args := lpArgs(p.queue, j.name(), src)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			// Killed at the deadline: lp may have uploaded the file.
			return "", fmt.Errorf("%w: lp -d %s did not finish within %s", errUncertain, p.queue, lpTimeout)
		}
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return "", fmt.Errorf("printagent: lp -d %s: %w: %s", p.queue, err, msg)
	}
	// "request id is QUEUE-123 (1 file(s))"
	receipt := strings.TrimSpace(stdout.String())
	if f := strings.Fields(receipt); len(f) >= 4 && f[0] == "request" && f[2] == "is" {
		receipt = f[3]
	}
	if len(receipt) > 200 {
		receipt = receipt[:200]
	}
	if err := os.Remove(src); err != nil && !errors.Is(err, os.ErrNotExist) {
		return receipt, fmt.Errorf("printagent: removing %s after lp: %w", src, err)
	}
	return receipt, nil
}
