package smtpgw

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLineReader(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	mixed := "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n"
	tests := []struct {
		name string
		in   string
		want error // nil: passes
	}{
		{"CRLF lines", "Subject: a\r\n\r\nbody\r\n", nil},
		{"empty", "", nil},
		{"no final line break", "Subject: a\r\n\r\nbody", nil},
		{"bare LF", "Subject: a\r\n\r\nbo\ndy\r\n", ErrLineEnding},
		{"bare CR", "Subject: a\r\n\r\nbo\rdy\r\n", ErrLineEnding},
		{"CR CR LF", "Subject: a\r\n\r\nbody\r\r\n", ErrLineEnding},
		{"bare CR at the end", "Subject: a\r\n\r\nbody\r", ErrLineEnding},
		{"bare LF in the header", "Subject: a\nX: b\r\n\r\n", ErrLineEnding},
		// The SMTP smuggling payloads (SEC Consult, 2023): an end-of-data
		// that another MTA might honour, followed by a second message.
		{"smuggling LF.CRLF", "Subject: a\r\n\r\nhi\n.\r\nMAIL FROM:<x@y>\r\n", ErrLineEnding},
		{"smuggling CR.CRLF", "Subject: a\r\n\r\nhi\r.\r\nMAIL FROM:<x@y>\r\n", ErrLineEnding},
		{"smuggling LF.LF", "Subject: a\r\n\r\nhi\n.\nMAIL FROM:<x@y>\r\n", ErrLineEnding},
		{"NUL", "Subject: a\r\n\r\nb\x00dy\r\n", ErrLineEnding},
		{"998 octets and CRLF", "Subject: a\r\n\r\n" + long(998) + "\r\n", nil},
		{"999 octets and CRLF", "Subject: a\r\n\r\n" + long(999) + "\r\n", ErrLineTooLong},
		{"header block at the limit", "X: " + long(995) + "\r\n" + "X: " + long(995) + "\r\n\r\nbody\r\n", nil},
		{"header block over the limit", strings.Repeat("X: "+long(995)+"\r\n", 3) + "\r\nbody\r\n", ErrTooLarge},
		{"part header over the limit", mixed + strings.Repeat("X: "+long(995)+"\r\n", 3) + "\r\nbody\r\n--b1--\r\n", ErrTooLarge},
		{"long text after a dash line that is no delimiter", mixed + "\r\n-- \r\n" + strings.Repeat(long(990)+"\r\n", 5) + "--b1--\r\n", nil},
		{"part header within the limit", mixed + "Content-Type: text/plain\r\n\r\n" + strings.Repeat(long(990)+"\r\n", 5) + "--b1--\r\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, oneByte := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tc.in)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				lr := newLineReader(r, 1000, 2000)
				lr.addBoundary("b1")
				out, err := io.ReadAll(lr)
				if tc.want == nil {
					if err != nil || string(out) != tc.in {
						t.Fatalf("oneByte=%v: %v, passed %d of %d octets", oneByte, err, len(out), len(tc.in))
					}
					continue
				}
				if !errors.Is(err, tc.want) || !errors.Is(lr.err, tc.want) {
					t.Fatalf("oneByte=%v: err %v, want %v", oneByte, err, tc.want)
				}
				var rf *refusal
				if !errors.As(err, &rf) || rf.reply.Code/100 != 5 {
					t.Fatalf("oneByte=%v: %v is not a 5xx refusal", oneByte, err)
				}
				// Sticky: the parser cannot read past the refusal.
				if n, err2 := lr.Read(make([]byte, 10)); n != 0 || !errors.Is(err2, tc.want) {
					t.Fatalf("read after refusal: %d, %v", n, err2)
				}
			}
		})
	}
}

// A read error below (a timeout, go-smtp's size limit) is kept as the
// stream's verdict.
func TestLineReaderKeepsUnderlyingError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	lr := newLineReader(io.MultiReader(strings.NewReader("Subject: a\r\n"), iotest.ErrReader(boom)), 1000, 2000)
	if _, err := io.ReadAll(lr); !errors.Is(err, boom) || !errors.Is(lr.err, boom) {
		t.Fatalf("err %v, lr.err %v", err, lr.err)
	}
}
