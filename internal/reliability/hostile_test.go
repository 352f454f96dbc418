package reliability_test

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/httpapi"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// heapPeak samples the heap while fn runs and returns how far HeapInuse
// rose above where it started.
func heapPeak(fn func()) (grown int64) {
	// HeapInuse counts garbage not yet collected too; with the default
	// GOGC a loaded machine lets it pile up between cycles (18 MiB seen
	// against a 16 MiB bound at load 30). Collecting eagerly while
	// measuring makes the peak the memory the request really holds.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := int64(ms.HeapInuse)
	var peak atomic.Int64
	peak.Store(base)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if v := int64(ms.HeapInuse); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return peak.Load() - base
}

// hostileFixture is an in-process server with a sender and a recipient.
type hostileFixture struct {
	d       *deployment
	srv     *app.Server
	base    string
	org     *party
	citizen *party
}

func newHostileFixture(t *testing.T, modify func(*app.Config)) *hostileFixture {
	t.Helper()
	d, srv, base := inProcess(t, "", modify)
	f := &hostileFixture{d: d, srv: srv, base: base, org: d.party(t, orgReq), citizen: d.party(t, citizenReq)}
	f.org.registerActive(t, base, orgAddress)
	f.citizen.registerActive(t, base, citizenAddress)
	return f
}

func electronic(subject, body string) map[string]any {
	return map[string]any{"recipient": map[string]string{"name": "Иванову Ивану Ивановичу", "address": citizenAddress},
		"registered": true, "subject": subject, "body": body}
}

// rawSubmit sends a hand-written multipart body.
func (f *hostileFixture) rawSubmit(t *testing.T, body string) reply {
	t.Helper()
	r, err := f.org.call(t.Context(), "POST", f.base+"/v1/letters", strings.NewReader(body), "multipart/form-data; boundary=B", nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// noRawControls checks a reply for what must never come back raw: CR or
// LF in a header value, a bidi control anywhere.
func noRawControls(t *testing.T, where string, r reply) {
	t.Helper()
	for k, vs := range r.header {
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				t.Errorf("%s: header %s carries a raw line break: %q", where, k, v)
			}
		}
	}
	for _, c := range []string{"\u202e", "\u2066", "\u2067", "\u2068", "\u202a", "\u200f", "\r\nX-"} {
		if strings.Contains(string(r.body), c) || strings.Contains(fmt.Sprint(r.header), c) {
			t.Errorf("%s: the reply echoes %q raw", where, c)
		}
	}
}

