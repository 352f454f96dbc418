package signing_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/tlog"
)

const testOrigin = "npes/evidence/test"

// letterFixture is one letter's evidence, and the log entries of its
// recipient's mailbox, in a log shared with other letters, as the server
// builds them; bundle is assembled from them.
type letterFixture struct {
	sealer      *signing.Sealer
	trust       *signing.Trust
	log         *tlog.MemoryStore
	body        []byte
	attachments map[string][]byte
	events      []signing.Event
	leaves      [][]byte // the letter's envelopes as stored
	indices     []uint64
	entries     [][]byte // the mailbox's entries as stored
	entryIdx    []uint64
	status      signing.Status
	bundle      signing.Bundle
	// recipient's credential and the identity CA
	caCert, otherCA *x509.Certificate
	caKey, otherKey crypto.Signer
	recipientKey    crypto.Signer
	recipientCert   *x509.Certificate
}

// fixtureOpts varies how the fixture is built.
type fixtureOpts struct {
	// legacy seals the letter's evidence as v1 envelopes (two signatures)
	// and logs the mailbox entries after it, as the migration does.
	legacy bool
	// v1 builds a version 1 bundle (no status, no mailbox entries) of an
	// unsigned letter that expired, or with v1Accepted of an accepted one.
	v1, v1Accepted bool
	// statement changes the recipient's statement before signing; raw
	// replaces the signed payload.
	statement func(*signing.Statement)
	raw       func([]byte) []byte
	// bindAfter logs the binding after the decision; unbind logs an
	// unbinding of the key before it.
	bindAfter, unbind bool
	// recoveredTo binds the key by a MailboxRecovered entry (a recovery
	// completed with it); recoveredAway binds it, then logs a recovery
	// that binds another key in its place.
	recoveredTo, recoveredAway bool
	// foreignCA issues the recipient's certificate from a CA nobody pins.
	foreignCA bool
	// certNotAfter ends the certificate's validity (default t0 + 1 year).
	certNotAfter time.Time
}

var fixtureEvents = []signing.Event{
	signing.EventSubmissionAcceptance,
	signing.EventNotificationForAcceptance,
	signing.EventConsignmentAcceptance,
	signing.EventContentHandover,
}

