package cli

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/npes/npes/mailbox"
)

// termSafe makes sender-controlled text (a letter's body, subject, names,
// attachment names, reasons) safe to print on a terminal: C0 and C1
// controls (ESC starts ANSI/ECMA-48 sequences that move the cursor, rewrite
// the title or the clipboard; U+009B is a one-character CSI; CR overwrites
// the line), format characters (bidi overrides that reorder what is shown,
// zero-width characters) and the line and paragraph separators are shown
// as Go escapes instead of being interpreted. multiline keeps LF and TAB
// (a body); invalid UTF-8 becomes U+FFFD.
func termSafe(s string, multiline bool) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case multiline && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == utf8.RuneError:
			b.WriteRune(utf8.RuneError)
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == '\u2028', r == '\u2029':
			if r < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// jsonTermSafe escapes, inside a JSON document from the server, the
// characters termSafe would escape and encoding/json leaves raw (C1
// controls, format characters): in valid JSON they can only stand inside
// strings, where \uXXXX means the same, so the document is unchanged for a
// JSON reader and inert on a terminal.
func jsonTermSafe(raw []byte) []byte {
	var b bytes.Buffer
	for len(raw) > 0 {
		r, n := utf8.DecodeRune(raw)
		if r >= 0x80 && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029') {
			fmt.Fprintf(&b, `\u%04x`, r)
		} else {
			b.Write(raw[:n])
		}
		raw = raw[n:]
	}
	return b.Bytes()
}

// checkOutNames refuses, before anything is written, attachment names that
// `read --out` must not create: each must be one the server would store
// unchanged (mailbox.AttachmentName, the server's own rule) and no two may
// name one file on a case-insensitive file system.
func checkOutNames(atts []mailbox.AttachmentMeta) error {
	for i, a := range atts {
		n, err := mailbox.AttachmentName(a.Name)
		if err != nil || n != a.Name {
			return fmt.Errorf("attachment %d has an unsafe name %q", i+1, termSafe(a.Name, false))
		}
		for j := range i {
			if mailbox.SameFileName(atts[j].Name, a.Name) {
				return fmt.Errorf("attachments %d and %d are both named %q", j+1, i+1, termSafe(a.Name, false))
			}
		}
	}
	return nil
}

// writePrivate writes data to path readable by the owner only (0600),
// also when the file exists already with a wider mode: letters and
// evidence bundles name people and addresses.
func writePrivate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
