// Package mailmerge reads a mail merge as organizations prepare one: a
// recipients CSV and a letter template with {{column}} placeholders. The
// formats are those of `npes send-batch`; the CLI and the organization
// console both read them here, so the two cannot drift.
//
// CSV: UTF-8, an optional byte order mark, ',' or ';' as separator (as
// spreadsheets export by locale, taken from the header row), columns name
// and address required, registered and print_if_unsigned optional.
// Template: a first line "Subject: …", a blank line, the body.
package mailmerge

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/npes/npes/mailbox"
)

// ErrFormat wraps every error of a file that cannot be read as a whole.
var ErrFormat = errors.New("mail merge")

func formatf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// placeholder is {{column}} in a template.
var placeholder = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// Template is a letter template.
type Template struct{ Subject, Body string }

// ParseTemplate reads "Subject: …", a blank line, the body.
func ParseTemplate(data []byte) (Template, error) {
	if !utf8.Valid(data) {
		return Template{}, formatf("the template is not UTF-8")
	}
	s := strings.ReplaceAll(strings.TrimPrefix(string(data), "\ufeff"), "\r\n", "\n")
	first, rest, _ := strings.Cut(s, "\n")
	subject, ok := strings.CutPrefix(first, "Subject:")
	if !ok {
		return Template{}, formatf("the template's first line must be \"Subject: …\"")
	}
	body, ok := strings.CutPrefix(rest, "\n")
	if !ok {
		return Template{}, formatf("the template's subject line must be followed by a blank line, then the body")
	}
	return Template{Subject: strings.TrimSpace(subject), Body: body}, nil
}

// fill replaces every {{column}} with the row's value.
func (t Template) fill(col map[string]int, row []string) (subject, body string) {
	f := func(s string) string {
		return placeholder.ReplaceAllStringFunc(s, func(m string) string {
			return row[col[strings.TrimSpace(placeholder.FindStringSubmatch(m)[1])]]
		})
	}
	return f(t.Subject), f(t.Body)
}

// MissingColumns lists the template's placeholders that the table has no
// column for.
func (t Template) MissingColumns(tb *Table) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(t.Subject+"\n"+t.Body, -1) {
		if _, ok := tb.col[m[1]]; !ok && !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, "{{"+m[1]+"}}")
		}
	}
	return out
}

// Table is a recipients CSV.
type Table struct {
	// Columns are the header's names.
	Columns []string
	col     map[string]int
	rows    [][]string
	lines   []int
}

// Lines are the rows' lines in the file (the header is line 1).
func (tb *Table) Lines() []int { return tb.lines }

// Len is the number of recipient rows.
func (tb *Table) Len() int { return len(tb.rows) }

// ReadCSV reads the recipients: UTF-8 with an optional BOM, the separator
// (',' or ';') taken from the header row, which must name the columns name
// and address. maxRows bounds the rows (0: no bound).
func ReadCSV(data []byte, maxRows int) (*Table, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if !utf8.Valid(data) {
		return nil, formatf("the CSV file is not UTF-8")
	}
	header, _, _ := bytes.Cut(data, []byte("\n"))
	r := csv.NewReader(bytes.NewReader(data))
	if bytes.Count(header, []byte(";")) > bytes.Count(header, []byte(",")) {
		r.Comma = ';'
	}
	r.FieldsPerRecord = -1 // a short or long row is that row's error (Merge)
	names, err := r.Read()
	if err != nil {
		return nil, formatf("reading the CSV header: %v", err)
	}
	tb := &Table{col: map[string]int{}}
	for i, n := range names {
		n = strings.TrimSpace(n)
		if _, dup := tb.col[n]; dup {
			return nil, formatf("the CSV header names column %q twice", n)
		}
		tb.col[n] = i
		tb.Columns = append(tb.Columns, n)
	}
	for _, req := range []string{"name", "address"} {
		if _, ok := tb.col[req]; !ok {
			return nil, formatf("the CSV header has no column %q (it has: %s)", req, strings.Join(names, ", "))
		}
	}
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, formatf("CSV: %v", err)
		}
		if maxRows > 0 && len(tb.rows) == maxRows {
			return nil, formatf("the CSV file has more than %d recipient rows", maxRows)
		}
		line, _ := r.FieldPos(0)
		tb.rows, tb.lines = append(tb.rows, row), append(tb.lines, line)
	}
	if len(tb.rows) == 0 {
		return nil, formatf("the CSV file has no recipient rows")
	}
	return tb, nil
}

// Letter is one row of a merge filled into the template.
type Letter struct {
	// Line is the row's line in the CSV file (the header is line 1).
	Line            int
	Name, Address   string
	Registered      bool
	PrintIfUnsigned string // as written, "" when none
	Subject, Body   string
	// Err is why the row cannot be a letter (a *mailbox.Error with code
	// bad_row); the other fields are then what could be read.
	Err error
}

// Submission is the letter as the mailbox service takes it.
func (l Letter) Submission() mailbox.Submission {
	sub := mailbox.Submission{RecipientName: l.Name, RecipientAddress: l.Address, Registered: l.Registered,
		Subject: l.Subject, Body: l.Body}
	if l.PrintIfUnsigned != "" {
		sub.PrintIfUnsignedAfter, _ = mailbox.ParsePeriod(l.PrintIfUnsigned)
	}
	return sub
}

// Merge fills the template with every row. A template placeholder without
// a column fails the whole merge; a row that cannot be read is that row's
// Err.
func Merge(t Template, tb *Table) ([]Letter, error) {
	if missing := t.MissingColumns(tb); len(missing) > 0 {
		return nil, formatf("the template uses %s, which the CSV header does not name", strings.Join(missing, ", "))
	}
	out := make([]Letter, len(tb.rows))
	for i, row := range tb.rows {
		l := &out[i]
		l.Line = tb.lines[i]
		get := func(name string) string {
			if c, ok := tb.col[name]; ok && c < len(row) {
				return row[c]
			}
			return ""
		}
		l.Name, l.Address = get("name"), get("address")
		bad := func(format string, args ...any) {
			if l.Err == nil {
				l.Err = mailbox.Errorf(mailbox.ErrInvalid, "bad_row", format, args...)
			}
		}
		if len(row) != len(tb.col) {
			bad("the line has %d fields, the header %d", len(row), len(tb.col))
			continue
		}
		var err error
		if l.Registered, err = parseYes(get("registered")); err != nil {
			bad("registered: %v", err)
		}
		l.Subject, l.Body = t.fill(tb.col, row)
		if p := strings.TrimSpace(get("print_if_unsigned")); p != "" {
			l.PrintIfUnsigned = p
			if _, err := mailbox.ParsePeriod(p); err != nil {
				bad("print_if_unsigned: %v", err)
			} else if !l.Registered {
				bad("print_if_unsigned needs registered")
			}
		}
	}
	return out, nil
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
