package smtpgw

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/emersion/go-message/charset"
)

// decodeCharset converts b from a MIME charset label to UTF-8. utf-8 and
// us-ascii (and no label) pass through unchanged; the core refuses text that
// is not valid UTF-8, so mislabelled 8-bit text is refused, not mangled.
func decodeCharset(label string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return r, nil
	}
	cr, err := charset.Reader(label, r)
	if err != nil {
		return nil, refuse(ErrUnsupported, 554, enhMediaUnsupp, "Unsupported charset %q", truncate(label, 40))
	}
	return cr, nil
}

// param2231 returns the value of parameter name from a structured header
// value, decoding RFC 2231 extended values (§4: charset, language and
// percent-encoded octets, separated by apostrophes) and continuations
// (§3: name*0*, name*1*, ...), as in
//
//	attachment; filename*=windows-1251''%F1%F7%B8%F2.pdf
//
// Go's mime package decodes only the utf-8 and us-ascii charsets and
// silently drops the others; mail clients in Belarus still write
// windows-1251 and KOI8-R. ok is false when the parameter is absent in
// extended or continued form.
func param2231(value, name string) (string, bool, error) {
	params := map[string]string{}
	// Skip the type ("attachment", "application/pdf").
	_, rest, found := strings.Cut(value, ";")
	for found {
		rest = strings.TrimLeft(rest, " \t")
		var attr, val string
		eq := strings.IndexByte(rest, '=')
		if eq < 0 {
			break
		}
		attr = strings.ToLower(strings.TrimSpace(rest[:eq]))
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			val = b.String()
			rest = rest[min(i+1, len(rest)):]
			_, rest, found = strings.Cut(rest, ";")
		} else {
			val, rest, found = strings.Cut(rest, ";")
			val = strings.TrimSpace(val)
		}
		if _, dup := params[attr]; dup {
			return "", false, refuse(ErrMalformed, 550, enhMedia, "Parameter %q appears twice", truncate(attr, 40))
		}
		params[attr] = val
	}

	name = strings.ToLower(name)
	var label string
	var raw []byte
	if v, ok := params[name+"*"]; ok {
		cs, _, data, err := splitExtended(v)
		if err != nil {
			return "", false, err
		}
		label, raw = cs, data
	} else {
		// Continuations: name*0, name*1*, ... in order, without gaps.
		var segs []int
		for k := range params {
			if s, ok := strings.CutPrefix(k, name+"*"); ok {
				s = strings.TrimSuffix(s, "*")
				n, err := strconv.Atoi(s)
				if err != nil || n < 0 || n > 999 {
					continue
				}
				segs = append(segs, n)
			}
		}
		if len(segs) == 0 {
			return "", false, nil
		}
		sort.Ints(segs)
		for i, n := range segs {
			if n != i {
				return "", false, refuse(ErrMalformed, 550, enhMedia, "Parameter %s has a gap in its RFC 2231 continuations", name)
			}
			key := fmt.Sprintf("%s*%d", name, n)
			if v, ok := params[key+"*"]; ok {
				if n == 0 {
					cs, _, data, err := splitExtended(v)
					if err != nil {
						return "", false, err
					}
					label, raw = cs, data
					continue
				}
				data, err := percentDecode(v)
				if err != nil {
					return "", false, err
				}
				raw = append(raw, data...)
			} else {
				raw = append(raw, params[key]...)
			}
		}
	}
	r, err := decodeCharset(label, bytes.NewReader(raw))
	if err != nil {
		return "", false, err
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return "", false, refuse(ErrMalformed, 550, enhMedia, "Parameter %s does not decode", name)
	}
	return string(out), true, nil
}

// splitExtended splits an RFC 2231 §4 extended value charset'lang'data.
func splitExtended(v string) (charset, lang string, data []byte, err error) {
	parts := strings.SplitN(v, "'", 3)
	if len(parts) != 3 {
		return "", "", nil, refuse(ErrMalformed, 550, enhMedia, "Malformed RFC 2231 parameter value")
	}
	data, err = percentDecode(parts[2])
	return parts[0], parts[1], data, err
}

func percentDecode(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) {
			return nil, refuse(ErrMalformed, 550, enhMedia, "Malformed percent-encoding in an RFC 2231 parameter")
		}
		b, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return nil, refuse(ErrMalformed, 550, enhMedia, "Malformed percent-encoding in an RFC 2231 parameter")
		}
		out = append(out, byte(b))
		i += 2
	}
	return out, nil
}

// baseName keeps the last path component of a suggested file name: RFC 2183
// §2.3 tells receivers to ignore directory information ("C:\Users\...").
func baseName(name string) string {
	name = strings.TrimSpace(name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return name
}

// extensions name generated files by type (a fixed table: the system's
// mime.types must not change what a letter's evidence says).
var extensions = map[string]string{
	"text/plain": ".txt", "text/html": ".html", "text/csv": ".csv", "text/calendar": ".ics",
	"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif",
	"message/rfc822": ".eml", "application/xml": ".xml", "text/xml": ".xml",
	"application/pkcs7-signature": ".p7s", "application/x-pkcs7-signature": ".p7s",
	"application/pgp-signature": ".asc", "application/zip": ".zip",
}

func generatedName(n int, mediaType string) string {
	ext, ok := extensions[mediaType]
	if !ok {
		ext = ".bin"
	}
	return fmt.Sprintf("part-%d%s", n, ext)
}

// singleLine folds header text to one line: runs of white space (folding,
// tabs) become one space (RFC 5322 §2.2.3 unfolding).
func singleLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// unflow decodes format=flowed text (RFC 3676 §4.2) whose lines end in LF:
// a line ending in a space is joined with the next one of the same quote
// depth (with DelSp=yes the space goes), space-stuffing is undone (§4.4),
// and the signature separator "-- " is never flowed (§4.3).
func unflow(s string, delSp bool) string {
	trailingNL := strings.HasSuffix(s, "\n")
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	var out strings.Builder
	out.Grow(len(s))
	var para strings.Builder
	open, depth := false, 0
	flush := func() {
		if open {
			out.WriteString(para.String())
			out.WriteByte('\n')
			para.Reset()
			open = false
		}
	}
	for _, line := range lines {
		d := 0
		for d < len(line) && line[d] == '>' {
			d++
		}
		content := strings.TrimPrefix(line[d:], " ")
		flowed := content != "-- " && strings.HasSuffix(content, " ")
		if flowed && delSp {
			content = content[:len(content)-1]
		}
		if open && d != depth {
			flush()
		}
		if !open {
			open, depth = true, d
			if d > 0 {
				para.WriteString(strings.Repeat(">", d))
				para.WriteByte(' ')
			}
		}
		para.WriteString(content)
		if !flowed {
			flush()
		}
	}
	flush()
	r := out.String()
	if !trailingNL {
		r = strings.TrimSuffix(r, "\n")
	}
	return r
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
