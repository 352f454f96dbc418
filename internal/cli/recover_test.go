package cli_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/npes/npes/internal/app"
)

// TestRecoverWithCLI is the issue's story: a person's certificate is
// revoked and a new one issued for the same personal number. The new
// certificate sees no mailbox and cannot register one at the address
// again; `mailbox recover` starts a recovery, `mailbox show` lists it,
// `mailbox activate --code` with the code from the letter finds and
// completes it, and afterwards the new certificate holds the mailbox and
// `npes audit` finds every row as the log says.
func TestRecoverWithCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	var mu sync.Mutex
	codes := map[string]string{}
	srv, err := app.Start(t.Context(), app.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", SMTPAddr: "off", SMTPSAddr: "off",
		ActivationCodeSink: func(id, code string) { mu.Lock(); codes[id] = code; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	code := func(id string) string { mu.Lock(); defer mu.Unlock(); return codes[id] }
	env := map[string]string{"NPES_DATA": data, "NPES_SERVER": "https://" + srv.HTTPAddr.String()}
	as := func(id string) map[string]string {
		return merged(env, map[string]string{"NPES_ID": filepath.Join(dir, id)})
	}
	must := func(env map[string]string, args ...string) string { t.Helper(); return npesOK(t, env, args...) }
	const address = "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5"
	issue := func(name string) string {
		must(env, "ca", "issue", "--role", "person", "--name", "Иванов Иван Иванович", "--personal-id", "3140582A001PB3", "--out", filepath.Join(dir, name))
		raw, _ := os.ReadFile(filepath.Join(dir, name, "cert.pem"))
		b, _ := pem.Decode(raw)
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c.SerialNumber.Text(16)
	}
	var me struct {
		Mailboxes  []struct{ ID, Status string } `json:"mailboxes"`
		Recoveries []struct {
			ID, Mailbox, Status string
		} `json:"recoveries"`
	}
	show := func(who string) {
		t.Helper()
		if err := json.Unmarshal([]byte(must(as(who), "mailbox", "show", "--json")), &me); err != nil {
			t.Fatal(err)
		}
	}

	oldSerial := issue("old")
	must(as("old"), "mailbox", "register", "--address", address)
	show("old")
	box := me.Mailboxes[0].ID
	must(as("old"), "mailbox", "activate", "--code", code(box))

	must(env, "ca", "revoke", "--serial", oldSerial, "--reason", "keyCompromise")
	if err := srv.RefreshRevocations(t.Context()); err != nil {
		t.Fatal(err)
	}
	issue("new")
	if out := must(as("new"), "mailbox", "show"); !strings.Contains(out, "mailbox recover") {
		t.Fatalf("mailbox show with no mailbox does not point to recovery:\n%s", out)
	}
	if c, _, errs := npes(t, as("new"), "mailbox", "register", "--address", address); c == 0 || !strings.Contains(errs, "mailbox_exists") {
		t.Fatalf("register again: exit %d %s", c, errs)
	}
	if out := must(as("new"), "mailbox", "recover", "--address", address); !strings.Contains(out, "pending") {
		t.Fatalf("recover: %s", out)
	}
	show("new")
	if len(me.Mailboxes) != 0 || len(me.Recoveries) != 1 || me.Recoveries[0].Mailbox != box {
		t.Fatalf("mailbox show after recover: %+v", me)
	}
	if table := must(as("new"), "mailbox", "show"); !strings.Contains(table, "RECOVERY") || !strings.Contains(table, me.Recoveries[0].ID) {
		t.Fatalf("mailbox show lists no recovery:\n%s", table)
	}
	must(as("new"), "mailbox", "activate", "--code", code(box))
	show("new")
	if len(me.Mailboxes) != 1 || me.Mailboxes[0].ID != box || me.Mailboxes[0].Status != "active" || len(me.Recoveries) != 0 {
		t.Fatalf("after recovery: %+v", me)
	}
	// A further certificate of the holder, bound with a label by the
	// recovered one.
	issue("spare")
	var bound struct{ Serial, Label string }
	if err := json.Unmarshal([]byte(must(as("new"), "mailbox", "bind", "--json", "--cert", filepath.Join(dir, "spare", "cert.pem"), "--label", "запасной")), &bound); err != nil || bound.Label != "запасной" {
		t.Fatalf("mailbox bind: %v %+v", err, bound)
	}
	show("spare")
	if len(me.Mailboxes) != 1 || me.Mailboxes[0].ID != box {
		t.Fatalf("the bound certificate sees %+v", me)
	}
	if out := must(map[string]string{"NPES_DATA": data}, "audit"); !strings.HasPrefix(out, "OK: ") || !strings.Contains(out, " 1 mailboxes") {
		t.Fatalf("audit:\n%s", out)
	}
}

// npesOK runs npes and fails the test unless it exits 0.
func npesOK(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	code, out, errs := npes(t, env, args...)
	if code != 0 {
		t.Fatalf("npes %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// merged is the union of environments, later ones winning.
func merged(envs ...map[string]string) map[string]string {
	m := map[string]string{}
	for _, e := range envs {
		for k, v := range e {
			m[k] = v
		}
	}
	return m
}
