package smtpgw

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// countingSink reads attachments like the draft does and bounds them.
type countingSink struct{ n int }

func (c *countingSink) AddAttachment(name, contentType string, r io.Reader) error {
	c.n++
	_, err := io.Copy(io.Discard, r)
	return err
}

// FuzzParseMessage feeds arbitrary DATA through the gateway's pipeline (the
// line reader, then the MIME parser). Whatever the input: no panic, every
// failure is a refusal with a 4xx/5xx reply (never an internal 554 for
// something the client sent), and an accepted message respects the limits.
func FuzzParseMessage(f *testing.F) {
	seeds := []string{
		crlf(hdr + "Subject: x\n\nbody\n"),
		crlf(hdr + "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nbody\n--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename*=windows-1251''%F1%F7\nContent-Transfer-Encoding: base64\n\nJVBERg==\n--b--\n"),
		crlf(hdr + "Content-Type: multipart/alternative; boundary=a\n\n--a\nContent-Type: text/plain; format=flowed\n\nx \ny\n--a\nContent-Type: text/html\n\n<p>\n--a--\n"),
		crlf(hdr + "Content-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: quoted-printable\n\n=F0=D2=C9=D7=C5=D4\n"),
		crlf(hdr + "Content-Type: application/pdf; name*0*=utf-8''%D0%B0; name*1=b.pdf\n\n%PDF\n"),
		"Subject: a\r\n\r\nhi\n.\r\nMAIL FROM:<x@y>\r\n",
		crlf(hdr + "X-Npes-Registered: yes\nX-Npes-Print-If-Unsigned: 240h\n\nb"),
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	lim := parseLimits{MaxHeaderBytes: 4 << 10, MaxBodyBytes: 8 << 10, MaxDepth: 4, MaxParts: 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		lr := newLineReader(bytes.NewReader(data), 1000, lim.MaxHeaderBytes)
		var sink countingSink
		p, err := parseMessage(lr, lim, &sink, lr.addBoundary)
		if err == nil {
			_, err = io.Copy(io.Discard, lr)
		}
		if lr.err != nil {
			err = lr.err
		}
		if err != nil {
			var rf *refusal
			if !errors.As(err, &rf) {
				t.Fatalf("not a refusal: %T %v", err, err)
			}
			if c := rf.reply.Code; c < 400 || c >= 600 || rf.reply.Message == "" {
				t.Fatalf("reply %d %q", c, rf.reply.Message)
			}
			if reply, _, internal := replyFor(err); internal || reply.Code != rf.reply.Code {
				t.Fatalf("replyFor changed the refusal: %v", reply)
			}
			return
		}
		if int64(len(p.Body)) > lim.MaxBodyBytes {
			t.Fatalf("body of %d bytes", len(p.Body))
		}
		if sink.n != p.Attachments || sink.n > lim.MaxParts {
			t.Fatalf("%d attachments, parsed says %d", sink.n, p.Attachments)
		}
		if strings.Contains(p.Body, "\r\n") {
			t.Fatal("CRLF left in the body")
		}
	})
}
