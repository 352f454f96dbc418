package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/npes/npes/internal/mailmerge"
	"github.com/npes/npes/mailbox"
)

// batchLetters builds the NDJSON of the batch from the merge
// (internal/mailmerge, shared with the organization console); every error
// is found here, before anything is sent.
func batchLetters(t mailmerge.Template, tb *mailmerge.Table, files []string) ([]byte, error) {
	letters, err := mailmerge.Merge(t, tb)
	if err != nil {
		return nil, usageOf(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, l := range letters {
		var de *mailbox.Error
		if errors.As(l.Err, &de) {
			return nil, usagef("CSV line %d: %s", l.Line, de.Message)
		}
		letter := map[string]any{
			"recipient":  map[string]string{"name": l.Name, "address": l.Address},
			"registered": l.Registered, "subject": l.Subject, "body": l.Body,
		}
		if l.PrintIfUnsigned != "" {
			letter["print_if_unsigned_after"] = l.PrintIfUnsigned
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

// usageOf makes a mail merge's format error a usage error (exit status 2).
func usageOf(err error) error {
	if errors.Is(err, mailmerge.ErrFormat) {
		return usagef("%s", strings.TrimPrefix(err.Error(), mailmerge.ErrFormat.Error()+": "))
	}
	return err
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
	t, err := mailmerge.ParseTemplate(tmplData)
	if err != nil {
		return usageOf(err)
	}
	tb, err := mailmerge.ReadCSV(csvData, 0)
	if err != nil {
		return usageOf(err)
	}
	var parts []string
	for i := range attach {
		parts = append(parts, "file"+strconv.Itoa(i+1))
	}
	ndjson, err := batchLetters(t, tb, parts)
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
		printBatchSummary(e, st, tb.Lines())
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
