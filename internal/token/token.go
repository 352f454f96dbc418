package token

import "crypto"

// Signer is a private key on a token: a crypto.Signer and the name of its
// algorithm in the signing registry (signing.SchemeForKey). Another kind
// of key (a bign key on an ID card, STB 34.101.45) plugs in the same way:
// a crypto.Signer whose Public() a registered signing.Scheme recognises.
type Signer struct {
	crypto.Signer
	// Alg is the JOSE algorithm of the key ("ES256").
	Alg string
	ctx *tokenSession
}
