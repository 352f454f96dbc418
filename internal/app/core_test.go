package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// party is a credential holder talking to the API.
type party struct {
	t    *testing.T
	b    *bundle
	cred certs.Credential
	c    *http.Client
}

func (b *bundle) party(t *testing.T, req certs.Request) *party {
	cred := b.issue(t, req, b.clock.Now())
	return &party{t: t, b: b, cred: cred, c: b.client(t, &cred)}
}

func (b *bundle) operator(t *testing.T) *party {
	op, err := certs.LoadCredentialDir(b.srv.Data.OperatorCredentialDir())
	if err != nil {
		t.Fatal(err)
	}
	cred := certs.Credential{CertPEM: op.CertPEM, KeyPEM: op.KeyPEM}
	return &party{t: t, b: b, cred: cred, c: b.client(t, &cred)}
}

// do sends a request and decodes a JSON reply into out (when not nil).
func (p *party) do(method, path string, body io.Reader, contentType string, hdr map[string]string, out any) (int, []byte) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.b.base+path, body)
	if err != nil {
		p.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := p.c.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(data, out); err != nil {
			p.t.Fatalf("%s %s: decoding %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, data
}

func (p *party) json(method, path string, in, out any) (int, []byte) {
	p.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	return p.do(method, path, body, "application/json", nil, out)
}

func (p *party) mustJSON(method, path string, in, out any, want int) []byte {
	p.t.Helper()
	status, data := p.json(method, path, in, out)
	if status != want {
		p.t.Fatalf("%s %s: %d %s, want %d", method, path, status, data, want)
	}
	return data
}

// registerActive registers a mailbox and has the operator verify it.
func (p *party) registerActive(address string) string {
	p.t.Helper()
	var m struct{ ID, Status string }
	p.mustJSON("POST", "/v1/mailboxes", map[string]string{"address": address}, &m, 201)
	if m.Status != "pending" {
		p.t.Fatalf("new mailbox is %s", m.Status)
	}
	p.b.operator(p.t).mustJSON("POST", "/v1/admin/mailboxes/"+m.ID+"/verify", nil, &m, 200)
	if m.Status != "active" {
		p.t.Fatalf("verified mailbox is %s", m.Status)
	}
	return m.ID
}

type attachment struct {
	name, ctype string
	data        []byte
}

func multipartBody(t *testing.T, letter map[string]any, atts ...attachment) (io.Reader, string) {
	t.Helper()
	part, err := json.Marshal(letter)
	if err != nil {
		t.Fatal(err)
	}
	return multipartRaw(part, atts...)
}

// multipartRaw is a submission whose letter part is these bytes.
func multipartRaw(letterPart []byte, atts ...attachment) (io.Reader, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="letter"`)
	h.Set("Content-Type", "application/json")
	w, _ := mw.CreatePart(h)
	_, _ = w.Write(letterPart)
	for _, a := range atts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="attachment"; filename=%q`, a.name))
		h.Set("Content-Type", a.ctype)
		w, _ := mw.CreatePart(h)
		_, _ = w.Write(a.data)
	}
	_ = mw.Close()
	return &buf, mw.FormDataContentType()
}

type sendReply struct {
	mailbox.LetterView
	Evidence []json.RawMessage `json:"evidence"`
}

func (p *party) send(letter map[string]any, key string, atts ...attachment) (int, sendReply, []byte) {
	p.t.Helper()
	body, ct := multipartBody(p.t, letter, atts...)
	hdr := map[string]string{}
	if key != "" {
		hdr["Idempotency-Key"] = key
	}
	var r sendReply
	status, data := p.do("POST", "/v1/letters", body, ct, hdr, &r)
	return status, r, data
}

// sign makes the recipient's statement JWS with cred's key.
func sign(t *testing.T, cred certs.Credential, st mailbox.Statement) string {
	t.Helper()
	payload, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return signRaw(t, cred, payload)
}

