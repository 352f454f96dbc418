package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/httpapi"
	"github.com/npes/npes/internal/store/storetest"
)

// BenchmarkSubmit measures the acceptance path through the HTTP API: a
// registered letter with a 10 KiB Cyrillic body, POST /v1/letters over mTLS
// with keep-alive, answered 201 after the durable commit of the letter, its
// evidence (Ed25519 + ML-DSA-65) and their log appends. "serial" is one
// client, so every letter waits for its own commit; "parallel" runs 16
// clients per GOMAXPROCS, which group commit can batch. The server runs in
// the benchmark's process: allocs/op and B/op count client and server.
// `npes bench accept` is the same path under load with a baseline.
func BenchmarkSubmit(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			url := ""
			if engine == "postgres" {
				url = storetest.PostgresURL(b)
			}
			e := newBenchServer(b, url)
			body := benchBody(10 << 10)
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := e.submit(body); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "letters/s")
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(16)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := e.submit(body); err != nil {
							b.Error(err) // not Fatal: this is not the benchmark's goroutine
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "letters/s")
			})
		})
	}
}

// benchServer is a started server, an org with an active mailbox and the
// client it sends with, and a recipient with an active mailbox.
type benchServer struct {
	base      string
	org       *http.Client
	recipient map[string]string
}

func newBenchServer(b *testing.B, databaseURL string) *benchServer {
	b.Helper()
	ctx := context.Background()
	srv, err := app.Start(ctx, app.Config{
		DataDir: b.TempDir(), DatabaseURL: databaseURL, HTTPAddr: "127.0.0.1:0", SMTPAddr: "off", SMTPSAddr: "off",
		RateLimit: httpapi.RateLimit{PerSecond: -1},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	ca, err := srv.Data.LoadCA()
	if err != nil {
		b.Fatal(err)
	}
	caPEM, err := srv.Data.CAPEM()
	if err != nil {
		b.Fatal(err)
	}
	base := "https://" + srv.HTTPAddr.String()
	client := func(cred certs.Credential) *http.Client {
		cfg, err := certs.ClientTLSConfig(cred.CertPEM, cred.KeyPEM, caPEM)
		if err != nil {
			b.Fatal(err)
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 256}, Timeout: time.Minute}
	}
	op, err := certs.LoadCredentialDir(srv.Data.OperatorCredentialDir())
	if err != nil {
		b.Fatal(err)
	}
	opClient := client(op)
	call := func(c *http.Client, path string, in any, want int) map[string]any {
		body, _ := json.Marshal(in)
		resp, err := c.Post(base+path, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			b.Fatalf("POST %s: %d %s", path, resp.StatusCode, data)
		}
		var out map[string]any
		_ = json.Unmarshal(data, &out)
		return out
	}
	active := func(req certs.Request, address string) *http.Client {
		cred, err := ca.Issue(req, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if err := app.RecordCertificate(ctx, srv.Store, cred); err != nil {
			b.Fatal(err)
		}
		c := client(cred)
		m := call(c, "/v1/mailboxes", map[string]string{"address": address}, http.StatusCreated)
		call(opClient, fmt.Sprintf("/v1/admin/mailboxes/%v/verify", m["id"]), nil, http.StatusOK)
		return c
	}
	org := active(certs.Request{Role: certs.RoleOrg, Name: "ОАО «Белтелеком»", UNP: "100289066"}, "220030, г. Минск, ул. Энгельса, 6")
	const name, address = "Иванов Иван Иванович", "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5"
	active(certs.Request{Role: certs.RolePerson, Name: name, PersonalID: "3140582A001PB3"}, address)
	return &benchServer{base: base, org: org, recipient: map[string]string{"name": name, "address": address}}
}

// submit sends one registered letter and checks it was accepted for
// electronic delivery.
func (e *benchServer) submit(body string) error {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="letter"`)
	h.Set("Content-Type", "application/json")
	w, _ := mw.CreatePart(h)
	_ = json.NewEncoder(w).Encode(map[string]any{"recipient": e.recipient, "registered": true, "subject": "Уведомление", "body": body})
	_ = mw.Close()
	req, err := http.NewRequest("POST", e.base+"/v1/letters", &buf)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Idempotency-Key", uuid.NewString())
	resp, err := e.org.Do(req)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || !bytes.Contains(data, []byte(`"route":"electronic"`)) {
		return fmt.Errorf("submission: %d %.300s %v", resp.StatusCode, data, err)
	}
	return nil
}

// benchBody is n bytes of Russian and Belarusian text.
func benchBody(n int) string {
	const p = "Уважаемый абонент! Сообщаем о задолженности за услуги электросвязи. Інфармацыя пра аплату ўзята з рахунку.\n"
	s := strings.Repeat(p, n/len(p)+1)[:n]
	return strings.ToValidUTF8(s, " ")
}
