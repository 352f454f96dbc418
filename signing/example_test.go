package signing_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/tlog"
)

// Example shows the whole evidence path: the server seals a payload that
// names its own log index, appends the envelope to the log and, in the
// same transaction, signs the checkpoint of the new size (Ed25519 and
// ML-DSA-65); on request it builds the letter's bundle with a signed
// status. Anyone verifies it offline against the pinned operator keys.
func Example() {
	ctx := context.Background()
	const origin = "npes.example.by/evidence"

	// Once, at initialization: the operator keys (store both with 0600).
	edPEM, mlPEM, err := signing.GenerateOperatorKeys()
	if err != nil {
		log.Fatal(err)
	}
	sealer, err := signing.LoadSealer(edPEM, mlPEM)
	if err != nil {
		log.Fatal(err)
	}

	// Per evidence, in one transaction holding the log head: the payload
	// names the index the envelope will get, then the leaf is appended.
	// A database-backed NodeReader takes the MemoryStore's place.
	store := tlog.NewMemoryStore()
	ev := signing.Evidence{
		V: signing.EvidenceVersion, ID: "E-1", Event: signing.EventSubmissionAcceptance,
		Time:   time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC),
		Letter: "L-1", Route: "electronic", Prev: "", LogIndex: store.Size(),
		Content: &signing.Content{BodySHA256: signing.DigestHex([]byte("Hello"))},
	}
	payload, err := ev.Marshal()
	if err != nil {
		log.Fatal(err)
	}
	env, err := sealer.SealV2(payload)
	if err != nil {
		log.Fatal(err)
	}
	leaf := env.Bytes() // store exactly these bytes
	nodes, root, err := tlog.Append(ctx, store, ev.LogIndex, tlog.LeafHash(leaf))
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Write(ev.LogIndex+1, nodes); err != nil { // the caller's transaction
		log.Fatal(err)
	}

	// In the same transaction: the co-signed checkpoint of the new size.
	checkpoint, err := sealer.SignCheckpoint(origin, store.Size(), root)
	if err != nil {
		log.Fatal(err)
	}
	// On request: the bundle, with a status naming what it holds.
	bundle := signing.Bundle{V: signing.BundleVersion, Letter: "L-1", Checkpoint: string(checkpoint)}
	proof, err := tlog.InclusionProof(ctx, store, ev.LogIndex, store.Size())
	if err != nil {
		log.Fatal(err)
	}
	if err := bundle.AddEvidence(leaf, ev.LogIndex, proof); err != nil {
		log.Fatal(err)
	}
	status, err := sealer.SignStatus(signing.Status{Letter: "L-1", State: "delivered", Records: 1,
		Last: env.Hash(), CheckpointSize: store.Size(), Time: ev.Time.Add(time.Minute)})
	if err != nil {
		log.Fatal(err)
	}
	bundle.Status = string(status)
	file, err := bundle.Marshal()
	if err != nil {
		log.Fatal(err)
	}

	// Offline, with the operator's published keys (GET /v1/keys) pinned.
	trust, err := signing.NewTrust(sealer.JWKS())
	if err != nil {
		log.Fatal(err)
	}
	report, err := signing.VerifyBundle(file, signing.VerifyOptions{Trust: trust, Body: []byte("Hello")})
	if err != nil {
		fmt.Println("FAILED:", err)
		return
	}
	for _, e := range report.Evidence {
		fmt.Println(e.LeafIndex, e.Event, e.Time.Format(time.RFC3339))
	}
	fmt.Println("checkpoint", report.Checkpoint.Origin, report.Checkpoint.Size, "body checked:", report.BodyChecked)
	fmt.Println("complete as of", report.Status.Time.Format(time.RFC3339))
	// Output:
	// 0 SubmissionAcceptance 2025-03-01T09:00:00Z
	// checkpoint npes.example.by/evidence 1 body checked: true
	// complete as of 2025-03-01T09:01:00Z
}
