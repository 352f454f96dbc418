package pdf_test

import (
	"testing"
	"unicode/utf8"
)

// FuzzRender feeds arbitrary subjects and bodies — bidi controls,
// zero-width and supplementary-plane characters, invalid UTF-8 — through
// sanitizing and layout. The renderer must never fail or panic on text:
// whatever a sender writes, the letter prints. Inputs are bounded so each
// run stays a one-to-three-page letter.
func FuzzRender(f *testing.F) {
	for _, seed := range [][2]string{
		{"Тема", "Тэкст з і і ў."},
		{"evil\u202Egnp.exe", "a\u200bb\u200dc\ufeffd\u2066e\u2069"},
		{"😀 𝐀", "\x00\x1b\xff\xfe\r\n\t\u0301\u0306"},
		{"", "\n\n\n"},
		{"ё\u0308", "й\u0306 i\u0307"},
		{"long", "слово" + string(make([]byte, 300))},
	} {
		f.Add(seed[0], seed[1])
	}
	r := newRenderer(f)
	f.Fuzz(func(t *testing.T, subject, body string) {
		if len(subject) > 512 {
			subject = subject[:512]
		}
		if len(body) > 4096 {
			body = body[:4096]
		}
		l := letterWith()
		l.Subject, l.Body = subject, body
		res, err := r.Render(l)
		if err != nil {
			t.Fatalf("Render(%q, %q): %v", subject, body, err)
		}
		if res.Pages < 1 || len(res.PDF) == 0 || !utf8.ValidString(res.SHA256) {
			t.Fatalf("empty result for %q, %q", subject, body)
		}
	})
}
