package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/npes/npes/mailbox"
)

func TestTermSafe(t *testing.T) {
	for _, tc := range []struct {
		in        string
		multiline bool
		want      string
	}{
		{"Добрый день!\n\tС уважением", true, "Добрый день!\n\tС уважением"},
		{"a\nb\tc", false, `a\x0ab\x09c`},
		{"\x1b]0;pwned\x07title", true, `\x1b]0;pwned\x07title`},
		{"\x1b[2J\x1b[Hfake prompt", true, `\x1b[2J\x1b[Hfake prompt`},
		{"total: 100\rtotal: 999", true, `total: 100\x0dtotal: 999`},
		{"\u009b31mred", true, `\x9b31mred`},
		{"invoice\u202efdp.exe", false, `invoice\u202efdp.exe`},
		{"a\u200bb\u2028c\x00", false, `a\u200bb\u2028c\x00`},
		{"bad \xff byte", false, "bad \ufffd byte"},
	} {
		if got := termSafe(tc.in, tc.multiline); got != tc.want {
			t.Errorf("termSafe(%q, %v) = %q, want %q", tc.in, tc.multiline, got, tc.want)
		}
	}
}

func TestJSONTermSafe(t *testing.T) {
	in := map[string]string{"subject": "a\u009b2Jb\u202ec\u2066d", "body": "строка\nещё"}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := jsonTermSafe(raw)
	for _, r := range string(out) {
		if r == '\u009b' || r == '\u202e' || r == '\u2066' {
			t.Fatalf("U+%04X left raw in %s", r, out)
		}
	}
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil || back["subject"] != in["subject"] || back["body"] != in["body"] {
		t.Fatalf("the JSON changed meaning: %s %v", out, err)
	}
}

// TestCheckOutNames: read --out refuses exactly what the server would not
// store unchanged, and names one file system would merge.
func TestCheckOutNames(t *testing.T) {
	meta := func(names ...string) []mailbox.AttachmentMeta {
		out := make([]mailbox.AttachmentMeta, len(names))
		for i, n := range names {
			out[i] = mailbox.AttachmentMeta{Name: n}
		}
		return out
	}
	if err := checkOutNames(meta("счёт.pdf", "акт.pdf", "scan 01.png")); err != nil {
		t.Fatal(err)
	}
	for _, names := range [][]string{
		{"../evil"}, {"a/b"}, {".bashrc"}, {"body.txt"}, {"BODY.txt"}, {"x\u2215y"}, {"x\u2024pdf"}, {"a\u200bb"},
		{"e\u0301.txt"}, // not NFC: the server never sends it
		{"nul.txt"}, {"a.pdf."},
		{"счёт.pdf", "СЧЁТ.pdf"},
	} {
		if err := checkOutNames(meta(names...)); err == nil {
			t.Errorf("%q accepted", names)
		}
	}
}

// TestWritePrivate: the file is 0600, also when it existed with 0644.
func TestWritePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := writePrivate(path, []byte(`{"v":1}`)); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v", fi.Mode().Perm())
		}
		if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), `{"v":1}`) || len(b) != 7 {
			t.Fatalf("content %q", b)
		}
		_ = os.Remove(path)
	}
}
