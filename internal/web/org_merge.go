package web

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/npes/npes/addressing"
	"github.com/npes/npes/internal/mailmerge"
	"github.com/npes/npes/mailbox"
)

// previewLetters is how many filled letters the preview shows.
const previewLetters = 3

type mergePage struct {
	Error    string // the service's or the file format's message
	ErrorKey string // or a message of the catalogue
}

// heldMerge is a parsed mail merge waiting to be sent.
type heldMerge struct {
	letters []mailmerge.Letter
	files   map[string]mailbox.BatchFile
	names   []string // the files' part names, attached to every letter
	hash    string
}

type previewPage struct {
	Token    string
	Total    int
	Ready    int
	Preview  []mailmerge.Letter
	Problems []problem
	Files    []mailbox.BatchFile
}

// problem is a row the service will refuse, and why.
type problem struct {
	Line   int
	Reason string
}

func (o *orgConsole) mergeForm(w http.ResponseWriter, r *http.Request) {
	o.p.render(w, r, http.StatusOK, "org_merge", "Mail merge", mergePage{})
}

// mergePreview is POST /org/merge: the CSV, the template and the files
// shared by every letter, read with the formats of `npes send-batch`
// (internal/mailmerge); it shows the first letters filled in and the rows
// that cannot be letters, and holds the merge for mergeSend.
func (o *orgConsole) mergePreview(w http.ResponseWriter, r *http.Request) {
	p := o.p
	lim := p.Service.Limits()
	r.Body = http.MaxBytesReader(w, r.Body, lim.MaxBatchBytes)
	bad := func(status int, msg string) {
		p.render(w, r, status, "org_merge", "Mail merge", mergePage{Error: msg})
	}
	badKey := func(status int, key string) {
		p.render(w, r, status, "org_merge", "Mail merge", mergePage{ErrorKey: key})
	}
	mr, err := r.MultipartReader()
	if err != nil {
		badKey(http.StatusBadRequest, "The form could not be read.")
		return
	}
	var csvData, tmplData []byte
	files := map[string]mailbox.BatchFile{}
	var names []string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		var data []byte
		if err == nil {
			data, err = io.ReadAll(part)
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			badKey(http.StatusRequestEntityTooLarge, "The files are too large together.")
			return
		}
		if err != nil {
			badKey(http.StatusBadRequest, "The form could not be read.")
			return
		}
		switch part.FormName() {
		case "csv":
			csvData = data
		case "template":
			tmplData = data
		case "attachment":
			if part.FileName() == "" {
				continue
			}
			ct := part.Header.Get("Content-Type")
			if mt, _, err := mime.ParseMediaType(ct); err == nil {
				ct = mt
			}
			name := "file" + strconv.Itoa(len(names)+1)
			names = append(names, name)
			files[name] = mailbox.BatchFile{FileName: part.FileName(), ContentType: ct, Data: data}
		}
	}
	if len(csvData) == 0 || len(tmplData) == 0 {
		badKey(http.StatusBadRequest, "Choose the CSV file and the template.")
		return
	}
	t, err := mailmerge.ParseTemplate(tmplData)
	if err != nil {
		bad(http.StatusBadRequest, mergeMessage(err))
		return
	}
	tb, err := mailmerge.ReadCSV(csvData, lim.MaxBatchLines)
	if err != nil {
		bad(http.StatusBadRequest, mergeMessage(err))
		return
	}
	letters, err := mailmerge.Merge(t, tb)
	if err != nil {
		bad(http.StatusBadRequest, mergeMessage(err))
		return
	}
	// The request's identity for the batch's idempotency key: the same
	// merge previewed twice is two batches, a second press of one
	// preview's Send is the same batch.
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", len(csvData))
	h.Write(csvData)
	fmt.Fprintf(h, "\n%d\n", len(tmplData))
	h.Write(tmplData)
	var size int64 = int64(len(csvData) + len(tmplData))
	page := previewPage{Total: len(letters)}
	for _, n := range names {
		f := files[n]
		sum := sha256.Sum256(f.Data)
		fmt.Fprintf(h, "\n%q %q %x", f.FileName, f.ContentType, sum)
		size += int64(len(f.Data))
		page.Files = append(page.Files, f)
	}
	for _, l := range letters {
		if l.Err != nil {
			var de *mailbox.Error
			reason := l.Err.Error()
			if errors.As(l.Err, &de) {
				reason = de.Message
			}
			page.Problems = append(page.Problems, problem{l.Line, reason})
			continue
		}
		// An address the parser cannot read is refused by Submit (the
		// same parser): said here already. Everything else is checked as
		// each letter is sent.
		if _, err := addressing.Parse(l.Address); err != nil {
			page.Problems = append(page.Problems, problem{l.Line, err.Error()})
			continue
		}
		page.Ready++
		if len(page.Preview) < previewLetters {
			page.Preview = append(page.Preview, l)
		}
	}
	m := &heldMerge{letters: letters, files: files, names: names, hash: hex.EncodeToString(h.Sum(nil))}
	page.Token = o.held.put(sessionFrom(r).Identity.ID, size, m, nil)
	p.render(w, r, http.StatusOK, "org_preview", "Mail merge: preview", page)
}

