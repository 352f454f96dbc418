package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/npes/npes/signing"
)

const verifyUsage = `verify FILE (--keys JWKS_FILE [--ca CA_PEM]... | --trust TRUST_FILE) [--attachments DIR] [--checkpoint FILE [--consistency FILE]]

Verifies an evidence bundle (npes bundle) or a submission receipt (GET /v1/letters/{id}/receipt)
offline against pinned trust: the operator keys (the JWKS of GET /v1/keys, obtained out of band)
and the identity CA of recipients' credentials (the ca.pem of a credential directory). Keys inside
the file never count; without a pin nothing is verified and the exit status is 1.
NPES_TRUST names a trust file when --keys and --trust are not given. A trust file is
  {"keys": <JWKS of /v1/keys>, "identity_cas": ["-----BEGIN CERTIFICATE-----...", ...],
   "webauthn": {"rp_id": "post.example", "origins": ["https://post.example"]}}
where webauthn (the operator's NPES_WEB_ORIGIN) is needed only for decisions signed with a passkey.

Exit status 0 only when everything verified and, for a bundle, its status proves it complete;
a version 1 bundle (no status) exits 1 with "completeness not proven".`

func runVerify(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "verify", verifyUsage)
	keysFile := fs.String("keys", "", "operator JWKS to pin (as published at /v1/keys, obtained out of band)")
	var caFiles stringList
	fs.Var(&caFiles, "ca", "identity CA certificate (PEM, the ca.pem of a credential directory) to pin; repeatable")
	trustFile := fs.String("trust", "", `trust file {"keys": JWKS, "identity_cas": [PEM, ...]} (default $NPES_TRUST)`)
	attDir := fs.String("attachments", "", "directory with the letter's attachments (and body.txt); every attachment the evidence lists must be there and match")
	cpFile := fs.String("checkpoint", "", "a signed checkpoint you hold (GET /v1/log/checkpoint); the bundle's checkpoint must be consistent with it")
	consFile := fs.String("consistency", "", "consistency proof between the two checkpoints (the JSON of GET /v1/log/proof/consistency) when their sizes differ")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("give exactly one FILE")
	}
	fail := func(format string, a ...any) error {
		fmt.Fprintf(e.Stdout, "FAIL: "+format+"\n", a...)
		return exitError{1}
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	trust, err := loadTrust(e, *keysFile, caFiles, *trustFile)
	var usage usageError
	switch {
	case errors.As(err, &usage):
		return err
	case errors.Is(err, signing.ErrNoTrust):
		return fail("nothing was verified: %v", err)
	case err != nil:
		return fail("%v", err)
	}
	opts := signing.VerifyOptions{Trust: trust}
	if *attDir != "" {
		if opts.Body, opts.Attachments, err = readAttachments(*attDir); err != nil {
			return err
		}
	}
	if *cpFile != "" {
		if opts.Checkpoint, err = os.ReadFile(*cpFile); err != nil {
			return err
		}
		if *consFile != "" {
			if opts.Consistency, err = readConsistency(*consFile); err != nil {
				return fail("%s: %v", *consFile, err)
			}
		}
	} else if *consFile != "" {
		return usagef("--consistency needs --checkpoint")
	}
	rep, err := signing.VerifyBundle(data, opts)
	if err != nil {
		if errors.Is(err, signing.ErrNoTrust) {
			return fail("nothing was verified: %v", err)
		}
		return fail("%v", err)
	}
	printReport(e, rep, opts)
	switch {
	case rep.Kind == "receipt":
		fmt.Fprintln(e.Stdout, "  receipt: proves the submission above, not what happened to the letter afterwards")
	case !rep.Complete():
		return fail("completeness not proven: a version %d bundle has no status, records may have been cut off; fetch a new bundle", rep.Version)
	}
	return nil
}

// loadTrust reads the pins: --keys with --ca, else --trust, else the file
// NPES_TRUST names. Without any it fails with signing.ErrNoTrust.
func loadTrust(e *Env, keysFile string, caFiles []string, trustFile string) (*signing.Trust, error) {
	if keysFile != "" && trustFile != "" {
		return nil, usagef("give --keys (with --ca) or --trust, not both")
	}
	if keysFile == "" && len(caFiles) > 0 {
		return nil, usagef("--ca needs --keys")
	}
	if keysFile != "" {
		kb, err := os.ReadFile(keysFile)
		if err != nil {
			return nil, err
		}
		keys, err := signing.ParseJWKS(kb)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keysFile, err)
		}
		var cas [][]byte
		for _, f := range caFiles {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			cas = append(cas, b)
		}
		t, err := signing.NewTrust(keys, cas...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keysFile, err)
		}
		return t, nil
	}
	if trustFile == "" {
		trustFile = e.Getenv("NPES_TRUST")
	}
	if trustFile == "" {
		return nil, fmt.Errorf("%w: pass --keys FILE (with --ca FILE), or --trust FILE, or set NPES_TRUST", signing.ErrNoTrust)
	}
	b, err := os.ReadFile(trustFile)
	if err != nil {
		return nil, err
	}
	t, err := signing.ParseTrust(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", trustFile, err)
	}
	return t, nil
}

