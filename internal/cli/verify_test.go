package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/tlog"
)

// verifyFiles is a letter's bundle (v2 and v1) and receipt, as files,
// with the operator's JWKS.
type verifyFiles struct {
	dir, keys, edOnly, bundle, v1, receipt, checkpoint, attachments string
}

func writeVerifyFiles(t *testing.T) verifyFiles {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	edPEM, mlPEM, err := signing.GenerateOperatorKeys()
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.LoadSealer(edPEM, mlPEM)
	if err != nil {
		t.Fatal(err)
	}
	atts := map[string][]byte{"счёт.pdf": []byte("%PDF-1.7 invoice"), "note.txt": []byte("hello")}
	content := &signing.Content{BodySHA256: signing.DigestHex([]byte("body"))}
	for _, n := range []string{"счёт.pdf", "note.txt"} {
		content.Attachments = append(content.Attachments, signing.Attachment{Name: n, Size: int64(len(atts[n])), SHA256: signing.DigestHex(atts[n])})
	}
	log := tlog.NewMemoryStore()
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	var leaves [][]byte
	prev := ""
	for i, ev := range []signing.Event{signing.EventSubmissionAcceptance, signing.EventContentConsignment} {
		e := signing.Evidence{V: 2, ID: fmt.Sprint("E", i), Event: ev, Time: t0, Letter: "L-7", Content: content,
			Route: "electronic", Prev: prev, LogIndex: log.Size()}
		payload, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		env, err := s.SealV2(payload)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, env.Bytes())
		if _, _, err := log.Append(ctx, tlog.LeafHash(env.Bytes())); err != nil {
			t.Fatal(err)
		}
		prev = env.Hash()
	}
	root, _ := tlog.RootAt(ctx, log, log.Size())
	cp, err := s.SignCheckpoint("npes/evidence/"+s.Kid(), log.Size(), root)
	if err != nil {
		t.Fatal(err)
	}
	b := signing.Bundle{V: 2, Letter: "L-7", Checkpoint: string(cp)}
	for i, leaf := range leaves {
		p, _ := tlog.InclusionProof(ctx, log, uint64(i), log.Size())
		if err := b.AddEvidence(leaf, uint64(i), p); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.SignStatus(signing.Status{Letter: "L-7", State: "delivered", Records: 2, Last: signing.DigestHex(leaves[1]),
		CheckpointSize: log.Size(), Time: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	b.Status = string(st)
	f := verifyFiles{dir: dir}
	write := func(name string, v any) string {
		p := filepath.Join(dir, name)
		var data []byte
		if raw, ok := v.([]byte); ok {
			data = raw
		} else if data, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.keys = write("keys.json", s.JWKS())
	f.edOnly = write("ed.json", s.JWKS().Select(signing.AlgEdDSA))
	f.bundle = write("bundle.json", b)
	f.receipt = write("receipt.json", signing.Receipt{Checkpoint: b.Checkpoint, Evidence: b.Evidence[:1]})
	f.checkpoint = write("checkpoint", cp)
	keys := s.JWKS()
	f.v1 = write("v1.json", signing.Bundle{V: 1, Letter: "L-7", Keys: &keys, Checkpoint: b.Checkpoint, Evidence: b.Evidence})
	f.attachments = filepath.Join(dir, "att")
	if err := os.Mkdir(f.attachments, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, data := range atts {
		write(filepath.Join("att", n), data)
	}
	write(filepath.Join("att", "body.txt"), []byte("body"))
	return f
}

func TestVerifyCommand(t *testing.T) {
	t.Parallel()
	f := writeVerifyFiles(t)
	trustFile := filepath.Join(f.dir, "trust.json")
	keys, _ := os.ReadFile(f.keys)
	if err := os.WriteFile(trustFile, []byte(`{"keys":`+string(keys)+`,"identity_cas":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(f.dir, "partial")
	_ = os.Mkdir(partial, 0o755)
	_ = os.WriteFile(filepath.Join(partial, "note.txt"), []byte("hello"), 0o644)
	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want []string
	}{
		{"no pin", nil, []string{f.bundle}, 1, []string{"FAIL: nothing was verified", "--keys"}},
		{"Ed25519-only pin", nil, []string{f.bundle, "--keys", f.edOnly}, 1, []string{"FAIL", "no ML-DSA-65 key"}},
		{"keys", nil, []string{f.bundle, "--keys", f.keys}, 0, []string{"OK: letter L-7, 2 evidence records", "complete as of 2026-05-04T11:00:00Z (state delivered)",
			"attachments not checked (2 listed"}},
		{"trust file", nil, []string{f.bundle, "--trust", trustFile}, 0, []string{"complete as of"}},
		{"NPES_TRUST", map[string]string{"NPES_TRUST": trustFile}, []string{f.bundle}, 0, []string{"complete as of"}},
		{"attachments", nil, []string{f.bundle, "--keys", f.keys, "--attachments", f.attachments}, 0, []string{"2 of 2 attachments checked", "body matches"}},
		{"attachment missing", nil, []string{f.bundle, "--keys", f.keys, "--attachments", partial}, 1, []string{"FAIL", "счёт.pdf", "not given"}},
		{"held checkpoint", nil, []string{f.bundle, "--keys", f.keys, "--checkpoint", f.checkpoint}, 0, []string{"consistent with your checkpoint of size 2"}},
		{"v1 bundle", nil, []string{f.v1, "--keys", f.keys}, 1, []string{"OK: letter L-7", "FAIL: completeness not proven"}},
		{"receipt", nil, []string{f.receipt, "--keys", f.keys}, 0, []string{"OK: receipt of letter L-7, 1 evidence records", "receipt: proves the submission"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := npes(t, tc.env, append([]string{"verify"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.code != 0 && strings.Contains(out, "complete as of") {
				t.Errorf("a failed verification says complete:\n%s", out)
			}
		})
	}
	if code, _, _ := npes(t, nil, "verify", f.bundle, "--keys", f.keys, "--trust", trustFile); code != 2 {
		t.Errorf("--keys with --trust: exit %d, want 2", code)
	}
}
