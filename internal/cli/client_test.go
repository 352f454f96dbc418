package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/npes/npes/internal/app"
)

// TestClientCommands runs the client commands a new user starts with
// against a server: mailbox show as a table (JSON with --json, its
// normalized address with the keys of `address parse --json`), read without
// --out as a mail reader shows a letter, and evidence with a refusal's
// reason.
func TestClientCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv := startServer(t, data)
	env := map[string]string{"NPES_DATA": data, "NPES_SERVER": "https://" + srv.HTTPAddr.String()}
	as := func(id string) map[string]string {
		m := map[string]string{"NPES_ID": filepath.Join(dir, id)}
		for k, v := range env {
			m[k] = v
		}
		return m
	}
	must := func(env map[string]string, args ...string) string {
		t.Helper()
		code, out, errs := npes(t, env, args...)
		if code != 0 {
			t.Fatalf("npes %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
		return out
	}
	must(env, "ca", "issue", "--role", "org", "--name", "ОАО «Белтелеком»", "--unp", "100289066", "--out", filepath.Join(dir, "org"))
	must(env, "ca", "issue", "--role", "person", "--name", "Иванов Иван Иванович", "--personal-id", "3140582A001PB3", "--out", filepath.Join(dir, "ivan"))
	operator := map[string]string{"NPES_ID": filepath.Join(data, "credentials", "operator"), "NPES_SERVER": env["NPES_SERVER"]}
	for id, addr := range map[string]string{"org": "220030, г. Минск, ул. Энгельса, 6", "ivan": "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5"} {
		must(as(id), "mailbox", "register", "--address", addr)
		var me struct {
			Mailboxes []struct {
				ID         string         `json:"id"`
				Normalized map[string]any `json:"normalized"`
			} `json:"mailboxes"`
		}
		if err := json.Unmarshal([]byte(must(as(id), "mailbox", "show", "--json")), &me); err != nil || len(me.Mailboxes) != 1 {
			t.Fatalf("mailbox show --json: %v %+v", err, me)
		}
		// The normalized address has exactly the keys of `address parse --json`.
		_, parsed, _ := npes(t, nil, "address", "parse", "--json", addr)
		var want map[string]any
		if err := json.Unmarshal([]byte(parsed), &want); err != nil {
			t.Fatal(err)
		}
		if got, wantKeys := keys(me.Mailboxes[0].Normalized), keys(want); !slices.Equal(got, wantKeys) {
			t.Fatalf("normalized keys %v, want those of address parse --json %v", got, wantKeys)
		}
		if me.Mailboxes[0].Normalized["postcode"] != want["postcode"] || me.Mailboxes[0].Normalized["match_key"] != want["match_key"] {
			t.Fatalf("normalized %v, address parse %v", me.Mailboxes[0].Normalized, want)
		}
		must(operator, "admin", "verify-address", me.Mailboxes[0].ID)
		table := must(as(id), "mailbox", "show")
		if !strings.HasPrefix(table, "ID ") || !strings.Contains(table, me.Mailboxes[0].ID) || !strings.Contains(table, "active") ||
			strings.Contains(table, "{") {
			t.Fatalf("mailbox show is not a table:\n%s", table)
		}
	}

	// A simple letter with an attachment, read without --out.
	att := filepath.Join(dir, "invoice.txt")
	if err := os.WriteFile(att, []byte("Счёт № 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	must(as("org"), "send", "--to-name", "Иванову Ивану Ивановичу", "--to-address", "г.Минск, ул.Дорошевича 8-5, 220013",
		"--subject", "Уведомление", "--body", "Текст письма", "--attach", att)
	var inbox struct {
		Letters []struct {
			ID string `json:"id"`
		} `json:"letters"`
	}
	if err := json.Unmarshal([]byte(must(as("ivan"), "inbox", "--json")), &inbox); err != nil || len(inbox.Letters) != 1 {
		t.Fatalf("inbox: %v %+v", err, inbox)
	}
	shown := must(as("ivan"), "read", inbox.Letters[0].ID)
	head, body, ok := strings.Cut(shown, "\n\n")
	if !ok || body != "Текст письма\n" {
		t.Fatalf("read: want headers, an empty line, the body:\n%s", shown)
	}
	for _, want := range []string{"From:", "ОАО «Белтелеком»", "Subject:", "Уведомление", "Date:", "Attachment:", "invoice.txt"} {
		if !strings.Contains(head, want) {
			t.Errorf("read shows no %q:\n%s", want, shown)
		}
	}

	// A registered letter refused with a reason: the sender sees it.
	out := must(as("org"), "send", "--json", "--to-name", "Иванову Ивану Ивановичу", "--to-address", "220013, г. Минск, ул. Дорошевича, 8, кв. 5",
		"--registered", "--acceptance-period", "3d", "--body", "Заказное")
	var sent struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &sent); err != nil || sent.ID == "" {
		t.Fatalf("send --json: %v %s", err, out)
	}
	must(as("ivan"), "refuse", sent.ID, "--reason", "не мне адресовано")
	ev := must(as("org"), "evidence", sent.ID)
	if !strings.Contains(ev, "ConsignmentRejection") || !strings.Contains(ev, "не мне адресовано") {
		t.Fatalf("evidence shows no refusal reason:\n%s", ev)
	}

	// A reply in the thread of the refused letter, then recalled before
	// it is read.
	out = must(as("ivan"), "send", "--json", "--to-name", "ОАО «Белтелеком»", "--to-address", "220030, г. Минск, ул. Энгельса, 6",
		"--in-reply-to", sent.ID, "--body", "Прошу пояснить")
	var reply struct {
		ID        string `json:"id"`
		InReplyTo string `json:"in_reply_to"`
	}
	if err := json.Unmarshal([]byte(out), &reply); err != nil || reply.InReplyTo != sent.ID {
		t.Fatalf("send --in-reply-to: %v %s", err, out)
	}
	if th := must(as("org"), "thread", reply.ID); !strings.Contains(th, sent.ID) || !strings.Contains(th, reply.ID) {
		t.Fatalf("thread:\n%s", th)
	}
	if got := must(as("ivan"), "recall", reply.ID); got != "letter "+reply.ID+": recalled\n" {
		t.Fatalf("recall: %q", got)
	}
	if code, _, errs := npes(t, as("ivan"), "recall", reply.ID); code == 0 || !strings.Contains(errs, "already_recalled") {
		t.Fatalf("recall again: exit %d %s", code, errs)
	}
}

// startServer runs a server on the data directory data (SQLite, an
// ephemeral API port, no SMTP) until the test ends.
func startServer(t *testing.T, data string) *app.Server {
	t.Helper()
	srv, err := app.Start(t.Context(), app.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", SMTPAddr: "off", SMTPSAddr: "off"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
