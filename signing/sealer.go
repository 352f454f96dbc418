package signing

import (
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"golang.org/x/mod/sumdb/note"

	"github.com/npes/npes/signing/tlog"
)

// A Sealer holds the operator's two signing keys and makes evidence
// envelopes and signed log checkpoints. It is immutable and safe for
// concurrent use.
type Sealer struct {
	ed    crypto.Signer
	ml    crypto.Signer
	edPub ed25519.PublicKey
	mlPub *mldsa65.PublicKey
	edJWK JWK
	mlJWK JWK
	// Protected headers are fixed per key: encode them once.
	edProtected string
	mlProtected string
}

// NewSealer makes a Sealer from two signers: an Ed25519 key and an
// ML-DSA-65 key, in memory or on a token.
func NewSealer(ed, ml crypto.Signer) (*Sealer, error) {
	if ed == nil || ml == nil {
		return nil, fmt.Errorf("%w: nil signer", ErrUnsupportedKey)
	}
	edPub, ok := ed.Public().(ed25519.PublicKey)
	if !ok || len(edPub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: first key is %T, want Ed25519", ErrUnsupportedKey, ed.Public())
	}
	mlPub, ok := ml.Public().(*mldsa65.PublicKey)
	if !ok || mlPub == nil {
		return nil, fmt.Errorf("%w: second key is %T, want ML-DSA-65", ErrUnsupportedKey, ml.Public())
	}
	s := &Sealer{ed: ed, ml: ml, edPub: edPub, mlPub: mlPub}
	var err error
	if s.edJWK, err = NewJWK(edPub); err != nil {
		return nil, err
	}
	if s.mlJWK, err = NewJWK(mlPub); err != nil {
		return nil, err
	}
	if s.edProtected, err = encodeProtected(AlgEdDSA, s.edJWK.Kid); err != nil {
		return nil, err
	}
	if s.mlProtected, err = encodeProtected(AlgMLDSA65, s.mlJWK.Kid); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadSealer makes a Sealer from the PEM files GenerateOperatorKeys wrote.
func LoadSealer(ed25519PEM, mldsaPEM []byte) (*Sealer, error) {
	ed, err := ParseEd25519PrivateKey(ed25519PEM)
	if err != nil {
		return nil, fmt.Errorf("Ed25519 operator key: %w", err)
	}
	ml, err := ParseMLDSA65PrivateKey(mldsaPEM)
	if err != nil {
		return nil, fmt.Errorf("ML-DSA-65 operator key: %w", err)
	}
	return NewSealer(ed, ml)
}

func encodeProtected(alg, kid string) (string, error) {
	b, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}{alg, kid})
	if err != nil {
		return "", err
	}
	return encodeB64URL(b), nil
}

// JWKS returns the operator's public keys: the Ed25519 key (OKP) first,
// then the ML-DSA-65 key (AKP).
func (s *Sealer) JWKS() JWKS {
	return JWKS{Keys: []JWK{s.edJWK, s.mlJWK}}
}

// SealV2 signs payload into a v2 envelope: one EdDSA signature over the
// JWS signing input ASCII(protected) || '.' || ASCII(BASE64URL(payload))
// (RFC 7515 §5.1). The post-quantum protection of a v2 envelope is the
// ML-DSA-65 cosignature of the checkpoint that includes it (DESIGN §4),
// so the caller must append the envelope to the log and store a co-signed
// checkpoint of the new size in the same transaction. The payload should
// say "v": 2 (EvidenceVersion).
func (s *Sealer) SealV2(payload []byte) (Envelope, error) {
	p := encodeB64URL(payload)
	edSig, err := eddsaScheme{}.Sign(s.ed, []byte(s.edProtected+"."+p))
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{Payload: p, Signatures: []EnvelopeSignature{{Protected: s.edProtected, Signature: encodeB64URL(edSig)}}}, nil
}

