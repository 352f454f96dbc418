package reliability_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/hybrid"
	"github.com/npes/npes/internal/httpapi"
	"github.com/npes/npes/internal/store/sqlite"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// memServer drives npes's real HTTP handler in memory — router,
// middleware, handlers, the service and a SQLite store — without sockets or
// TLS: the identity a verified client certificate would give is set on
// each request (as crypto/tls leaves it in Request.TLS). Fuzz targets use
// it to reach the request parsers through the exact code a client reaches.
type memServer struct {
	h        http.Handler
	svc      *mailbox.Service
	ca       *certs.CA
	org      certs.Credential
	citizen  certs.Credential
	printer  certs.Credential
	person   certs.Credential // a person without a mailbox
	letterID string           // registered, awaiting the citizen's acceptance
	view     mailbox.LetterView
	jobID    string // leased by printer
	token    int64
	boxID    string // the person's pending mailbox
}

func newMemServer(t testing.TB) *memServer {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "npes.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	edPEM, mlPEM, err := signing.GenerateOperatorKeys()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := signing.LoadSealer(edPEM, mlPEM)
	if err != nil {
		t.Fatal(err)
	}
	mk := make([]byte, 32)
	_, _ = rand.Read(mk)
	keys, err := mailbox.NewKeyring(mk)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, caKey, err := certs.CreateCA("npes fuzz CA", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.LoadCA(caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	renderer, err := hybrid.NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := mailbox.NewService(mailbox.Config{Store: st, Sealer: sealer, Keys: keys, Trust: ca.Pool(),
		Renderer: renderer, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	m := &memServer{svc: svc, ca: ca,
		h: httpapi.NewHandler(httpapi.Deps{Service: svc, Print: hybrid.NewQueue(svc), CAPEM: caPEM, MailDomain: "npes.test"})}
	issue := func(req certs.Request) certs.Credential {
		c, err := ca.Issue(req, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	m.org, m.citizen, m.printer, m.person = issue(orgReq), issue(citizenReq), issue(gomelPCReq), issue(citizen2Req)
	op := issue(certs.Request{Role: certs.RoleOperator, Name: "operator"})
	mustOK := func(status int, body []byte, what string) {
		if status/100 != 2 {
			t.Fatalf("%s: %d %s", what, status, body)
		}
	}
	for _, reg := range []struct {
		cred certs.Credential
		addr string
	}{{m.org, orgAddress}, {m.citizen, citizenAddress}} {
		status, body := m.do(reg.cred, "POST", "/v1/mailboxes", "application/json", []byte(fmt.Sprintf(`{"address":%q}`, reg.addr)), nil)
		mustOK(status, body, "register")
		var mb struct{ ID string }
		_ = json.Unmarshal(body, &mb)
		status, body = m.do(op, "POST", "/v1/admin/mailboxes/"+mb.ID+"/verify", "", nil, nil)
		mustOK(status, body, "verify")
	}
	status, body := m.do(m.person, "POST", "/v1/mailboxes", "application/json", []byte(fmt.Sprintf(`{"address":%q}`, citizen2Address)), nil)
	mustOK(status, body, "register pending")
	var mb struct{ ID string }
	_ = json.Unmarshal(body, &mb)
	m.boxID = mb.ID

	form, ct := letterForm(electronic("Заказное", "Текст"))
	status, body = m.do(m.org, "POST", "/v1/letters", ct, form, nil)
	mustOK(status, body, "send")
	var s sent
	_ = json.Unmarshal(body, &s)
	m.letterID = s.ID
	status, body = m.do(m.citizen, "GET", "/v1/letters/"+s.ID, "", nil, nil)
	mustOK(status, body, "read")
	_ = json.Unmarshal(body, &m.view)

	form, ct = letterForm(map[string]any{"recipient": map[string]string{"name": "Сидорову С.С.", "address": printAddress}, "body": "b"})
	status, body = m.do(m.org, "POST", "/v1/letters", ct, form, nil)
	mustOK(status, body, "send to print")
	status, body = m.do(m.printer, "POST", "/v1/print/leases", "application/json", []byte(`{"max":1,"lease_seconds":3600}`), nil)
	mustOK(status, body, "lease")
	var leased struct{ Jobs []printJob }
	_ = json.Unmarshal(body, &leased)
	if len(leased.Jobs) != 1 {
		t.Fatalf("leased %d jobs", len(leased.Jobs))
	}
	m.jobID, m.token = leased.Jobs[0].ID, leased.Jobs[0].LeaseToken
	return m
}

// memWriter is a ResponseWriter that keeps a bounded copy of the body.
type memWriter struct {
	hdr    http.Header
	status int
	body   bytes.Buffer
}

func (w *memWriter) Header() http.Header { return w.hdr }
func (w *memWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}

func (w *memWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	if w.body.Len() < 1<<20 {
		w.body.Write(p[:min(len(p), 1<<20-w.body.Len())])
	}
	return len(p), nil
}

// do serves one request as cred (zero Credential: no certificate).
func (m *memServer) do(cred certs.Credential, method, path, ctype string, body []byte, hdr map[string]string) (int, []byte) {
	status, out, _ := m.serve(cred, method, path, ctype, body, hdr)
	return status, out
}

// serve is do, with the reply's header.
func (m *memServer) serve(cred certs.Credential, method, path, ctype string, body []byte, hdr map[string]string) (int, []byte, http.Header) {
	req, err := http.NewRequestWithContext(context.Background(), method, "https://npes.test"+path, bytes.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	req.RemoteAddr = "192.0.2.1:40000"
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true}
	if cred.Cert != nil {
		req.TLS.PeerCertificates = []*x509.Certificate{cred.Cert}
		req.TLS.VerifiedChains = [][]*x509.Certificate{{cred.Cert, m.ca.Certificate()}}
	}
	w := &memWriter{hdr: http.Header{}}
	m.h.ServeHTTP(w, req)
	return w.status, w.body.Bytes(), w.hdr
}

// checkReply holds for every answer to any input: no 5xx, an error in the
// API's shape with a code, and never a raw control character in a header.
func checkReply(t *testing.T, status int, body []byte, hdr http.Header) {
	t.Helper()
	if status >= 500 || status == 0 {
		t.Fatalf("status %d: %s", status, body)
	}
	if status >= 400 && errorCode(body) == "" {
		t.Fatalf("%d without the error shape: %q", status, body)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("header %s = %q", k, v)
			}
		}
	}
}

// FuzzSubmitMultipart feeds arbitrary multipart/form-data bodies (and
// boundaries) to POST /v1/letters as an organization with an active
// mailbox: the streaming multipart reader, the letter-part JSON, file
// names and the attachment staging, content sniffing, routing and, for
// letters to print, the attachment checks of hybrid/pdf.
func FuzzSubmitMultipart(f *testing.F) {
	seeds := [][]map[string]any{
		{electronic("Уведомление", "Текст письма")},
		{{"recipient": map[string]string{"name": "Иванов И.И.", "address": citizenAddress}, "subject": "s", "body": "b"}},
		{{"recipient": map[string]string{"name": "Сидорову С.С.", "address": printAddress}, "registered": true, "subject": "p", "body": "b", "print_if_unsigned_after": "240h"}},
	}
	for _, s := range seeds {
		body, ct := letterForm(s[0])
		f.Add(body, ct)
		body, ct = letterForm(s[0], attachment{name: "справка.txt", ctype: "text/plain", data: []byte("строка\n")},
			attachment{name: "a.pdf", ctype: "application/pdf", data: onePagePDF("", "")})
		f.Add(body, ct)
	}
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"attachment\"; filename*=utf-8''a%0D%0Ab.txt\r\n\r\nx\r\n--B\r\nContent-Disposition: form-data; name=\"letter\"\r\n\r\n{}\r\n--B--\r\n"), "multipart/form-data; boundary=B")
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"letter\"\r\nContent-Type: application/json\r\n\r\n{\"recipient\":{\"name\":\"И\",\"address\":\"246050, Гомель, Билецкого 10\"},\"body\":\"b\"}\r\n--B\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"js.pdf\"\r\n\r\n"+string(onePagePDF("/OpenAction << /S /JavaScript /JS (x) >>", ""))+"\r\n--B--\r\n"), "multipart/form-data; boundary=B")
	f.Add([]byte("--B--\r\n"), "multipart/form-data; boundary=\"B\"")
	f.Add([]byte("not multipart"), "text/plain")
	m := newMemServer(f)
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		if len(body) > 1<<20 {
			return
		}
		status, out, hdr := m.serve(m.org, "POST", "/v1/letters", ctype, body, map[string]string{"Idempotency-Key": "fuzz-" + signing.DigestHex(body)[:32]})
		checkReply(t, status, out, hdr)
		if status == 201 {
			var s sent
			if err := json.Unmarshal(out, &s); err != nil || s.ID == "" || len(s.Evidence) == 0 {
				t.Fatalf("201 without a letter and its receipt: %s", out)
			}
		}
	})
}

