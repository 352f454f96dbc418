package signing

import "errors"

// Sentinel errors. Functions wrap them with %w and add the detail (which
// signature, which header, which evidence), so callers test with errors.Is
// and people read the message.
var (
	// ErrUnsupportedAlg: a JOSE "alg" value that is not in the registry, or
	// that is refused on purpose ("none", HS256 and the other MAC algorithms).
	ErrUnsupportedAlg = errors.New("unsupported algorithm")
	// ErrUnsupportedKey: a key type no scheme of the registry handles.
	ErrUnsupportedKey = errors.New("unsupported key type")
	// ErrAlgKeyMismatch: the "alg" of a header does not fit the key
	// (for example ES256 with an Ed25519 certificate).
	ErrAlgKeyMismatch = errors.New("algorithm does not match key type")
	// ErrSignatureInvalid: the signature does not verify.
	ErrSignatureInvalid = errors.New("signature invalid")
	// ErrMalformedJWS: the JWS does not parse (structure, JSON, base64).
	ErrMalformedJWS = errors.New("malformed JWS")
	// ErrCriticalHeader: a "crit" header names an extension npes does not
	// implement (RFC 7515 §4.1.11), or a header parameter that changes the
	// meaning of the signature (b64, RFC 7797) is present.
	ErrCriticalHeader = errors.New("unsupported critical header")
	// ErrUnknownKey: no key of the key set has the signature's "kid".
	ErrUnknownKey = errors.New("unknown key id")
	// ErrSignatureSet: an envelope carries neither exactly one EdDSA
	// signature (v2) nor exactly one EdDSA and one ML-DSA-65 signature (v1).
	ErrSignatureSet = errors.New("envelope must carry one EdDSA signature (v2) or one EdDSA and one ML-DSA-65 signature (v1)")
	// ErrMissingX5C: a compact JWS without a certificate chain.
	ErrMissingX5C = errors.New("missing x5c header")
	// ErrKeyMismatch: a signing key does not belong to the certificate or
	// key it is presented with.
	ErrKeyMismatch = errors.New("key does not match")
	// ErrMalformedKey: a private or public key encoding that does not parse.
	ErrMalformedKey = errors.New("malformed key")
	// ErrMalformedJWKS: a JWK Set that does not parse or breaks a rule of
	// this package (private members, kid that is not the thumbprint,
	// duplicate kid).
	ErrMalformedJWKS = errors.New("malformed JWK set")
)

// Errors of offline bundle verification (VerifyBundle).
var (
	// ErrMalformedBundle: the bundle is not a well-formed version 1 bundle.
	ErrMalformedBundle = errors.New("malformed bundle")
	// ErrMalformedEvidence: an evidence payload is not valid evidence JSON.
	ErrMalformedEvidence = errors.New("malformed evidence payload")
	// ErrLetterMismatch: an evidence names another letter than the bundle.
	ErrLetterMismatch = errors.New("evidence names another letter")
	// ErrChainBroken: the prev link of an evidence is not the hash of the
	// previous evidence of the letter.
	ErrChainBroken = errors.New("evidence chain broken")
	// ErrLogIndexMismatch: the log index signed into a payload differs
	// from the leaf index the bundle claims.
	ErrLogIndexMismatch = errors.New("log index mismatch")
	// ErrInclusion: an inclusion proof does not lead to the checkpoint root.
	ErrInclusion = errors.New("inclusion proof invalid")
	// ErrCheckpoint: the checkpoint does not open with the bundle's keys.
	ErrCheckpoint = errors.New("checkpoint invalid")
	// ErrUntrusted: a key of the bundle is not among the pinned keys.
	ErrUntrusted = errors.New("key not trusted")
	// ErrAttachment: a given attachment does not match its digest in the
	// evidence, or the evidence lists no attachment of that name.
	ErrAttachment = errors.New("attachment mismatch")
)

// Errors of evidence v2 verification.
var (
	// ErrNoTrust: no pinned trust (operator keys with an Ed25519 and an
	// ML-DSA-65 key, and identity CAs where a recipient signature must be
	// checked): nothing was verified.
	ErrNoTrust = errors.New("no pinned trust")
	// ErrMalformedTrust: a trust file that does not parse.
	ErrMalformedTrust = errors.New("malformed trust file")
	// ErrStatus: the bundle's status note does not open with the pinned
	// keys or does not parse.
	ErrStatus = errors.New("status invalid")
	// ErrIncomplete: the bundle's records or mailbox entries are not the
	// ones its status names (cut off, reordered or added).
	ErrIncomplete = errors.New("bundle incomplete")
	// ErrStatement: a recipient's signed statement is malformed or does
	// not fit the evidence that records it.
	ErrStatement = errors.New("recipient statement invalid")
	// ErrRecipientSignature: a recipient signature does not verify, its
	// certificate does not chain to a pinned identity CA at the
	// statement's time, or its key is not bound to the recipient's mailbox
	// by a log entry before the decision.
	ErrRecipientSignature = errors.New("recipient signature invalid")
	// ErrConsistency: the bundle's checkpoint and a checkpoint the verifier
	// holds are not provably of one log.
	ErrConsistency = errors.New("checkpoints inconsistent")
)
