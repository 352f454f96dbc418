package tlog_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"golang.org/x/mod/sumdb/note"

	"github.com/npes/npes/signing/tlog"
)

const origin = "npes.example.by/evidence"

type logKeys struct {
	edPub  ed25519.PublicKey
	edPriv ed25519.PrivateKey
	mlPub  *mldsa65.PublicKey
	mlPriv *mldsa65.PrivateKey
}

func newLogKeys(t testing.TB) logKeys {
	t.Helper()
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mlPub, mlPriv, err := mldsa65.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return logKeys{edPub, edPriv, mlPub, mlPriv}
}

func (k logKeys) signers(t testing.TB, name string) (note.Signer, note.Signer) {
	t.Helper()
	ed, err := tlog.NewEd25519NoteSigner(name, k.edPub, func(m []byte) ([]byte, error) {
		return ed25519.Sign(k.edPriv, m), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ml, err := tlog.NewMLDSA65NoteSigner(name, k.mlPub, func(m []byte) ([]byte, error) {
		sig := make([]byte, mldsa65.SignatureSize)
		err := mldsa65.SignTo(k.mlPriv, m, nil, true, sig)
		return sig, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ed, ml
}

func (k logKeys) vkeys(t testing.TB, name string) (string, string) {
	t.Helper()
	ed, err := tlog.Ed25519VerifierKey(name, k.edPub)
	if err != nil {
		t.Fatal(err)
	}
	ml, err := tlog.MLDSA65VerifierKey(name, k.mlPub)
	if err != nil {
		t.Fatal(err)
	}
	return ed, ml
}

func TestCheckpointSignOpen(t *testing.T) {
	t.Parallel()
	k := newLogKeys(t)
	edSigner, mlSigner := k.signers(t, origin)
	edV, mlV := k.vkeys(t, origin)
	root := bytes.Repeat([]byte{0xab}, 32)
	cp := tlog.Checkpoint{Origin: origin, Size: 1234, Hash: root}

	msg, err := tlog.SignCheckpoint(cp, edSigner, mlSigner)
	if err != nil {
		t.Fatal(err)
	}
	wantText := origin + "\n1234\n" + base64.StdEncoding.EncodeToString(root) + "\n"
	if !strings.HasPrefix(string(msg), wantText+"\n— "+origin+" ") {
		t.Fatalf("note:\n%s", msg)
	}
	if n := strings.Count(string(msg), "\n— "+origin+" "); n != 2 {
		t.Errorf("%d signature lines, want 2", n)
	}

	for name, keys := range map[string][]string{"Ed25519": {edV}, "Ed25519+ML-DSA": {edV, mlV}, "ML-DSA only": {mlV}} {
		got, err := tlog.OpenCheckpoint(msg, keys[0], keys[1:]...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Origin != origin || got.Size != 1234 || !bytes.Equal(got.Hash, root) {
			t.Errorf("%s: %+v", name, got)
		}
	}

	// Interoperability: the stock note package verifies the Ed25519 line
	// and ignores the ML-DSA one as an unknown key.
	v, err := note.NewVerifier(edV)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 1 || n.Text != wantText {
		t.Errorf("note.Open: %d verified, %d unverified", len(n.Sigs), len(n.UnverifiedSigs))
	}

	// Without the cosignature, a caller that requires it refuses.
	edOnly, err := tlog.SignCheckpoint(cp, edSigner)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlog.OpenCheckpoint(edOnly, edV, mlV); !errors.Is(err, tlog.ErrCheckpointSignature) {
		t.Errorf("missing cosignature: %v", err)
	}
	if _, err := tlog.OpenCheckpoint(edOnly, edV); err != nil {
		t.Errorf("Ed25519 only: %v", err)
	}

	// Tampering.
	other := newLogKeys(t)
	otherEd, otherML := other.vkeys(t, origin)
	tampered := bytes.Replace(msg, []byte("\n1234\n"), []byte("\n1233\n"), 1)
	for name, tc := range map[string]struct {
		msg  []byte
		keys []string
		want error
	}{
		"size changed":        {tampered, []string{edV}, tlog.ErrCheckpointSignature},
		"size changed ML-DSA": {tampered, []string{mlV}, tlog.ErrCheckpointSignature},
		"other log key":       {msg, []string{otherEd}, tlog.ErrCheckpointSignature},
		"other cosigner":      {msg, []string{edV, otherML}, tlog.ErrCheckpointSignature},
		"truncated":           {msg[:len(msg)-10], []string{edV}, tlog.ErrMalformedCheckpoint},
		"control character":   {bytes.Replace(msg, []byte("1234"), []byte("12\r4"), 1), []string{edV}, tlog.ErrMalformedCheckpoint},
		"huge":                {append(bytes.Repeat([]byte("x"), 70<<10), msg...), []string{edV}, tlog.ErrMalformedCheckpoint},
		"bad vkey":            {msg, []string{"nope"}, tlog.ErrVerifierKey},
	} {
		if _, err := tlog.OpenCheckpoint(tc.msg, tc.keys[0], tc.keys[1:]...); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

// TestCheckpointOrigin: a checkpoint of one log signed by a key named for
// it is never accepted for another log, even with the same key material.
func TestCheckpointOrigin(t *testing.T) {
	t.Parallel()
	k := newLogKeys(t)
	otherName := "other.example/log"
	edOther, _ := k.signers(t, otherName)
	// A note whose text claims origin but whose signature is by the key
	// named otherName.
	text := origin + "\n5\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"
	msg, err := note.Sign(&note.Note{Text: text}, edOther)
	if err != nil {
		t.Fatal(err)
	}
	vOther, _ := k.vkeys(t, otherName)
	if _, err := tlog.OpenCheckpoint(msg, vOther); !errors.Is(err, tlog.ErrOriginMismatch) {
		t.Errorf("err = %v, want ErrOriginMismatch", err)
	}
	if _, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: origin, Size: 5, Hash: make([]byte, 32)}, edOther); !errors.Is(err, tlog.ErrOriginMismatch) {
		t.Errorf("SignCheckpoint with another name: %v", err)
	}
}

func TestParseCheckpoint(t *testing.T) {
	t.Parallel()
	root := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	good := map[string]tlog.Checkpoint{
		"example.com/log\n0\n" + root + "\n":                    {Origin: "example.com/log", Size: 0},
		"example.com/log\n18446744073709551615\n" + root + "\n": {Origin: "example.com/log", Size: 1<<64 - 1},
		"example.com/log\n7\n" + root + "\nextension a\n":       {Origin: "example.com/log", Size: 7, Extensions: []string{"extension a"}},
	}
	for text, want := range good {
		got, err := tlog.ParseCheckpoint(text)
		if err != nil {
			t.Errorf("%q: %v", text, err)
			continue
		}
		if got.Origin != want.Origin || got.Size != want.Size || len(got.Extensions) != len(want.Extensions) {
			t.Errorf("%q: %+v", text, got)
		}
		again, err := got.Text()
		if err != nil || again != text {
			t.Errorf("%q: Text() = %q, %v", text, again, err)
		}
	}
	bad := []string{
		"example.com/log\n7\n" + root,                                // no final newline
		"example.com/log\n7\n",                                       // no root
		"\n7\n" + root + "\n",                                        // empty origin
		"example com\n7\n" + root + "\n",                             // space in origin
		"a+b\n7\n" + root + "\n",                                     // plus in origin
		"example.com/log\n07\n" + root + "\n",                        // leading zero
		"example.com/log\n+7\n" + root + "\n",                        // sign
		"example.com/log\n-1\n" + root + "\n",                        // negative
		"example.com/log\n 7\n" + root + "\n",                        // space
		"example.com/log\n18446744073709551616\n" + root + "\n",      // overflow
		"example.com/log\n7\n" + root[:40] + "\n",                    // short root
		"example.com/log\n7\n" + strings.TrimRight(root, "=") + "\n", // unpadded
		"example.com/log\n7\n" + root + "\n\n",                       // empty extension
		"example.com/log\n7\nAQEB\r" + root[4:] + "\n",               // control character
	}
	for _, text := range bad {
		if _, err := tlog.ParseCheckpoint(text); !errors.Is(err, tlog.ErrMalformedCheckpoint) {
			t.Errorf("%q: err = %v", text, err)
		}
	}
}

func TestNoteVerifierKeys(t *testing.T) {
	t.Parallel()
	k := newLogKeys(t)
	edV, mlV := k.vkeys(t, origin)
	for _, vk := range []string{edV, mlV} {
		v, err := tlog.NewNoteVerifier(vk)
		if err != nil {
			t.Fatalf("%.40s…: %v", vk, err)
		}
		if v.Name() != origin {
			t.Errorf("name %q", v.Name())
		}
	}
	edSigner, mlSigner := k.signers(t, origin)
	if v, _ := tlog.NewNoteVerifier(edV); v.KeyHash() != edSigner.KeyHash() {
		t.Error("Ed25519 signer and verifier key hashes differ")
	}
	if v, _ := tlog.NewNoteVerifier(mlV); v.KeyHash() != mlSigner.KeyHash() {
		t.Error("ML-DSA signer and verifier key hashes differ")
	}
	parts := strings.SplitN(mlV, "+", 3)
	for name, vk := range map[string]string{
		"empty":         "",
		"two parts":     origin + "+abcd",
		"short hash":    origin + "+abc+" + parts[2],
		"wrong hash":    origin + "+00000000+" + parts[2],
		"renamed":       "other+" + parts[1] + "+" + parts[2],
		"not base64":    origin + "+" + parts[1] + "+!!!!",
		"unknown type":  origin + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString([]byte{9, 1, 2}),
		"short ML-DSA":  origin + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString([]byte("\xffnpes/ml-dsa-65abc")),
		"space in name": "a b+" + parts[1] + "+" + parts[2],
	} {
		if _, err := tlog.NewNoteVerifier(vk); !errors.Is(err, tlog.ErrVerifierKey) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := tlog.Ed25519VerifierKey("a+b", k.edPub); !errors.Is(err, tlog.ErrKeyName) {
		t.Errorf("name with plus: %v", err)
	}
}

// TestOpenCoSigned: a note opens only with an Ed25519 signature AND an
// ML-DSA-65 cosignature by listed keys; neither list may be empty.
func TestOpenCoSigned(t *testing.T) {
	t.Parallel()
	k, other := newLogKeys(t), newLogKeys(t)
	ed, ml := k.signers(t, origin)
	oed, oml := other.signers(t, origin)
	edKey, mlKey := k.vkeys(t, origin)
	oedKey, omlKey := other.vkeys(t, origin)
	c := tlog.Checkpoint{Origin: origin, Size: 3, Hash: bytes.Repeat([]byte{7}, 32)}
	sign := func(signers ...note.Signer) []byte {
		msg, err := tlog.SignCheckpoint(c, signers...)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	both := sign(ed, ml)
	cases := []struct {
		name         string
		msg          []byte
		edKeys, mlKs []string
		ok           bool
	}{
		{"both", both, []string{edKey}, []string{mlKey}, true},
		{"both, rotated keys listed too", sign(ed, ml), []string{oedKey, edKey}, []string{omlKey, mlKey}, true},
		{"witness line ignored", sign(ed, oed, ml), []string{edKey}, []string{mlKey}, true},
		{"Ed25519 only", sign(ed), []string{edKey}, []string{mlKey}, false},
		{"ML-DSA-65 only", sign(ml), []string{edKey}, []string{mlKey}, false},
		{"no ML-DSA-65 key pinned", both, []string{edKey}, nil, false},
		{"no Ed25519 key pinned", both, nil, []string{mlKey}, false},
		{"ML-DSA-65 key given as the Ed25519 one", both, []string{mlKey}, []string{mlKey}, false},
		{"other operator's cosignature", sign(ed, oml), []string{edKey}, []string{mlKey}, false},
		{"other operator", sign(oed, oml), []string{edKey}, []string{mlKey}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := tlog.OpenCoSigned(tc.msg, tc.edKeys, tc.mlKs)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, tlog.ErrCheckpointSignature) {
				t.Errorf("err = %v, want ErrCheckpointSignature", err)
			}
			if err == nil && !strings.HasPrefix(n.Text, origin+"\n3\n") {
				t.Errorf("text %q", n.Text)
			}
		})
	}
}
