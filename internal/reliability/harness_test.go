package reliability_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// Parties and addresses used across the suite.
var (
	orgReq      = certs.Request{Role: certs.RoleOrg, Name: "ОАО «Белтелеком»", UNP: "100289066"}
	org2Req     = certs.Request{Role: certs.RoleOrg, Name: "ОАО «Белагропромбанк»", UNP: "100693551"}
	citizenReq  = certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович", PersonalID: "3140582A001PB3"}
	citizen2Req = certs.Request{Role: certs.RolePerson, Name: "Петров Пётр Петрович", PersonalID: "3140582A002PB4"}
	gomelPCReq  = certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель", Regions: []string{"246"}}
	gomelPC2Req = certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель-2", Regions: []string{"246"}}
	minskPCReq  = certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Минск", Regions: []string{"220"}}
)

const (
	orgAddress      = "220030, г. Минск, ул. Энгельса, 6"
	org2Address     = "220036, г. Минск, пр-т Жукова, 3"
	citizenAddress  = "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5"
	citizen2Address = "220013, г. Минск, ул. Дорошевича, д. 8, кв. 7"
	// No mailbox exists in Gomel: letters there go to print, region 246.
	printAddress = "246050, г. Гомель, ул. Билецкого, 10"
)

// deployment is one npes installation: its data directory (CA, keys), its
// database and an open store for issuing credentials and inspecting rows.
type deployment struct {
	dataDir string
	dbURL   string // "" for SQLite in dataDir
	ca      *certs.CA
	roots   *x509.CertPool
	store   mailbox.Store
}

// newDeployment initializes a data directory on the database, as `npes
// init` does.
func newDeployment(t *testing.T, dbURL string) *deployment {
	t.Helper()
	cfg := app.Config{DataDir: t.TempDir(), DatabaseURL: dbURL}
	d, _, err := app.Initialize(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := app.OpenStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return deploymentOf(t, d, dbURL, st)
}

func deploymentOf(t *testing.T, d app.DataDir, dbURL string, st mailbox.Store) *deployment {
	t.Helper()
	ca, err := d.LoadCA()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	return &deployment{dataDir: d.Root, dbURL: dbURL, ca: ca, roots: roots, store: st}
}

// inProcess starts an npes server in the test process (SQLite unless
// dbURL is set) and returns its deployment and base URL.
func inProcess(t *testing.T, dbURL string, modify func(*app.Config)) (*deployment, *app.Server, string) {
	t.Helper()
	dir := t.TempDir()
	// A CA made a month ago, so that tests can issue already expired
	// certificates from it.
	certPEM, keyPEM, err := certs.CreateCA("npes reliability CA", time.Now().AddDate(0, -1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "ca"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteCAFiles(filepath.Join(dir, "ca", "ca.pem"), filepath.Join(dir, "ca", "ca-key.pem"), certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{DataDir: dir, DatabaseURL: dbURL, HTTPAddr: "127.0.0.1:0", SMTPAddr: "off", SMTPSAddr: "off"}
	if modify != nil {
		modify(&cfg)
	}
	srv, err := app.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return deploymentOf(t, srv.Data, dbURL, srv.Store), srv, "https://" + srv.HTTPAddr.String()
}

// issue makes a credential from the deployment's CA and records it, as
// `npes ca issue` does.
func (d *deployment) issue(t testing.TB, req certs.Request) certs.Credential {
	t.Helper()
	cred, err := d.ca.Issue(req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := app.RecordCertificate(context.Background(), d.store, cred); err != nil {
		t.Fatal(err)
	}
	return cred
}

// tlsConfig is a client configuration presenting cred (nil: none). The
// certificate is always presented, even when the server's CA list does not
// name its issuer, as curl and openssl do.
func (d *deployment) tlsConfig(t testing.TB, cred *certs.Credential) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: d.roots, MinVersion: tls.VersionTLS12, ServerName: "127.0.0.1"}
	if cred != nil {
		kp, err := tls.X509KeyPair(cred.CertPEM, cred.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &kp, nil }
	}
	return cfg
}

// httpClient talks to npes as cred. keepAlive reuses connections (a
// high-volume client); without it every request is a new handshake.
func (d *deployment) httpClient(t testing.TB, cred *certs.Credential, keepAlive bool) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: d.tlsConfig(t, cred), DisableKeepAlives: !keepAlive,
		MaxIdleConnsPerHost: 64, ResponseHeaderTimeout: 60 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 90 * time.Second}
}

// party is a credential holder talking to the API.
type party struct {
	d    *deployment
	cred certs.Credential
	id   certs.Identity
	hc   *http.Client
}

func (d *deployment) party(t testing.TB, req certs.Request) *party {
	t.Helper()
	cred := d.issue(t, req)
	return d.partyOf(t, cred)
}

func (d *deployment) partyOf(t testing.TB, cred certs.Credential) *party {
	t.Helper()
	p := &party{d: d, cred: cred, hc: d.httpClient(t, &cred, true)}
	if cred.Cert != nil {
		id, err := certs.IdentityFromCert(cred.Cert)
		if err != nil {
			t.Fatal(err)
		}
		p.id = id
	}
	return p
}

// anonymous is a client without a certificate.
func (d *deployment) anonymous(t testing.TB) *party {
	return &party{d: d, hc: d.httpClient(t, nil, true)}
}

func (d *deployment) operator(t testing.TB) *party {
	t.Helper()
	op, err := certs.LoadCredentialDir(app.DataDir{Root: d.dataDir}.OperatorCredentialDir())
	if err != nil {
		t.Fatal(err)
	}
	return d.partyOf(t, op)
}

// reply is one HTTP exchange's outcome.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request; a transport error is returned, never fatal, since
// crash and fault scenarios expect them.
func (p *party) call(ctx context.Context, method, url string, body io.Reader, contentType string, hdr map[string]string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return reply{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{status: resp.StatusCode, header: resp.Header}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// must sends JSON (or nothing) and wants the status; out receives the
// decoded reply.
func (p *party) must(t testing.TB, method, url string, in, out any, want int) reply {
	t.Helper()
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	r, err := p.call(t.Context(), method, url, body, ct, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if r.status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, r.status, r.body, want)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, url, r.body, err)
		}
	}
	return r
}