// TestHeaderAndBidiInjection submits names, subjects and file names that
// carry header injections (CR/LF, also RFC 2231-encoded) and bidi or
// line-separator controls ("Trojan Source" spoofing, CVE-2021-42574): each
// is refused with 400 and never echoed raw. Unusual but legitimate file
// names are accepted and come back in a Content-Disposition that parses to
// exactly the same name. Scenario 6 of RELIABILITY.md.
func TestHeaderAndBidiInjection(t *testing.T) {
	t.Parallel()
	f := newHostileFixture(t, nil)
	ctx := t.Context()
	att := func(name string) attachment { return attachment{name: name, ctype: "text/plain", data: []byte("x")} }
	refused := []struct {
		name   string
		letter map[string]any
		atts   []attachment
	}{
		{"CRLF in subject", electronic("Тема\r\nBcc: evil@example.com", "b"), nil},
		{"LF in subject", electronic("Тема\nX-Injected: 1", "b"), nil},
		{"RLO in subject", electronic("Счёт \u202eexe.fdp", "b"), nil},
		{"isolate in subject", electronic("Счёт \u2066x\u2069", "b"), nil},
		{"line separator in subject", electronic("Тема\u2028вторая", "b"), nil},
		{"NUL in subject", electronic("Тема\x00", "b"), nil},
		{"CRLF in recipient name", map[string]any{"recipient": map[string]string{"name": "Иванов\r\nX: y", "address": citizenAddress}, "body": "b"}, nil},
		{"bidi in recipient name", map[string]any{"recipient": map[string]string{"name": "Иванов \u202eИван", "address": citizenAddress}, "body": "b"}, nil},
		{"CRLF in file name", electronic("s", "b"), []attachment{att("a\r\nContent-Type: text/html.txt")}},
		{"RLO in file name", electronic("s", "b"), []attachment{att("invoice\u202efdp.exe")}},
		{"path in file name", electronic("s", "b"), []attachment{att("../../etc/passwd")}},
		{"quote in file name", electronic("s", "b"), []attachment{att(`a".txt`)}},
		{"NUL in body", electronic("s", "b\x00"), nil},
	}
	for _, c := range refused {
		r, _, err := f.org.send(ctx, f.base, c.letter, "", c.atts...)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != 400 {
			t.Errorf("%s: %d %s, want 400", c.name, r.status, r.body)
		}
		noRawControls(t, c.name, r)
	}
	// The same injections smuggled through RFC 2231 encoding of the
	// multipart file name, which mime.ParseMediaType decodes.
	for name, disp := range map[string]string{
		"encoded CRLF in file name": `form-data; name="attachment"; filename*=utf-8''a%0D%0AContent-Type%3A%20text%2Fhtml.txt`,
		"encoded RLO in file name":  `form-data; name="attachment"; filename*=utf-8''invoice%E2%80%AEfdp.exe`,
		"encoded NUL in file name":  `form-data; name="attachment"; filename*=utf-8''a%00.txt`,
	} {
		body := "--B\r\nContent-Disposition: form-data; name=\"letter\"\r\n\r\n" +
			fmt.Sprintf(`{"recipient":{"name":"Иванов И.И.","address":%q},"body":"b"}`, citizenAddress) +
			"\r\n--B\r\nContent-Disposition: " + disp + "\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--\r\n"
		r := f.rawSubmit(t, body)
		if r.status != 400 {
			t.Errorf("%s: %d %s, want 400", name, r.status, r.body)
		}
		noRawControls(t, name, r)
	}
	// Header injection in a mailbox's notification address.
	other := f.d.party(t, citizen2Req)
	r := other.must(t, "POST", f.base+"/v1/mailboxes", map[string]string{"address": citizen2Address, "email": "ivan@example.by\r\nBcc: all@example.by"}, nil, 400)
	noRawControls(t, "CRLF in email", r)

	// Legitimate unusual names travel intact and come back safely quoted.
	for _, name := range []string{"счёт №5 (копия).pdf.txt", "a;b=c.txt", "résumé 100%.txt", "x'y'z.txt", "日本語.txt"} {
		s := f.org.mustSend(t, f.base, electronic("s", "b"), att(name))
		var v mailbox.LetterView
		f.citizen.must(t, "GET", f.base+"/v1/letters/"+s.ID, nil, &v, 200)
		jws := signStatement(t, f.citizen.cred, mailbox.NewStatement(v, mailbox.DecisionAccept, "", time.Now()))
		f.citizen.must(t, "POST", f.base+"/v1/letters/"+s.ID+"/accept", map[string]string{"jws": jws}, nil, 200)
		r := f.citizen.must(t, "GET", f.base+"/v1/letters/"+s.ID+"/attachments/1", nil, nil, 200)
		noRawControls(t, name, r)
		_, params, err := mime.ParseMediaType(r.header.Get("Content-Disposition"))
		if err != nil || params["filename"] != name {
			t.Errorf("file name %q comes back as Content-Disposition %q (%v)", name, r.header.Get("Content-Disposition"), err)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("attachment %q is served without nosniff", name)
		}
	}

	// A recipient name that is a spreadsheet formula (OWASP CSV injection)
	// is defused in the print centre's manifest.
	s := f.org.mustSend(t, f.base, map[string]any{"recipient": map[string]string{"name": `=HYPERLINK("http://evil")`, "address": printAddress}, "body": "b"})
	pc := f.d.party(t, gomelPCReq)
	var leased struct{ Jobs []printJob }
	pc.must(t, "POST", f.base+"/v1/print/leases", map[string]int{"max": 5}, &leased, 200)
	for _, j := range leased.Jobs {
		if j.LetterID != s.ID {
			continue
		}
		for _, step := range []string{"printed", "posted"} {
			pc.must(t, "POST", f.base+"/v1/print/jobs/"+j.ID+"/"+step, map[string]any{"lease_token": j.LeaseToken, "sheets": j.Sheets}, nil, 200)
		}
	}
	day := time.Now().In(time.FixedZone("Minsk", 3*3600)).Format("2006-01-02")
	manifest := string(pc.must(t, "GET", f.base+"/v1/print/manifest?date="+day, nil, nil, 200).body)
	if !strings.Contains(manifest, `'=HYPERLINK`) || strings.Contains(manifest, `,=HYPERLINK`) || strings.Contains(manifest, `,"=HYPERLINK`) {
		t.Errorf("formula not defused in the manifest:\n%s", manifest)
	}
}

