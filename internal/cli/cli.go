// Package cli implements the npes command line: one thin binary with
// subcommands (DESIGN §9). Every command parses its own flags, reads NPES_*
// defaults from the environment, writes to injected streams and returns an
// error instead of exiting, so commands are testable in-process.
package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Env is what a command may touch of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// closers run when the command ends (sessions with a token).
	closers []func() error
}

func (e *Env) closeAll() {
	for _, c := range e.closers {
		_ = c()
	}
	e.closers = nil
}

type command struct {
	summary string
	run     func(ctx context.Context, e *Env, args []string) error // nil for commands with subcommands
}

// subcommands are the verbs of the commands that have several; the first
// argument after the command picks one.
var subcommands = map[string][]subcommand{
	"ca":      caCommands,
	"mailbox": mailboxCommands,
	"admin":   adminCommands,
}

// usageError makes the command exit with status 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError carries a specific exit status with an already printed message.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func commands() map[string]command {
	return map[string]command{
		"init":       {"create the data directory: CA, server certificate, evidence keys, operator credential", runInit},
		"serve":      {"run the server (initializes the data directory on first run)", runServe},
		"ca":         {"internal CA: issue, revoke, list certificates", nil},
		"whoami":     {"ask the server who the credential is", runWhoami},
		"csr":        {"make a certificate request (PKCS#10) with a key on a PKCS#11 token", runCSR},
		"address":    {"parse Belarusian postal addresses; S10 ids", runAddress},
		"mailbox":    {"register, activate, resend, show, recover your mailboxes; bind certificates", nil},
		"admin":      {"operator actions: verify-address", nil},
		"send":       {"send a letter", runSend},
		"send-batch": {"send one letter per CSV row from a template, as one bulk submission", runSendBatch},
		"inbox":      {"list received letters", runList("inbox")},
		"sent":       {"list sent letters", runList("sent")},
		"read":       {"read a letter (and save its attachments with --out)", runRead},
		"accept":     {"sign for (accept) a registered letter", runDecide("accept")},
		"refuse":     {"refuse a registered letter, signed", runDecide("refuse")},
		"recall":     {"recall a letter you sent, before the recipient has its content", runRecall},
		"thread":     {"list a letter's thread: the letters it answers and its replies", runThread},
		"evidence":   {"list a letter's evidence", runEvidence},
		"bundle":     {"download a letter's evidence bundle", runBundle},
		"verify":     {"verify an evidence bundle or receipt offline against pinned keys", runVerify},
		"bench":      {"load scenarios with a same-run baseline: accept, smtp, render, lease, verify, seed", runBench},

		"print-agent": {"print centre agent: lease, print, report, manifest", runPrintAgent},

		"audit": {"re-check the whole evidence log from the first leaf against published checkpoints, and every letter, mailbox, binding and print job row against the log", runAudit},
	}
}

// Main runs npes with args (without the program name) and returns the exit
// status.
func Main(ctx context.Context, args []string, e *Env) int {
	if e.Getenv == nil {
		e.Getenv = os.Getenv
	}
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(e.Stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.Stderr, "npes: unknown command %q (run `npes help`)\n", args[0])
		return 2
	}
	var err error
	defer e.closeAll()
	if subs, ok := subcommands[args[0]]; ok {
		err = runSubcommand(ctx, e, args[0], subs, args[1:])
	} else {
		err = c.run(ctx, e, args[1:])
	}
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(e.Stderr, "npes %s: %s\n", args[0], ue.msg)
		return 2
	default:
		fmt.Fprintf(e.Stderr, "npes %s: %s\n", args[0], oneLine(err.Error()))
		return 1
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func printUsage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "npes — secure hybrid electronic postal system")
	fmt.Fprintln(w, "\nUsage: npes COMMAND [flags]   (npes COMMAND --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nEnvironment (server): NPES_DATA, NPES_DATABASE_URL, NPES_HTTP_ADDR, NPES_HOSTNAMES,")
	fmt.Fprintln(w, "NPES_MASTER_KEY_FILE, NPES_SMTP_ADDR, NPES_SMTPS_ADDR, NPES_SMTP_RELAY, NPES_MAIL_DOMAIN,")
	fmt.Fprintln(w, "NPES_CONN_MAX_LIFETIME, NPES_LOG_LEVEL, NPES_DEV_ACTIVATION_CODES, NPES_MAX_PENDING_MAILBOXES, NPES_MAX_ACTIVATION_LETTERS,")
	fmt.Fprintln(w, "NPES_MAX_ACTIVATION_LETTERS_PER_DAY, NPES_WEB_SESSION_IDLE, NPES_WEB_SESSION_MAX, NPES_WEB_ORIGIN. Client commands: NPES_SERVER, NPES_ID.")
}

// newFlags returns a flag set that reports errors instead of exiting. What
// the flag package prints is held until parse knows whether it answers
// --help (standard output, exit 0) or a mistake (standard error, exit 2).
func newFlags(e *Env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	out := &flagOutput{e: e}
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: npes %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// flagOutput collects a flag set's messages for parse to route.
type flagOutput struct {
	bytes.Buffer
	e *Env
}

// flush sends what the flag package printed to standard output for help,
// else to standard error.
func flushFlagOutput(fs *flag.FlagSet, help bool) {
	o, ok := fs.Output().(*flagOutput)
	if !ok {
		return
	}
	w := o.e.Stderr
	if help {
		w = o.e.Stdout
	}
	_, _ = o.WriteTo(w)
}

// parse parses flags and turns flag errors into usage errors (the flag
// package has already printed the details).
//
// Flags may come after positional arguments (`npes read ID --out DIR`): the
// flag package stops at the first positional, so parsing resumes after each
// one, and the positionals are handed back as fs.Args().
func parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			help := errors.Is(err, flag.ErrHelp)
			flushFlagOutput(fs, help)
			if help {
				return err
			}
			return exitError{2}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...) // everything after "--"
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

func runAddress(ctx context.Context, e *Env, args []string) error {
	if code := RunAddress(ctx, args, e.Stdin, e.Stdout, e.Stderr); code != 0 {
		return exitError{code}
	}
	return nil
}
