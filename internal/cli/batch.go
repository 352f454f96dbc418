package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/npes/npes/mailbox"
)

// placeholder is {{column}} in a template.
var placeholder = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// batchTemplate is a letter template: "Subject: …", a blank line, the body.
type batchTemplate struct{ subject, body string }

func parseTemplate(data []byte) (batchTemplate, error) {
	if !utf8.Valid(data) {
		return batchTemplate{}, usagef("the template is not UTF-8")
	}
	s := strings.ReplaceAll(strings.TrimPrefix(string(data), "\ufeff"), "\r\n", "\n")
	first, rest, _ := strings.Cut(s, "\n")
	subject, ok := strings.CutPrefix(first, "Subject:")
	if !ok {
		return batchTemplate{}, usagef("the template's first line must be \"Subject: …\"")
	}
	body, ok := strings.CutPrefix(rest, "\n")
	if !ok {
		return batchTemplate{}, usagef("the template's subject line must be followed by a blank line, then the body")
	}
	return batchTemplate{subject: strings.TrimSpace(subject), body: body}, nil
}

// fill replaces every {{column}} with the row's value.
func (t batchTemplate) fill(col map[string]int, row []string) (subject, body string) {
	f := func(s string) string {
		return placeholder.ReplaceAllStringFunc(s, func(m string) string {
			return row[col[strings.TrimSpace(placeholder.FindStringSubmatch(m)[1])]]
		})
	}
	return f(t.subject), f(t.body)
}

// missingColumns lists the template's placeholders without a column.
func (t batchTemplate) missingColumns(col map[string]int) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(t.subject+"\n"+t.body, -1) {
		if _, ok := col[m[1]]; !ok && !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, "{{"+m[1]+"}}")
		}
	}
	return out
}

// readBatchCSV reads the recipients: UTF-8 with an optional BOM, the
// separator (',' or ';', as spreadsheets export by locale) taken from the
// header row, which must name the columns name and address.
func readBatchCSV(data []byte) (col map[string]int, rows [][]string, lines []int, err error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if !utf8.Valid(data) {
		return nil, nil, nil, usagef("the CSV file is not UTF-8")
	}
	header, _, _ := bytes.Cut(data, []byte("\n"))
	r := csv.NewReader(bytes.NewReader(data))
	if bytes.Count(header, []byte(";")) > bytes.Count(header, []byte(",")) {
		r.Comma = ';'
	}
	r.FieldsPerRecord = 0
	names, err := r.Read()
	if err != nil {
		return nil, nil, nil, usagef("reading the CSV header: %v", err)
	}
	col = map[string]int{}
	for i, n := range names {
		n = strings.TrimSpace(n)
		if _, dup := col[n]; dup {
			return nil, nil, nil, usagef("the CSV header names column %q twice", n)
		}
		col[n] = i
	}
	for _, req := range []string{"name", "address"} {
		if _, ok := col[req]; !ok {
			return nil, nil, nil, usagef("the CSV header has no column %q (it has: %s)", req, strings.Join(names, ", "))
		}
	}
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, nil, usagef("CSV: %v", err)
		}
		line, _ := r.FieldPos(0)
		rows, lines = append(rows, row), append(lines, line)
	}
	if len(rows) == 0 {
		return nil, nil, nil, usagef("the CSV file has no recipient rows")
	}
	return col, rows, lines, nil
}

func parseYes(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "0", "false", "no", "n":
		return false, nil
	case "1", "true", "yes", "y", "x":
		return true, nil
	}
	return false, fmt.Errorf("%q is not yes or no", s)
}