// TestOversizedInput sends bodies past every limit: each is refused with
// 413 (or 400 for a malformed part) and the server's heap does not grow
// with what was sent, because bodies are streamed, never buffered. Not
// parallel: the heap is measured, and other tests would add to it.
// Scenario 6 of RELIABILITY.md.
func TestOversizedInput(t *testing.T) {
	f := newHostileFixture(t, nil)
	ctx := t.Context()
	lim := mailbox.DefaultLimits()
	s := f.org.mustSend(t, f.base, electronic("s", "b"))

	stream := func(prefix string, size int64, suffix string) io.Reader {
		pr, pw := io.Pipe()
		go func() {
			if _, err := io.WriteString(pw, prefix); err != nil {
				return
			}
			chunk := bytes.Repeat([]byte("a"), 64<<10)
			for left := size; left > 0; left -= int64(len(chunk)) {
				n := min(left, int64(len(chunk)))
				if _, err := pw.Write(chunk[:n]); err != nil {
					return
				}
			}
			_, _ = io.WriteString(pw, suffix)
			_ = pw.Close()
		}()
		return pr
	}
	letterPart := fmt.Sprintf("--B\r\nContent-Disposition: form-data; name=\"letter\"\r\n\r\n{\"recipient\":{\"name\":\"Иванов И.И.\",\"address\":%q},\"body\":\"b\"}\r\n", citizenAddress)
	cases := []struct {
		name   string
		path   string
		ctype  string
		body   func() io.Reader
		status int
		bound  int64 // heap growth allowed
	}{
		{"40 MiB of attachments", "/v1/letters", "multipart/form-data; boundary=B", func() io.Reader {
			return stream(letterPart+"--B\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"big.txt\"\r\nContent-Type: text/plain\r\n\r\n",
				40<<20, "\r\n--B--\r\n")
		}, 413, 16 << 20},
		{"a letter body over the limit", "/v1/letters", "multipart/form-data; boundary=B", func() io.Reader {
			return stream("--B\r\nContent-Disposition: form-data; name=\"letter\"\r\n\r\n{\"recipient\":{\"name\":\"И\",\"address\":\"220013, Минск, Дорошевича 8\"},\"body\":\"",
				lim.MaxBodyBytes+1, "\"}\r\n--B--\r\n")
		}, 413, 16 << 20},
		{"a 12 MiB JSON letter part", "/v1/letters", "multipart/form-data; boundary=B", func() io.Reader {
			return stream("--B\r\nContent-Disposition: form-data; name=\"letter\"\r\n\r\n{\"subject\":\"", 12<<20, "\"}\r\n--B--\r\n")
		}, 413, 24 << 20}, // the JSON decoder holds up to the part limit (6 MiB + 64 KiB), twice
		// Go's mime/multipart caps a part's header block at 10 MiB and
		// textproto's line buffering about triples that: the bound is the
		// standard library's, per request, on an authenticated route.
		{"a 30 MiB multipart header", "/v1/letters", "multipart/form-data; boundary=B", func() io.Reader {
			return stream("--B\r\nContent-Disposition: form-data; name=\"letter\"\r\nX-Long: ", 30<<20, "\r\n\r\n{}\r\n--B--\r\n")
		}, 413, 48 << 20},
		{"a 1 MiB acceptance", "/v1/letters/" + s.ID + "/accept", "application/json", func() io.Reader {
			return stream(`{"jws":"`, 1<<20, `"}`)
		}, 413, 8 << 20},
		{"a 1 MiB lease request", "/v1/print/leases", "application/json", func() io.Reader {
			return stream(`{"max":1,"x":"`, 1<<20, `"}`)
		}, 413, 8 << 20},
	}
	for _, c := range cases {
		var r reply
		var err error
		grown := heapPeak(func() {
			p := f.org
			if strings.HasSuffix(c.path, "/accept") {
				p = f.citizen
			}
			if strings.HasPrefix(c.path, "/v1/print") {
				p = f.d.party(t, gomelPCReq)
			}
			r, err = p.call(ctx, "POST", f.base+c.path, c.body(), c.ctype, nil)
		})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if r.status != c.status && !(c.status == 413 && r.status == 400 && strings.Contains(c.name, "header")) {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.status)
		}
		if r.status >= 500 {
			t.Errorf("%s: %d", c.name, r.status)
		}
		if grown > c.bound {
			t.Errorf("%s: the heap grew by %d MiB (bound %d MiB)", c.name, grown>>20, c.bound>>20)
		}
		t.Logf("%s: %d, heap +%d KiB", c.name, r.status, grown>>10)
	}

	// Too many attachments.
	var atts []attachment
	for i := range lim.MaxAttachments + 1 {
		atts = append(atts, attachment{name: fmt.Sprintf("a%d.txt", i), ctype: "text/plain", data: []byte("x")})
	}
	if r, _, err := f.org.send(ctx, f.base, electronic("s", "b"), "", atts...); err != nil || r.status != 413 {
		t.Errorf("%d attachments: %v %d %s, want 413", len(atts), err, r.status, r.body)
	}

	// A large submission within the limits is accepted; the heap grows by
	// less than the attachment (it is streamed into encrypted chunks).
	var r reply
	var err error
	size := int64(20 << 20)
	grown := heapPeak(func() {
		r, err = f.org.call(ctx, "POST", f.base+"/v1/letters",
			stream(letterPart+"--B\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"big.txt\"\r\nContent-Type: text/plain\r\n\r\n", size, "\r\n--B--\r\n"),
			"multipart/form-data; boundary=B", nil)
	})
	if err != nil || r.status != 201 {
		t.Fatalf("a 20 MiB attachment within the limits: %v %d %s", err, r.status, r.body)
	}
	t.Logf("20 MiB attachment accepted: heap +%d MiB", grown>>20)
	if grown > 2*size {
		t.Errorf("accepting a 20 MiB attachment grew the heap by %d MiB", grown>>20)
	}
}

