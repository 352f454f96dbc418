package mailbox

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

func TestLetterKeyWrapping(t *testing.T) {
	master := make([]byte, 32)
	_, _ = rand.Read(master)
	k, err := NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	a, wrapped, err := k.NewLetterKey("letter-1")
	if err != nil {
		t.Fatal(err)
	}
	sealed := sealChunk(a, "letter-1", 0, 0, true, []byte("секрет"))
	b, err := k.LetterKey("letter-1", wrapped)
	if err != nil {
		t.Fatal(err)
	}
	plain, last, err := openChunk(b, "letter-1", 0, 0, sealed)
	if err != nil || !last || string(plain) != "секрет" {
		t.Fatalf("round trip: %q %v %v", plain, last, err)
	}
	// A wrapped key moved to another letter does not unwrap.
	if _, err := k.LetterKey("letter-2", wrapped); !errors.Is(err, ErrCorruptContent) {
		t.Fatalf("key of another letter: %v", err)
	}
	// Another master key does not unwrap.
	other := make([]byte, 32)
	_, _ = rand.Read(other)
	k2, _ := NewKeyring(other)
	if _, err := k2.LetterKey("letter-1", wrapped); !errors.Is(err, ErrCorruptContent) {
		t.Fatalf("wrong master key: %v", err)
	}
	if _, err := NewKeyring(master[:16]); err == nil {
		t.Fatal("a 16-byte master key was accepted")
	}
}

// TestChunksCannotMove: a chunk authenticates its letter, part, index and
// last flag, so reordering, moving between parts or letters, truncating or
// flipping any byte is detected.
func TestChunksCannotMove(t *testing.T) {
	master := make([]byte, 32)
	k, _ := NewKeyring(master)
	a, _, _ := k.NewLetterKey("L")
	c0 := sealChunk(a, "L", 1, 0, false, []byte("first"))
	c1 := sealChunk(a, "L", 1, 1, true, []byte("second"))
	cases := map[string]func() error{
		"swapped index": func() error { _, _, err := openChunk(a, "L", 1, 1, c0); return err },
		"other part":    func() error { _, _, err := openChunk(a, "L", 2, 0, c0); return err },
		"other letter":  func() error { _, _, err := openChunk(a, "M", 1, 0, c0); return err },
		"last flag flipped": func() error {
			x := bytes.Clone(c0)
			x[0] = 1 // claims to be the last chunk: truncation
			_, _, err := openChunk(a, "L", 1, 0, x)
			return err
		},
		"byte flipped": func() error {
			x := bytes.Clone(c1)
			x[len(x)/2] ^= 1
			_, _, err := openChunk(a, "L", 1, 1, x)
			return err
		},
		"too short": func() error { _, _, err := openChunk(a, "L", 1, 0, c0[:5]); return err },
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, ErrCorruptContent) {
			t.Errorf("%s: %v, want ErrCorruptContent", name, err)
		}
	}
}

func TestUTF8Stream(t *testing.T) {
	s := []byte("Привет, мир: і ў ё 😀")
	// Every split point of a valid text keeps it valid.
	for i := 0; i <= len(s); i++ {
		carry, ok := validUTF8Stream(nil, s[:i])
		if !ok {
			t.Fatalf("valid prefix %d refused", i)
		}
		carry, ok = validUTF8Stream(carry, s[i:])
		if !ok || len(carry) != 0 {
			t.Fatalf("split at %d: ok=%v carry=%v", i, ok, carry)
		}
	}
	if _, ok := validUTF8Stream(nil, []byte{'a', 0xff, 'b'}); ok {
		t.Fatal("invalid byte accepted")
	}
}

func TestDetectType(t *testing.T) {
	for _, c := range []struct {
		declared, name string
		data           string
		utf8           bool
		want           string
	}{
		{"application/pdf", "a.pdf", "%PDF-1.7", true, "application/pdf"},
		{"application/octet-stream", "x", "%PDF-1.4", true, "application/pdf"}, // content wins
		{"application/pdf", "a.pdf", "MZ\x90\x00", false, "application/octet-stream"},
		{"image/png", "a.png", "\x89PNG\r\n\x1a\nrest", false, "image/png"},
		{"image/jpeg", "a.jpg", "\xff\xd8\xff\xe0", false, "image/jpeg"},
		{"text/plain; charset=utf-8", "a.txt", "Привет", true, "text/plain"},
		{"", "notes.txt", "hello", true, "text/plain"},
		{"text/plain", "a.txt", "bin\x00ary", true, "application/octet-stream"},
		{"application/zip", "a.zip", "PK\x03\x04", true, "application/octet-stream"},
	} {
		if got := detectType(c.declared, c.name, []byte(c.data), c.utf8); got != c.want {
			t.Errorf("detectType(%q, %q, %q) = %s, want %s", c.declared, c.name, c.data, got, c.want)
		}
	}
}

func TestCheckText(t *testing.T) {
	good := []string{"Иванов Иван", "ОАО «Белтелеком»", "Ў і ё — №"}
	bad := []string{"a\nb", "a\rb", "x\u202ey", "x\u2066y", "x\u200fy", "x\x00y", "x\u2028y", string([]byte{0xff})}
	for _, s := range good {
		if err := checkText("name", s, 200, true); err != nil {
			t.Errorf("%q refused: %v", s, err)
		}
	}
	for _, s := range bad {
		if err := checkText("name", s, 200, true); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q accepted", s)
		}
	}
	if err := checkText("name", "  ", 200, true); err == nil {
		t.Error("blank required text accepted")
	}
	if err := checkText("name", "абвгд", 4, false); err == nil {
		t.Error("5 runes accepted with a limit of 4")
	}
}

func TestCheckFileName(t *testing.T) {
	for _, n := range []string{"счёт.pdf", "scan 01.png", "a_b-c.txt"} {
		if _, err := AttachmentName(n); err != nil {
			t.Errorf("%q refused: %v", n, err)
		}
	}
	for _, n := range []string{"", ".", "..", "../x", `a\b`, "a/b", ".hidden", "C:x", "a\u202eb.exe", "x\ny"} {
		if _, err := AttachmentName(n); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestActivationCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := newActivationCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 11 || c[5] != '-' || seen[c] {
			t.Fatalf("code %q (seen before: %v)", c, seen[c])
		}
		seen[c] = true
		// People type codes in lower case, without the dash, with O for 0.
		typed := ""
		for _, r := range c {
			switch r {
			case '-':
			case '0':
				typed += "o"
			default:
				typed += string(r | 0x20)
			}
		}
		if !bytes.Equal(activationHash("m", c), activationHash("m", typed)) {
			t.Fatalf("%q typed as %q does not match", c, typed)
		}
		if bytes.Equal(activationHash("m", c), activationHash("other", c)) {
			t.Fatal("a code is not bound to its mailbox")
		}
	}
}

func TestCursor(t *testing.T) {
	c := encodeCursor(t0(), "00000000-0000-4000-8000-000000000001")
	tm, id, err := decodeCursor(c)
	if err != nil || !tm.Equal(t0()) || id != "00000000-0000-4000-8000-000000000001" {
		t.Fatalf("round trip: %v %s %v", tm, id, err)
	}
	for _, bad := range []string{"", "!!", "bm9wZQ", encodeCursor(t0(), "not-a-uuid")} {
		if _, _, err := decodeCursor(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
}

func t0() time.Time { return time.Date(2026, 11, 1, 9, 0, 0, 123000, time.UTC) }