var (
	orgReq     = certs.Request{Role: certs.RoleOrg, Name: "ОАО «Белтелеком»", UNP: "100289066"}
	citizenReq = certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович", PersonalID: "3140582A001PB3"}
)

const (
	orgAddress     = "220030, г. Минск, ул. Энгельса, 6"
	citizenAddress = "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5"
	// The same delivery point as citizenAddress, written differently.
	citizenAddress2 = "Республика Беларусь, г.Минск, улица Дорошевича 8, кв.5, 220013"
)

func TestRegisteredLetterEndToEnd(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(*testing.T) string{
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
		"sqlite":   func(t *testing.T) string { return "" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, url(t))
			org := b.party(t, orgReq)
			org.registerActive(orgAddress)
			citizen := b.party(t, citizenReq)
			citizenBox := citizen.registerActive(citizenAddress)

			pdf := []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj 3 0 obj<</Type/Page/MediaBox[0 0 595 842]/Parent 2 0 R>>endobj\nxref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n0000000101 00000 n \ntrailer<</Size 4/Root 1 0 R>>\nstartxref\n170\n%%EOF\n")
			text := []byte("Приложение: расчёт платы за услуги связи.\n")
			status, sent, data := org.send(map[string]any{
				"recipient":  map[string]string{"name": "Иванову Ивану Ивановичу", "address": citizenAddress2},
				"registered": true, "subject": "Уведомление о задолженности", "body": "Уважаемый абонент! Текст письма.",
			}, "key-1", attachment{"счёт.pdf", "application/pdf", pdf}, attachment{"расчёт.txt", "text/plain", text})
			if status != 201 {
				t.Fatalf("send: %d %s", status, data)
			}
			if sent.Route != "electronic" || sent.State != "awaiting_acceptance" || sent.Recipient.Mailbox != citizenBox {
				t.Fatalf("routing: %+v", sent.LetterView)
			}
			if err := checkS10(sent.Tracking); err != nil {
				t.Fatalf("tracking %q: %v", sent.Tracking, err)
			}
			if len(sent.Evidence) != 2 {
				t.Fatalf("evidence in reply: %d, want SubmissionAcceptance + NotificationForAcceptance", len(sent.Evidence))
			}
			testForeignVerifiers(t, b, sent.Evidence[0])

			// Idempotent retry: the same letter, no second one.
			status, again, _ := org.send(map[string]any{
				"recipient":  map[string]string{"name": "Иванову Ивану Ивановичу", "address": citizenAddress2},
				"registered": true, "subject": "Уведомление о задолженности", "body": "Уважаемый абонент! Текст письма.",
			}, "key-1", attachment{"счёт.pdf", "application/pdf", pdf}, attachment{"расчёт.txt", "text/plain", text})
			if status != 201 || again.ID != sent.ID {
				t.Fatalf("retry: %d %s, want the same letter %s", status, again.ID, sent.ID)
			}
			testReceipt(t, org, sent, again)
			var page struct{ Letters []mailbox.LetterView }
			org.mustJSON("GET", "/v1/letters?folder=sent", nil, &page, 200)
			if len(page.Letters) != 1 {
				t.Fatalf("sent folder has %d letters after a retry, want 1", len(page.Letters))
			}

			// The recipient sees sender, subject and deadline, not the content.
			var v mailbox.LetterView
			citizen.mustJSON("GET", "/v1/letters/"+sent.ID, nil, &v, 200)
			if v.Subject != "Уведомление о задолженности" || v.Deadline == nil || v.Sender.Name != orgReq.Name || v.ContentVisible {
				t.Fatalf("recipient view: %+v", v)
			}
			if status, data := citizen.json("GET", "/v1/letters/"+sent.ID+"/content", nil, nil); status != 403 || !strings.Contains(string(data), "acceptance_required") || strings.Contains(string(data), "абонент") {
				t.Fatalf("content before acceptance: %d %s", status, data)
			}
			if status, _ := citizen.json("GET", "/v1/letters/"+sent.ID+"/attachments/1", nil, nil); status != 403 {
				t.Fatalf("attachment before acceptance: %d", status)
			}

			// A credential of the same person, not bound to the mailbox,
			// cannot sign for it.
			unbound := b.issue(t, citizenReq, b.clock.Now())
			st := mailbox.NewStatement(v, mailbox.DecisionAccept, "", b.clock.Now())
			if status, data := citizen.json("POST", "/v1/letters/"+sent.ID+"/accept", map[string]string{"jws": sign(t, unbound, st)}, nil); status != 403 || !strings.Contains(string(data), "signer_not_bound") {
				t.Fatalf("unbound signer: %d %s", status, data)
			}
			// A statement for another letter is refused.
			other := st
			other.Letter = "00000000-0000-4000-8000-000000000000"
			if status, _ := citizen.json("POST", "/v1/letters/"+sent.ID+"/accept", map[string]string{"jws": sign(t, citizen.cred, other)}, nil); status != 400 {
				t.Fatalf("statement for another letter: %d", status)
			}
			// A refusal statement presented as an acceptance is refused.
			ref := mailbox.NewStatement(v, mailbox.DecisionRefuse, "", b.clock.Now())
			if status, _ := citizen.json("POST", "/v1/letters/"+sent.ID+"/accept", map[string]string{"jws": sign(t, citizen.cred, ref)}, nil); status != 400 {
				t.Fatalf("refusal as acceptance: %d", status)
			}
			// The sender cannot accept on the recipient's behalf.
			if status, _ := org.json("POST", "/v1/letters/"+sent.ID+"/accept", map[string]string{"jws": sign(t, citizen.cred, st)}, nil); status != 403 {
				t.Fatalf("sender accepting: %d", status)
			}

			jws := sign(t, citizen.cred, st)
			citizen.mustJSON("POST", "/v1/letters/"+sent.ID+"/accept", map[string]string{"jws": jws}, &v, 200)
			if v.State != "accepted" {
				t.Fatalf("after accept: %s", v.State)
			}
			// Replaying the acceptance changes nothing.
			if status, _ := citizen.json("POST", "/v1/letters/"+sent.ID+"/accept", map[string]string{"jws": jws}, nil); status != 409 {
				t.Fatalf("replayed acceptance: %d, want 409", status)
			}

			var content mailbox.Content
			citizen.mustJSON("GET", "/v1/letters/"+sent.ID+"/content", nil, &content, 200)
			if content.Body != "Уважаемый абонент! Текст письма." || len(content.Attachments) != 2 {
				t.Fatalf("content: %+v", content)
			}
			for i, want := range [][]byte{pdf, text} {
				status, got := citizen.do("GET", fmt.Sprintf("/v1/letters/%s/attachments/%d", sent.ID, i+1), nil, "", nil, nil)
				if status != 200 || !bytes.Equal(got, want) {
					t.Fatalf("attachment %d: %d, %d bytes, identical=%v", i+1, status, len(got), bytes.Equal(got, want))
				}
			}

			// The sender's bundle verifies offline, with the attachments.
			status, bundleBytes := org.do("GET", "/v1/letters/"+sent.ID+"/bundle", nil, "", nil, nil)
			if status != 200 {
				t.Fatalf("bundle: %d %s", status, bundleBytes)
			}
			opts := signing.VerifyOptions{Trust: org.trust(), Attachments: map[string][]byte{"счёт.pdf": pdf, "расчёт.txt": text}}
			rep, err := signing.VerifyBundle(bundleBytes, opts)
			if err != nil {
				t.Fatalf("bundle does not verify: %v", err)
			}
			var events []string
			for _, e := range rep.Evidence {
				events = append(events, string(e.Event))
			}
			want := "SubmissionAcceptance NotificationForAcceptance ConsignmentAcceptance ContentHandover"
			if strings.Join(events, " ") != want {
				t.Fatalf("events %v, want %s", events, want)
			}
			testBundleTampering(t, bundleBytes, opts, pdf)

			// Nobody else sees the letter.
			neighbour := b.party(t, certs.Request{Role: certs.RolePerson, Name: "Петров Пётр", PersonalID: "3140582A002PB4"})
			neighbour.registerActive(citizenAddress)
			printer := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Минск", Regions: []string{"220"}})
			for _, who := range []*party{neighbour, printer, b.operator(t)} {
				for _, path := range []string{"", "/content", "/attachments/1", "/evidence", "/bundle"} {
					status, data := who.json("GET", "/v1/letters/"+sent.ID+path, nil, nil)
					if status != 404 || strings.Contains(string(data), "абонент") || strings.Contains(string(data), "Уведомление") {
						t.Fatalf("%s sees %s: %d %s", who.cred.Cert.Subject.CommonName, path, status, data)
					}
				}
			}
			anon := &party{t: t, b: b, c: b.client(t, nil)}
			if status, _ := anon.json("GET", "/v1/letters/"+sent.ID, nil, nil); status != 401 {
				t.Fatalf("unauthenticated: %d", status)
			}
		})
	}
}

