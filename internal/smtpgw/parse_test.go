package smtpgw

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
)

// recorder is an attachmentSink that keeps what it gets.
type recorder struct {
	names, types []string
	data         [][]byte
}

func (r *recorder) AddAttachment(name, contentType string, rd io.Reader) error {
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	r.names, r.types, r.data = append(r.names, name), append(r.types, contentType), append(r.data, b)
	return nil
}

var testLimits = parseLimits{MaxHeaderBytes: 64 << 10, MaxBodyBytes: 1 << 20, MaxDepth: 4, MaxParts: 10}

// crlf turns a readable test message into wire form.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func cp1251(s string) []byte {
	b, err := charmap.Windows1251.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(err)
	}
	return b
}

func koi8r(s string) []byte {
	b, err := charmap.KOI8R.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(err)
	}
	return b
}

func pct(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "%%%02X", c)
	}
	return sb.String()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

const hdr = "From: <11111111-2222-4333-8444-555555555555@npes.test>\nMessage-ID: <m1@example.by>\n"

func TestParseMessage(t *testing.T) {
	t.Parallel()
	pdf := []byte("%PDF-1.4\n\x00\x01\xfe\xff binary\r\n\n\r")
	bodyRU := "Уважаемый абонент!\nСчёт прилагается.\n"
	type want struct {
		subject, body string
		names         []string
		types         []string
		data          [][]byte
		check         func(t *testing.T, p *parsed)
	}
	tests := []struct {
		name string
		msg  string
		want want
	}{
		{
			name: "plain text",
			msg:  crlf(hdr + "Subject: Hello\n\nline one\nline two\n"),
			want: want{subject: "Hello", body: "line one\nline two\n", check: func(t *testing.T, p *parsed) {
				if p.Language != "" {
					t.Errorf("language %q without X-Npes-Language, want empty (detected)", p.Language)
				}
			}},
		},
		{
			name: "language of the printed labels",
			msg:  crlf(hdr + "Subject: Hello\nX-Npes-Language: BE\n\nb\n"),
			want: want{subject: "Hello", body: "b\n", check: func(t *testing.T, p *parsed) {
				if p.Language != "be" {
					t.Errorf("language %q, want be", p.Language)
				}
			}},
		},
		{
			name: "mixed with a body and two attachments, RFC 2231 utf-8 name",
			msg: crlf(hdr + "Subject: =?utf-8?B?" + b64([]byte("Счёт за май")) + "?=\nMIME-Version: 1.0\n" +
				"Content-Type: multipart/mixed; boundary=\"xx\"\n\npreamble\n--xx\n" +
				"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + b64([]byte(crlf(bodyRU))) + "\n--xx\n" +
				"Content-Type: application/pdf\nContent-Disposition: attachment; filename*=utf-8''" + url.PathEscape("счёт.pdf") + "\nContent-Transfer-Encoding: base64\n\n" + b64(pdf) + "\n--xx\n" +
				"Content-Type: text/plain; charset=utf-8\nContent-Disposition: attachment; filename=\"notes.txt\"\n\nline\n--xx--\nepilogue\n"),
			want: want{subject: "Счёт за май", body: bodyRU, names: []string{"счёт.pdf", "notes.txt"},
				types: []string{"application/pdf", "text/plain"}, data: [][]byte{pdf, []byte("line")}},
		},
		{
			name: "windows-1251 body, subject and RFC 2231 file name",
			msg: hdr + "Subject: =?windows-1251?B?" + b64(cp1251("Извещение")) + "?=\r\n" +
				"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
				"Content-Type: text/plain; charset=windows-1251\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + string(cp1251(crlf(bodyRU))) + "\r\n--b\r\n" +
				"Content-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n filename*=windows-1251''" + pct(cp1251("Акт сверки.xls")) + "\r\n" +
				"Content-Transfer-Encoding: base64\r\n\r\n" + b64(cp1251("данные")) + "\r\n--b--\r\n",
			want: want{subject: "Извещение", body: bodyRU, names: []string{"Акт сверки.xls"},
				types: []string{"application/octet-stream"}, data: [][]byte{cp1251("данные")}},
		},
		{
			name: "KOI8-R quoted-printable body and RFC 2047 file name",
			msg: hdr + "Subject: =?koi8-r?Q?" + strings.ReplaceAll(pct(koi8r("Письмо")), "%", "=") + "?=\r\n" +
				"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
				"Content-Type: text/plain; charset=KOI8-R\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
				strings.ReplaceAll(pct(koi8r("Добрый день")), "%", "=") + "\r\n--b\r\n" +
				"Content-Type: text/plain; charset=koi8-r; name=\"" + mime.BEncoding.Encode("koi8-r", "x") + "\"\r\n" +
				"Content-Disposition: attachment; filename=\"=?koi8-r?B?" + b64(koi8r("справка.txt")) + "?=\"\r\n\r\n" +
				string(koi8r("текст")) + "\r\n--b--\r\n",
			// The attachment's bytes stay KOI8-R: a file is not text to convert.
			want: want{subject: "Письмо", body: "Добрый день", names: []string{"справка.txt"}, types: []string{"text/plain"}, data: [][]byte{koi8r("текст")}},
		},
		{
			name: "RFC 2231 continuations",
			msg: crlf(hdr + "Content-Type: multipart/mixed; boundary=b\n\n--b\n" +
				"Content-Type: application/pdf\nContent-Disposition: attachment;\n filename*0*=utf-8''" + url.PathEscape("очень_длинное_") + ";\n filename*1*=" + url.PathEscape("имя") + ";\n filename*2=\".pdf\"\n\n%PDF-1\n--b--\n"),
			want: want{names: []string{"очень_длинное_имя.pdf"}, types: []string{"application/pdf"}, data: [][]byte{[]byte("%PDF-1")}},
		},
		{
			name: "alternative keeps the plain text only",
			msg: crlf(hdr + "Content-Type: multipart/alternative; boundary=a\n\n--a\nContent-Type: text/plain\n\nplain\n--a\n" +
				"Content-Type: text/html\n\n<p>html</p>\n--a--\n"),
			want: want{body: "plain"},
		},
		{
			name: "html only: attached, nothing lost",
			msg:  crlf(hdr + "Content-Type: multipart/alternative; boundary=a\n\n--a\nContent-Type: text/html\n\n<p>html</p>\n--a--\n"),
			want: want{names: []string{"part-1.html"}, types: []string{"text/html"}, data: [][]byte{[]byte("<p>html</p>")}},
		},
		{
			name: "mixed with related alternative inside",
			msg: crlf(hdr + "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: multipart/alternative; boundary=a\n\n" +
				"--a\nContent-Type: text/plain\n\nthe text\n--a\nContent-Type: multipart/related; boundary=r\n\n--r\nContent-Type: text/html\n\n<img>\n--r\n" +
				"Content-Type: image/png\n\nPNG\n--r--\n--a--\n--m\nContent-Type: application/pdf; name=\"C:\\\\Users\\\\me\\\\a.pdf\"\n\n%PDF\n--m--\n"),
			want: want{body: "the text", names: []string{"a.pdf"}, types: []string{"application/pdf"}, data: [][]byte{[]byte("%PDF")}},
		},
		{
			name: "format=flowed",
			msg: crlf(hdr + "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\n\n" +
				"Это длинная строка, \nперенесённая клиентом.\n> цитата \n> дальше\n From stuffed\n-- \nподпись\n"),
			want: want{body: "Это длинная строка,перенесённая клиентом.\n> цитатадальше\nFrom stuffed\n-- \nподпись\n"},
		},
		{
			name: "the message itself is a PDF",
			msg:  crlf(hdr+"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n") + b64(pdf) + "\r\n",
			want: want{names: []string{"part-1.pdf"}, types: []string{"application/pdf"}, data: [][]byte{pdf}},
		},
		{
			name: "forwarded message attached whole",
			msg:  crlf(hdr + "Content-Type: multipart/mixed; boundary=m\n\n--m\n\nbody\n--m\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner body\n--m--\n"),
			want: want{body: "body", names: []string{"part-1.eml"}, types: []string{"message/rfc822"}, data: [][]byte{[]byte(crlf("Subject: inner\n\ninner body"))}},
		},
		{
			name: "npes fields",
			msg: crlf(hdr + "X-Npes-Recipient-Name: =?utf-8?B?" + b64([]byte("Иванову Ивану")) + "?=\nX-Npes-Recipient-Address: 220013, г. Минск,\n ул. Дорошевича, 8\n" +
				"x-npes-registered: YES\nX-Npes-Print-If-Unsigned: 240h\nX-Npes-Acceptance-Period: 72h\n" +
				"X-Npes-In-Reply-To:  4b0c3c5e-9a3e-4c55-8a9e-0d7f5b1f3a11 \n\nb\n"),
			want: want{body: "b\n", check: func(t *testing.T, p *parsed) {
				if p.RecipientName != "Иванову Ивану" || p.RecipientAddress != "220013, г. Минск, ул. Дорошевича, 8" || !p.RecipientHeaders ||
					!p.Registered || p.PrintIfUnsigned != 240*time.Hour || p.AcceptancePeriod != 72*time.Hour ||
					p.InReplyTo != "4b0c3c5e-9a3e-4c55-8a9e-0d7f5b1f3a11" {
					t.Fatalf("%+v", p)
				}
			}},
		},
		{
			name: "periods in days",
			msg:  crlf(hdr + "X-Npes-Registered: yes\nX-Npes-Print-If-Unsigned: 10d\nX-Npes-Acceptance-Period: 1d12h\n\nb\n"),
			want: want{body: "b\n", check: func(t *testing.T, p *parsed) {
				if p.PrintIfUnsigned != 240*time.Hour || p.AcceptancePeriod != 36*time.Hour {
					t.Fatalf("print if unsigned %v, acceptance period %v", p.PrintIfUnsigned, p.AcceptancePeriod)
				}
			}},
		},
		{
			name: "From and Message-ID",
			msg:  crlf("From: \"Белтелеком\" <ABC@Npes.Test>\nMessage-ID: <x.1@mta.example>\n\nb"),
			want: want{body: "b", check: func(t *testing.T, p *parsed) {
				if len(p.From) != 1 || p.From[0] != "ABC@Npes.Test" || p.MessageID != "x.1@mta.example" {
					t.Fatalf("%+v", p)
				}
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rec recorder
			p, err := parseMessage(strings.NewReader(tc.msg), testLimits, &rec, nil)
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != tc.want.subject || p.Body != tc.want.body {
				t.Fatalf("subject %q body %q", p.Subject, p.Body)
			}
			if fmt.Sprint(rec.names) != fmt.Sprint(tc.want.names) || fmt.Sprint(rec.types) != fmt.Sprint(tc.want.types) || p.Attachments != len(tc.want.names) {
				t.Fatalf("attachments %q %q (%d)", rec.names, rec.types, p.Attachments)
			}
			for i := range tc.want.data {
				if !bytes.Equal(rec.data[i], tc.want.data[i]) {
					t.Fatalf("attachment %d: %q, want %q", i, rec.data[i], tc.want.data[i])
				}
			}
			if tc.want.check != nil {
				tc.want.check(t, p)
			}
		})
	}
}

func TestParseMessageRefusals(t *testing.T) {
	t.Parallel()
	nest := func(depth int) string {
		var b strings.Builder
		b.WriteString(hdr)
		for i := range depth {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
		}
		b.WriteString("\nx\n")
		for i := depth - 1; i >= 0; i-- {
			fmt.Fprintf(&b, "--b%d--\n", i)
		}
		return crlf(b.String())
	}
	many := hdr + "Content-Type: multipart/mixed; boundary=b\n\n" + strings.Repeat("--b\n\nx\n", 10) + "--b--\n"
	tests := []struct {
		name string
		msg  string
		want error
		code int
	}{
		{"nested too deep", nest(5), ErrTooComplex, 554},
		{"nesting at the limit", nest(4), nil, 0},
		{"too many parts", crlf(many), ErrTooComplex, 554},
		{"body too large", crlf(hdr+"\n") + strings.Repeat("x", 1<<20+1), ErrTooLarge, 552},
		{"unknown npes field", crlf(hdr + "X-Npes-Registred: yes\n\nb"), ErrMalformed, 550},
		{"two From fields", crlf(hdr + "From: <a@b.c>\n\nb"), ErrMalformed, 550},
		{"two Message-ID fields", crlf(hdr + "Message-ID: <x@y>\n\nb"), ErrMalformed, 550},
		{"bad Registered", crlf(hdr + "X-Npes-Registered: maybe\n\nb"), ErrMalformed, 550},
		{"bad language", crlf(hdr + "X-Npes-Language: uk\n\nb"), ErrMalformed, 550},
		{"bad period", crlf(hdr + "X-Npes-Print-If-Unsigned: ten days\n\nb"), ErrMalformed, 550},
		{"malformed From", crlf("From: <<<\nMessage-ID: <a@b>\n\nb"), ErrMalformed, 550},
		{"malformed Message-ID", crlf("From: <a@b.c>\nMessage-ID: nope\n\nb"), ErrMalformed, 550},
		{"bad base64", crlf(hdr + "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n!!!!\n"), ErrMalformed, 550},
		{"truncated base64", crlf(hdr + "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nQUJDRA\n"), ErrMalformed, 550},
		{"unknown transfer encoding", crlf(hdr + "Content-Transfer-Encoding: x-uuencode\n\nb"), ErrUnsupported, 554},
		{"unknown charset", crlf(hdr + "Content-Type: text/plain; charset=x-klingon\n\nb"), ErrUnsupported, 554},
		{"unknown charset in a file name", crlf(hdr + "Content-Type: application/pdf\nContent-Disposition: attachment; filename*=x-klingon''abc\n\nb"), ErrUnsupported, 554},
		{"no boundary", crlf(hdr + "Content-Type: multipart/mixed\n\nb"), ErrMalformed, 550},
		{"no closing delimiter", crlf(hdr + "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nbody\n"), ErrMalformed, 550},
		{"malformed Content-Type", crlf(hdr + "Content-Type: text/plain; ;;; =\n\nb"), ErrMalformed, 550},
		{"header too large", "X: " + strings.Repeat("y", 200<<10) + "\r\n\r\nb", ErrTooLarge, 552},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseMessage(strings.NewReader(tc.msg), testLimits, &recorder{}, nil)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var rf *refusal
			if !errors.Is(err, tc.want) || !errors.As(err, &rf) || rf.reply.Code != tc.code {
				t.Fatalf("err %v, want %v with %d", err, tc.want, tc.code)
			}
		})
	}
}

func TestUnflowWithoutDelSp(t *testing.T) {
	t.Parallel()
	if got := unflow("one \ntwo\nthree", false); got != "one two\nthree" {
		t.Fatalf("%q", got)
	}
	if got := unflow("ends flowed ", true); got != "ends flowed" {
		t.Fatalf("%q", got)
	}
}
