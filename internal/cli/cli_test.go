package cli_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/internal/cli"
)

// npes runs the command in-process and returns its exit status and outputs.
func npes(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), args, &cli.Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
	})
	return code, out.String(), errb.String()
}

func TestInitAndCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	code, out, errs := npes(t, nil, "init", "--data", data, "--hostname", "npes.example.by")
	if code != 0 || !strings.Contains(out, "operator credential") {
		t.Fatalf("init: %d %s %s", code, out, errs)
	}
	key := filepath.Join(data, "ca", "ca-key.pem")
	before, _ := os.ReadFile(key)
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode: %v %v", fi.Mode(), err)
	}
	// Re-running init never overwrites keys.
	code, out, _ = npes(t, nil, "init", "--data", data)
	after, _ := os.ReadFile(key)
	if code != 0 || !strings.Contains(out, "already initialized") || !bytes.Equal(before, after) {
		t.Fatalf("second init: %d %s (key changed: %v)", code, out, !bytes.Equal(before, after))
	}
	// NPES_DATA works like --data.
	env := map[string]string{"NPES_DATA": data}
	code, out, errs = npes(t, env, "ca", "issue", "--role", "person", "--name", "Иванов Иван", "--personal-id", "3140582A001PB3", "--out", filepath.Join(dir, "ivan"))
	if code != 0 || !strings.Contains(out, "serial") {
		t.Fatalf("ca issue: %d %s %s", code, out, errs)
	}
	for _, f := range []string{"cert.pem", "key.pem", "ca.pem"} {
		if _, err := os.Stat(filepath.Join(dir, "ivan", f)); err != nil {
			t.Fatalf("credential file %s: %v", f, err)
		}
	}
	code, out, _ = npes(t, env, "ca", "list")
	if code != 0 || !strings.Contains(out, "Иванов Иван") || !strings.Contains(out, "operator") {
		t.Fatalf("ca list: %d %s", code, out)
	}
	serial := strings.Fields(strings.Split(out, "\n")[2])[0]
	if code, out, errs := npes(t, env, "ca", "revoke", "--serial", "serial="+serial, "--reason", "keyCompromise"); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("ca revoke: %d %s %s", code, out, errs)
	}
	if _, out, _ := npes(t, env, "ca", "list"); !strings.Contains(out, "revoked") {
		t.Fatalf("list after revoke: %s", out)
	}

	// Bad requests: one line on stderr, non-zero exit, no stack trace.
	for name, args := range map[string][]string{
		"person without personal number": {"ca", "issue", "--role", "person", "--name", "X", "--out", filepath.Join(dir, "x1")},
		"short UNP":                      {"ca", "issue", "--role", "org", "--name", "X", "--unp", "12345", "--out", filepath.Join(dir, "x2")},
		"print centre without regions":   {"ca", "issue", "--role", "printcenter", "--name", "X", "--out", filepath.Join(dir, "x3")},
		"unknown role":                   {"ca", "issue", "--role", "king", "--name", "X", "--out", filepath.Join(dir, "x4")},
		"no --out":                       {"ca", "issue", "--role", "person", "--name", "X"},
		"unknown flag":                   {"ca", "issue", "--colour", "red"},
		"revoke unknown serial":          {"ca", "revoke", "--serial", "0BADC0DE"},
		"revoke bad reason":              {"ca", "revoke", "--serial", serial, "--reason", "boredom"},
		"unknown command":                {"frobnicate"},
	} {
		code, _, errs := npes(t, env, args...)
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if code == 0 || errs == "" || strings.Contains(errs, "goroutine") || strings.Contains(errs, "panic") {
			t.Errorf("%s: exit %d, stderr %q", name, code, errs)
		}
		if !strings.HasPrefix(name, "unknown flag") && len(lines) != 1 {
			t.Errorf("%s: %d lines on stderr: %q", name, len(lines), errs)
		}
	}

	// A missing or corrupt data-directory file is named.
	if err := os.WriteFile(filepath.Join(data, "ca", "ca.pem"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs = npes(t, env, "ca", "issue", "--role", "org", "--name", "X", "--unp", "100289066", "--out", filepath.Join(dir, "x5"))
	if code == 0 || !strings.Contains(errs, "ca.pem") {
		t.Fatalf("corrupt ca.pem: %d %q", code, errs)
	}
	_ = os.Remove(filepath.Join(data, "server", "cert.pem"))
	code, _, errs = npes(t, env, "ca", "issue", "--role", "org", "--name", "X", "--unp", "100289066", "--out", filepath.Join(dir, "x6"))
	if code == 0 || !strings.Contains(errs, filepath.Join("server", "cert.pem")) {
		t.Fatalf("missing server cert: %d %q", code, errs)
	}
}

// TestRealClients: curl and openssl s_client work with what `npes ca issue`
// writes, against a running server.
func TestRealClients(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (CI installs it)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv := startServer(t, data)
	cred := filepath.Join(dir, "org")
	if code, out, errs := npes(t, map[string]string{"NPES_DATA": data}, "ca", "issue", "--role", "org", "--name", "ОАО «Белтелеком»", "--unp", "100289066", "--out", cred); code != 0 {
		t.Fatalf("ca issue: %s %s", out, errs)
	}
	addr := srv.HTTPAddr.String()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", "-sS", "--cert", filepath.Join(cred, "cert.pem"), "--key", filepath.Join(cred, "key.pem"),
		"--cacert", filepath.Join(cred, "ca.pem"), "https://"+addr+"/v1/whoami").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"role":"org"`) || !strings.Contains(string(out), "100289066") {
		t.Fatalf("curl whoami: %v %s", err, out)
	}
	cmd := exec.CommandContext(ctx, "openssl", "s_client", "-connect", addr, "-cert", filepath.Join(cred, "cert.pem"),
		"-key", filepath.Join(cred, "key.pem"), "-CAfile", filepath.Join(cred, "ca.pem"), "-verify_return_error", "-servername", "localhost", "-ign_eof")
	cmd.Stdin = strings.NewReader("GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verify return code: 0 (ok)") || !strings.Contains(string(out), `"role":"org"`) {
		t.Fatalf("openssl s_client: %v\n%s", err, out)
	}
}
