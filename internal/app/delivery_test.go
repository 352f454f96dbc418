package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// events lists the evidence events of a letter as its sender sees them.
func events(t *testing.T, p *party, id string) []string {
	t.Helper()
	var v mailbox.LetterView
	p.mustJSON("GET", "/v1/letters/"+id, nil, &v, 200)
	out := make([]string, len(v.Evidence))
	for i, e := range v.Evidence {
		out[i] = e.Event
	}
	return out
}

func TestRefusalExpiryAndPrint(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	letter := func(extra map[string]any) map[string]any {
		l := map[string]any{
			"recipient":  map[string]string{"name": "Иванов И.И.", "address": citizenAddress},
			"registered": true, "subject": "Повестка", "body": "Текст",
		}
		for k, v := range extra {
			l[k] = v
		}
		return l
	}

	t.Run("refusal", func(t *testing.T) {
		_, sent, data := org.send(letter(nil), "")
		if sent.ID == "" {
			t.Fatalf("send: %s", data)
		}
		var v mailbox.LetterView
		citizen.mustJSON("GET", "/v1/letters/"+sent.ID, nil, &v, 200)
		st := mailbox.NewStatement(v, mailbox.DecisionRefuse, "не мой адрес", b.clock.Now())
		citizen.mustJSON("POST", "/v1/letters/"+sent.ID+"/refuse", map[string]string{"jws": sign(t, citizen.cred, st)}, &v, 200)
		if v.State != "refused" {
			t.Fatalf("state %s", v.State)
		}
		if got := strings.Join(events(t, org, sent.ID), " "); got != "SubmissionAcceptance NotificationForAcceptance ConsignmentRejection" {
			t.Fatalf("events: %s", got)
		}
		if status, _ := citizen.json("GET", "/v1/letters/"+sent.ID+"/content", nil, nil); status != 403 {
			t.Fatalf("content after refusal: %d", status)
		}
		// A second answer is refused.
		st.Decision = mailbox.DecisionAccept
		if status, _ := citizen.json("POST", "/v1/letters/"+sent.ID+"/accept", map[string]string{"jws": sign(t, citizen.cred, st)}, nil); status != 409 {
			t.Fatalf("accept after refusal: %d", status)
		}
	})

	t.Run("expiry and print-if-unsigned fire exactly once", func(t *testing.T) {
		_, plain, _ := org.send(letter(nil), "")
		_, piu, data := org.send(letter(map[string]any{"print_if_unsigned_after": "48h"}), "")
		if piu.ID == "" || piu.Deadline == nil {
			t.Fatalf("send: %s", data)
		}
		// Not yet due.
		if n, err := b.srv.Service.ExpireDue(t.Context()); err != nil || n != 0 {
			t.Fatalf("early sweep: %d %v", n, err)
		}
		b.clock.Advance(49 * time.Hour)
		n, err := b.srv.Service.ExpireDue(t.Context())
		if err != nil || n != 1 {
			t.Fatalf("sweep after 49h: %d %v, want only the 48h letter", n, err)
		}
		b.clock.Advance(10 * 24 * time.Hour)
		// Concurrent sweeps (as several processes would run) expire the
		// plain letter once.
		var wg sync.WaitGroup
		total := 0
		var mu sync.Mutex
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := b.srv.Service.ExpireDue(context.Background())
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}()
		}
		wg.Wait()
		if total != 1 {
			t.Fatalf("concurrent sweeps expired %d letters, want 1", total)
		}
		if got := strings.Join(events(t, org, plain.ID), " "); got != "SubmissionAcceptance NotificationForAcceptance AcceptanceRejectionExpiry" {
			t.Fatalf("plain letter events: %s", got)
		}
		if got := strings.Join(events(t, org, piu.ID), " "); got != "SubmissionAcceptance NotificationForAcceptance AcceptanceRejectionExpiry RelayToNonERDS" {
			t.Fatalf("print-if-unsigned events: %s", got)
		}
		var v mailbox.LetterView
		org.mustJSON("GET", "/v1/letters/"+piu.ID, nil, &v, 200)
		if v.State != "print_queued" || v.Route != "print" || v.RouteReason != "print-if-unsigned" {
			t.Fatalf("after print-if-unsigned: %+v", v)
		}
		// Too late to accept.
		st := mailbox.NewStatement(v, mailbox.DecisionAccept, "", b.clock.Now())
		if status, _ := citizen.json("POST", "/v1/letters/"+plain.ID+"/accept", map[string]string{"jws": sign(t, citizen.cred, st)}, nil); status != 409 {
			t.Fatalf("accept after expiry: %d", status)
		}
		// Bundles of both still verify.
		for _, id := range []string{plain.ID, piu.ID} {
			status, bb := org.do("GET", "/v1/letters/"+id+"/bundle", nil, "", nil, nil)
			if status != 200 {
				t.Fatalf("bundle: %d", status)
			}
			if _, err := signing.VerifyBundle(bb, signing.VerifyOptions{Trust: org.trust()}); err != nil {
				t.Fatalf("bundle of %s: %v", id, err)
			}
		}
	})

	t.Run("unknown recipient goes to print", func(t *testing.T) {
		status, sent, data := org.send(map[string]any{
			"recipient": map[string]string{"name": "Сидоров С.С.", "address": "246050, г. Гомель, ул. Билецкого, 10"},
			"subject":   "Простое письмо", "body": "Текст",
		}, "")
		if status != 201 || sent.Route != "print" || sent.RouteReason != "no-mailbox" || sent.State != "print_queued" {
			t.Fatalf("send: %d %s", status, data)
		}
		if got := strings.Join(events(t, org, sent.ID), " "); got != "SubmissionAcceptance RelayToNonERDS" {
			t.Fatalf("events: %s", got)
		}
	})

	t.Run("pending mailbox goes to print, reported to the sender as no-mailbox", func(t *testing.T) {
		pending := b.party(t, certs.Request{Role: certs.RolePerson, Name: "Ковалёва Анна Сергеевна", PersonalID: "4150690B002PB1"})
		pending.mustJSON("POST", "/v1/mailboxes", map[string]string{"address": "230025, г. Гродно, ул. Ожешко, 3, кв. 7"}, nil, 201)
		_, sent, data := org.send(map[string]any{
			"recipient": map[string]string{"name": "Ковалевой Анне Сергеевне", "address": "г. Гродно, ул. Ожешко, д.3, кв.7, 230025"},
			"subject":   "x", "body": "y",
		}, "")
		if sent.Route != "print" || sent.RouteReason != "no-mailbox" {
			t.Fatalf("send: %s", data)
		}
	})

	t.Run("simple letter: consignment then access tracking once", func(t *testing.T) {
		_, sent, _ := org.send(map[string]any{
			"recipient": map[string]string{"name": "Иванову И. И.", "address": citizenAddress},
			"subject":   "Простое", "body": "Добрый день",
		}, "")
		if sent.State != "delivered" {
			t.Fatalf("state %s", sent.State)
		}
		for range 2 {
			var c mailbox.Content
			citizen.mustJSON("GET", "/v1/letters/"+sent.ID+"/content", nil, &c, 200)
		}
		if got := strings.Join(events(t, org, sent.ID), " "); got != "SubmissionAcceptance ContentConsignment ContentAccessTracking" {
			t.Fatalf("events: %s", got)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		tooLongName := strings.Repeat("ЖЩШЮМЖЩШЮМ ", 18)
		for name, tc := range map[string]struct {
			letter map[string]any
			code   string
		}{
			"bad address":        {map[string]any{"recipient": map[string]string{"name": "X", "address": "где-то там"}}, "bad_address"},
			"bidi in name":       {map[string]any{"recipient": map[string]string{"name": "Иванов\u202eвонавИ", "address": citizenAddress}}, "bad_recipient_name"},
			"newline in subject": {map[string]any{"recipient": map[string]string{"name": "X", "address": citizenAddress}, "subject": "a\r\nBcc: x"}, "bad_subject"},
			"period on simple":   {map[string]any{"recipient": map[string]string{"name": "X", "address": citizenAddress}, "print_if_unsigned_after": "48h"}, "not_registered"},
			"bad period":         {map[string]any{"recipient": map[string]string{"name": "X", "address": citizenAddress}, "registered": true, "print_if_unsigned_after": "soon"}, "bad_period"},
			"unknown field":      {map[string]any{"recipient": map[string]string{"name": "X", "address": citizenAddress}, "priority": "high"}, "bad_json"},
			"bad language":       {map[string]any{"recipient": map[string]string{"name": "X", "address": citizenAddress}, "language": "uk"}, "bad_language"},
			// Does not fit the envelope window at 8 pt: refused when it is
			// printed at once and when it may be printed later.
			"address too long, print": {map[string]any{"recipient": map[string]string{"name": tooLongName, "address": citizenAddress}}, "address_too_long"},
			"address too long, print if unsigned": {map[string]any{"recipient": map[string]string{"name": tooLongName, "address": citizenAddress},
				"registered": true, "print_if_unsigned_after": "48h"}, "address_too_long"},
		} {
			status, _, data := org.send(tc.letter, "")
			if status != 400 || !strings.Contains(string(data), `"`+tc.code+`"`) {
				t.Errorf("%s: %d %s, want 400 %s", name, status, data, tc.code)
			}
		}
		// The letter part is read strictly (encoding/json/v2): what v1
		// would have let through — a member named twice (which value
		// counts?), a name in another case, invalid UTF-8, a second value —
		// is refused.
		recipient := `"recipient":{"name":"X","address":"` + citizenAddress + `"}`
		for name, raw := range map[string]string{
			"member named twice": `{` + recipient + `,"subject":"a","subject":"b"}`,
			"name in other case": `{` + recipient + `,"Subject":"a"}`,
			"invalid UTF-8":      `{` + recipient + `,"subject":"` + "\xff" + `"}`,
			"trailing value":     `{` + recipient + `} {}`,
			"truncated":          `{` + recipient,
		} {
			body, ct := multipartRaw([]byte(raw))
			status, data := org.do("POST", "/v1/letters", body, ct, nil, nil)
			if status != 400 || !strings.Contains(string(data), `"bad_json"`) {
				t.Errorf("%s: %d %.300s, want 400 bad_json", name, status, data)
			}
		}
		// An executable cannot be printed: refused for a letter that may print.
		status, _, data := org.send(letter(map[string]any{"print_if_unsigned_after": "48h"}), "", attachment{"setup.exe", "application/octet-stream", []byte("MZ\x90\x00binary")})
		if status != 400 || !strings.Contains(string(data), "unprintable_attachment") {
			t.Errorf("unprintable: %d %s", status, data)
		}
		status, _, data = org.send(letter(nil), "", attachment{"../../etc/passwd", "text/plain", []byte("x")})
		if status != 400 || !strings.Contains(string(data), "bad_attachment_name") {
			t.Errorf("path in file name: %d %s", status, data)
		}
		// Reusing an idempotency key for another letter is refused.
		org.send(letter(nil), "reused")
		status, _, data = org.send(letter(map[string]any{"subject": "другое"}), "reused")
		if status != 409 || !strings.Contains(string(data), "idempotency_key_reused") {
			t.Errorf("key reuse: %d %s", status, data)
		}
		// A print centre or an operator cannot send.
		pc := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ", Regions: []string{"220"}})
		if status, _, _ := pc.send(letter(nil), ""); status != 403 {
			t.Errorf("print centre sending: %d", status)
		}
	})
}

