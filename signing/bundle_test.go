package signing_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/tlog"
)

const testOrigin = "npes.example.by/evidence"

// letterFixture is one letter's evidence in a log shared with other
// letters, as the server would build it.
type letterFixture struct {
	sealer      *signing.Sealer
	log         *tlog.MemoryStore
	body        []byte
	attachments map[string][]byte
	leaves      [][]byte // the letter's envelopes as stored
	indices     []uint64
	bundle      signing.Bundle
}

var fixtureEvents = []signing.Event{
	signing.EventSubmissionAcceptance,
	signing.EventNotificationForAcceptance,
	signing.EventConsignmentAcceptance,
	signing.EventContentHandover,
}

// newLetterFixture appends the letter's evidence between unrelated
// leaves, signs a checkpoint and assembles the bundle.
func newLetterFixture(t testing.TB, s *signing.Sealer) *letterFixture {
	t.Helper()
	ctx := context.Background()
	f := &letterFixture{
		sealer: s,
		log:    tlog.NewMemoryStore(),
		body:   []byte("Уважаемый Иван Иванович! Сообщаем…"),
		attachments: map[string][]byte{
			"решение.pdf": []byte("%PDF-1.7 decision"),
			"scan.png":    []byte("\x89PNG scan"),
		},
	}
	noise := func(n int) {
		for i := 0; i < n; i++ {
			if _, _, err := f.log.Append(ctx, tlog.LeafHash([]byte(fmt.Sprintf("other letter %d/%d", f.log.Size(), i)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	content := &signing.Content{
		BodySHA256: signing.DigestHex(f.body),
		Attachments: []signing.Attachment{
			{Name: "решение.pdf", Size: int64(len(f.attachments["решение.pdf"])), SHA256: signing.DigestHex(f.attachments["решение.pdf"])},
			{Name: "scan.png", Size: int64(len(f.attachments["scan.png"])), SHA256: signing.DigestHex(f.attachments["scan.png"])},
		},
	}
	prev := ""
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for i, ev := range fixtureEvents {
		noise(3 + 5*i)
		e := signing.Evidence{
			V: 1, ID: fmt.Sprintf("E-%d", i), Event: ev, Time: t0.Add(time.Duration(i) * time.Hour),
			Letter: "L-1", Tracking: "RR123456785BY",
			Sender:    signing.Party{Mailbox: "MB-ORG", Name: "ОАО Белтелеком"},
			Recipient: signing.Party{Name: "Иванов Иван Иванович", Address: "220030, г. Минск, ул. Ленина, 1"},
			Route:     "electronic", Prev: prev, LogIndex: f.log.Size(),
		}
		if ev == signing.EventSubmissionAcceptance || ev == signing.EventContentHandover {
			e.Content = content
		}
		if ev == signing.EventConsignmentAcceptance {
			e.RecipientSignature = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"
		}
		payload, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		env, err := s.Seal(payload)
		if err != nil {
			t.Fatal(err)
		}
		leaf := env.Bytes()
		f.indices = append(f.indices, f.log.Size())
		f.leaves = append(f.leaves, leaf)
		if _, _, err := f.log.Append(ctx, tlog.LeafHash(leaf)); err != nil {
			t.Fatal(err)
		}
		prev = env.Hash()
	}
	noise(4)
	size := f.log.Size()
	root, err := tlog.RootAt(ctx, f.log, size)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := s.SignCheckpoint(testOrigin, size, root)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := s.NoteVerifierKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	cokey, err := s.NoteCosignerKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	f.bundle = signing.Bundle{
		V: 1, Letter: "L-1", Keys: s.JWKS(),
		NoteVerifierKey: vkey, NoteCosignerKey: cokey, Checkpoint: string(cp),
	}
	for i, leaf := range f.leaves {
		p, err := tlog.InclusionProof(ctx, f.log, f.indices[i], size)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.bundle.AddEvidence(leaf, f.indices[i], p); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *letterFixture) marshal(t testing.TB) []byte {
	t.Helper()
	b, err := f.bundle.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyBundle(t *testing.T) {
	t.Parallel()
	f := newLetterFixture(t, newSealer(t))
	b := f.marshal(t)
	jwks := f.sealer.JWKS()
	vkey, _ := f.sealer.NoteVerifierKey(testOrigin)
	cokey, _ := f.sealer.NoteCosignerKey(testOrigin)

	rep, err := signing.VerifyBundle(b, signing.VerifyOptions{
		TrustedJWKS: &jwks, TrustedNoteKey: vkey, TrustedCosignerKey: cokey,
		Body: f.body, Attachments: f.attachments,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Letter != "L-1" || len(rep.Evidence) != len(fixtureEvents) || rep.Checkpoint.Origin != testOrigin || !rep.BodyChecked {
		t.Fatalf("report %+v", rep)
	}
	for i, e := range rep.Evidence {
		if e.Event != fixtureEvents[i] || e.LeafIndex != f.indices[i] || e.Hash != signing.DigestHex(f.leaves[i]) {
			t.Errorf("evidence %d: %+v", i, e)
		}
	}
	if len(rep.Attachments) != 2 || !rep.Attachments[0].Checked || !rep.Attachments[1].Checked {
		t.Errorf("attachments %+v", rep.Attachments)
	}

	// Whitespace in the file is irrelevant: the leaf is canonical.
	var compactBuf bytes.Buffer
	if err := json.Compact(&compactBuf, b); err != nil {
		t.Fatal(err)
	}
	if _, err := signing.VerifyBundle(compactBuf.Bytes(), signing.VerifyOptions{}); err != nil {
		t.Errorf("compact bundle: %v", err)
	}

	// Without attachments nothing is checked, but the rest verifies.
	rep, err = signing.VerifyBundle(b, signing.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.BodyChecked || rep.Attachments[0].Checked {
		t.Error("unchecked content reported as checked")
	}
}

// TestVerifyBundleMutations changes one thing at a time and expects a
// precise failure.
func TestVerifyBundleMutations(t *testing.T) {
	t.Parallel()
	f := newLetterFixture(t, newSealer(t))
	good := f.bundle

	clone := func() signing.Bundle {
		var c signing.Bundle
		b, _ := good.Marshal()
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Change one byte of the payload, keeping it valid evidence JSON.
	flipPayloadByte := func(env *signing.Envelope) {
		raw, _ := base64.RawURLEncoding.DecodeString(env.Payload)
		i := bytes.Index(raw, []byte("RR123456785BY")) + 10
		raw[i] ^= 0x01
		env.Payload = base64.RawURLEncoding.EncodeToString(raw)
	}
	cases := []struct {
		name   string
		mutate func(b *signing.Bundle)
		want   error
		msg    string
	}{
		{"payload byte", func(b *signing.Bundle) { flipPayloadByte(&b.Evidence[1].Envelope) },
			signing.ErrSignatureInvalid, "evidence 1 (NotificationForAcceptance): EdDSA signature invalid"},
		{"EdDSA signature byte", func(b *signing.Bundle) {
			b.Evidence[0].Envelope.Signatures[0].Signature = flipBit(b.Evidence[0].Envelope.Signatures[0].Signature, 100)
		}, signing.ErrSignatureInvalid, "evidence 0 (SubmissionAcceptance): EdDSA signature invalid"},
		{"ML-DSA signature byte", func(b *signing.Bundle) {
			b.Evidence[2].Envelope.Signatures[1].Signature = flipBit(b.Evidence[2].Envelope.Signatures[1].Signature, 8000)
		}, signing.ErrSignatureInvalid, "evidence 2 (ConsignmentAcceptance): ML-DSA-65 signature invalid"},
		{"ML-DSA signature dropped", func(b *signing.Bundle) {
			b.Evidence[3].Envelope.Signatures = b.Evidence[3].Envelope.Signatures[:1]
		}, signing.ErrSignatureSet, "evidence 3 (ContentHandover)"},
		{"proof byte", func(b *signing.Bundle) {
			p, _ := base64.StdEncoding.DecodeString(b.Evidence[2].InclusionProof[1])
			p[7] ^= 0x80
			b.Evidence[2].InclusionProof[1] = base64.StdEncoding.EncodeToString(p)
		}, signing.ErrInclusion, "evidence 2 (ConsignmentAcceptance): inclusion proof invalid"},
		{"proof hash dropped", func(b *signing.Bundle) { b.Evidence[0].InclusionProof = b.Evidence[0].InclusionProof[1:] },
			signing.ErrInclusion, "evidence 0"},
		{"proof not canonical base64", func(b *signing.Bundle) {
			s := b.Evidence[1].InclusionProof[0]
			b.Evidence[1].InclusionProof[0] = s[:42] + string(s[42]+1) + "="
		}, signing.ErrInclusion, "evidence 1"},
		{"leaf index", func(b *signing.Bundle) { b.Evidence[1].LeafIndex++ },
			signing.ErrLogIndexMismatch, "evidence 1 (NotificationForAcceptance): log index mismatch"},
		{"checkpoint size", func(b *signing.Bundle) {
			b.Checkpoint = strings.Replace(b.Checkpoint, fmt.Sprintf("\n%d\n", f.log.Size()), fmt.Sprintf("\n%d\n", f.log.Size()+1), 1)
		}, signing.ErrCheckpoint, "checkpoint signature invalid"},
		{"checkpoint root", func(b *signing.Bundle) {
			lines := strings.SplitN(b.Checkpoint, "\n", 4)
			r, _ := base64.StdEncoding.DecodeString(lines[2])
			r[0] ^= 1
			lines[2] = base64.StdEncoding.EncodeToString(r)
			b.Checkpoint = strings.Join(lines, "\n")
		}, signing.ErrCheckpoint, ""},
		{"checkpoint ML-DSA cosignature", func(b *signing.Bundle) {
			lines := strings.Split(b.Checkpoint, "\n")
			sigLine := lines[len(lines)-2]
			i := len(sigLine) - 20
			c := byte('A')
			if sigLine[i] == 'A' {
				c = 'B'
			}
			lines[len(lines)-2] = sigLine[:i] + string(c) + sigLine[i+1:]
			b.Checkpoint = strings.Join(lines, "\n")
		}, signing.ErrCheckpoint, ""},
		{"cosigner key removed but pinned", func(b *signing.Bundle) { b.NoteCosignerKey = "" },
			signing.ErrUntrusted, ""},
		{"bundle letter", func(b *signing.Bundle) { b.Letter = "L-2" },
			signing.ErrLetterMismatch, "evidence 0 (SubmissionAcceptance)"},
		{"evidence removed", func(b *signing.Bundle) { b.Evidence = append(b.Evidence[:1], b.Evidence[2:]...) },
			signing.ErrChainBroken, "evidence 1 (ConsignmentAcceptance): evidence chain broken"},
		{"first evidence removed", func(b *signing.Bundle) { b.Evidence = b.Evidence[1:] },
			signing.ErrChainBroken, "first evidence has prev"},
		{"evidence reordered", func(b *signing.Bundle) { b.Evidence[1], b.Evidence[2] = b.Evidence[2], b.Evidence[1] },
			signing.ErrChainBroken, "evidence 1 (ConsignmentAcceptance)"},
		{"evidence duplicated", func(b *signing.Bundle) { b.Evidence = append(b.Evidence, b.Evidence[3]) },
			signing.ErrChainBroken, "evidence 4"},
		{"version", func(b *signing.Bundle) { b.V = 2 }, signing.ErrMalformedBundle, ""},
		{"no evidence", func(b *signing.Bundle) { b.Evidence = nil }, signing.ErrMalformedBundle, ""},
	}
	jwks := f.sealer.JWKS()
	vkey, _ := f.sealer.NoteVerifierKey(testOrigin)
	cokey, _ := f.sealer.NoteCosignerKey(testOrigin)
	opts := signing.VerifyOptions{TrustedJWKS: &jwks, TrustedNoteKey: vkey, TrustedCosignerKey: cokey}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := clone()
			tc.mutate(&b)
			raw, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			_, err = signing.VerifyBundle(raw, opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q, want it to contain %q", err, tc.msg)
			}
		})
	}
}

// TestVerifyBundleByteFlips flips one bit in bytes spread over the whole
// file (envelopes, keys, proofs, checkpoint, field names): every flip must
// fail. A stride keeps the run short; the offsets cover every part.
func TestVerifyBundleByteFlips(t *testing.T) {
	t.Parallel()
	f := newLetterFixture(t, newSealer(t))
	b := f.marshal(t)
	stride := 13
	if testing.Short() {
		stride = 61
	}
	for off := 0; off < len(b); off += stride {
		m := append([]byte(nil), b...)
		m[off] ^= 0x01
		if _, err := signing.VerifyBundle(m, signing.VerifyOptions{}); err == nil {
			t.Fatalf("flip at offset %d (%q in …%s…) verified", off, b[off], b[max(0, off-20):min(len(b), off+20)])
		}
	}
}

func TestVerifyBundleContent(t *testing.T) {
	t.Parallel()
	f := newLetterFixture(t, newSealer(t))
	b := f.marshal(t)
	changed := map[string][]byte{"решение.pdf": []byte("%PDF-1.7 decisioN"), "scan.png": f.attachments["scan.png"]}
	longer := map[string][]byte{"scan.png": append([]byte("x"), f.attachments["scan.png"]...)}
	for name, opts := range map[string]signing.VerifyOptions{
		"changed attachment": {Attachments: changed},
		"longer attachment":  {Attachments: longer},
		"unknown attachment": {Attachments: map[string][]byte{"virus.exe": []byte("MZ")}},
		"changed body":       {Body: []byte("другой текст")},
	} {
		_, err := signing.VerifyBundle(b, opts)
		if !errors.Is(err, signing.ErrAttachment) {
			t.Errorf("%s: err = %v, want ErrAttachment", name, err)
		}
	}
	// One attachment given: it is checked, the other reported unchecked.
	rep, err := signing.VerifyBundle(b, signing.VerifyOptions{Attachments: map[string][]byte{"scan.png": f.attachments["scan.png"]}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range rep.Attachments {
		if a.Checked != (a.Name == "scan.png") {
			t.Errorf("attachment %q checked = %v", a.Name, a.Checked)
		}
	}
}

// TestVerifyBundlePinning: an attacker who controls the whole file can
// re-seal fake evidence with keys of their own; the bundle is then
// consistent, and only pinned keys tell it apart.
func TestVerifyBundlePinning(t *testing.T) {
	t.Parallel()
	operator := newSealer(t)
	forger := newSealer(t)
	fake := newLetterFixture(t, forger).marshal(t)
	if _, err := signing.VerifyBundle(fake, signing.VerifyOptions{}); err != nil {
		t.Fatalf("self-consistent forgery without pins: %v", err)
	}
	jwks := operator.JWKS()
	vkey, _ := operator.NoteVerifierKey(testOrigin)
	cokey, _ := operator.NoteCosignerKey(testOrigin)
	for name, opts := range map[string]signing.VerifyOptions{
		"JWKS":     {TrustedJWKS: &jwks},
		"note key": {TrustedNoteKey: vkey},
		"cosigner": {TrustedCosignerKey: cokey},
	} {
		if _, err := signing.VerifyBundle(fake, opts); !errors.Is(err, signing.ErrUntrusted) {
			t.Errorf("%s pinned: err = %v, want ErrUntrusted", name, err)
		}
	}

	// Genuine envelopes in a log the forger checkpoints: only the
	// checkpoint key differs, and pinning the operator JWKS alone catches
	// it because the log signs with the operator keys.
	relogged := newLetterFixture(t, operator)
	root, err := tlog.RootAt(context.Background(), relogged.log, relogged.log.Size())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := forger.SignCheckpoint(testOrigin, relogged.log.Size(), root)
	if err != nil {
		t.Fatal(err)
	}
	relogged.bundle.Checkpoint = string(cp)
	relogged.bundle.NoteVerifierKey, _ = forger.NoteVerifierKey(testOrigin)
	relogged.bundle.NoteCosignerKey, _ = forger.NoteCosignerKey(testOrigin)
	if _, err := signing.VerifyBundle(relogged.marshal(t), signing.VerifyOptions{}); err != nil {
		t.Fatalf("relogged without pins: %v", err)
	}
	if _, err := signing.VerifyBundle(relogged.marshal(t), signing.VerifyOptions{TrustedJWKS: &jwks}); !errors.Is(err, signing.ErrUntrusted) {
		t.Errorf("relogged with pinned JWKS: err = %v, want ErrUntrusted", err)
	}
	relogged.bundle.NoteCosignerKey = cokey
	if _, err := signing.VerifyBundle(relogged.marshal(t), signing.VerifyOptions{TrustedJWKS: &jwks}); !errors.Is(err, signing.ErrUntrusted) {
		t.Errorf("relogged, only the cosigner key genuine: err = %v, want ErrUntrusted", err)
	}
	genuineFx := newLetterFixture(t, operator)
	if _, err := signing.VerifyBundle(genuineFx.marshal(t), signing.VerifyOptions{TrustedJWKS: &jwks}); err != nil {
		t.Errorf("genuine bundle with pinned JWKS: %v", err)
	}
	genuineFx.bundle.NoteCosignerKey = ""
	if _, err := signing.VerifyBundle(genuineFx.marshal(t), signing.VerifyOptions{TrustedJWKS: &jwks}); !errors.Is(err, signing.ErrUntrusted) {
		t.Errorf("cosignature dropped, JWKS pinned: err = %v, want ErrUntrusted", err)
	}

	// Keys swapped into a genuine bundle: the envelopes no longer verify.
	genuine := newLetterFixture(t, operator)
	genuine.bundle.Keys = forger.JWKS()
	if _, err := signing.VerifyBundle(genuine.marshal(t), signing.VerifyOptions{}); !errors.Is(err, signing.ErrUnknownKey) {
		t.Errorf("swapped keys: %v", err)
	}
}

func TestBundleAddEvidenceRefusesNonCanonical(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	env, err := s.Seal([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	spaced := bytes.ReplaceAll(env.Bytes(), []byte(`,`), []byte(`, `))
	var b signing.Bundle
	if err := b.AddEvidence(spaced, 0, nil); !errors.Is(err, signing.ErrMalformedJWS) {
		t.Errorf("err = %v", err)
	}
	if err := b.AddEvidence(env.Bytes(), 0, [][]byte{{1, 2}}); !errors.Is(err, tlog.ErrHashSize) {
		t.Errorf("short proof hash: %v", err)
	}
}
