package cli

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/npes/npes/internal/bench"
)

// helpPaths is every command and subcommand of npes, walked from the
// command table, plus the verbs of address and bench, which parse their own.
func helpPaths() [][]string {
	var paths [][]string
	names := make([]string, 0, len(commands()))
	for n := range commands() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		paths = append(paths, []string{n})
		for _, s := range subcommands[n] {
			paths = append(paths, []string{n, s.name})
		}
	}
	paths = append(paths, []string{"address", "parse"}, []string{"address", "s10"},
		[]string{"address", "s10", "check"}, []string{"address", "s10", "new"})
	for _, s := range bench.Scenarios() {
		paths = append(paths, []string{"bench", s.Name})
	}
	return paths
}

// TestHelpEverywhere: every command and subcommand answers --help and -h on
// standard output with exit status 0, and lists only its own flags.
func TestHelpEverywhere(t *testing.T) {
	for _, path := range helpPaths() {
		for _, h := range []string{"--help", "-h"} {
			args := append(append([]string{}, path...), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var out, errb bytes.Buffer
				code := Main(context.Background(), args, &Env{
					Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
					Getenv: func(string) string { return "" },
				})
				if code != 0 || errb.Len() != 0 {
					t.Fatalf("exit %d, stderr %q", code, errb.String())
				}
				if !strings.HasPrefix(strings.ToLower(out.String()), "usage: npes "+path[0]) {
					t.Fatalf("stdout does not start with the usage of npes %s:\n%s", path[0], out.String())
				}
				// Flags of the server show only where they act.
				for flag, owners := range map[string][]string{
					"-hostname":              {"serve", "init"},
					"-max-pending-mailboxes": {"serve"},
					"-master-key-file":       {"serve", "init", "audit"},
					"-dev-activation-codes":  {"serve"},
				} {
					mine := false
					for _, o := range owners {
						mine = mine || path[0] == o
					}
					if !mine && strings.Contains(out.String(), flag) {
						t.Errorf("npes %s lists %s:\n%s", strings.Join(path, " "), flag, out.String())
					}
				}
			})
		}
	}
}

// TestUsageErrorsOnStderr: a mistake still goes to standard error with
// exit status 2, help or not.
func TestUsageErrorsOnStderr(t *testing.T) {
	for _, args := range [][]string{
		{"mailbox"},
		{"mailbox", "frobnicate"},
		{"ca", "issue", "--colour", "red"},
		{"send", "--print-if-unsigned", "10 days", "--to-name", "X", "--to-address", "Y"},
		{"bench"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), args, &Env{
				Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
				Getenv: func(string) string { return "" },
			})
			if code != 2 || errb.Len() == 0 || out.Len() != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
			}
		})
	}
}