func TestActivationByCode(t *testing.T) {
	t.Parallel()
	codes := map[string]string{}
	var mu sync.Mutex
	b := setupWith(t, "", func(c *app.Config) {
		c.ActivationCodeSink = func(id, code string) { mu.Lock(); codes[id] = code; mu.Unlock() }
	})
	p := b.party(t, citizenReq)
	var m struct{ ID, Status string }
	p.mustJSON("POST", "/v1/mailboxes", map[string]string{"address": citizenAddress, "email": "ivanov@example.by"}, &m, 201)
	// The same holder cannot register the same delivery point twice.
	if status, data := p.json("POST", "/v1/mailboxes", map[string]string{"address": citizenAddress2}, nil); status != 409 {
		t.Fatalf("second mailbox at the same address: %d %s", status, data)
	}
	other := b.party(t, certs.Request{Role: certs.RolePerson, Name: "Петров Пётр", PersonalID: "3140582A002PB4"})
	mu.Lock()
	code := codes[m.ID]
	mu.Unlock()
	if status, _ := other.json("POST", "/v1/mailboxes/"+m.ID+"/activate", map[string]string{"code": code}, nil); status != 404 {
		t.Fatalf("someone else activating: %d", status)
	}
	if status, data := p.json("POST", "/v1/mailboxes/"+m.ID+"/activate", map[string]string{"code": "00000-00000"}, nil); status != 400 || !strings.Contains(string(data), "wrong_code") {
		t.Fatalf("wrong code: %d %s", status, data)
	}
	// People type codes in lower case without the dash.
	typed := strings.ToLower(strings.ReplaceAll(code, "-", ""))
	p.mustJSON("POST", "/v1/mailboxes/"+m.ID+"/activate", map[string]string{"code": typed}, &m, 200)
	if m.Status != "active" {
		t.Fatalf("after activation: %s", m.Status)
	}
	// The activation letter was queued for print.
	var jobs int
	err := b.srv.Store.View(t.Context(), func(tx mailbox.Tx) error {
		js, err := tx.LeasePrintJobs(t.Context(), []string{"220"}, "probe", 10, b.clock.Now().Add(time.Hour), b.clock.Now().Add(2*time.Hour))
		jobs = len(js)
		return err
	})
	if err == nil && jobs != 1 {
		t.Fatalf("activation print jobs: %d", jobs)
	}
}

