package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// TestWriteJSONAsEncodingJSON pins writeJSON's output (encoding/json's v1
// semantics on the v2 engine) to the bytes encoding/json writes, on the
// reply types with what could differ: embedded structs, omitempty on a
// pointer, a time and a zero time, HTML characters, non-ASCII, raw JSON
// (compacted by both), a nil and an empty slice, a map.
func TestWriteJSONAsEncodingJSON(t *testing.T) {
	deadline := time.Date(2026, 12, 3, 21, 0, 0, 123456789, time.UTC)
	env := json.RawMessage("{\"payload\": \"eyJ2IjoyfQ\",\n \"signatures\": [{\"protected\":\"eyJhbGciOiJFZERTQSJ9\",\"signature\":\"c2ln\"}]}")
	for name, v := range map[string]any{
		"submit reply": submitReply{
			LetterView: mailbox.LetterView{
				ID: "b1f49636-5781-4322-a6b9-3513261f4e0d", Route: "electronic", State: "awaiting_acceptance", Registered: true, Folder: "sent",
				Sender:    mailbox.PartyView{Mailbox: "33b23828", Name: "ОАО «Белтелеком» <x> & y", Address: "220030, г. Минск, ул. Энгельса, 6"},
				Recipient: mailbox.PartyView{Name: "Иванов\u2028Иван", Address: "220013"},
				Subject:   "a </script> b", CreatedAt: deadline, Deadline: &deadline,
				Evidence: []mailbox.EvidenceBrief{{ID: "e1", Event: "SubmissionAcceptance", Time: deadline, LogIndex: 22}},
				Receipt: &signing.Receipt{Checkpoint: "origin\n24\nroot=\n\n— sig\n", Evidence: []signing.BundleEvidence{{LeafIndex: 22, InclusionProof: []string{"/RLi+"},
					Envelope: signing.Envelope{Payload: "eyJ2IjoyfQ", Signatures: []signing.EnvelopeSignature{{Protected: "eyJhbGciOiJFZERTQSJ9", Signature: "c2ln"}}}}}},
			},
			Evidence: []json.RawMessage{env, env},
		},
		"empty view": submitReply{},
		"error": func() errorBody {
			var b errorBody
			b.Error.Code, b.Error.Message = "bad_json", "json: \"x\" <&>"
			return b
		}(),
		"map and nils": map[string]any{"b": []string{}, "a": nil, "c": []int(nil), "t": time.Time{}, "f": 1.5e21},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		writeJSON(rec, 200, v)
		if got := bytes.TrimSuffix(rec.Body.Bytes(), []byte("\n")); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

// TestWriteJSONWhole: a reply goes out whole, with its length; a value
// that cannot be encoded is a 500 in the API's error shape, not a 200
// cut short.
func TestWriteJSONWhole(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, 201, map[string]string{"id": strings.Repeat("я", 10000)})
	if got, want := rec.Header().Get("Content-Length"), strconv.Itoa(rec.Body.Len()); rec.Code != 201 || got != want {
		t.Errorf("201 reply: status %d, Content-Length %q, body %d bytes", rec.Code, got, rec.Body.Len())
	}
	rec = httptest.NewRecorder()
	writeJSON(rec, 200, map[string]any{"bad": func() {}})
	var e errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != 500 || e.Error.Code != "internal" {
		t.Errorf("unencodable: %d %s (%v)", rec.Code, rec.Body, err)
	}
}
