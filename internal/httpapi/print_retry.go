package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// printRetry is POST /v1/print/jobs/{id}/retry: a failed (dead) job is
// queued again by the print centre of its region or an operator, with
// PrintRetried evidence on its letter. The print centre's console calls
// the same hybrid.Queue.Retry.
func (s *server) printRetry(w http.ResponseWriter, r *http.Request) {
	j, err := s.Print.Retry(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJobJSON(j))
}