// TestOversizedSubmission is not parallel: it measures the process's heap,
// which other tests' allocations would disturb (sequential tests run alone,
// before the parallel ones).
func TestOversizedSubmission(t *testing.T) {
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	// 30 MiB streamed: refused with 413, and the server does not buffer it.
	grown := peakHeap(func() { sendOversized(t, b, org) })
	// The heap must not have grown by anything like the body (generous
	// bound: 20 MiB of the 30 sent, garbage included).
	if grown > 20<<20 {
		t.Fatalf("heap grew by %d MiB while refusing 30 MiB", grown>>20)
	}
}

func sendOversized(t *testing.T, b *bundle, org *party) {
	pr, pw := io.Pipe()
	go func() {
		fmt.Fprintf(pw, "--B\r\nContent-Disposition: form-data; name=\"letter\"\r\n\r\n{\"recipient\":{\"name\":\"X\",\"address\":%q}}\r\n", citizenAddress)
		fmt.Fprint(pw, "--B\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"big.txt\"\r\nContent-Type: text/plain\r\n\r\n")
		chunk := bytes.Repeat([]byte("a"), 1<<20)
		for range 30 {
			if _, err := pw.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		fmt.Fprint(pw, "\r\n--B--\r\n")
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", b.base+"/v1/letters", pr)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
	resp, err := org.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("30 MiB submission: %d %s, want 413", resp.StatusCode, body)
	}
}
