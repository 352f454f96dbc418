package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"

	"github.com/go-chi/chi/v5"
	jsonv2 "github.com/go-json-experiment/json"

	"github.com/npes/npes/mailbox"
)

// batchLine is one NDJSON line of the part "letters": a letter as in POST
// /v1/letters, with its attachments named by file part.
type batchLine struct {
	letterPart
	Attachments []string `json:"attachments"`
}

// submitBatch reads a bulk submission: the part "letters" (NDJSON, one
// letter per line) and file parts that lines reference by part name. The
// whole request is held in memory (capped by Limits.MaxBatchBytes) while
// the service submits its letters one by one in the background; the reply
// is 202 with where to follow them.
func (s *server) submitBatch(w http.ResponseWriter, r *http.Request) {
	lim := s.Service.Limits()
	r.Body = http.MaxBytesReader(w, r.Body, lim.MaxBatchBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		s.writeError(w, r, mailbox.Errorf(mailbox.ErrInvalid, "bad_request", "the body must be multipart/form-data with a part named letters"))
		return
	}
	var letters []byte
	seen := false
	files := map[string]mailbox.BatchFile{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.writeError(w, r, bodyError(err))
			return
		}
		name := part.FormName()
		data, err := io.ReadAll(part)
		if err != nil {
			s.writeError(w, r, bodyError(err))
			return
		}
		if name == "letters" {
			if seen {
				s.writeError(w, r, mailbox.Errorf(mailbox.ErrInvalid, "bad_request", "more than one letters part"))
				return
			}
			letters, seen = data, true
			continue
		}
		if name == "" {
			s.writeError(w, r, mailbox.Errorf(mailbox.ErrInvalid, "bad_request", "a part without a name"))
			return
		}
		if _, dup := files[name]; dup {
			s.writeError(w, r, mailbox.Errorf(mailbox.ErrInvalid, "duplicate_part", "two file parts are named %q", name))
			return
		}
		// The raw file name, as in POST /v1/letters: a name with a
		// directory is refused when a letter uses it, not silently cut.
		_, params, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		if params["filename"] == "" {
			s.writeError(w, r, mailbox.Errorf(mailbox.ErrInvalid, "bad_attachment_name", "file part %q needs a filename", name))
			return
		}
		files[name] = mailbox.BatchFile{FileName: params["filename"], ContentType: part.Header.Get("Content-Type"), Data: data}
	}
	if !seen {
		s.writeError(w, r, mailbox.Errorf(mailbox.ErrInvalid, "bad_request", "the part named letters is missing"))
		return
	}
	in := mailbox.BatchInput{IdempotencyKey: r.Header.Get("Idempotency-Key"), RequestHash: batchHash(letters, files), Files: files}
	in.Letters, err = parseBatchLines(letters, lim)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, replayed, err := s.Service.SubmitBatch(r.Context(), caller(r), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	url := "/v1/letter-batches/" + b.ID
	w.Header().Set("Location", url)
	writeJSON(w, http.StatusAccepted, struct {
		ID        string `json:"id"`
		StatusURL string `json:"status_url"`
	}{b.ID, url})
}

// parseBatchLines reads the NDJSON: blank lines are skipped, lines are
// numbered as in the file (from 1), and a line that is not a letter is
// that line's failure, not the batch's.
func parseBatchLines(data []byte, lim mailbox.Limits) ([]mailbox.BatchLetter, error) {
	var out []mailbox.BatchLetter
	maxJSON := 6*lim.MaxBodyBytes + 64<<10
	for n, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if len(out) == lim.MaxBatchLines {
			return nil, mailbox.Errorf(mailbox.ErrTooLarge, "too_many_lines", "a batch holds at most %d letters", lim.MaxBatchLines)
		}
		bl := mailbox.BatchLetter{Line: n + 1}
		out = append(out, bl)
		last := &out[len(out)-1]
		if int64(len(line)) > maxJSON {
			last.Err = mailbox.Errorf(mailbox.ErrTooLarge, "too_large", "the line exceeds %d bytes", maxJSON)
			continue
		}
		var lp batchLine
		if err := jsonv2.Unmarshal(line, &lp, strictJSON); err != nil {
			last.Err = mailbox.Errorf(mailbox.ErrInvalid, "bad_json", "the line is not the expected JSON: %v", err)
			continue
		}
		sub, err := lp.submission("")
		if err != nil {
			last.Err = err
			continue
		}
		last.Submission, last.Attachments = sub, lp.Attachments
	}
	return out, nil
}

// batchHash identifies a batch request for its idempotency key.
func batchHash(letters []byte, files map[string]mailbox.BatchFile) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", len(letters))
	h.Write(letters)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := files[n]
		sum := sha256.Sum256(f.Data)
		fmt.Fprintf(h, "\n%q %q %q %x", n, f.FileName, f.ContentType, sum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// batchResult is one line's outcome in GET /v1/letter-batches/{id}.
type batchResult struct {
	Line     int        `json:"line"`
	ID       string     `json:"id,omitempty"`
	Tracking string     `json:"tracking,omitempty"`
	Route    string     `json:"route,omitempty"`
	Error    *errorInfo `json:"error,omitempty"`
}

type errorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (s *server) getBatch(w http.ResponseWriter, r *http.Request) {
	st, err := s.Service.Batch(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rs := make([]batchResult, len(st.Results))
	for i, x := range st.Results {
		rs[i] = batchResult{Line: x.Line, ID: x.LetterID, Tracking: x.Tracking, Route: x.Route}
		if x.ErrorCode != "" {
			rs[i].Error = &errorInfo{Code: x.ErrorCode, Message: x.ErrorMessage}
		}
	}
	writeJSON(w, http.StatusOK, struct {
		mailbox.BatchStatus
		Results []batchResult `json:"results"`
	}{st, rs})
}
