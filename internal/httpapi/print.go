package httpapi

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/npes/npes/hybrid"
	"github.com/npes/npes/mailbox"
)

// jobJSON is a leased print job as print centres see it (a contract).
type jobJSON struct {
	ID             string    `json:"id"`
	Kind           string    `json:"kind"`
	LetterID       string    `json:"letter_id,omitempty"`
	Tracking       string    `json:"tracking,omitempty"`
	Postcode       string    `json:"postcode"`
	Pages          int       `json:"pages"`
	Sheets         int       `json:"sheets"`
	PDFSHA256      string    `json:"pdf_sha256"`
	LeaseToken     int64     `json:"lease_token"`
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
	State          string    `json:"state"`
	Attempts       int       `json:"attempts"`
}

func toJobJSON(j mailbox.PrintJob) jobJSON {
	return jobJSON{ID: j.ID, Kind: j.Kind, LetterID: j.LetterID, Tracking: j.Tracking, Postcode: j.Postcode,
		Pages: j.Pages, Sheets: j.Sheets, PDFSHA256: j.PDFSHA256, LeaseToken: j.LeaseToken,
		LeaseExpiresAt: j.LeaseExpiresAt, State: j.State, Attempts: j.Attempts}
}

func (s *server) printLease(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Max          int `json:"max"`
		LeaseSeconds int `json:"lease_seconds"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	jobs, err := s.Print.Lease(r.Context(), caller(r), req.Max, time.Duration(req.LeaseSeconds)*time.Second)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Jobs []jobJSON `json:"jobs"`
	}{Jobs: make([]jobJSON, 0, len(jobs))}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, toJobJSON(j))
	}
	writeJSON(w, http.StatusOK, out)
}

func leaseToken(r *http.Request) (int64, error) {
	v := r.Header.Get("X-Lease-Token")
	if v == "" {
		v = r.URL.Query().Get("lease_token")
	}
	t, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, mailbox.Errorf(mailbox.ErrInvalid, "bad_lease_token", "the current lease token is required (X-Lease-Token header or lease_token parameter)")
	}
	return t, nil
}

func (s *server) printPDF(w http.ResponseWriter, r *http.Request) {
	token, err := leaseToken(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pdf, j, err := s.Print.PDF(r.Context(), caller(r), chi.URLParam(r, "id"), token)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Length", strconv.Itoa(len(pdf)))
	w.Header().Set("X-PDF-SHA256", j.PDFSHA256)
	_, _ = w.Write(pdf)
}

func (s *server) printEvidence(w http.ResponseWriter, r *http.Request) {
	token, err := leaseToken(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	env, err := s.Print.RelayEvidence(r.Context(), caller(r), chi.URLParam(r, "id"), token)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(env)
}

func (s *server) printReport(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			LeaseToken int64  `json:"lease_token"`
			Reason     string `json:"reason"`
			Sheets     int    `json:"sheets"`
		}
		if err := decodeJSON(w, r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		id := chi.URLParam(r, "id")
		var j mailbox.PrintJob
		var err error
		switch kind {
		case "printed":
			j, err = s.Print.Printed(r.Context(), caller(r), id, req.LeaseToken, req.Sheets)
		case "posted":
			j, err = s.Print.Posted(r.Context(), caller(r), id, req.LeaseToken)
		default:
			j, err = s.Print.Failed(r.Context(), caller(r), id, req.LeaseToken, req.Reason)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, toJobJSON(j))
	}
}

func (s *server) printEvent(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Event   string            `json:"event"`
		Details map[string]string `json:"details"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	j, err := s.Print.Event(r.Context(), caller(r), chi.URLParam(r, "id"), req.Event, req.Details)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJobJSON(j))
}

func (s *server) printManifest(w http.ResponseWriter, r *http.Request) {
	day, err := time.ParseInLocation("2006-01-02", r.URL.Query().Get("date"), hybrid.Minsk)
	if err != nil {
		s.writeError(w, r, mailbox.Errorf(mailbox.ErrInvalid, "bad_date", "date must be YYYY-MM-DD"))
		return
	}
	jobs, err := s.Print.Manifest(r.Context(), caller(r), day)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="manifest-`+day.Format("2006-01-02")+`.csv"`)
	cw := csv.NewWriter(w)
	// The contract's four columns, then the job id (simple and activation
	// letters have no tracking number).
	_ = cw.Write([]string{"tracking", "postcode", "recipient_name", "sheets", "job_id"})
	for _, j := range jobs {
		_ = cw.Write([]string{j.Tracking, j.Postcode, csvSafe(j.RecipientName), strconv.Itoa(j.Sheets), j.ID})
	}
	cw.Flush()
}

// csvSafe defuses spreadsheet formula injection (OWASP "CSV injection"): a
// cell that starts with = + - @ is prefixed with an apostrophe.
func csvSafe(v string) string {
	if v != "" && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@') {
		return "'" + v
	}
	return v
}

// printReports applies a batch of outcomes: POST /v1/print/reports
// {"reports": [{"id", "lease_token", "outcome": "printed|posted|failed",
// "reason", "sheets"}]} → {"results": [{"id", "state", "error": null |
// {"code", "message", "status"}}]}, one transaction
// for all, each report succeeding or failing on its own.
func (s *server) printReports(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reports []struct {
			ID         string `json:"id"`
			LeaseToken int64  `json:"lease_token"`
			Outcome    string `json:"outcome"`
			Reason     string `json:"reason"`
			Sheets     int    `json:"sheets"`
		} `json:"reports"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	reports := make([]hybrid.Report, len(req.Reports))
	for i, rp := range req.Reports {
		reports[i] = hybrid.Report{ID: rp.ID, LeaseToken: rp.LeaseToken, Outcome: rp.Outcome, Reason: rp.Reason, Sheets: rp.Sheets}
	}
	results, err := s.Print.ReportBatch(r.Context(), caller(r), reports)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	type resultJSON struct {
		ID    string     `json:"id"`
		State string     `json:"state,omitempty"`
		Error *errorJSON `json:"error"`
	}
	out := struct {
		Results []resultJSON `json:"results"`
	}{Results: make([]resultJSON, len(results))}
	for i, res := range results {
		out.Results[i] = resultJSON{ID: reports[i].ID, State: res.Job.State}
		if res.Err != nil {
			status, code, msg := statusOf(res.Err)
			out.Results[i] = resultJSON{ID: reports[i].ID, Error: &errorJSON{Code: code, Message: msg, Status: status}}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Status is, in a batch result, the HTTP status the single route
	// would have answered for this report (409 for a stale lease or a
	// sheet mismatch, 404 for an unknown job, 400 for a bad report).
	Status int `json:"status,omitempty"`
}