// FuzzLetterPart fuzzes the JSON part "letter" of a submission on its own
// (with a fixed text attachment), seeded with real letters.
func FuzzLetterPart(f *testing.F) {
	for _, l := range []map[string]any{
		electronic("Уведомление", "Текст"),
		{"recipient": map[string]string{"name": "Иванов И.И.", "address": citizenAddress}, "body": "b", "acceptance_period": "48h", "registered": true},
		{"recipient": map[string]string{"name": "Сидорову С.С.", "address": printAddress}, "body": "b", "from": "00000000-0000-4000-8000-000000000000"},
	} {
		b, _ := json.Marshal(l)
		f.Add(b)
	}
	f.Add([]byte(`{"recipient":{"name":"\u202eИванов","address":"220013"},"subject":"a\r\nb"}`))
	f.Add([]byte(`{"recipient":null,"registered":"yes"}`))
	m := newMemServer(f)
	f.Fuzz(func(t *testing.T, part []byte) {
		if len(part) > 256<<10 {
			return
		}
		var b bytes.Buffer
		b.WriteString("--B\r\nContent-Disposition: form-data; name=\"letter\"\r\nContent-Type: application/json\r\n\r\n")
		b.Write(part)
		b.WriteString("\r\n--B\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--\r\n")
		status, out, hdr := m.serve(m.org, "POST", "/v1/letters", "multipart/form-data; boundary=B", b.Bytes(), nil)
		checkReply(t, status, out, hdr)
	})
}