// readAttachments reads every regular file of dir: body.txt is the body,
// the others attachments by file name.
func readAttachments(dir string) (body []byte, atts map[string][]byte, err error) {
	atts = map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, de := range entries {
		if de.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			return nil, nil, err
		}
		if de.Name() == "body.txt" {
			body = b
			continue
		}
		atts[de.Name()] = b
	}
	return body, atts, nil
}

// readConsistency reads the JSON of GET /v1/log/proof/consistency.
func readConsistency(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p struct {
		From  uint64   `json:"from"`
		To    uint64   `json:"to"`
		Proof []string `json:"proof"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, err
	}
	out := make([][]byte, len(p.Proof))
	for i, h := range p.Proof {
		if out[i], err = base64.StdEncoding.Strict().DecodeString(h); err != nil {
			return nil, fmt.Errorf("proof hash %d: %w", i, err)
		}
	}
	if out == nil {
		out = [][]byte{}
	}
	return out, nil
}

func printReport(e *Env, rep *signing.Report, opts signing.VerifyOptions) {
	w := e.Stdout
	what := "letter " + rep.Letter
	if rep.Kind == "receipt" {
		what = "receipt of letter " + rep.Letter
	}
	fmt.Fprintf(w, "OK: %s, %d evidence records, checkpoint size %d (Ed25519 and ML-DSA-65 signatures by pinned keys)\n",
		what, len(rep.Evidence), rep.Checkpoint.Size)
	for _, ev := range rep.Evidence {
		format := "v2, proven by inclusion"
		if ev.Version == 1 {
			format = "v1, Ed25519 and ML-DSA-65"
		}
		fmt.Fprintf(w, "  %-26s %s  log index %d  (%s)\n", ev.Event, ev.Time.Format(time.RFC3339), ev.LeafIndex, format)
	}
	for _, r := range rep.RecipientSignatures {
		bound := fmt.Sprintf("key bound to the mailbox at log index %d", r.BoundBy)
		if !r.BindingProven {
			bound = "key binding to the mailbox not proven (version 1 bundle)"
		}
		if r.Passkey != "" {
			// What a passkey signature proves: DESIGN / docs/ARCHITECTURE.md.
			fmt.Fprintf(w, "  recipient signature: %s, passkey signature (WebAuthn, user verified, RP ID %s) by passkey %s, "+
				"endorsed by %q (serial %s), chain to a pinned identity CA, passkey bound to the mailbox at log index %d\n",
				r.Decision, opts.Trust.WebAuthn.RPID, r.Passkey, r.Signer, r.Serial, r.BoundBy)
			continue
		}
		fmt.Fprintf(w, "  recipient signature: %s by %q (serial %s), chain to a pinned identity CA, %s\n",
			r.Decision, r.Signer, r.Serial, bound)
	}
	if len(rep.MailboxEntries) > 0 {
		fmt.Fprintf(w, "  %d log entries of the recipient's mailbox\n", len(rep.MailboxEntries))
	}
	switch {
	case opts.Attachments == nil && len(rep.Attachments) > 0:
		fmt.Fprintf(w, "  attachments not checked (%d listed; pass --attachments DIR)\n", len(rep.Attachments))
	case opts.Attachments != nil:
		fmt.Fprintf(w, "  %d of %d attachments checked against their digests\n", len(rep.Attachments), len(rep.Attachments))
	}
	if rep.BodyChecked {
		fmt.Fprintln(w, "  body matches its digest")
	}
	if rep.HeldCheckpoint != nil {
		fmt.Fprintf(w, "  consistent with your checkpoint of size %d\n", rep.HeldCheckpoint.Size)
	}
	if rep.Status != nil {
		fmt.Fprintf(w, "  complete as of %s (state %s)\n", rep.Status.Time.Format(time.RFC3339), rep.Status.State)
	}
}
