// Package signing makes and checks npes evidence: the operator's seal
// (EdDSA envelopes, with ML-DSA-65 on the log checkpoints) over evidence
// payloads as JWS envelopes,
// recipients' own signatures of acceptance or refusal, and offline
// verification of a letter's evidence bundle against the evidence log
// (package signing/tlog).
//
// # Algorithms and keys
//
// A closed registry of JOSE algorithms (SchemeByAlg, Schemes): EdDSA
// (Ed25519, RFC 8037), ES256 (ECDSA P-256, RFC 7518 §3.4, R||S) and
// ML-DSA-65 (FIPS 204 pure mode, empty context, RFC 9964). Keys are
// crypto.Signer values, so a PKCS#11 token can replace the in-memory keys.
// The operator keys are stored as PKCS#8 PEM: Ed25519 per RFC 8410,
// ML-DSA-65 in the seed form of RFC 9881. A kid is the RFC 7638 JWK
// thumbprint of the key (RFC 9964 §6 for AKP keys): recomputable by any
// JOSE library and bound to the key, so a kid can never name another key.
//
// # What each signature proves
//
// An evidence envelope is a JWS in General JSON Serialization. Since
// format v2 (SealV2, payload "v": 2) it carries one EdDSA signature, which
// any JOSE library checks. Post-quantum protection is amortized over the
// log, as Merkle Tree Certificates do for TLS: every transaction that
// appends evidence also stores the checkpoint of the new tree size,
// signed with Ed25519 and co-signed with ML-DSA-65 (FIPS 204, empty
// context) — one ML-DSA-65 signature per commit instead of one per
// record. A v2 envelope counts as verified only with (a) its EdDSA
// signature, (b) an RFC 6962 inclusion proof of its canonical bytes into
// (c) a checkpoint whose Ed25519 and ML-DSA-65 signatures both verify
// against pinned keys (Trust; a pin without the ML-DSA-65 key is an
// error, never a silent Ed25519-only check).
//
// Why that is as strong as two signatures per envelope: a forger must
// present an envelope that passes EdDSA and whose leaf is in a tree whose
// root a co-signed checkpoint commits to.
//   - An attacker who breaks Ed25519 (a quantum computer) can sign any
//     payload, but cannot sign a checkpoint's ML-DSA-65 line, so the
//     forged envelope must be a leaf of a tree the operator really
//     committed to. Making a different envelope hash to a leaf or node
//     already in that tree is a second preimage or collision of SHA-256,
//     and RFC 6962 hashes leaves as SHA-256(0x00 || leaf) and interior
//     nodes as SHA-256(0x01 || left || right), so an interior node can
//     never be passed off as a leaf nor a leaf as a subtree. Nor can the
//     operator itself have logged two colliding leaves in advance: that
//     too needs a SHA-256 collision.
//   - An attacker who breaks ML-DSA-65 alone still cannot make the EdDSA
//     signature of the envelope.
//
// So a forgery needs both schemes broken (or SHA-256 collisions), as
// before. A lone v2 envelope without its proof has classical strength
// only; bundles and the sender's receipt therefore always carry the
// proofs and the checkpoint. Theft of both signing keys is outside the
// argument: keep them apart.
//
// Version 1 envelopes (Seal) carry the EdDSA and an ML-DSA-65 signature
// over the same signing input and keep verifying: Verify accepts exactly
// one EdDSA signature (v2) or exactly one of each (v1), and a
// one-signature envelope whose payload says "v": 1 (a v1 envelope with its
// ML-DSA-65 signature stripped) is refused.
//
// # Complete bundles and pinned trust
//
// A bundle (VerifyBundle) also carries a status note (Sealer.SignStatus):
// the operator's co-signed statement of the letter, the number of its
// records and the hash of the last one, its state, the recipient
// mailbox's log entries it carries and the checkpoint size. Its origin
// line "npes/status/<kid>" can never be read as a checkpoint. A bundle
// whose records do not match its status fails, so a bundle with its last
// records cut off (a refusal, a return to sender) cannot pass for a
// shorter story; a version 1 bundle without a status verifies its records
// but is reported as not proven complete.
//
// Keys inside a file are never a trust anchor: VerifyBundle needs Trust,
// the operator's JWKS (GET /v1/keys) obtained out of band and the
// identity CAs of recipients' credentials.
//
// A recipient signature (SignCompact) is made by the recipient's own
// credential over a statement naming the letter, the notification
// evidence and the content digest. It proves the recipient's consent,
// which the operator's seal cannot: the operator embeds it in the
// ConsignmentAcceptance payload and seals it, so the evidence shows both
// that the recipient signed and when the operator recorded it.
// ParseCompact/Verify check only the signature with the x5c leaf key.
// VerifyBundle does the rest offline: the chain to a pinned identity CA
// at the statement's time, the strictly parsed statement (ParseStatement)
// naming this letter, its notification and content digest within
// MaxStatementSkew of the recording evidence, and the key's binding to the
// recipient's mailbox by a CredentialBound log entry (MailboxEntry) that
// precedes the decision with no CredentialUnbound in between.
//
// # Why the log index is inside the signed payload
//
// Each payload names its own leaf index in the evidence log (log_index)
// and the hash of the letter's previous envelope (prev). Both are signed.
// prev chains a letter's evidence: none can be removed, reordered or
// inserted without breaking a signature. log_index binds the envelope to
// one position in the single global log: the operator cannot present the
// same evidence at two positions, or a bundle with evidence that was never
// logged, because the inclusion proof must be for the index the payload
// itself states. Since the index is assigned before sealing, sealing
// happens inside the log append's critical section; a v2 seal is one
// Ed25519 signature (about 0.02 ms), the ML-DSA-65 signature is paid once
// per commit on the checkpoint.
//
// # How checkpoints make rewriting history detectable
//
// Every envelope is a leaf of an append-only RFC 6962 Merkle tree. A
// checkpoint (c2sp.org/tlog-checkpoint) commits to the tree's size and
// root and is a note signed with the operator's Ed25519 key plus an
// ML-DSA-65 cosignature. Once anyone holds a signed checkpoint (a
// recipient's bundle, an auditor, a witness), the operator cannot change
// or drop any earlier leaf: every later checkpoint must be provably
// consistent with it (tlog.VerifyConsistency), and an inconsistent pair of
// checkpoints — both signed by the operator — is itself portable proof of
// misbehaviour. VerifyOptions.Checkpoint lets a verifier who holds a
// checkpoint require the bundle's to be consistent with it. A bundle's inclusion proofs tie its envelopes to such a
// checkpoint, so rewriting a letter's history means forking the log in
// front of everyone who kept a checkpoint.
//
// # Leaf bytes
//
// The log leaf of an envelope is its canonical serialization
// (Envelope.Bytes): compact JSON with members in a fixed order whose
// values are base64url strings. The server stores and hashes exactly these
// bytes; a verifier recomputes them from the envelope object in a bundle,
// so whitespace never matters. prev is the lowercase hex SHA-256 of these
// bytes.
package signing