// registerActive registers a mailbox at address and has the operator
// verify it at the counter.
func (p *party) registerActive(t testing.TB, base, address string) string {
	t.Helper()
	var m struct{ ID, Status string }
	p.must(t, "POST", base+"/v1/mailboxes", map[string]string{"address": address}, &m, 201)
	p.d.operator(t).must(t, "POST", base+"/v1/admin/mailboxes/"+m.ID+"/verify", nil, &m, 200)
	if m.Status != "active" {
		t.Fatalf("verified mailbox is %s", m.Status)
	}
	return m.ID
}

// attachment is one file part of a submission.
type attachment struct {
	name, ctype string
	data        []byte
}

// letterForm builds a multipart/form-data submission: the JSON part
// "letter" and the attachments.
func letterForm(letter map[string]any, atts ...attachment) ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="letter"`)
	h.Set("Content-Type", "application/json")
	w, _ := mw.CreatePart(h)
	_ = json.NewEncoder(w).Encode(letter)
	for _, a := range atts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="attachment"; filename=%q`, a.name))
		h.Set("Content-Type", a.ctype)
		w, _ := mw.CreatePart(h)
		_, _ = w.Write(a.data)
	}
	_ = mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// sent is the 201 reply to a submission: the letter and its receipts.
type sent struct {
	mailbox.LetterView
	Evidence []json.RawMessage `json:"evidence"`
}

// send submits a letter; key "" sends no Idempotency-Key.
func (p *party) send(ctx context.Context, base string, letter map[string]any, key string, atts ...attachment) (reply, sent, error) {
	body, ct := letterForm(letter, atts...)
	hdr := map[string]string{}
	if key != "" {
		hdr["Idempotency-Key"] = key
	}
	r, err := p.call(ctx, "POST", base+"/v1/letters", bytes.NewReader(body), ct, hdr)
	var s sent
	if err == nil && r.status == 201 {
		err = json.Unmarshal(r.body, &s)
	}
	return r, s, err
}

func (p *party) mustSend(t testing.TB, base string, letter map[string]any, atts ...attachment) sent {
	t.Helper()
	r, s, err := p.send(t.Context(), base, letter, "", atts...)
	if err != nil || r.status != 201 {
		t.Fatalf("send: %v %d %s", err, r.status, r.body)
	}
	return s
}

// signStatement makes the recipient's compact JWS over st with cred's key.
func signStatement(t testing.TB, cred certs.Credential, st mailbox.Statement) string {
	t.Helper()
	kb, _ := pem.Decode(cred.KeyPEM)
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(st)
	jws, err := signing.SignCompact(key.(crypto.Signer), []*x509.Certificate{cred.Cert}, payload)
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

// apiError is the API's error shape.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorCode decodes an error reply; "" when it is not the API's shape.
func errorCode(body []byte) string {
	var e apiError
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

// contains reports whether body holds any of the secrets.
func containsAny(body []byte, secrets []string) (string, bool) {
	for _, s := range secrets {
		if s != "" && strings.Contains(string(body), s) {
			return s, true
		}
	}
	return "", false
}

func dataDirOf(d *deployment) app.DataDir { return app.DataDir{Root: d.dataDir} }
