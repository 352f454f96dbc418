package cli

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
)

// runCSR is `npes csr`: a PKCS#10 certificate request (RFC 2986) signed
// by the key on a token, for `npes ca issue --csr` (or another CA). The
// key never leaves the token; the request proves that its holder has it.
func runCSR(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "csr", "csr --pkcs11 URI --out req.pem [--name NAME]")
	uri := fs.String("pkcs11", e.Getenv("NPES_PKCS11_URI"), "PKCS#11 URI of the private key on the token (RFC 7512; NPES_PKCS11_URI); module from NPES_PKCS11_MODULE, PIN from NPES_PKCS11_PIN or a prompt")
	out := fs.String("out", "", "file to write the PEM certificate request to")
	name := fs.String("name", "", "subject commonName (informational: the CA takes the holder's name and attributes from its own flags)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *uri == "" {
		return usagef("--pkcs11 URI is required")
	}
	if *out == "" {
		return usagef("--out FILE is required")
	}
	key, err := openTokenKey(e, *uri)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: *name}}, key)
	if err != nil {
		return fmt.Errorf("signing the request with the token's key: %w", err)
	}
	if err := os.WriteFile(*out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "wrote %s (%s key on the token); issue it with `npes ca issue --csr %s --out DIR ...`\n", *out, key.Alg, *out)
	return nil
}