// batchLetters builds the NDJSON of the batch; every error is found here,
// before anything is sent.
func batchLetters(t batchTemplate, col map[string]int, rows [][]string, lines []int, files []string) ([]byte, error) {
	if missing := t.missingColumns(col); len(missing) > 0 {
		return nil, usagef("the template uses %s, which the CSV header does not name", strings.Join(missing, ", "))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i, row := range rows {
		get := func(name string) string {
			if c, ok := col[name]; ok && c < len(row) {
				return row[c]
			}
			return ""
		}
		if len(row) != len(col) {
			return nil, usagef("CSV line %d has %d fields, the header %d", lines[i], len(row), len(col))
		}
		registered, err := parseYes(get("registered"))
		if err != nil {
			return nil, usagef("CSV line %d, registered: %v", lines[i], err)
		}
		subject, body := t.fill(col, row)
		letter := map[string]any{
			"recipient":  map[string]string{"name": get("name"), "address": get("address")},
			"registered": registered, "subject": subject, "body": body,
		}
		if p := strings.TrimSpace(get("print_if_unsigned")); p != "" {
			if _, err := mailbox.ParsePeriod(p); err != nil {
				return nil, usagef("CSV line %d, print_if_unsigned: %v", lines[i], err)
			}
			if !registered {
				return nil, usagef("CSV line %d: print_if_unsigned needs registered", lines[i])
			}
			letter["print_if_unsigned_after"] = p
		}
		if len(files) > 0 {
			letter["attachments"] = files
		}
		if err := enc.Encode(letter); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

type batchReply struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Total   int    `json:"total"`
	Done    int    `json:"done"`
	Failed  int    `json:"failed"`
	Results []struct {
		Line  int    `json:"line"`
		ID    string `json:"id"`
		Route string `json:"route"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"results"`
}

func runSendBatch(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "send-batch", "send-batch FILE.csv --template FILE [--attach FILE]... [--json] --server URL --id DIR")
	clientFlags(fs, e, &o)
	tmplPath := fs.String("template", "", "letter template: \"Subject: …\", a blank line, the body; {{column}} takes the row's value")
	var attach stringList
	fs.Var(&attach, "attach", "attach a file to every letter (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *tmplPath == "" {
		return usagef("give one CSV file and --template FILE")
	}
	csvData, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	tmplData, err := os.ReadFile(*tmplPath)
	if err != nil {
		return err
	}
	t, err := parseTemplate(tmplData)
	if err != nil {
		return err
	}
	col, rows, lines, err := readBatchCSV(csvData)
	if err != nil {
		return err
	}
	var parts []string
	for i := range attach {
		parts = append(parts, "file"+strconv.Itoa(i+1))
	}
	ndjson, err := batchLetters(t, col, rows, lines, parts)
	if err != nil {
		return err
	}
	// The key is the letters' and files' digest (not the body's, whose
	// multipart boundary is random): running the same command again
	// answers, or resumes, the same batch instead of sending it twice.
	h := sha256.New()
	h.Write(ndjson)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, err := mw.CreateFormField("letters")
	if err != nil {
		return err
	}
	if _, err := w.Write(ndjson); err != nil {
		return err
	}
	for i, p := range attach {
		if err := writeFilePart(mw, parts[i], p); err != nil {
			return err
		}
		f, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "\n%s %d\n", filepath.Base(p), len(f))
		h.Write(f)
	}
	if err := mw.Close(); err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	key := "send-batch-" + hex.EncodeToString(h.Sum(nil))
	req, err := c.NewRequest(ctx, "POST", "/v1/letter-batches", mw.FormDataContentType(), bytes.NewReader(body.Bytes()))
	if err != nil {
		return err
	}
	req.Header.Set("Idempotency-Key", key)
	raw, err := c.DoRequest(req)
	if err != nil {
		return err
	}
	var accepted struct {
		ID        string `json:"id"`
		StatusURL string `json:"status_url"`
	}
	if err := json.Unmarshal(raw, &accepted); err != nil {
		return err
	}
	bar := progressBar(e)
	var st batchReply
	for {
		if raw, err = c.Do(ctx, "GET", accepted.StatusURL, "", nil); err != nil {
			return err
		}
		st = batchReply{}
		if err := json.Unmarshal(raw, &st); err != nil {
			return err
		}
		bar(st.Done+st.Failed, st.Total)
		if st.State != mailbox.BatchRunning {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if o.json {
		if err := printRaw(e, raw); err != nil {
			return err
		}
	} else {
		printBatchSummary(e, st, lines)
	}
	switch {
	case st.State == mailbox.BatchInterrupted:
		return fmt.Errorf("batch %s was interrupted after %d of %d letters; run the same command again to send the rest", st.ID, st.Done+st.Failed, st.Total)
	case st.Failed > 0:
		return exitError{1}
	}
	return nil
}

// printBatchSummary tells what was sent and why lines failed (by CSV line).
func printBatchSummary(e *Env, st batchReply, csvLines []int) {
	routes := map[string]int{}
	for _, r := range st.Results {
		if r.Error == nil {
			routes[r.Route]++
		}
	}
	fmt.Fprintf(e.Stdout, "batch %s: %d sent (%d electronic, %d print), %d failed, of %d\n",
		st.ID, st.Done, routes[mailbox.RouteElectronic], routes[mailbox.RoutePrint], st.Failed, st.Total)
	for _, r := range st.Results {
		if r.Error == nil {
			continue
		}
		line := r.Line
		if r.Line >= 1 && r.Line <= len(csvLines) {
			line = csvLines[r.Line-1]
		}
		fmt.Fprintf(e.Stdout, "  CSV line %d: %s: %s\n", line, r.Error.Code, termSafe(r.Error.Message, false))
	}
}

// progressBar draws on standard error when it is a terminal, and nothing
// otherwise (a log or a pipe gets the summary only).
func progressBar(e *Env) func(done, total int) {
	f, ok := e.Stderr.(*os.File)
	if !ok {
		return func(int, int) {}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return func(int, int) {}
	}
	return func(done, total int) {
		const width = 40
		n := 0
		if total > 0 {
			n = done * width / total
		}
		fmt.Fprintf(f, "\r[%s%s] %d/%d", strings.Repeat("#", n), strings.Repeat("-", width-n), done, total)
		if done == total {
			fmt.Fprintln(f)
		}
	}
}
