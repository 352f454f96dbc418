package tlog_test

import (
	"bytes"
	"testing"

	"github.com/npes/npes/signing/tlog"
)

// FuzzParseCheckpoint: whatever parses prints back to the same text.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add("example.com/log\n7\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n")
	f.Add("example.com/log\n0\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\next\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := tlog.ParseCheckpoint(text)
		if err != nil {
			return
		}
		again, err := c.Text()
		if err != nil || again != text {
			t.Fatalf("Text() = %q, %v; parsed from %q", again, err, text)
		}
	})
}

// FuzzOpenCheckpoint: no note or key makes OpenCheckpoint panic, and only
// a note signed by the key opens.
func FuzzOpenCheckpoint(f *testing.F) {
	k := newLogKeys(f)
	ed, ml := k.signers(f, origin)
	edV, mlV := k.vkeys(f, origin)
	msg, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: origin, Size: 3, Hash: bytes.Repeat([]byte{1}, 32)}, ed, ml)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(msg, edV, mlV)
	f.Add([]byte("x\n\n— x AAAA\n"), "x+00000000+AQ==", "")
	f.Fuzz(func(t *testing.T, note []byte, key, cokey string) {
		var more []string
		if cokey != "" {
			more = append(more, cokey)
		}
		c, err := tlog.OpenCheckpoint(note, key, more...)
		if err != nil {
			return
		}
		if c.Origin == "" || len(c.Hash) != tlog.HashSize {
			t.Fatalf("opened %+v", c)
		}
	})
}