// jsonRoutes are the routes with a JSON body, each with the caller and the
// object it is tried on (route is picked by the first fuzz argument).
func (m *memServer) jsonRoutes() []struct {
	cred certs.Credential
	path string
} {
	return []struct {
		cred certs.Credential
		path string
	}{
		{m.citizen, "/v1/letters/" + m.letterID + "/accept"},
		{m.citizen, "/v1/letters/" + m.letterID + "/refuse"},
		{m.printer, "/v1/print/leases"},
		{m.printer, "/v1/print/jobs/" + m.jobID + "/printed"},
		{m.printer, "/v1/print/jobs/" + m.jobID + "/failed"},
		{m.printer, "/v1/print/jobs/" + m.jobID + "/posted"},
		{m.printer, "/v1/print/jobs/" + m.jobID + "/events"},
		{m.person, "/v1/mailboxes"},
		{m.person, "/v1/mailboxes/" + m.boxID + "/activate"},
		{m.person, "/v1/mailboxes/" + m.boxID + "/credentials"},
	}
}

// FuzzJSONBodies fuzzes every JSON request body — acceptances and
// refusals (with the recipient's JWS inside), print reports, leases, print
// events, mailbox registration, activation codes and credential binding
// (a PEM certificate) — each as the caller that owns the object.
func FuzzJSONBodies(f *testing.F) {
	m := newMemServer(f)
	jws := signStatement(f, m.citizen, mailbox.NewStatement(m.view, mailbox.DecisionAccept, "", time.Now()))
	ref := signStatement(f, m.citizen, mailbox.NewStatement(m.view, mailbox.DecisionRefuse, "не моё", time.Now()))
	seeds := []struct {
		route uint8
		body  string
	}{
		{0, fmt.Sprintf(`{"jws":%q}`, jws)},
		{1, fmt.Sprintf(`{"jws":%q}`, ref)},
		{0, `{"jws":"eyJhbGciOiJub25lIn0.e30."}`},
		{2, `{"max":5,"lease_seconds":600}`},
		{3, fmt.Sprintf(`{"lease_token":%d}`, m.token)},
		{4, fmt.Sprintf(`{"lease_token":%d,"reason":"замятие бумаги"}`, m.token)},
		{5, fmt.Sprintf(`{"lease_token":%d}`, m.token)},
		{6, `{"event":"Delivered","details":{"office":"246050"}}`},
		{7, fmt.Sprintf(`{"address":%q,"email":"petrov@example.by"}`, citizen2Address)},
		{8, `{"code":"ABCD-EFGH-JKLM"}`},
		{9, fmt.Sprintf(`{"certificate":%q}`, m.person.CertPEM)},
		{3, `{"lease_token":1e400}`},
		{2, `{"max":-1}` + "\n" + `{"max":1}`},
	}
	for _, s := range seeds {
		f.Add(s.route, []byte(s.body))
	}
	routes := m.jsonRoutes()
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		if len(body) > 128<<10 {
			return
		}
		r := routes[int(route)%len(routes)]
		status, out, hdr := m.serve(r.cred, "POST", r.path, "application/json", body, nil)
		checkReply(t, status, out, hdr)
	})
}
