//go:build cgo

package token

import (
	"crypto"
	"errors"
	"fmt"
	"io"

	"github.com/ThalesGroup/crypto11"

	"github.com/npes/npes/signing"
)

// tokenSession is crypto11's context: the module, logged in.
type tokenSession = crypto11.Context

// Open logs in to the token uri names with pin and finds its private key.
// module is the PKCS#11 library, used when the URI names none. Close the
// Signer when done: it holds a session with the token.
func Open(uri URI, module, pin string) (*Signer, error) {
	if uri.ModulePath != "" {
		module = uri.ModulePath
	}
	if module == "" {
		return nil, errors.New("no PKCS#11 module: set NPES_PKCS11_MODULE to the token's library (for SoftHSM2 /usr/lib/softhsm/libsofthsm2.so) or add module-path to the URI")
	}
	cfg := &crypto11.Config{Path: module, Pin: pin}
	// crypto11 selects the token by exactly one of serial, label, slot.
	switch {
	case uri.Serial != "":
		cfg.TokenSerial = uri.Serial
	case uri.Token != "":
		cfg.TokenLabel = uri.Token
	default:
		cfg.SlotNumber = uri.SlotID
	}
	ctx, err := crypto11.Configure(cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the token (module %s): %w", module, err)
	}
	var label []byte
	if uri.Object != "" {
		label = []byte(uri.Object)
	}
	key, err := ctx.FindKeyPair(uri.ID, label)
	if err != nil || key == nil {
		_ = ctx.Close()
		return nil, fmt.Errorf("no key pair with label %q and id %x on the token (%v)", uri.Object, uri.ID, err)
	}
	scheme, err := signing.SchemeForKey(key.Public())
	if err == nil && scheme.Alg() != signing.AlgES256 {
		err = fmt.Errorf("%s keys cannot sign npes statements", scheme.Alg())
	}
	if err != nil {
		_ = ctx.Close()
		return nil, fmt.Errorf("the key on the token: %w (npes needs ECDSA P-256)", err)
	}
	return &Signer{Signer: signer{key}, Alg: scheme.Alg(), ctx: ctx}, nil
}

// Close ends the session with the token.
func (s *Signer) Close() error { return s.ctx.Close() }

// signer narrows crypto11's key to crypto.Signer, so that callers see
// only the operations every pluggable signer offers.
type signer struct{ k crypto11.Signer }

func (s signer) Public() crypto.PublicKey { return s.k.Public() }

func (s signer) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.k.Sign(rand, digest, opts)
}