// Seal signs payload into a v1 envelope: EdDSA and ML-DSA-65 over the same
// JWS signing input ASCII(protected) || '.' || ASCII(BASE64URL(payload))
// (RFC 7515 §5.1), each with its own protected header.
func (s *Sealer) Seal(payload []byte) (Envelope, error) {
	p := encodeB64URL(payload)
	edSig, err := eddsaScheme{}.Sign(s.ed, []byte(s.edProtected+"."+p))
	if err != nil {
		return Envelope{}, err
	}
	mlSig, err := mldsa65Scheme{}.Sign(s.ml, []byte(s.mlProtected+"."+p))
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{
		Payload: p,
		Signatures: []EnvelopeSignature{
			{Protected: s.edProtected, Signature: encodeB64URL(edSig)},
			{Protected: s.mlProtected, Signature: encodeB64URL(mlSig)},
		},
	}, nil
}

// SealBatch seals several payloads into v1 envelopes, spreading the signatures over the
// available CPUs. It is the signing half of a group commit: a writer that
// holds the log head assigns consecutive log indices to a batch, seals it
// here in one pass and appends the leaves with tlog.AppendBatch. The
// result is in payload order; on error no envelope is returned.
func (s *Sealer) SealBatch(payloads [][]byte) ([]Envelope, error) {
	out := make([]Envelope, len(payloads))
	workers := min(runtime.GOMAXPROCS(0), len(payloads))
	if workers <= 1 {
		for i, p := range payloads {
			env, err := s.Seal(p)
			if err != nil {
				return nil, fmt.Errorf("payload %d: %w", i, err)
			}
			out[i] = env
		}
		return out, nil
	}
	errs := make([]error, len(payloads))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(payloads); i += workers {
				out[i], errs[i] = s.Seal(payloads[i])
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("payload %d: %w", i, err)
		}
	}
	return out, nil
}

// NoteVerifierKey returns the signed-note verifier key (golang.org/x/mod
// vkey format "<name>+<hash>+<base64>") of the operator's Ed25519 key for
// the log named origin. It is what clients pin to check checkpoints.
func (s *Sealer) NoteVerifierKey(origin string) (string, error) {
	return tlog.Ed25519VerifierKey(origin, s.edPub)
}

// NoteCosignerKey returns the verifier key of the ML-DSA-65 cosignature
// that every checkpoint of the log named origin also carries (format in
// package tlog).
func (s *Sealer) NoteCosignerKey(origin string) (string, error) {
	return tlog.MLDSA65VerifierKey(origin, s.mlPub)
}

// SignCheckpoint signs a C2SP tlog-checkpoint for the log named origin
// with the operator's Ed25519 key and adds an ML-DSA-65 cosignature line,
// so a checkpoint stays unforgeable if Ed25519 falls. The note key name is
// the origin, as c2sp.org/tlog-checkpoint recommends.
func (s *Sealer) SignCheckpoint(origin string, size uint64, root []byte) ([]byte, error) {
	ed, ml, err := s.noteSigners(origin)
	if err != nil {
		return nil, err
	}
	return tlog.SignCheckpoint(tlog.Checkpoint{Origin: origin, Size: size, Hash: root}, ed, ml)
}

// Kid is the kid of the operator's Ed25519 key; it names the log
// ("npes/evidence/<kid>") and the status notes ("npes/status/<kid>").
func (s *Sealer) Kid() string { return s.edJWK.Kid }

// noteSigners returns the note signers of the operator's Ed25519 key and
// of its ML-DSA-65 cosignature under the key name name.
func (s *Sealer) noteSigners(name string) (ed, ml note.Signer, err error) {
	ed, err = tlog.NewEd25519NoteSigner(name, s.edPub, func(msg []byte) ([]byte, error) {
		return eddsaScheme{}.Sign(s.ed, msg)
	})
	if err != nil {
		return nil, nil, err
	}
	ml, err = tlog.NewMLDSA65NoteSigner(name, s.mlPub, func(msg []byte) ([]byte, error) {
		return mldsa65Scheme{}.Sign(s.ml, msg)
	})
	return ed, ml, err
}
