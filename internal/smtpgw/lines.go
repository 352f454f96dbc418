package smtpgw

import (
	"bytes"
	"errors"
	"io"
)

// lineReader checks the DATA stream as it passes to the MIME parser, so no
// rule depends on what the parser happens to read:
//
//   - every line ends with CRLF; a bare CR or LF anywhere is refused
//     (RFC 5321 §2.3.8 "MUST NOT"; go-smtp since v0.20.1 no longer ends DATA
//     at a bare-LF dot but still passes bare line endings through, and another
//     MTA that reads them differently is how SMTP smuggling works);
//   - no NUL (RFC 5322 §2.3 and RFC 6532: text excludes %d0);
//   - a line is at most maxLine octets including the CRLF
//     (RFC 5321 §4.5.3.1.6: 1000);
//   - a header block, top-level or of a MIME part, is at most maxHeader
//     octets, so a part header cannot make the parser buffer the whole
//     message: the parser registers each multipart boundary it meets, and a
//     run of non-empty lines after a delimiter line of a known boundary counts
//     as a part header (RFC 2046 §5.1.1).
//
// The first error is sticky and takes precedence over whatever the parser
// makes of it: the session checks err before the parser's result. Errors of
// the underlying reader (timeouts, go-smtp's size limit) are kept the same way.
type lineReader struct {
	r         io.Reader
	maxLine   int
	maxHeader int64

	n       int64 // octets passed through
	lineNo  int   // 1-based number of the current line
	lineLen int
	prevCR  bool
	// head holds the start of the current line, enough to recognize a
	// delimiter line ("--" + boundary of at most 70 characters + padding).
	head    [96]byte
	headLen int

	topHeader  bool  // still in the message's own header block
	headerLen  int64 // octets of the current header block
	dashLine   []byte
	sinceDash  int64 // octets of non-empty lines since dashLine
	dashActive bool
	boundaries []string

	err error
}

func newLineReader(r io.Reader, maxLine int, maxHeader int64) *lineReader {
	return &lineReader{r: r, maxLine: maxLine, maxHeader: maxHeader, lineNo: 1, topHeader: true}
}

// addBoundary registers a multipart boundary (the parser's hook).
func (l *lineReader) addBoundary(b string) {
	if len(l.boundaries) < 64 {
		l.boundaries = append(l.boundaries, b)
	}
}

func (l *lineReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, rerr := l.r.Read(p)
	for i := 0; i < n; i++ {
		if err := l.step(p[i]); err != nil {
			l.err = err
			l.n += int64(i)
			return i, err
		}
	}
	l.n += int64(n)
	if rerr != nil {
		if errors.Is(rerr, io.EOF) {
			if l.prevCR {
				l.err = refuse(ErrLineEnding, 554, enhMedia, "Bare CR at the end of the message (line %d): lines must end with CRLF (RFC 5321 §2.3.8)", l.lineNo)
				return n, l.err
			}
			return n, io.EOF
		}
		l.err = rerr
	}
	return n, rerr
}

// step advances the state machine by one octet.
func (l *lineReader) step(c byte) error {
	if l.prevCR && c != '\n' {
		return refuse(ErrLineEnding, 554, enhMedia, "Bare CR in line %d: lines must end with CRLF (RFC 5321 §2.3.8)", l.lineNo)
	}
	switch c {
	case '\n':
		if !l.prevCR {
			return refuse(ErrLineEnding, 554, enhMedia, "Bare LF in line %d: lines must end with CRLF (RFC 5321 §2.3.8)", l.lineNo)
		}
		l.prevCR = false
		l.lineLen++
		if l.lineLen > l.maxLine {
			return refuse(ErrLineTooLong, 554, enhMedia, "Line %d is longer than %d octets (RFC 5321 §4.5.3.1.6)", l.lineNo, l.maxLine)
		}
		return l.endLine()
	case '\r':
		l.prevCR = true
	case 0:
		return refuse(ErrLineEnding, 554, enhMedia, "NUL octet in line %d (RFC 5322 §2.3)", l.lineNo)
	}
	l.lineLen++
	if l.headLen < len(l.head) {
		l.head[l.headLen] = c
		l.headLen++
	}
	if l.lineLen > l.maxLine {
		return refuse(ErrLineTooLong, 554, enhMedia, "Line %d is longer than %d octets (RFC 5321 §4.5.3.1.6)", l.lineNo, l.maxLine)
	}
	return nil
}

// endLine runs at each CRLF.
func (l *lineReader) endLine() error {
	empty := l.lineLen == 2
	lineLen := int64(l.lineLen)
	head := l.head[:l.headLen]
	l.lineNo++
	l.lineLen, l.headLen = 0, 0

	if l.topHeader {
		if empty {
			l.topHeader = false
			return nil
		}
		l.headerLen += lineLen
		if l.headerLen > l.maxHeader {
			return refuse(ErrTooLarge, 552, enhTooBig, "The message header exceeds %d octets", l.maxHeader)
		}
		return nil
	}
	switch {
	case empty:
		l.dashActive = false
	case bytes.HasPrefix(head, []byte("--")):
		l.dashLine = append(l.dashLine[:0], head...)
		l.dashActive, l.sinceDash = true, 0
	case l.dashActive:
		l.sinceDash += lineLen
		if l.sinceDash > l.maxHeader && l.isDelimiter(l.dashLine) {
			return refuse(ErrTooLarge, 552, enhTooBig, "A MIME part header exceeds %d octets", l.maxHeader)
		}
	}
	return nil
}

// isDelimiter reports whether line (without its CRLF, possibly truncated)
// is a delimiter line of a registered boundary: "--" boundary, then
// optional linear white space (RFC 2046 §5.1.1 transport padding).
func (l *lineReader) isDelimiter(line []byte) bool {
	line = bytes.TrimRight(bytes.TrimSuffix(line, []byte("\r")), " \t")
	for _, b := range l.boundaries {
		if len(line) == 2+len(b) && string(line[2:]) == b {
			return true
		}
	}
	return false
}
