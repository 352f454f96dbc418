// Package client is the HTTP client of the npes API used by the CLI and the
// print agent: mTLS with a credential directory (cert.pem, key.pem, ca.pem),
// JSON in and out, API errors decoded into *APIError.
package client

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/npes/npes/certs"
)

// Client talks to one npes server with one credential.
type Client struct {
	base string
	http *http.Client
}

// APIError is an error reply of the API.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Code == codeCertificateRevoked {
		return fmt.Sprintf("certificate revoked (HTTP %d %s): %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// Unwrap makes errors.Is(err, ErrCertificateRevoked) hold for the API's
// answer to a revoked certificate.
func (e *APIError) Unwrap() error {
	if e.Code == codeCertificateRevoked {
		return ErrCertificateRevoked
	}
	return nil
}

// codeCertificateRevoked is the API's error code for a request made with a
// revoked certificate (openapi.yaml).
const codeCertificateRevoked = "certificate_revoked"

// ErrCertificateRevoked: the server refused the credential because its
// certificate is revoked, either at the handshake (TLS alert
// certificate_revoked) or on a connection opened before the revocation
// (HTTP 401 certificate_revoked). Retrying cannot help: the holder needs a
// new credential.
var ErrCertificateRevoked = errors.New("certificate revoked")

// New builds a client for serverURL using the credential in credDir. An empty
// credDir means no client certificate (public routes only); the CA is then
// taken from caFile when given.
func New(serverURL, credDir string) (*Client, error) {
	return NewWithKey(serverURL, credDir, nil)
}

// NewWithKey is New with the credential's private key given (a key on a
// token): credDir then needs only cert.pem and ca.pem. A nil key reads
// key.pem as New does.
func NewWithKey(serverURL, credDir string, key crypto.Signer) (*Client, error) {
	serverURL = strings.TrimRight(serverURL, "/")
	if !strings.HasPrefix(serverURL, "https://") {
		return nil, fmt.Errorf("server URL %q must start with https://", serverURL)
	}
	if credDir == "" {
		return nil, errors.New("no credential directory: give --id DIR or NPES_ID")
	}
	var cred certs.Credential
	var err error
	if key == nil {
		cred, err = certs.LoadCredentialDir(credDir)
	} else {
		cred, err = certs.LoadCredentialDirWithKey(credDir, key, "the token's key")
	}
	if err != nil {
		return nil, err
	}
	tlsCfg, err := certs.ClientTLSConfigKey(cred.CertPEM, cred.Key, cred.CAPEM)
	if err != nil {
		return nil, fmt.Errorf("credential %s: %w", credDir, err)
	}
	tr := &http.Transport{
		TLSClientConfig:       tlsCfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 120 * time.Second,
	}
	return &Client{base: serverURL, http: &http.Client{Transport: tr}}, nil
}

// Do sends a request and returns the raw response body of a 2xx reply; any
// other status becomes *APIError.
func (c *Client) Do(ctx context.Context, method, path string, contentType string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return c.DoRequest(req)
}

// DoRequest sends a prepared request (for extra headers such as
// Idempotency-Key).
func (c *Client) DoRequest(req *http.Request) ([]byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		if a, _ := certs.RemoteAlert(err); a == certs.AlertCertificateRevoked {
			return nil, fmt.Errorf("%s %s: %w: the server refused the credential's certificate with the TLS alert certificate_revoked; a new credential is needed",
				req.Method, req.URL.Path, ErrCertificateRevoked)
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading reply: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, decodeError(resp.StatusCode, data)
	}
	return data, nil
}

// NewRequest builds a request against the server.
func (c *Client) NewRequest(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// JSON sends in (if not nil) as JSON and decodes the reply into out (if not
// nil). It returns the raw reply too.
func (c *Client) JSON(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	data, err := c.Do(ctx, method, path, ct, body)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return data, fmt.Errorf("%s %s: decoding reply: %w", method, path, err)
		}
	}
	return data, nil
}

func decodeError(status int, data []byte) error {
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &b) == nil && b.Error.Code != "" {
		return &APIError{Status: status, Code: b.Error.Code, Message: b.Error.Message}
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return &APIError{Status: status, Code: http.StatusText(status), Message: msg}
}