func checkS10(id string) error {
	if len(id) != 13 || !strings.HasPrefix(id, "RR") || !strings.HasSuffix(id, "BY") {
		return fmt.Errorf("not an S10 id")
	}
	return nil
}

// testForeignVerifiers checks an envelope with code that is not npes's:
// go-jose for the Ed25519 signature, circl for the ML-DSA-65 one.
func testForeignVerifiers(t *testing.T, b *bundle, env json.RawMessage) {
	t.Helper()
	anon := &party{t: t, b: b, c: b.client(t, nil)}
	var jwks jose.JSONWebKeySet
	status, data := anon.do("GET", "/v1/keys", nil, "", nil, nil)
	if status != 200 {
		t.Fatalf("keys: %d", status)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range raw.Keys {
		var probe struct{ Kty string }
		_ = json.Unmarshal(k, &probe)
		if probe.Kty == "AKP" {
			continue // the ML-DSA-65 key co-signs checkpoints (go-jose has no AKP)
		}
		var jk jose.JSONWebKey
		if err := jk.UnmarshalJSON(k); err != nil {
			t.Fatalf("go-jose cannot read the OKP key: %v", err)
		}
		jwks.Keys = append(jwks.Keys, jk)
	}
	parsed, err := jose.ParseSigned(string(env), []jose.SignatureAlgorithm{jose.EdDSA, "ML-DSA-65"})
	if err != nil {
		t.Fatalf("go-jose cannot parse the envelope: %v", err)
	}
	var edOK bool
	for i, sig := range parsed.Signatures {
		if sig.Header.Algorithm != string(jose.EdDSA) {
			continue
		}
		keys := jwks.Key(sig.Header.KeyID)
		if len(keys) != 1 {
			t.Fatalf("no JWKS key for kid %q", sig.Header.KeyID)
		}
		if _, _, _, err := parsed.VerifyMulti(keys[0].Key); err != nil {
			t.Fatalf("go-jose: Ed25519 signature %d does not verify: %v", i, err)
		}
		edOK = true
	}
	if !edOK {
		t.Fatal("no EdDSA signature in the envelope")
	}
	// Envelope v2: one EdDSA signature; its post-quantum strength comes
	// from the ML-DSA-65 cosignature of the checkpoint it is proven into
	// (the receipt), not from a second signature on the envelope.
	if len(parsed.Signatures) != 1 {
		t.Fatalf("a v2 envelope carries %d signatures, want one EdDSA", len(parsed.Signatures))
	}
	var payload struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(parsed.UnsafePayloadWithoutVerification(), &payload); err != nil || payload.V != 2 {
		t.Fatalf("payload version %d (%v), want 2", payload.V, err)
	}
}

// testReceipt checks the sender's receipt (issue 13 §1): the 201 reply
// carries every envelope sealed at submission with its inclusion proof
// into the checkpoint stored by the same commit; it verifies against
// pinned trust; an idempotent retry and GET /v1/letters/{id}/receipt
// return the same receipt; the recipient gets none.
func testReceipt(t *testing.T, sender *party, sent, again sendReply) {
	t.Helper()
	if sent.Receipt == nil || len(sent.Receipt.Evidence) != len(sent.Evidence) {
		t.Fatalf("receipt in the 201 reply: %+v, want %d envelopes", sent.Receipt, len(sent.Evidence))
	}
	for i, it := range sent.Receipt.Evidence {
		if !bytes.Equal(it.Envelope.Bytes(), mustCompact(t, sent.Evidence[i])) {
			t.Fatalf("receipt item %d is not the reply's envelope %d", i, i)
		}
	}
	first, err := json.Marshal(sent.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	retried, _ := json.Marshal(again.Receipt)
	if !bytes.Equal(first, retried) {
		t.Fatalf("the idempotent retry's receipt differs:\n%s\n%s", first, retried)
	}
	status, later := sender.do("GET", "/v1/letters/"+sent.ID+"/receipt", nil, "", nil, nil)
	if status != 200 || !bytes.Equal(bytes.TrimSpace(later), first) {
		t.Fatalf("GET receipt: %d\n%s\nwant\n%s", status, later, first)
	}
	rep, err := signing.VerifyBundle(later, signing.VerifyOptions{Trust: sender.trust()})
	if err != nil {
		t.Fatalf("the receipt does not verify against pinned trust: %v", err)
	}
	if rep.Kind != "receipt" || len(rep.Evidence) != len(sent.Evidence) {
		t.Fatalf("receipt report: kind %q, %d evidence", rep.Kind, len(rep.Evidence))
	}
	if _, err := signing.VerifyBundle(later, signing.VerifyOptions{}); err == nil {
		t.Fatal("a receipt verified without pinned trust")
	}
}

// mustCompact is the canonical form of an envelope as the reply carries it.
func mustCompact(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	env, err := signing.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	return env.Bytes()
}

// testBundleTampering flips bytes in every part of a bundle and checks that
// verification fails each time.
func testBundleTampering(t *testing.T, bundle []byte, opts signing.VerifyOptions, pdf []byte) {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(bundle, &doc); err != nil {
		t.Fatal(err)
	}
	// Attachment changed by one byte.
	bad := bytes.Clone(pdf)
	bad[len(bad)/2] ^= 1
	o2 := opts
	o2.Attachments = map[string][]byte{"счёт.pdf": bad, "расчёт.txt": opts.Attachments["расчёт.txt"]}
	if _, err := signing.VerifyBundle(bundle, o2); err == nil {
		t.Fatal("a changed attachment verified")
	}
	// Every string value in the bundle (payloads, signatures, proofs,
	// checkpoint, keys) changed in one character.
	var walk func(v any, mutate func(any)) int
	count := 0
	var mutateAt int
	walk = func(v any, set func(any)) int {
		switch x := v.(type) {
		case map[string]any:
			for k, vv := range x {
				k := k
				walk(vv, func(n any) { x[k] = n })
			}
		case []any:
			for i, vv := range x {
				i := i
				walk(vv, func(n any) { x[i] = n })
			}
		case string:
			if len(x) > 8 {
				if count == mutateAt {
					r := []byte(x)
					i := len(r) / 2
					if r[i] == 'A' {
						r[i] = 'B'
					} else {
						r[i] = 'A'
					}
					set(string(r))
				}
				count++
			}
		}
		return count
	}
	var probe any
	_ = json.Unmarshal(bundle, &probe)
	total := walk(probe, func(any) {})
	if total < 10 {
		t.Fatalf("only %d strings in the bundle", total)
	}
	for mutateAt = 0; mutateAt < total; mutateAt++ {
		count = 0
		var v any
		_ = json.Unmarshal(bundle, &v)
		walk(v, func(any) {})
		tampered, _ := json.Marshal(v)
		if _, err := signing.VerifyBundle(tampered, opts); err == nil {
			t.Fatalf("bundle with string %d changed still verifies", mutateAt)
		}
	}
}