var legacyEvents = []signing.Event{
	signing.EventSubmissionAcceptance,
	signing.EventNotificationForAcceptance,
	signing.EventAcceptanceRejectionExpiry,
	signing.EventRelayToNonERDS,
}

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func newCert(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, key crypto.Signer) *x509.Certificate {
	t.Helper()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newCA(t testing.TB, name string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: t0.AddDate(-1, 0, 0), NotAfter: t0.AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	return newCert(t, tmpl, key.Public(), nil, key), key
}

func caPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// newLetterFixture builds the default fixture: a v2 bundle of a letter
// the recipient accepted with a signature.
func newLetterFixture(t testing.TB, s *signing.Sealer) *letterFixture {
	return buildFixture(t, s, fixtureOpts{})
}

func buildFixture(t testing.TB, s *signing.Sealer, o fixtureOpts) *letterFixture {
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
		events: fixtureEvents,
	}
	if o.v1 && !o.v1Accepted {
		f.events = legacyEvents
	}
	f.caCert, f.caKey = newCA(t, "npes identity CA")
	f.otherCA, f.otherKey = newCA(t, "another CA")
	rk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.recipientKey = rk
	notAfter := t0.AddDate(1, 0, 0)
	if !o.certNotAfter.IsZero() {
		notAfter = o.certNotAfter
	}
	issuer, issuerKey := f.caCert, f.caKey
	if o.foreignCA {
		issuer, issuerKey = f.otherCA, f.otherKey
	}
	f.recipientCert = newCert(t, &x509.Certificate{SerialNumber: big.NewInt(0x1a2b3c), Subject: pkix.Name{CommonName: "Иванов Иван Иванович"},
		NotBefore: t0.AddDate(0, -1, 0), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, rk.Public(), issuer, issuerKey)
	if f.trust, err = signing.NewTrust(s.JWKS(), caPEM(f.caCert)); err != nil {
		t.Fatal(err)
	}

	noise := func(n int) {
		for i := 0; i < n; i++ {
			if _, _, err := f.log.Append(ctx, tlog.LeafHash([]byte(fmt.Sprintf("other letter %d/%d", f.log.Size(), i)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendLeaf := func(env signing.Envelope) (uint64, []byte) {
		leaf := env.Bytes()
		idx := f.log.Size()
		if _, _, err := f.log.Append(ctx, tlog.LeafHash(leaf)); err != nil {
			t.Fatal(err)
		}
		return idx, leaf
	}
	jwk, err := signing.NewJWK(rk.Public())
	if err != nil {
		t.Fatal(err)
	}
	entryPrev := ""
	addEntry := func(m signing.MailboxEntry) {
		noise(2)
		m.V, m.ID, m.Mailbox, m.Prev, m.LogIndex = 2, fmt.Sprintf("M-%d", len(f.entries)), "MB-CITIZEN", entryPrev, f.log.Size()
		if m.AuthorizedBy == "" {
			m.AuthorizedBy = "operator:0A"
		}
		payload, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		env, err := s.SealV2(payload)
		if err != nil {
			t.Fatal(err)
		}
		idx, leaf := appendLeaf(env)
		f.entries, f.entryIdx = append(f.entries, leaf), append(f.entryIdx, idx)
		entryPrev = env.Hash()
	}
	ident := &signing.CredentialIdentity{ID: "abcd:1A2B3C", Issuer: "CN=npes identity CA", Serial: "1A2B3C"}
	entries := func(by string, at time.Time) {
		addEntry(signing.MailboxEntry{Event: signing.EventMailboxActivated, Time: at, How: "code", AuthorizedBy: by,
			Holder: "pn:3010190A001PB1", MatchKey: "220030|минск|ленина|1"})
		if o.unbind {
			addEntry(signing.MailboxEntry{Event: signing.EventCredentialBound, Time: at, Identity: ident, JWK: &jwk, AuthorizedBy: by})
			addEntry(signing.MailboxEntry{Event: signing.EventCredentialUnbound, Time: at, Identity: ident, JWK: &jwk, AuthorizedBy: by})
		} else if o.recoveredTo {
			addEntry(signing.MailboxEntry{Event: signing.EventMailboxRecovered, Time: at, Identity: ident, JWK: &jwk, AuthorizedBy: by,
				How: "recovery-code", Holder: "pn:3010190A001PB1"})
		} else if !o.bindAfter {
			addEntry(signing.MailboxEntry{Event: signing.EventCredentialBound, Time: at, Identity: ident, JWK: &jwk, AuthorizedBy: by})
		}
		if o.recoveredAway {
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			ojwk, err := signing.NewJWK(other.Public())
			if err != nil {
				t.Fatal(err)
			}
			addEntry(signing.MailboxEntry{Event: signing.EventMailboxRecovered, Time: at, AuthorizedBy: by, How: "counter",
				Holder: "pn:3010190A001PB1", JWK: &ojwk,
				Identity: &signing.CredentialIdentity{ID: "abcd:FFFF", Issuer: "CN=npes identity CA", Serial: "FFFF"}})
		}
	}
	if !o.legacy && !o.v1 {
		entries("", t0.Add(-time.Hour))
	}

	content := &signing.Content{
		BodySHA256: signing.DigestHex(f.body),
		Attachments: []signing.Attachment{
			{Name: "решение.pdf", Size: int64(len(f.attachments["решение.pdf"])), SHA256: signing.DigestHex(f.attachments["решение.pdf"])},
			{Name: "scan.png", Size: int64(len(f.attachments["scan.png"])), SHA256: signing.DigestHex(f.attachments["scan.png"])},
		},
	}
	prev := ""
	for i, ev := range f.events {
		noise(3 + 5*i)
		v := 2
		if o.legacy || o.v1 {
			v = 1
		}
		e := signing.Evidence{
			V: v, ID: fmt.Sprintf("E-%d", i), Event: ev, Time: t0.Add(time.Duration(i) * time.Hour),
			Letter: "L-1", Tracking: "RR123456785BY",
			Sender:    signing.Party{Mailbox: "MB-ORG", Name: "ОАО Белтелеком"},
			Recipient: signing.Party{Mailbox: "MB-CITIZEN", Name: "Иванов Иван Иванович", Address: "220030, г. Минск, ул. Ленина, 1"},
			Route:     "electronic", Prev: prev, LogIndex: f.log.Size(), Content: content,
		}
		if o.v1 && !o.v1Accepted {
			e.Recipient.Mailbox = ""
		}
		if ev == signing.EventNotificationForAcceptance {
			e.ID = "N-1"
		}
		if ev == signing.EventConsignmentAcceptance {
			st := signing.Statement{V: 1, Decision: signing.DecisionAccept, Letter: "L-1", Notification: "N-1",
				ContentSHA256: signing.ContentDigest(content), Time: e.Time.Add(-30 * time.Second)}
			if o.statement != nil {
				o.statement(&st)
			}
			raw, err := json.Marshal(st)
			if err != nil {
				t.Fatal(err)
			}
			if o.raw != nil {
				raw = o.raw(raw)
			}
			if e.RecipientSignature, err = signing.SignCompact(rk, []*x509.Certificate{f.recipientCert}, raw); err != nil {
				t.Fatal(err)
			}
		}
		payload, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var env signing.Envelope
		if v == 1 {
			env, err = s.Seal(payload)
		} else {
			env, err = s.SealV2(payload)
		}
		if err != nil {
			t.Fatal(err)
		}
		idx, leaf := appendLeaf(env)
		f.indices, f.leaves = append(f.indices, idx), append(f.leaves, leaf)
		prev = env.Hash()
		if o.bindAfter && ev == signing.EventConsignmentAcceptance {
			addEntry(signing.MailboxEntry{Event: signing.EventCredentialBound, Time: t0, Identity: ident, JWK: &jwk, AuthorizedBy: "operator:0A"})
		}
	}
	if o.legacy {
		entries("migration", t0.Add(-time.Hour))
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
	item := func(leaf []byte, idx uint64) signing.BundleEvidence {
		p, err := tlog.InclusionProof(ctx, f.log, idx, size)
		if err != nil {
			t.Fatal(err)
		}
		it, err := signing.NewBundleEvidence(leaf, idx, p)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	f.bundle = signing.Bundle{V: 2, Letter: "L-1", Checkpoint: string(cp)}
	if o.v1 {
		vkey, _ := s.NoteVerifierKey(testOrigin)
		cokey, _ := s.NoteCosignerKey(testOrigin)
		keys := s.JWKS()
		f.bundle = signing.Bundle{V: 1, Letter: "L-1", Keys: &keys, NoteVerifierKey: vkey, NoteCosignerKey: cokey, Checkpoint: string(cp)}
	}
	for i, leaf := range f.leaves {
		f.bundle.Evidence = append(f.bundle.Evidence, item(leaf, f.indices[i]))
	}
	for i, leaf := range f.entries {
		f.bundle.MailboxEntries = append(f.bundle.MailboxEntries, item(leaf, f.entryIdx[i]))
	}
	if !o.v1 {
		f.status = signing.Status{Letter: "L-1", State: "accepted", Records: len(f.leaves), Last: signing.DigestHex(f.leaves[len(f.leaves)-1]),
			Mailbox: "MB-CITIZEN", CheckpointSize: size, Time: t0.Add(10 * time.Hour)}
		if n := len(f.entries); n > 0 {
			f.status.MailboxEntries, f.status.MailboxLast = n, signing.DigestHex(f.entries[n-1])
		}
		f.resign(t)
	}
	return f
}

// resign signs f.status into the bundle.
func (f *letterFixture) resign(t testing.TB) {
	t.Helper()
	st, err := f.sealer.SignStatus(f.status)
	if err != nil {
		t.Fatal(err)
	}
	f.bundle.Status = string(st)
}

func (f *letterFixture) opts() signing.VerifyOptions {
	return signing.VerifyOptions{Trust: f.trust}
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
	opts := f.opts()
	opts.Body, opts.Attachments = f.body, f.attachments
	rep, err := signing.VerifyBundle(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != "bundle" || rep.Version != 2 || rep.Letter != "L-1" || len(rep.Evidence) != len(fixtureEvents) ||
		rep.Checkpoint.Origin != testOrigin || !rep.BodyChecked || !rep.Complete() {
		t.Fatalf("report %+v", rep)
	}
	if rep.Status.State != "accepted" || !rep.Status.Time.Equal(t0.Add(10*time.Hour)) || rep.Status.Records != 4 {
		t.Errorf("status %+v", rep.Status)
	}
	for i, e := range rep.Evidence {
		if e.Event != fixtureEvents[i] || e.LeafIndex != f.indices[i] || e.Hash != signing.DigestHex(f.leaves[i]) || e.Version != 2 {
			t.Errorf("evidence %d: %+v", i, e)
		}
	}
	if len(rep.Attachments) != 2 || !rep.Attachments[0].Checked || !rep.Attachments[1].Checked {
		t.Errorf("attachments %+v", rep.Attachments)
	}
	if len(rep.RecipientSignatures) != 1 || rep.RecipientSignatures[0].BoundBy != f.entryIdx[1] ||
		rep.RecipientSignatures[0].Serial != "1A2B3C" || rep.RecipientSignatures[0].Decision != signing.DecisionAccept {
		t.Errorf("recipient signatures %+v", rep.RecipientSignatures)
	}
	if len(rep.MailboxEntries) != 2 || len(rep.KeyIDs) != 1 || rep.KeyIDs[0] != f.sealer.Kid() {
		t.Errorf("entries %d, signers %v", len(rep.MailboxEntries), rep.KeyIDs)
	}

	// Whitespace in the file is irrelevant: the leaf is canonical.
	var compactBuf bytes.Buffer
	if err := json.Compact(&compactBuf, b); err != nil {
		t.Fatal(err)
	}
	if _, err := signing.VerifyBundle(compactBuf.Bytes(), f.opts()); err != nil {
		t.Errorf("compact bundle: %v", err)
	}

	// Without attachments nothing is checked, but the rest verifies.
	rep, err = signing.VerifyBundle(b, f.opts())
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
	other := newLetterFixture(t, f.sealer)
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
	statusFor := func(mut func(*signing.Status)) string {
		st := f.status
		mut(&st)
		b, err := f.sealer.SignStatus(st)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
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
		{"second signature added", func(b *signing.Bundle) {
			b.Evidence[3].Envelope.Signatures = append(b.Evidence[3].Envelope.Signatures, b.Evidence[3].Envelope.Signatures[0])
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
		{"checkpoint ML-DSA cosignature changed", func(b *signing.Bundle) {
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
		{"checkpoint ML-DSA cosignature removed", func(b *signing.Bundle) {
			lines := strings.Split(b.Checkpoint, "\n")
			b.Checkpoint = strings.Join(append(lines[:len(lines)-2], ""), "\n")
		}, signing.ErrCheckpoint, "no ML-DSA-65 cosignature"},
		{"status given as checkpoint", func(b *signing.Bundle) { b.Checkpoint = b.Status }, signing.ErrCheckpoint, "status note is not a checkpoint"},
		{"checkpoint given as status", func(b *signing.Bundle) { b.Status = b.Checkpoint }, signing.ErrStatus, ""},
		{"bundle letter", func(b *signing.Bundle) { b.Letter = "L-2" },
			signing.ErrLetterMismatch, "evidence 0 (SubmissionAcceptance)"},
		{"evidence removed", func(b *signing.Bundle) { b.Evidence = append(b.Evidence[:1], b.Evidence[2:]...) },
			signing.ErrChainBroken, "evidence 1 (ConsignmentAcceptance): evidence chain broken"},
		{"first evidence removed", func(b *signing.Bundle) { b.Evidence = b.Evidence[1:] },
			signing.ErrChainBroken, "first evidence has prev"},
		{"evidence reordered", func(b *signing.Bundle) { b.Evidence[1], b.Evidence[2] = b.Evidence[2], b.Evidence[1] },
			signing.ErrChainBroken, "evidence 1 (ConsignmentAcceptance)"},
		{"evidence duplicated", func(b *signing.Bundle) { b.Evidence = append(b.Evidence, b.Evidence[3]) },
			signing.ErrLogIndexMismatch, "evidence 4"},
		{"last records cut off", func(b *signing.Bundle) { b.Evidence = b.Evidence[:2] },
			signing.ErrIncomplete, "status names 4 records, the bundle has 2"},
		{"last record cut off, status re-signed for another count", func(b *signing.Bundle) {
			b.Evidence = b.Evidence[:3]
			b.Status = statusFor(func(s *signing.Status) { s.Records = 3 })
		}, signing.ErrIncomplete, "the last record is not the one the status names"},
		{"status of another letter's bundle", func(b *signing.Bundle) { b.Status = other.bundle.Status },
			signing.ErrIncomplete, ""},
		{"status of another checkpoint size", func(b *signing.Bundle) {
			b.Status = statusFor(func(s *signing.Status) { s.CheckpointSize++ })
		}, signing.ErrIncomplete, "checkpoint size"},
		{"status removed", func(b *signing.Bundle) { b.Status = "" }, signing.ErrMalformedBundle, "without status"},
		{"status signature changed", func(b *signing.Bundle) { b.Status = strings.Replace(b.Status, "state accepted", "state refused", 1) },
			signing.ErrStatus, ""},
		{"mailbox entry cut off", func(b *signing.Bundle) { b.MailboxEntries = b.MailboxEntries[:1] },
			signing.ErrIncomplete, "mailbox entries"},
		{"mailbox entries removed", func(b *signing.Bundle) { b.MailboxEntries = nil },
			signing.ErrIncomplete, ""},
		{"first mailbox entry removed", func(b *signing.Bundle) { b.MailboxEntries = b.MailboxEntries[1:] },
			signing.ErrChainBroken, "mailbox entry 0"},
		{"mailbox entry of another letter's fixture", func(b *signing.Bundle) { b.MailboxEntries[1] = other.bundle.MailboxEntries[1] },
			signing.ErrInclusion, "mailbox entry 1"},
		{"keys in a version 2 bundle", func(b *signing.Bundle) { k := f.sealer.JWKS(); b.Keys = &k }, signing.ErrMalformedBundle, "no keys"},
		{"version", func(b *signing.Bundle) { b.V = 3 }, signing.ErrMalformedBundle, ""},
		{"no evidence", func(b *signing.Bundle) { b.Evidence = nil }, signing.ErrMalformedBundle, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := clone()
			tc.mutate(&b)
			raw, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			_, err = signing.VerifyBundle(raw, f.opts())
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q, want it to contain %q", err, tc.msg)
			}
		})
	}
}

// TestVerifyBundleRecipientSignature: the recipient's own signature is
// checked offline against the pinned identity CA, the statement and the
// mailbox's key bindings in the log.
func TestVerifyBundleRecipientSignature(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	cases := []struct {
		name string
		o    fixtureOpts
		want error
		msg  string
	}{
		{"statement 5 min before", fixtureOpts{statement: func(st *signing.Statement) { st.Time = t0.Add(2*time.Hour - 5*time.Minute) }}, nil, ""},
		{"statement 5 min after", fixtureOpts{statement: func(st *signing.Statement) { st.Time = t0.Add(2*time.Hour + 5*time.Minute) }}, nil, ""},
		{"statement 5 min 1 s before", fixtureOpts{statement: func(st *signing.Statement) { st.Time = t0.Add(2*time.Hour - 5*time.Minute - time.Second) }},
			signing.ErrStatement, "more than 5m0s"},
		{"statement a day later", fixtureOpts{statement: func(st *signing.Statement) { st.Time = t0.Add(26 * time.Hour) }}, signing.ErrStatement, ""},
		{"statement for another letter", fixtureOpts{statement: func(st *signing.Statement) { st.Letter = "L-2" }}, signing.ErrStatement, "another letter"},
		{"statement names another notification", fixtureOpts{statement: func(st *signing.Statement) { st.Notification = "E-0" }}, signing.ErrStatement, "notification"},
		{"statement names other content", fixtureOpts{statement: func(st *signing.Statement) { st.ContentSHA256 = strings.Repeat("0", 64) }}, signing.ErrStatement, "content"},
		{"refusal in an acceptance", fixtureOpts{statement: func(st *signing.Statement) { st.Decision = signing.DecisionRefuse }}, signing.ErrStatement, "refuse"},
		{"statement version", fixtureOpts{statement: func(st *signing.Statement) { st.V = 2 }}, signing.ErrStatement, "version"},
		{"duplicate member", fixtureOpts{raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"letter":"L-1"`), []byte(`"letter":"L-2","letter":"L-1"`), 1)
		}}, signing.ErrStatement, "duplicate"},
		{"unknown member", fixtureOpts{raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`{`), []byte(`{"scope":"all letters",`), 1)
		}}, signing.ErrStatement, "unknown field"},
		{"trailing data", fixtureOpts{raw: func(b []byte) []byte { return append(b, []byte(` {"decision":"refuse"}`)...) }}, signing.ErrStatement, ""},
		{"certificate from an unpinned CA", fixtureOpts{foreignCA: true}, signing.ErrRecipientSignature, "pinned identity CA"},
		{"certificate expired at the statement time", fixtureOpts{certNotAfter: t0.Add(time.Hour)}, signing.ErrRecipientSignature, "pinned identity CA"},
		{"key bound after the decision", fixtureOpts{bindAfter: true}, signing.ErrRecipientSignature, "before the decision"},
		{"key unbound before the decision", fixtureOpts{unbind: true}, signing.ErrRecipientSignature, "before the decision"},
		{"key bound by a recovery", fixtureOpts{recoveredTo: true}, nil, ""},
		{"key replaced by a recovery before the decision", fixtureOpts{recoveredAway: true}, signing.ErrRecipientSignature, "before the decision"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := buildFixture(t, s, tc.o)
			rep, err := signing.VerifyBundle(f.marshal(t), f.opts())
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("err = %q, want it to contain %q", err, tc.msg)
				}
				if !strings.Contains(err.Error(), "evidence 2 (ConsignmentAcceptance)") {
					t.Errorf("err = %q does not name the decision", err)
				}
				return
			}
			if len(rep.RecipientSignatures) != 1 {
				t.Errorf("recipient signatures %+v", rep.RecipientSignatures)
			}
		})
	}
	// Without a pinned identity CA the recipient's signature cannot be
	// checked: nothing counts as verified.
	f := newLetterFixture(t, s)
	noCA, err := signing.NewTrust(s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.VerifyBundle(f.marshal(t), signing.VerifyOptions{Trust: noCA}); !errors.Is(err, signing.ErrNoTrust) {
		t.Errorf("no identity CA pinned: err = %v, want ErrNoTrust", err)
	}
}

// TestVerifyBundleLegacy: v1 envelopes (two signatures) keep verifying;
// a version 1 bundle verifies its records but is not proven complete; a
// version 2 bundle of a letter decided before the log held mailbox
// entries finds the key binding among the migration's entries by time.
func TestVerifyBundleLegacy(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	v1 := buildFixture(t, s, fixtureOpts{v1: true})
	rep, err := signing.VerifyBundle(v1.marshal(t), v1.opts())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Version != 1 || rep.Complete() || len(rep.Evidence) != 4 || rep.Evidence[0].Version != 1 {
		t.Errorf("v1 report %+v", rep)
	}
	// An accepted letter's v1 bundle: the recipient's signature is
	// checked, its binding cannot be shown without mailbox entries.
	v1a := buildFixture(t, s, fixtureOpts{v1: true, v1Accepted: true})
	rep, err = signing.VerifyBundle(v1a.marshal(t), v1a.opts())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Complete() || len(rep.RecipientSignatures) != 1 || rep.RecipientSignatures[0].BindingProven {
		t.Errorf("accepted v1 report %+v", rep.RecipientSignatures)
	}
	if len(rep.RecipientSignatures) == 1 && len(rep.MailboxEntries) != 0 {
		t.Errorf("v1 bundle with mailbox entries")
	}
	// The keys a v1 bundle carries are never used: another operator's
	// bundle fails against the pinned keys even though it names its own.
	forged := buildFixture(t, newSealer(t), fixtureOpts{v1: true})
	if _, err := signing.VerifyBundle(forged.marshal(t), v1.opts()); !errors.Is(err, signing.ErrCheckpoint) {
		t.Errorf("v1 bundle of another operator: err = %v, want ErrCheckpoint", err)
	}
	// A v1 envelope with its ML-DSA-65 signature dropped is not a v2
	// envelope: the payload says v 1 (and the leaf changed).
	b := v1.bundle
	b.Evidence = slices.Clone(b.Evidence)
	b.Evidence[3].Envelope.Signatures = b.Evidence[3].Envelope.Signatures[:1]
	raw, _ := json.Marshal(b)
	if _, err := signing.VerifyBundle(raw, v1.opts()); !errors.Is(err, signing.ErrSignatureSet) {
		t.Errorf("ML-DSA-65 signature dropped: err = %v, want ErrSignatureSet", err)
	}

	legacy := buildFixture(t, s, fixtureOpts{legacy: true})
	rep, err = signing.VerifyBundle(legacy.marshal(t), legacy.opts())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Complete() || len(rep.RecipientSignatures) != 1 || !rep.RecipientSignatures[0].BindingProven || rep.Evidence[2].Version != 1 {
		t.Errorf("legacy report %+v", rep)
	}
}

// TestVerifyBundleTrust: nothing verifies without pins, a pin without the
// ML-DSA-65 key is refused, and a bundle re-sealed by someone else fails.
func TestVerifyBundleTrust(t *testing.T) {
	t.Parallel()
	operator := newSealer(t)
	forger := newSealer(t)
	f := newLetterFixture(t, operator)
	b := f.marshal(t)
	if _, err := signing.VerifyBundle(b, signing.VerifyOptions{}); !errors.Is(err, signing.ErrNoTrust) {
		t.Errorf("no trust: err = %v, want ErrNoTrust", err)
	}
	edOnly := operator.JWKS().Select(signing.AlgEdDSA)
	if _, err := signing.NewTrust(edOnly, caPEM(f.caCert)); !errors.Is(err, signing.ErrNoTrust) {
		t.Errorf("Ed25519-only pin: err = %v, want ErrNoTrust", err)
	}
	if _, err := signing.VerifyBundle(b, signing.VerifyOptions{Trust: &signing.Trust{Keys: edOnly}}); !errors.Is(err, signing.ErrNoTrust) {
		t.Errorf("Ed25519-only trust: err = %v, want ErrNoTrust", err)
	}
	// A consistent forgery by other keys.
	fake := newLetterFixture(t, forger)
	if _, err := signing.VerifyBundle(fake.marshal(t), f.opts()); !errors.Is(err, signing.ErrCheckpoint) {
		t.Errorf("forgery: err = %v, want ErrCheckpoint", err)
	}
	// Genuine envelopes under a checkpoint the forger signed, and the
	// genuine checkpoint with only the forger's cosignature.
	root, err := tlog.RootAt(context.Background(), f.log, f.log.Size())
	if err != nil {
		t.Fatal(err)
	}
	forgedCP, err := forger.SignCheckpoint(testOrigin, f.log.Size(), root)
	if err != nil {
		t.Fatal(err)
	}
	relogged := f.bundle
	relogged.Checkpoint = string(forgedCP)
	raw, _ := json.Marshal(relogged)
	if _, err := signing.VerifyBundle(raw, f.opts()); !errors.Is(err, signing.ErrCheckpoint) {
		t.Errorf("forger's checkpoint: err = %v, want ErrCheckpoint", err)
	}
	// Pinned keys of both: each note needs one of each kind, so mixing
	// the genuine Ed25519 line with the forger's ML-DSA line still works
	// only because both keys are pinned; unpinned, it fails.
	mixed := mixNote(t, string(f.bundle.Checkpoint), string(forgedCP))
	relogged.Checkpoint = mixed
	raw, _ = json.Marshal(relogged)
	if _, err := signing.VerifyBundle(raw, f.opts()); !errors.Is(err, signing.ErrCheckpoint) {
		t.Errorf("genuine Ed25519 with the forger's ML-DSA-65: err = %v, want ErrCheckpoint", err)
	}
}

// mixNote returns the text and Ed25519 line of a with the last signature
// line (the ML-DSA-65 cosignature) of b.
func mixNote(t *testing.T, a, b string) string {
	t.Helper()
	la := strings.Split(a, "\n")
	lb := strings.Split(b, "\n")
	la[len(la)-2] = lb[len(lb)-2]
	return strings.Join(la, "\n")
}

// TestVerifyReceipt: a receipt verifies like a bundle and proves the
// submission only.
func TestVerifyReceipt(t *testing.T) {
	t.Parallel()
	f := newLetterFixture(t, newSealer(t))
	r := signing.Receipt{Checkpoint: f.bundle.Checkpoint, Evidence: f.bundle.Evidence[:2]}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := signing.VerifyBundle(raw, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != "receipt" || rep.Letter != "L-1" || len(rep.Evidence) != 2 || rep.Complete() {
		t.Errorf("receipt report %+v", rep)
	}
	bad := r
	bad.Evidence = f.bundle.Evidence[1:2]
	raw, _ = json.Marshal(bad)
	if _, err := signing.VerifyBundle(raw, f.opts()); !errors.Is(err, signing.ErrChainBroken) {
		t.Errorf("receipt without its first record: err = %v, want ErrChainBroken", err)
	}
	raw = bytes.Replace(raw, []byte(`{"checkpoint"`), []byte(`{"status":"x","checkpoint"`), 1)
	if _, err := signing.VerifyBundle(raw, f.opts()); !errors.Is(err, signing.ErrMalformedBundle) {
		t.Errorf("receipt with an unknown member: err = %v, want ErrMalformedBundle", err)
	}
}

// TestVerifyBundleHeldCheckpoint: with a checkpoint the verifier holds,
// the bundle's must be of the same log.
func TestVerifyBundleHeldCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newLetterFixture(t, newSealer(t))
	b := f.marshal(t)
	size1 := f.log.Size()
	sign := func(size uint64) []byte {
		root, err := tlog.RootAt(ctx, f.log, size)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := f.sealer.SignCheckpoint(testOrigin, size, root)
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	for i := range 9 {
		if _, _, err := f.log.Append(ctx, tlog.LeafHash([]byte(fmt.Sprint("later ", i)))); err != nil {
			t.Fatal(err)
		}
	}
	size2 := f.log.Size()
	newer := sign(size2)
	proof, err := tlog.ConsistencyProof(ctx, f.log, size1, size2)
	if err != nil {
		t.Fatal(err)
	}
	older := sign(size1 - 3)
	olderProof, err := tlog.ConsistencyProof(ctx, f.log, size1-3, size1)
	if err != nil {
		t.Fatal(err)
	}
	// A fork: another log with the same operator keys and origin.
	fork := newLetterFixture(t, f.sealer)
	forked := []byte(fork.bundle.Checkpoint)
	bad := slices.Clone(proof)
	bad[0] = bytes.Repeat([]byte{1}, 32)
	cases := []struct {
		name  string
		held  []byte
		proof [][]byte
		want  error
	}{
		{"same checkpoint", []byte(f.bundle.Checkpoint), nil, nil},
		{"newer with proof", newer, proof, nil},
		{"older with proof", older, olderProof, nil},
		{"newer without proof", newer, nil, signing.ErrConsistency},
		{"newer with a wrong proof", newer, bad, signing.ErrConsistency},
		{"fork of another size", forked, proof, signing.ErrConsistency},
		{"unsigned", []byte("npes/evidence/test\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), nil, signing.ErrCheckpoint},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := f.opts()
			opts.Checkpoint, opts.Consistency = tc.held, tc.proof
			rep, err := signing.VerifyBundle(b, opts)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && rep.HeldCheckpoint == nil {
				t.Error("held checkpoint not reported")
			}
		})
	}
}

// TestVerifyBundleByteFlips flips one bit in bytes spread over the whole
// file (envelopes, proofs, checkpoint, status, field names): every flip
// must fail. A stride keeps the run short; the offsets cover every part.
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
		if _, err := signing.VerifyBundle(m, f.opts()); err == nil {
			t.Fatalf("flip at offset %d (%q in …%s…) verified", off, b[off], b[max(0, off-20):min(len(b), off+20)])
		}
	}
}

func TestVerifyBundleContent(t *testing.T) {
	t.Parallel()
	f := newLetterFixture(t, newSealer(t))
	b := f.marshal(t)
	changed := map[string][]byte{"решение.pdf": []byte("%PDF-1.7 decisioN"), "scan.png": f.attachments["scan.png"]}
	longer := map[string][]byte{"решение.pdf": f.attachments["решение.pdf"], "scan.png": append([]byte("x"), f.attachments["scan.png"]...)}
	for name, a := range map[string]struct {
		body []byte
		atts map[string][]byte
	}{
		"changed attachment": {atts: changed},
		"longer attachment":  {atts: longer},
		"unknown attachment": {atts: map[string][]byte{"virus.exe": []byte("MZ")}},
		"missing attachment": {atts: map[string][]byte{"scan.png": f.attachments["scan.png"]}},
		"changed body":       {body: []byte("другой текст")},
	} {
		opts := f.opts()
		opts.Body, opts.Attachments = a.body, a.atts
		_, err := signing.VerifyBundle(b, opts)
		if !errors.Is(err, signing.ErrAttachment) {
			t.Errorf("%s: err = %v, want ErrAttachment", name, err)
		}
	}
}

func TestBundleAddEvidenceRefusesNonCanonical(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	env, err := s.SealV2([]byte(`{}`))
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

// TestVerifyBundleSharedTrust: one Trust serves concurrent verifications
// (npes bench verify, a server checking many bundles); run with -race.
func TestVerifyBundleSharedTrust(t *testing.T) {
	t.Parallel()
	f := newLetterFixture(t, newSealer(t))
	b := f.marshal(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := signing.VerifyBundle(b, f.opts())
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
