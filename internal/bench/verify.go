package bench

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// Verify measures offline verification of evidence bundles
// (signing.VerifyBundle with the operator keys and identity CA pinned, as
// `npes verify --keys --ca` does): strict parsing, the signatures of every
// envelope, the evidence chain, the checkpoint's and the status's note
// signatures (Ed25519 and ML-DSA-65), every inclusion proof and the
// recipient's signature. The bundles are real: Bundles
// registered letters sent, accepted with a recipient signature and
// fetched through a self-started server, then verified round-robin by
// Concurrency workers (GOMAXPROCS by default).
//
// Baseline: the same bundles decoded (json.Unmarshal into signing.Bundle)
// and only the Ed25519 signature of each envelope checked, so the ratio is
// the cost of ML-DSA-65, the chain, the checkpoint and the proofs.
func Verify(ctx context.Context, o Options) (*Result, error) {
	o.defaults(2000, runtime.GOMAXPROCS(0))
	if o.Bundles <= 0 {
		o.Bundles = 20
	}
	h, err := startServer(ctx, o, false)
	if err != nil {
		return nil, err
	}
	defer h.close()
	bundles, keys, err := buildBundles(ctx, h, o.Bundles, min(o.Recipients, o.Bundles))
	if err != nil {
		return nil, err
	}
	trust, err := signing.NewTrust(keys, h.caPEM)
	if err != nil {
		return nil, err
	}
	evidence := 0
	for i, b := range bundles {
		rep, err := signing.VerifyBundle(b, signing.VerifyOptions{Trust: trust})
		if err != nil {
			return nil, fmt.Errorf("bundle %d does not verify: %w", i, err)
		}
		evidence += len(rep.Evidence)
		if n, err := verifyEd25519Only(b, keys); err != nil || n != len(rep.Evidence) {
			return nil, checkf("baseline check of bundle %d: %d signatures, %v", i, n, err)
		}
	}
	run := func(name string, verify func([]byte) error, profile bool) (*Result, error) {
		p := phase{name: name, workers: o.Concurrency, count: o.Count, dur: o.Duration, progress: o.Progress,
			worker: func(ctx context.Context, w int, rec *recorder) error {
				for {
					i, ok := rec.claim(ctx)
					if !ok {
						return nil
					}
					t0 := time.Now()
					if err := verify(bundles[int(i)%len(bundles)]); err != nil {
						return err
					}
					rec.observe(w, time.Since(t0))
				}
			}}
		if profile {
			p.profile, p.trace = o.CPUProfile, o.Trace
		}
		return measure(ctx, p)
	}
	var base *Result
	if !o.NoBaseline {
		base, err = run("verify baseline (Ed25519 only)", func(b []byte) error { _, err := verifyEd25519Only(b, keys); return err }, false)
		if err != nil {
			return nil, err
		}
		base.Params["item"] = "bundle decoded, Ed25519 signatures checked"
	}
	load := loadAverage()
	res, err := run("verify", func(b []byte) error {
		_, err := signing.VerifyBundle(b, signing.VerifyOptions{Trust: trust})
		return err
	}, true)
	if err != nil {
		return nil, err
	}
	h.describe(res.Params)
	res.Params["item"] = "bundle verified (signing.VerifyBundle, keys pinned)"
	res.Params["latency"] = "one verification"
	res.Params["bundles"] = len(bundles)
	res.Params["evidence_per_bundle"] = float64(evidence) / float64(len(bundles))
	res.Params["loadavg_before"] = load
	res.setBaseline(base)
	return res, nil
}

