// Package signing makes and checks npes evidence: the operator's hybrid
// seal (Ed25519 + ML-DSA-65) over evidence payloads as JWS envelopes,
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
// An evidence envelope (Seal) is a JWS in General JSON Serialization with
// two signatures over the same payload. The Ed25519 signature is what any
// JOSE library can check today; the ML-DSA-65 signature keeps the evidence
// unforgeable when a quantum computer breaks Ed25519 — evidence must
// convince a court years after it was made, so it cannot rely on
// classical cryptography alone. VerifyEnvelope requires both: a forger
// must break both schemes, and neither signature can be stripped because
// the envelope is refused unless it has exactly one of each.
//
// A recipient signature (SignCompact) is made by the recipient's own
// credential over a statement naming the letter, the notification
// evidence and the content digest. It proves the recipient's consent,
// which the operator's seal cannot: the operator embeds it in the
// ConsignmentAcceptance payload and seals it, so the evidence shows both
// that the recipient signed and when the operator recorded it.
// ParseCompact/Verify check only the signature with the x5c leaf key;
// validating the chain and the binding of the key to the mailbox is the
// caller's job.
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
// happens inside the log append's critical section (SealBatch amortizes
// this for group commits).
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
// misbehaviour. A bundle's inclusion proofs tie its envelopes to such a
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
