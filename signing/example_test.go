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
// names its own log index, appends the envelope to the log, signs a
// checkpoint and builds the letter's bundle; anyone verifies it offline.
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
		V: 1, ID: "E-1", Event: signing.EventSubmissionAcceptance,
		Time:   time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC),
		Letter: "L-1", Route: "electronic", Prev: "", LogIndex: store.Size(),
		Content: &signing.Content{BodySHA256: signing.DigestHex([]byte("Hello"))},
	}
	payload, err := ev.Marshal()
	if err != nil {
		log.Fatal(err)
	}
	env, err := sealer.Seal(payload)
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

	// Periodically: a signed checkpoint. On request: the bundle.
	checkpoint, err := sealer.SignCheckpoint(origin, store.Size(), root)
	if err != nil {
		log.Fatal(err)
	}
	vkey, _ := sealer.NoteVerifierKey(origin)
	cokey, _ := sealer.NoteCosignerKey(origin)
	bundle := signing.Bundle{
		V: 1, Letter: "L-1", Keys: sealer.JWKS(),
		NoteVerifierKey: vkey, NoteCosignerKey: cokey, Checkpoint: string(checkpoint),
	}
	proof, err := tlog.InclusionProof(ctx, store, ev.LogIndex, store.Size())
	if err != nil {
		log.Fatal(err)
	}
	if err := bundle.AddEvidence(leaf, ev.LogIndex, proof); err != nil {
		log.Fatal(err)
	}
	file, err := bundle.Marshal()
	if err != nil {
		log.Fatal(err)
	}

	// Offline, with the operator's published keys pinned.
	keys := sealer.JWKS()
	report, err := signing.VerifyBundle(file, signing.VerifyOptions{
		TrustedJWKS: &keys, TrustedNoteKey: vkey, Body: []byte("Hello"),
	})
	if err != nil {
		fmt.Println("FAILED:", err)
		return
	}
	for _, e := range report.Evidence {
		fmt.Println(e.LeafIndex, e.Event, e.Time.Format(time.RFC3339))
	}
	fmt.Println("checkpoint", report.Checkpoint.Origin, report.Checkpoint.Size, "body checked:", report.BodyChecked)
	// Output:
	// 0 SubmissionAcceptance 2025-03-01T09:00:00Z
	// checkpoint npes.example.by/evidence 1 body checked: true
}