// mergeMessage is a merge format error's message without the package's
// prefix.
func mergeMessage(err error) string {
	return strings.TrimPrefix(err.Error(), mailmerge.ErrFormat.Error()+": ")
}

// mergeSend is POST /org/merge/send: the held merge goes to the bulk
// route's service (SubmitBatch, as POST /v1/letter-batches), and the
// browser to its progress page. A row that could not be read is recorded
// as that line's refusal; lines are the CSV's line numbers.
func (o *orgConsole) mergeSend(w http.ResponseWriter, r *http.Request) {
	p := o.p
	token := r.PostFormValue("merge")
	m, ok := o.held.get(sessionFrom(r).Identity.ID, token).(*heldMerge)
	if !ok {
		p.render(w, r, http.StatusConflict, "org_merge", "Mail merge",
			mergePage{ErrorKey: "This preview is no longer kept: please upload the files again."})
		return
	}
	in := mailbox.BatchInput{IdempotencyKey: "web-merge-" + token, RequestHash: m.hash, Files: m.files}
	for _, l := range m.letters {
		sub := l.Submission()
		sub.Channel = mailbox.ChannelWeb
		in.Letters = append(in.Letters, mailbox.BatchLetter{Line: l.Line, Submission: sub, Attachments: m.names, Err: l.Err})
	}
	b, _, err := p.Service.SubmitBatch(r.Context(), caller(r), in)
	if err != nil {
		var de *mailbox.Error
		if errors.As(err, &de) {
			p.render(w, r, statusOf(err), "org_merge", "Mail merge", mergePage{Error: de.Message})
			return
		}
		p.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/org/merge/"+b.ID, http.StatusSeeOther)
}

type batchPage struct {
	S          mailbox.BatchStatus
	Running    bool
	Handled    int
	Electronic int
	Print      int
	Refused    []mailbox.BatchResult
}

// batchPage is GET /org/merge/{id}: the progress of a batch while it runs
// (a Refresh link; a small static script reloads the page by itself), then
// its report.
func (o *orgConsole) batchPage(w http.ResponseWriter, r *http.Request) {
	st, err := o.p.Service.Batch(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		o.batchError(w, r, err)
		return
	}
	page := batchPage{S: st, Running: st.State == mailbox.BatchRunning, Handled: st.Done + st.Failed}
	for _, x := range st.Results {
		switch {
		case x.ErrorCode != "":
			page.Refused = append(page.Refused, x)
		case x.Route == mailbox.RouteElectronic:
			page.Electronic++
		case x.Route == mailbox.RoutePrint:
			page.Print++
		}
	}
	o.p.render(w, r, http.StatusOK, "org_batch", "Mail merge: report", page)
}

func (o *orgConsole) batchError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, mailbox.ErrNotFound) {
		o.p.notFound(w, r)
		return
	}
	o.p.serviceError(w, r, err)
}

// batchReport is GET /org/merge/{id}/report.csv: one row per CSV line
// handled so far.
func (o *orgConsole) batchReport(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, err := o.p.Service.Batch(r.Context(), caller(r), id)
	if err != nil {
		o.batchError(w, r, err)
		return
	}
	cw := startCSV(w, "npes-merge-"+id+".csv")
	_ = cw.Write([]string{"csv_line", "outcome", "letter_id", "tracking", "route", "error_code", "error_message"})
	for _, x := range st.Results {
		outcome := "sent"
		if x.ErrorCode != "" {
			outcome = "refused"
		}
		_ = cw.Write(csvSafe(strconv.Itoa(x.Line), outcome, x.LetterID, x.Tracking, x.Route, x.ErrorCode, x.ErrorMessage))
	}
	cw.Flush()
}

// startCSV starts a CSV download: UTF-8 with a byte order mark, so
// spreadsheets read Cyrillic right (RFC 4180 rows, CRLF).
func startCSV(w http.ResponseWriter, filename string) *csv.Writer {
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	h.Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, "\ufeff")
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	return cw
}

// csvSafe keeps a spreadsheet from running a cell as a formula (OWASP CSV
// injection): a cell that starts with = + - @ or a control is prefixed
// with an apostrophe. Our own values (ids, codes) never start so.
func csvSafe(cells ...string) []string {
	for i, c := range cells {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			cells[i] = "'" + c
		}
	}
	return cells
}