// TestUnprintableAttachments sends letters that must be printed (no
// mailbox at the address) with attachments a print centre must never
// receive: JavaScript and Launch actions, a page larger than A3, too many
// pages, a content stream that inflates to 300 MiB (a zip bomb) and a PNG
// that declares a 50,000 × 50,000 canvas. Each is refused at submission
// with 400 unprintable_attachment, within bounded memory, and no print job
// is queued. Not parallel: the heap is measured. Scenario 6 of
// RELIABILITY.md.
func TestUnprintableAttachments(t *testing.T) {
	f := newHostileFixture(t, nil)
	// The zip-bomb fixture is what it claims to be.
	zr, err := zlib.NewReader(bytes.NewReader(flateBomb(t, 3)))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, zr); err != nil || n != 3<<20 {
		t.Fatalf("flate bomb fixture inflates to %d bytes: %v", n, err)
	}
	pngBomb := func() []byte {
		// IHDR of a 50000×50000 RGBA image and nothing else.
		var b bytes.Buffer
		b.WriteString("\x89PNG\r\n\x1a\n")
		ihdr := []byte("IHDR\x00\x00\xc3\x50\x00\x00\xc3\x50\x08\x06\x00\x00\x00")
		b.Write([]byte{0, 0, 0, 13})
		b.Write(ihdr)
		crc := crc32IEEE(ihdr)
		b.Write([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
		return b.Bytes()
	}()
	cases := map[string]attachment{
		"JavaScript on open":   {"js.pdf", "application/pdf", onePagePDF("/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>", "")},
		"Launch on open":       {"launch.pdf", "application/pdf", onePagePDF("/OpenAction << /S /Launch /F (cmd.exe) >>", "")},
		"JavaScript on a page": {"aa.pdf", "application/pdf", onePagePDF("", "/AA << /O << /S /JavaScript /JS (x) >> >>")},
		"page of 5 m":          {"poster.pdf", "application/pdf", bytes.Replace(onePagePDF("", ""), []byte("[0 0 595 842]"), []byte("[0 0 14400 14400]"), 1)},
		"1,000 pages":          {"pages.pdf", "application/pdf", manyPagesPDF(1000)},
		"300 MiB zip bomb":     {"bomb.pdf", "application/pdf", bombPDF(t, 300)},
		"PNG bomb":             {"bomb.png", "image/png", pngBomb},
		"executable":           {"setup.exe", "application/octet-stream", append([]byte("MZ\x90\x00"), make([]byte, 1000)...)},
	}
	pc := f.d.party(t, gomelPCReq)
	for name, a := range cases {
		var r reply
		var err error
		grown := heapPeak(func() {
			r, _, err = f.org.send(t.Context(), f.base, map[string]any{
				"recipient": map[string]string{"name": "Сидорову С.С.", "address": printAddress}, "body": "b"}, "", a)
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.status != 400 || errorCode(r.body) != "unprintable_attachment" {
			t.Errorf("%s: %d %s, want 400 unprintable_attachment", name, r.status, r.body)
		}
		if grown > 64<<20 {
			t.Errorf("%s: checking it grew the heap by %d MiB", name, grown>>20)
		}
		t.Logf("%s: %d %s, heap +%d KiB", name, r.status, r.body, grown>>10)
	}
	var leased struct{ Jobs []printJob }
	pc.must(t, "POST", f.base+"/v1/print/leases", map[string]int{"max": 50}, &leased, 200)
	if len(leased.Jobs) != 0 {
		t.Errorf("%d print jobs queued for refused letters", len(leased.Jobs))
	}
}

// crc32IEEE is the PNG chunk CRC (ISO 3309).
func crc32IEEE(b []byte) uint32 {
	crc := ^uint32(0)
	for _, c := range b {
		crc ^= uint32(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xedb88320
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

// TestMalformedJWS presents acceptances that are not a valid signature by
// the recipient: garbage, alg "none", HS256 keyed with the recipient's
// public key or certificate (algorithm confusion), EdDSA claimed over an
// ECDSA key, an embedded jwk, a kid without x5c, a kid naming the
// recipient's key over another signer's x5c, a foreign CA's certificate, a
// crit header, a flipped signature, unknown statement fields. Each is
// refused (400, or 403 when the signer is simply not bound) and the letter
// stays as it was. Scenario 6 of RELIABILITY.md.
func TestMalformedJWS(t *testing.T) {
	t.Parallel()
	f := newHostileFixture(t, nil)
	s := f.org.mustSend(t, f.base, electronic("Заказное", "Текст"))
	var v mailbox.LetterView
	f.citizen.must(t, "GET", f.base+"/v1/letters/"+s.ID, nil, &v, 200)
	st, _ := json.Marshal(mailbox.NewStatement(v, mailbox.DecisionAccept, "", time.Now()))
	b64 := base64.RawURLEncoding.EncodeToString
	x5c := []string{base64.StdEncoding.EncodeToString(f.citizen.cred.Cert.Raw)}
	hdr := func(h map[string]any) string { b, _ := json.Marshal(h); return b64(b) }
	good := signStatement(t, f.citizen.cred, mailbox.NewStatement(v, mailbox.DecisionAccept, "", time.Now()))
	parts := strings.Split(good, ".")
	hs256 := func(key []byte) string {
		in := hdr(map[string]any{"alg": "HS256", "x5c": x5c}) + "." + b64(st)
		m := hmac.New(sha256.New, key)
		m.Write([]byte(in))
		return in + "." + b64(m.Sum(nil))
	}
	flipped := []byte(parts[2])
	flipped[5] ^= 'A' ^ 'B'
	foreignCertPEM, foreignKeyPEM, err := certs.CreateCA(f.d.ca.Certificate().Subject.CommonName, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := certs.LoadCA(foreignCertPEM, foreignKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	foreignCred, err := foreign.Issue(citizenReq, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var stmt mailbox.Statement
	_ = json.Unmarshal(st, &stmt)
	impostor := f.d.issue(t, citizenReq) // same person, not bound
	impostorJWS := strings.Split(signStatement(t, impostor, stmt), ".")
	withKid := hdr(map[string]any{"alg": "ES256", "kid": f.citizen.id.SPKISHA256, "x5c": []string{base64.StdEncoding.EncodeToString(impostor.Cert.Raw)}})
	extra, _ := json.Marshal(map[string]any{"v": 1, "decision": "accept", "letter": v.ID, "notification": v.Notification,
		"content_sha256": v.ContentSHA256, "time": time.Now().UTC().Format(time.RFC3339), "admin": true})
	cases := []struct {
		name string
		jws  string
		want []int
	}{
		{"empty", "", []int{400}},
		{"garbage", "not a jws", []int{400}},
		{"two parts", parts[0] + "." + parts[1], []int{400}},
		{"four parts", good + ".x", []int{400}},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], []int{400}},
		{"alg none", hdr(map[string]any{"alg": "none", "x5c": x5c}) + "." + b64(st) + ".", []int{400}},
		{"alg none with a signature", hdr(map[string]any{"alg": "none", "x5c": x5c}) + "." + b64(st) + "." + parts[2], []int{400}},
		{"alg NONE", hdr(map[string]any{"alg": "NONE", "x5c": x5c}) + "." + b64(st) + "." + parts[2], []int{400}},
		{"HS256 keyed with the public key", hs256(f.citizen.cred.Cert.RawSubjectPublicKeyInfo), []int{400}},
		{"HS256 keyed with the certificate PEM", hs256(f.citizen.cred.CertPEM), []int{400}},
		{"EdDSA over an ECDSA key", hdr(map[string]any{"alg": "EdDSA", "x5c": x5c}) + "." + parts[1] + "." + parts[2], []int{400}},
		{"embedded jwk", hdr(map[string]any{"alg": "ES256", "x5c": x5c, "jwk": map[string]string{"kty": "EC"}}) + "." + parts[1] + "." + parts[2], []int{400}},
		{"kid without x5c", hdr(map[string]any{"alg": "ES256", "kid": f.citizen.id.SPKISHA256}) + "." + parts[1] + "." + parts[2], []int{400}},
		{"kid naming the recipient, another signer", withKid + "." + impostorJWS[1] + "." + impostorJWS[2], []int{400, 403}},
		{"crit header", hdr(map[string]any{"alg": "ES256", "x5c": x5c, "crit": []string{"exp"}, "exp": 1}) + "." + parts[1] + "." + parts[2], []int{400}},
		{"flipped signature", parts[0] + "." + parts[1] + "." + string(flipped), []int{400}},
		{"signature of another payload", parts[0] + "." + b64([]byte(`{"v":1}`)) + "." + parts[2], []int{400}},
		{"foreign CA, same name", signStatement(t, foreignCred, stmt), []int{400}},
		{"unknown statement field", signRaw(t, f.citizen.cred, extra), []int{400}},
		{"payload not JSON", signRaw(t, f.citizen.cred, []byte("accept")), []int{400}},
		{"70 KiB", strings.Repeat("A", 70<<10), []int{400, 413}},
	}
	for _, c := range cases {
		b, _ := json.Marshal(map[string]string{"jws": c.jws})
		r, err := f.citizen.call(t.Context(), "POST", f.base+"/v1/letters/"+s.ID+"/accept", bytes.NewReader(b), "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		ok := false
		for _, w := range c.want {
			ok = ok || r.status == w
		}
		if !ok {
			t.Errorf("%s: %d %s, want %v", c.name, r.status, r.body, c.want)
		}
	}
	var after mailbox.LetterView
	f.citizen.must(t, "GET", f.base+"/v1/letters/"+s.ID, nil, &after, 200)
	if after.State != mailbox.StateAwaitingAcceptance || len(after.Evidence) != len(v.Evidence) {
		t.Errorf("after the refused signatures the letter is %s with %d evidence", after.State, len(after.Evidence))
	}
	// The well-formed one still works: the refusals were for cause.
	f.citizen.must(t, "POST", f.base+"/v1/letters/"+s.ID+"/accept", map[string]string{"jws": good}, nil, 200)
}

// signRaw signs any payload with cred's key, as a recipient signs a
// statement (compact JWS, x5c).
func signRaw(t *testing.T, cred certs.Credential, payload []byte) string {
	t.Helper()
	kb, _ := pem.Decode(cred.KeyPEM)
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signing.SignCompact(key.(crypto.Signer), []*x509.Certificate{cred.Cert}, payload)
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

// TestSlowClients checks every deadline a slow or stalled client meets: a
// TCP connection that never starts TLS, headers sent a line at a time
// (slowloris), a body that stops, and a body dribbled slower than the whole-
// body limit. Each connection is cut by the server; a body gets 408.
// Scenario 6 of RELIABILITY.md.
func TestSlowClients(t *testing.T) {
	t.Parallel()
	f := newHostileFixture(t, func(c *app.Config) {
		c.BodyTimeouts = httpapi.BodyTimeouts{Idle: 500 * time.Millisecond, Total: 2 * time.Second}
	})
	addr := f.srv.HTTPAddr.String()
	// closedWithin reads until the server closes the connection or the
	// bound passes, and returns what it read.
	closedWithin := func(c net.Conn, bound time.Duration) (string, bool) {
		_ = c.SetReadDeadline(time.Now().Add(bound))
		data, err := io.ReadAll(c)
		var ne net.Error
		if err != nil && errors.As(err, &ne) && ne.Timeout() {
			return string(data), false
		}
		return string(data), true
	}
	var wg sync.WaitGroup
	run := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	run("no TLS handshake", func() error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, ok := closedWithin(c, 40*time.Second); !ok {
			return fmt.Errorf("a connection without a handshake is still open after 40 s")
		}
		return nil
	})
	run("slowloris headers", func() error {
		c, err := tls.Dial("tcp", addr, f.d.tlsConfig(t, nil))
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /v1/health HTTP/1.1\r\nHost: localhost\r\n"); err != nil {
			return err
		}
		done := make(chan bool, 1)
		go func() { _, ok := closedWithin(c, 40*time.Second); done <- ok }()
		for i := 0; ; i++ {
			select {
			case ok := <-done:
				if !ok {
					return fmt.Errorf("headers sent a line a second kept the connection for 40 s")
				}
				return nil
			case <-time.After(time.Second):
				// A write error means the server has closed: the reader
				// reports it next.
				_, _ = fmt.Fprintf(c, "X-Slow-%d: x\r\n", i)
			}
		}
	})
	body := func(name, start string, pace time.Duration) {
		run(name, func() error {
			c, err := tls.Dial("tcp", addr, f.d.tlsConfig(t, &f.org.cred))
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := io.WriteString(c, "POST /v1/letters HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n"+start); err != nil {
				return err
			}
			type result struct {
				out    string
				closed bool
			}
			done := make(chan result, 1)
			go func() { out, ok := closedWithin(c, 40*time.Second); done <- result{out, ok} }()
			for {
				select {
				case r := <-done:
					if !r.closed {
						return fmt.Errorf("the body was still being read after 40 s")
					}
					resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(r.out)), nil)
					if err != nil || resp.StatusCode != 408 {
						return fmt.Errorf("the server answered %q, want 408 and a closed connection", r.out)
					}
					return nil
				case <-time.After(pace):
					// A write error means the server has closed: the reader
					// reports it next.
					_, _ = io.WriteString(c, "a")
				}
			}
		})
	}
	body("body stalled in a file", "--B\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"a.txt\"\r\n\r\nabc", 5*time.Second)
	body("body stalled in a part header", "--B\r\nContent-Disp", 5*time.Second)
	body("body dribbled in a file", "--B\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"a.txt\"\r\n\r\nabc", 100*time.Millisecond)
	body("body dribbled in a part header", "--B\r\n", 100*time.Millisecond)
	wg.Wait()
	// The server still serves.
	f.org.must(t, "GET", f.base+"/v1/whoami", nil, nil, 200)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// TestRateLimitsIsolateClients extends the per-identity limit test of
// internal/app: anonymous clients are limited per address, an
// authenticated client at the same address keeps its own budget, and every
// 429 carries the API's error shape and a Retry-After in whole seconds.
// Scenario 6 of RELIABILITY.md.
func TestRateLimitsIsolateClients(t *testing.T) {
	t.Parallel()
	f := newHostileFixture(t, func(c *app.Config) { c.RateLimit = httpapi.RateLimit{PerSecond: 0.2, Burst: 3} })
	anon := f.d.anonymous(t)
	limited := 0
	for range 8 {
		r, err := anon.call(t.Context(), "GET", f.base+"/v1/log/checkpoint", nil, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.status == 429 {
			limited++
			if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
				t.Errorf("429 with Retry-After %q", r.header.Get("Retry-After"))
			}
			if errorCode(r.body) != "rate_limited" {
				t.Errorf("429 body %s", r.body)
			}
		}
	}
	if limited == 0 {
		t.Fatal("8 anonymous requests at a burst of 3 were never limited")
	}
	// The same address with a certificate is another client.
	person := f.d.party(t, citizen2Req)
	if r, err := person.call(t.Context(), "GET", f.base+"/v1/whoami", nil, "", nil); err != nil || r.status != 200 {
		t.Fatalf("an authenticated client next to a limited anonymous one: %v %d", err, r.status)
	}
}
