package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSendBatch: send-batch reads a spreadsheet's CSV export (BOM, ';'),
// fills the template per row, refuses a template naming a missing column
// before sending anything, reports sent and failed lines by CSV line, and
// running it again answers the same batch without sending again.
func TestSendBatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv := startServer(t, data)
	server := "https://" + srv.HTTPAddr.String()
	as := func(id string) map[string]string {
		return map[string]string{"NPES_DATA": data, "NPES_SERVER": server, "NPES_ID": filepath.Join(dir, id)}
	}
	operator := map[string]string{"NPES_ID": filepath.Join(data, "credentials", "operator"), "NPES_SERVER": server}
	must := func(env map[string]string, args ...string) string {
		t.Helper()
		code, out, errs := npes(t, env, args...)
		if code != 0 {
			t.Fatalf("npes %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
		return out
	}
	must(as("org"), "ca", "issue", "--role", "org", "--name", "ОАО «Белтелеком»", "--unp", "100289066", "--out", filepath.Join(dir, "org"))
	must(as("ivan"), "ca", "issue", "--role", "person", "--name", "Иванов Иван Иванович", "--personal-id", "3140582A001PB3", "--out", filepath.Join(dir, "ivan"))
	for id, addr := range map[string]string{"org": "220030, г. Минск, ул. Энгельса, 6", "ivan": "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5"} {
		var m struct{ ID string }
		if err := json.Unmarshal([]byte(must(as(id), "mailbox", "register", "--json", "--address", addr)), &m); err != nil {
			t.Fatal(err)
		}
		must(operator, "admin", "verify-address", m.ID)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	csvPath := write("list.csv", "\ufeffname;address;registered;amount\r\n"+
		"Иванову Ивану Ивановичу;220013, г. Минск, ул. Дорошевича, д. 8, кв. 5;yes;\"12,50\"\r\n"+
		"Петрову Петру;nowhere;no;3\r\n")
	tmpl := write("letter.txt", "Subject: Счёт на {{amount}} руб.\n\nУважаемый {{ name }}! К оплате {{amount}} руб.\n")
	bad := write("bad.txt", "Subject: Счёт\n\nДолг {{debt}} руб.\n")

	sentCount := func() int {
		var l struct{ Letters []json.RawMessage }
		if err := json.Unmarshal([]byte(must(as("org"), "sent", "--json")), &l); err != nil {
			t.Fatal(err)
		}
		return len(l.Letters)
	}
	code, out, errs := npes(t, as("org"), "send-batch", csvPath, "--template", bad)
	if code != 2 || !strings.Contains(errs, "{{debt}}") || sentCount() != 0 {
		t.Fatalf("template with a missing column: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = npes(t, as("org"), "send-batch", csvPath, "--template", tmpl)
	if code != 1 || !strings.Contains(out, "1 sent (1 electronic, 0 print), 1 failed, of 2") || !strings.Contains(out, "CSV line 3: bad_address") {
		t.Fatalf("send-batch: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = npes(t, as("org"), "send-batch", csvPath, "--template", tmpl, "--json")
	var st struct {
		State   string
		Done    int
		Results []struct{ ID string }
	}
	if err := json.Unmarshal([]byte(out), &st); code != 1 || err != nil || st.State != "done" || st.Done != 1 || sentCount() != 1 {
		t.Fatalf("send-batch again --json: exit %d %v\n%s%s", code, err, out, errs)
	}
	var letter struct{ Body string }
	if err := json.Unmarshal([]byte(must(as("org"), "read", "--json", st.Results[0].ID)), &letter); err != nil ||
		letter.Body != "Уважаемый Иванову Ивану Ивановичу! К оплате 12,50 руб.\n" {
		t.Fatalf("body %q (%v)", letter.Body, err)
	}

	// --attach: every letter carries the file.
	one := write("one.csv", "name,address\nИванову Ивану Ивановичу,\"220013, г. Минск, ул. Дорошевича, д. 8, кв. 5\"\n")
	terms := write("условия.txt", "Условия.\n")
	plain := write("plain.txt", "Subject: Условия\n\nУважаемый {{name}}! Условия во вложении.\n")
	out = must(as("org"), "send-batch", one, "--template", plain, "--attach", terms, "--json")
	st = struct {
		State   string
		Done    int
		Results []struct{ ID string }
	}{}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Done != 1 {
		t.Fatalf("send-batch --attach: %v %s", err, out)
	}
	var content struct{ Attachments []struct{ Name string } }
	if err := json.Unmarshal([]byte(must(as("org"), "read", "--json", st.Results[0].ID)), &content); err != nil ||
		len(content.Attachments) != 1 || content.Attachments[0].Name != "условия.txt" {
		t.Fatalf("attachments %+v (%v)", content.Attachments, err)
	}
}
