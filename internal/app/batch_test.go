package app_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/internal/store/storetest"
)

type batchStatus struct {
	ID, State           string
	Total, Done, Failed int
	Results             []struct {
		Line                int
		ID, Tracking, Route string
		Error               *struct{ Code, Message string }
	}
}

func batchBody(t *testing.T, ndjson string, files map[string]attachment) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="letters"`)
	h.Set("Content-Type", "application/x-ndjson")
	w, _ := mw.CreatePart(h)
	_, _ = w.Write([]byte(ndjson))
	for name, a := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, name, a.name))
		h.Set("Content-Type", a.ctype)
		w, _ := mw.CreatePart(h)
		_, _ = w.Write(a.data)
	}
	_ = mw.Close()
	return &buf, mw.FormDataContentType()
}

// TestLetterBatches: POST /v1/letter-batches answers 202 at once; every
// line becomes its own letter or its own error, shared file parts go with
// each letter naming them, a retry under the same key answers the same
// batch without sending again, and only the sender sees the batch.
func TestLetterBatches(t *testing.T) {
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
			ndjson := strings.Join([]string{
				`{"recipient":{"name":"Иванову Ивану Ивановичу","address":"` + citizenAddress2 + `"},"subject":"Счёт","body":"Счёт за декабрь.","attachments":["terms"]}`,
				`{"recipient":{"name":"Петрову","address":"nowhere"},"subject":"Счёт","body":"x"}`,
				`{"recipient":`,
				``,
				`{"recipient":{"name":"Иванову","address":"` + citizenAddress + `"},"subject":"Счёт","body":"x","attachments":["missing"]}`,
				`{"recipient":{"name":"Иванову","address":"` + citizenAddress + `"},"subject":"Счёт","body":"x","colour":"red"}`,
			}, "\n") + "\n"
			files := map[string]attachment{"terms": {"условия.txt", "text/plain", []byte("Условия договора.\n")}}
			post := func(ndjson, key string) (int, []byte, string) {
				body, ct := batchBody(t, ndjson, files)
				var r struct {
					ID        string `json:"id"`
					StatusURL string `json:"status_url"`
				}
				status, data := org.do("POST", "/v1/letter-batches", body, ct, map[string]string{"Idempotency-Key": key}, &r)
				if status == 202 && r.StatusURL != "/v1/letter-batches/"+r.ID {
					t.Fatalf("status_url %q for %q", r.StatusURL, r.ID)
				}
				return status, data, r.ID
			}
			status, data, id := post(ndjson, "notices-1")
			if status != 202 {
				t.Fatalf("POST: %d %s", status, data)
			}
			var st batchStatus
			deadline := time.Now().Add(60 * time.Second)
			for st.State == "" || st.State == "running" {
				if time.Now().After(deadline) {
					t.Fatalf("batch still running: %+v", st)
				}
				st = batchStatus{}
				org.mustJSON("GET", "/v1/letter-batches/"+id, nil, &st, 200)
			}
			want := []struct {
				line int
				code string
			}{{1, ""}, {2, "bad_address"}, {3, "bad_json"}, {5, "unknown_attachment"}, {6, "bad_json"}}
			if st.State != "done" || st.Total != 5 || st.Done != 1 || st.Failed != 4 || len(st.Results) != len(want) {
				t.Fatalf("status %+v", st)
			}
			for i, w := range want {
				r := st.Results[i]
				code := ""
				if r.Error != nil {
					code = r.Error.Code
				}
				if r.Line != w.line || code != w.code {
					t.Errorf("result %d: %+v, want line %d code %q", i, r, w.line, w.code)
				}
			}
			letter := st.Results[0]
			var v struct {
				Route       string
				Recipient   struct{ Mailbox string }
				Attachments int
			}
			org.mustJSON("GET", "/v1/letters/"+letter.ID, nil, &v, 200)
			if letter.Route != "electronic" || v.Recipient.Mailbox != citizenBox || v.Attachments != 1 {
				t.Fatalf("letter of line 1: %+v (result %+v)", v, letter)
			}

			// The same request again: the same batch, nothing sent again.
			status, data, id2 := post(ndjson, "notices-1")
			if status != 202 || id2 != id {
				t.Fatalf("retry: %d %s id %s, want %s", status, data, id2, id)
			}
			var again batchStatus
			org.mustJSON("GET", "/v1/letter-batches/"+id, nil, &again, 200)
			if again.Done != 1 || again.Results[0].ID != letter.ID {
				t.Fatalf("after retry: %+v", again)
			}
			var sent struct{ Letters []struct{ ID string } }
			org.mustJSON("GET", "/v1/letters?folder=sent", nil, &sent, 200)
			if len(sent.Letters) != 1 {
				t.Fatalf("%d letters sent, want 1", len(sent.Letters))
			}
			for _, tc := range []struct {
				name, ndjson, key string
				status            int
				code              string
			}{
				{"key reused", ndjson + "\n" + ndjson, "notices-1", 409, "idempotency_key_reused"},
				{"empty", "\n\n", "", 400, "empty_batch"},
			} {
				status, data, _ := post(tc.ndjson, tc.key)
				if status != tc.status || !strings.Contains(string(data), `"`+tc.code+`"`) {
					t.Errorf("%s: %d %s, want %d %s", tc.name, status, data, tc.status, tc.code)
				}
			}
			status, data = citizen.do("GET", "/v1/letter-batches/"+id, nil, "", nil, nil)
			if status != 404 || !strings.Contains(string(data), "batch_not_found") {
				t.Errorf("another party's GET: %d %s", status, data)
			}
		})
	}
}
