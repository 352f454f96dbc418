package cli_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/client"
)

// A revoked credential is named as such: by the CLI on a new connection
// (TLS alert certificate_revoked at the handshake), and by the client on a
// connection opened before the revocation (HTTP 401 certificate_revoked).
func TestRevokedCredential(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv := startServer(t, data)
	env := map[string]string{"NPES_DATA": data}
	cred := filepath.Join(dir, "person")
	if code, out, errs := npes(t, env, "ca", "issue", "--role", "person", "--name", "Иванов Иван", "--personal-id", "3140582A001PB3", "--out", cred); code != 0 {
		t.Fatalf("ca issue: %s %s", out, errs)
	}
	server := "https://" + srv.HTTPAddr.String()
	if code, out, errs := npes(t, env, "whoami", "--server", server, "--id", cred); code != 0 {
		t.Fatalf("whoami before revocation: %d %s %s", code, out, errs)
	}
	kept, err := client.New(server, cred)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Do(t.Context(), "GET", "/v1/whoami", "", nil); err != nil {
		t.Fatalf("client before revocation: %v", err)
	}

	loaded, err := certs.LoadCredentialDir(cred)
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errs := npes(t, env, "ca", "revoke", "--serial", certs.FormatSerial(loaded.Cert.SerialNumber), "--reason", "keyCompromise"); code != 0 {
		t.Fatalf("ca revoke: %s %s", out, errs)
	}
	if err := srv.RefreshRevocations(t.Context()); err != nil {
		t.Fatal(err)
	}

	// The kept-alive connection: the API's answer.
	_, err = kept.Do(t.Context(), "GET", "/v1/whoami", "", nil)
	var apiErr *client.APIError
	if !errors.Is(err, client.ErrCertificateRevoked) || !errors.As(err, &apiErr) || apiErr.Status != 401 || !strings.Contains(err.Error(), "certificate revoked") {
		t.Fatalf("kept-alive request after revocation: %v; want 401 certificate_revoked", err)
	}
	// Its next request needs a new connection: refused at the handshake.
	_, err = kept.Do(t.Context(), "GET", "/v1/whoami", "", nil)
	if !errors.Is(err, client.ErrCertificateRevoked) || errors.As(err, &apiErr) {
		t.Fatalf("request on a new connection after revocation: %v; want the TLS alert certificate_revoked", err)
	}

	code, out, errs := npes(t, env, "whoami", "--server", server, "--id", cred)
	if code != 1 || !strings.Contains(errs, "certificate revoked") {
		t.Fatalf("whoami with a revoked credential: exit %d, stdout %q, stderr %q; want exit 1 and \"certificate revoked\"", code, out, errs)
	}
	t.Logf("npes whoami: %s", strings.TrimSpace(errs))
}
