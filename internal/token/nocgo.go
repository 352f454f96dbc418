//go:build !cgo

package token

import "errors"

// tokenSession stands in for crypto11's context in a build without cgo,
// where no PKCS#11 module can be loaded.
type tokenSession struct{}

// Open fails: PKCS#11 modules are C libraries, loaded through cgo.
func Open(URI, string, string) (*Signer, error) {
	return nil, errors.New("this npes was built without cgo (CGO_ENABLED=0) and cannot load a PKCS#11 module: build it with CGO_ENABLED=1 and a C compiler")
}

// Close does nothing.
func (s *Signer) Close() error { return nil }