// buildBundles sends n registered letters from an org to recipients
// persons, has each accepted with the recipient's signature, and fetches
// the bundles and the operator's JWKS.
func buildBundles(ctx context.Context, h *harness, n, recipients int) ([][]byte, signing.JWKS, error) {
	sender, err := h.party(ctx, h.senderRequest(), h.senderAddress())
	if err != nil {
		return nil, signing.JWKS{}, err
	}
	defer sender.client.close()
	recips, err := h.recipients(ctx, max(recipients, 1))
	if err != nil {
		return nil, signing.JWKS{}, err
	}
	filler := bodyFiller(10 << 10)
	var buf bytes.Buffer
	out := make([][]byte, 0, n)
	for i := range n {
		r := recips[i%len(recips)]
		ct, err := submission(&buf, recipientName{r.name, r.address}, fmt.Sprintf("Решение № %d", i), letterBody(filler, 10<<10, int64(i)))
		if err != nil {
			return nil, signing.JWKS{}, err
		}
		var sent mailbox.LetterView
		data, err := sender.client.do(ctx, "POST", "/v1/letters", ct, nil, bytes.NewReader(buf.Bytes()), http.StatusCreated)
		if err != nil {
			return nil, signing.JWKS{}, err
		}
		if err := json.Unmarshal(data, &sent); err != nil {
			return nil, signing.JWKS{}, err
		}
		if err := accept(ctx, r, sent.ID); err != nil {
			return nil, signing.JWKS{}, err
		}
		b, err := sender.client.do(ctx, "GET", "/v1/letters/"+sent.ID+"/bundle", "", nil, nil, http.StatusOK)
		if err != nil {
			return nil, signing.JWKS{}, err
		}
		out = append(out, b)
	}
	for _, r := range recips {
		r.client.close()
	}
	raw, err := h.operator.do(ctx, "GET", "/v1/keys", "", nil, nil, http.StatusOK)
	if err != nil {
		return nil, signing.JWKS{}, err
	}
	keys, err := signing.ParseJWKS(raw)
	return out, keys, err
}

// accept signs for a letter as its recipient: the statement over the
// letter as the API shows it, a compact JWS with the credential's key and
// certificate (x5c).
func accept(ctx context.Context, r *party, id string) error {
	var v mailbox.LetterView
	if err := r.client.call(ctx, "GET", "/v1/letters/"+id, nil, &v, http.StatusOK); err != nil {
		return err
	}
	block, _ := pem.Decode(r.cred.KeyPEM)
	if block == nil {
		return errors.New("recipient key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return errors.New("recipient key cannot sign")
	}
	payload, err := json.Marshal(mailbox.NewStatement(v, mailbox.DecisionAccept, "", time.Now()))
	if err != nil {
		return err
	}
	jws, err := signing.SignCompact(signer, []*x509.Certificate{r.cred.Cert}, payload)
	if err != nil {
		return err
	}
	if err := r.client.call(ctx, "POST", "/v1/letters/"+id+"/accept", map[string]string{"jws": jws}, &v, http.StatusOK); err != nil {
		return err
	}
	if v.State != mailbox.StateAccepted {
		return checkf("letter %s is %s after acceptance", id, v.State)
	}
	return nil
}

// verifyEd25519Only decodes a bundle and checks only the EdDSA signature
// of each envelope with the pinned key of that kid. It returns the number
// of signatures checked.
func verifyEd25519Only(raw []byte, keys signing.JWKS) (int, error) {
	var b signing.Bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return 0, err
	}
	n := 0
	for i, ev := range b.Evidence {
		checked := false
		for _, s := range ev.Envelope.Signatures {
			hb, err := base64.RawURLEncoding.DecodeString(s.Protected)
			if err != nil {
				return n, err
			}
			var hdr struct{ Alg, Kid string }
			if err := json.Unmarshal(hb, &hdr); err != nil {
				return n, err
			}
			if hdr.Alg != signing.AlgEdDSA {
				continue
			}
			k, ok := keys.Lookup(hdr.Kid)
			if !ok {
				return n, fmt.Errorf("evidence %d: unknown key %q", i, hdr.Kid)
			}
			pub, err := k.PublicKey()
			if err != nil {
				return n, err
			}
			edPub, ok := pub.(ed25519.PublicKey)
			if !ok {
				return n, fmt.Errorf("evidence %d: key %q is not Ed25519", i, hdr.Kid)
			}
			sig, err := base64.RawURLEncoding.DecodeString(s.Signature)
			if err != nil {
				return n, err
			}
			if !ed25519.Verify(edPub, []byte(s.Protected+"."+ev.Envelope.Payload), sig) {
				return n, fmt.Errorf("evidence %d: Ed25519 signature does not verify", i)
			}
			checked = true
			n++
		}
		if !checked {
			return n, fmt.Errorf("evidence %d has no EdDSA signature", i)
		}
	}
	return n, nil
}
