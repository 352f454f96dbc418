package signing_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/mod/sumdb/note"
)

// TestIndependentVerificationV2 checks a version 2 bundle without the
// project's own JOSE, log or note code: go-jose for every EdDSA envelope
// and the recipient's ES256 signature, an RFC 9162 §2.1.3.2 inclusion
// check written here, golang.org/x/mod/sumdb/note for the Ed25519 lines
// of the checkpoint and the status, and circl for their ML-DSA-65
// cosignatures. Only the published JWKS and the identity CA are trusted.
//
// circl is the ML-DSA-65 implementation npes itself uses: Go 1.26 has
// ML-DSA only in crypto/internal/fips140/mldsa, which no module may
// import (the public crypto/mldsa comes with Go 1.27), so a second Go
// implementation was not available here; the Node verifier in
// /work/shared/tools (@noble/post-quantum) is the second one, run by hand.
func TestIndependentVerificationV2(t *testing.T) {
	t.Parallel()
	f := newLetterFixture(t, newSealer(t))
	bundleBytes := f.marshal(t)
	jwksBytes, err := json.Marshal(f.sealer.JWKS())
	if err != nil {
		t.Fatal(err)
	}

	// The pinned keys, read with go-jose (Ed25519) and encoding/json (AKP,
	// which go-jose does not know).
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(jwksBytes, &set); err != nil {
		t.Fatal(err)
	}
	var edKey jose.JSONWebKey
	var mlPub mldsa65.PublicKey
	for _, raw := range set.Keys {
		var k struct{ Kty, Pub string }
		if err := json.Unmarshal(raw, &k); err != nil {
			t.Fatal(err)
		}
		switch k.Kty {
		case "OKP":
			if err := edKey.UnmarshalJSON(raw); err != nil {
				t.Fatal(err)
			}
		case "AKP":
			b, err := base64.RawURLEncoding.DecodeString(k.Pub)
			if err != nil {
				t.Fatal(err)
			}
			if err := mlPub.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	edPub, ok := edKey.Key.(ed25519.PublicKey)
	if !ok {
		t.Fatalf("OKP key is %T", edKey.Key)
	}

	var b struct {
		V          int    `json:"v"`
		Letter     string `json:"letter"`
		Checkpoint string `json:"checkpoint"`
		Status     string `json:"status"`
		Evidence   []item `json:"evidence"`
		Mailbox    []item `json:"mailbox_entries"`
	}
	if err := json.Unmarshal(bundleBytes, &b); err != nil {
		t.Fatal(err)
	}
	if b.V != 2 {
		t.Fatalf("bundle version %d", b.V)
	}

	// The checkpoint: Ed25519 by x/mod's note, ML-DSA-65 by circl.
	origin, _, _ := strings.Cut(b.Checkpoint, "\n")
	cpText := openCoSigned(t, b.Checkpoint, origin, edPub, &mlPub)
	lines := strings.Split(cpText, "\n")
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		t.Fatal(err)
	}

	// Every envelope: one EdDSA signature (go-jose), "v":2 in the payload,
	// and its leaf in the checkpoint's tree.
	check := func(what string, it item) []byte {
		if len(it.Envelope.Signatures) != 1 {
			t.Fatalf("%s: %d signatures, want 1", what, len(it.Envelope.Signatures))
		}
		leaf, err := json.Marshal(it.Envelope) // struct order: payload, signatures[protected, signature]
		if err != nil {
			t.Fatal(err)
		}
		jws, err := jose.ParseSigned(string(leaf), []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil {
			t.Fatalf("%s: go-jose: %v", what, err)
		}
		payload, err := jws.Verify(edKey)
		if err != nil {
			t.Fatalf("%s: go-jose: %v", what, err)
		}
		var p struct {
			V        int    `json:"v"`
			LogIndex uint64 `json:"log_index"`
		}
		if err := json.Unmarshal(payload, &p); err != nil || p.V != 2 || p.LogIndex != it.LeafIndex {
			t.Fatalf("%s: payload v %d, log_index %d (leaf %d), %v", what, p.V, p.LogIndex, it.LeafIndex, err)
		}
		proof := make([][]byte, len(it.InclusionProof))
		for i, s := range it.InclusionProof {
			if proof[i], err = base64.StdEncoding.DecodeString(s); err != nil {
				t.Fatal(err)
			}
		}
		leafHash := sha256.Sum256(append([]byte{0}, leaf...))
		if !rfc9162Inclusion(it.LeafIndex, size, leafHash[:], proof, root) {
			t.Fatalf("%s: leaf %d not in the tree of size %d", what, it.LeafIndex, size)
		}
		// The check written here is not vacuous: another leaf index, or
		// the proof with one bit changed, fails.
		if rfc9162Inclusion(it.LeafIndex^1, size, leafHash[:], proof, root) {
			t.Fatalf("%s: the inclusion check accepts another index", what)
		}
		proof[0][0] ^= 1
		if rfc9162Inclusion(it.LeafIndex, size, leafHash[:], proof, root) {
			t.Fatalf("%s: the inclusion check accepts a wrong proof", what)
		}
		return payload
	}
	var lastHash string
	var payloads [][]byte
	for i, it := range b.Evidence {
		payloads = append(payloads, check(fmt.Sprint("evidence ", i), it))
		leaf, _ := json.Marshal(it.Envelope)
		sum := sha256.Sum256(leaf)
		lastHash = fmt.Sprintf("%x", sum)
	}
	var lastEntry string
	var boundKey json.RawMessage
	for i, it := range b.Mailbox {
		p := check(fmt.Sprint("mailbox entry ", i), it)
		leaf, _ := json.Marshal(it.Envelope)
		sum := sha256.Sum256(leaf)
		lastEntry = fmt.Sprintf("%x", sum)
		var e struct {
			Event string          `json:"event"`
			JWK   json.RawMessage `json:"jwk"`
		}
		if err := json.Unmarshal(p, &e); err != nil {
			t.Fatal(err)
		}
		if e.Event == "CredentialBound" {
			boundKey = e.JWK
		}
	}

	// The status: same two signatures under its own origin, and it names
	// exactly these records.
	statusOrigin, _, _ := strings.Cut(b.Status, "\n")
	if statusOrigin != "npes/status/"+edKey.KeyID {
		t.Fatalf("status origin %q", statusOrigin)
	}
	stText := openCoSigned(t, b.Status, statusOrigin, edPub, &mlPub)
	want := fmt.Sprintf("letter %s\nstate accepted\nrecords %d\nlast %s\nmailbox MB-CITIZEN\nmailbox_entries %d\nmailbox_last %s\ncheckpoint %d\n",
		b.Letter, len(b.Evidence), lastHash, len(b.Mailbox), lastEntry, size)
	if !strings.Contains(stText, want) {
		t.Fatalf("status\n%s\ndoes not contain\n%s", stText, want)
	}

	// The recipient's signature: go-jose ES256 with the x5c leaf, the
	// chain to the pinned CA at the statement's time, and the leaf key is
	// the key the CredentialBound entry names.
	var acceptance struct {
		Event              string    `json:"event"`
		Time               time.Time `json:"time"`
		RecipientSignature string    `json:"recipient_signature"`
	}
	if err := json.Unmarshal(payloads[2], &acceptance); err != nil || acceptance.Event != "ConsignmentAcceptance" {
		t.Fatalf("evidence 2: %+v %v", acceptance, err)
	}
	jws, err := jose.ParseSigned(acceptance.RecipientSignature, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Time time.Time `json:"time"`
	}
	chains, err := jws.Signatures[0].Protected.Certificates(x509.VerifyOptions{Roots: poolOf(f.caCert),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: acceptance.Time})
	if err != nil {
		t.Fatal(err)
	}
	stBytes, err := jws.Verify(chains[0][0].PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(stBytes, &st); err != nil || acceptance.Time.Sub(st.Time).Abs() > 5*time.Minute {
		t.Fatalf("statement time %v, evidence %v, %v", st.Time, acceptance.Time, err)
	}
	var bound jose.JSONWebKey
	if err := bound.UnmarshalJSON(boundKey); err != nil {
		t.Fatal(err)
	}
	tp1, _ := bound.Thumbprint(crypto.SHA256)
	leafJWK := jose.JSONWebKey{Key: chains[0][0].PublicKey}
	tp2, _ := leafJWK.Thumbprint(crypto.SHA256)
	if !bytes.Equal(tp1, tp2) || len(tp1) == 0 {
		t.Fatal("the recipient's key is not the bound key")
	}
}

type item struct {
	Envelope struct {
		Payload    string `json:"payload"`
		Signatures []struct {
			Protected string `json:"protected"`
			Signature string `json:"signature"`
		} `json:"signatures"`
	} `json:"envelope"`
	LeafIndex      uint64   `json:"leaf_index"`
	InclusionProof []string `json:"inclusion_proof"`
}

// openCoSigned checks a signed note's Ed25519 line with x/mod's note
// package and its other line as an ML-DSA-65 signature (key id, then the
// signature) with circl, and returns the text.
func openCoSigned(t *testing.T, msg, name string, ed ed25519.PublicKey, ml *mldsa65.PublicKey) string {
	t.Helper()
	vkey, err := note.NewEd25519VerifierKey(name, ed)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open([]byte(msg), note.VerifierList(v))
	if err != nil {
		t.Fatalf("note: %v", err)
	}
	if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 1 {
		t.Fatalf("%d verified and %d other signatures", len(n.Sigs), len(n.UnverifiedSigs))
	}
	line := n.UnverifiedSigs[0]
	raw, err := base64.StdEncoding.DecodeString(line.Base64)
	if err != nil || len(raw) != 4+mldsa65.SignatureSize {
		t.Fatalf("cosignature of %d bytes: %v", len(raw), err)
	}
	if line.Name != name || !mldsa65.Verify(ml, []byte(n.Text), nil, raw[4:]) {
		t.Fatal("circl rejects the ML-DSA-65 cosignature")
	}
	return n.Text
}

// rfc9162Inclusion is the verification algorithm of RFC 9162 §2.1.3.2.
func rfc9162Inclusion(index, size uint64, leafHash []byte, proof [][]byte, root []byte) bool {
	if index >= size {
		return false
	}
	fn, sn := index, size-1
	r := leafHash
	node := func(l, r []byte) []byte {
		h := sha256.Sum256(append(append([]byte{1}, l...), r...))
		return h[:]
	}
	for _, p := range proof {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			r = node(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = node(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && bytes.Equal(r, root)
}

func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}
