package pdf_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/npes/npes/hybrid/pdf"
)

func TestSanitize(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	for _, tc := range []struct {
		name     string
		in       string
		multi    bool
		want     string
		replaced int
	}{
		{"plain", "Иванов И.И.", false, "Иванов И.И.", 0},
		{"belarusian", "Ўладзімір Іванавіч, вул. Першамайская", false, "Ўладзімір Іванавіч, вул. Першамайская", 0},
		{"single line collapses", "  ул.\tЛенина,\r\n 5  ", false, "ул. Ленина, 5", 0},
		{"multi keeps lines", "a\r\nb\rc\nd", true, "a\nb\nc\nd", 0},
		{"tab expands", "\tотступ", true, "    отступ", 0},
		{"line separator", "a\u2028b\u2029c", true, "a\nb\nc", 0},
		{"controls removed", "a\x00b\x07c\x1bd\u0085e", false, "abcd e", 0},
		{"bidi override removed", "evil\u202Egnp.exe", false, "evilgnp.exe", 0},
		{"bidi isolates and marks removed", "\u2066a\u2069\u200eb\u200f\u061cc\u202a\u202b\u202c\u202d", false, "abc", 0},
		{"zero width removed", "a\u200bb\u200cc\u200dd\u2060e\ufefff", false, "abcdef", 0},
		{"soft hyphen removed", "пере\u00adнос", false, "перенос", 0},
		{"no-break space kept", "г.\u00a0Минск", false, "г.\u00a0Минск", 0},
		{"narrow no-break space", "1\u202f000", false, "1\u00a0000", 0},
		{"thin space", "a\u2009b", false, "a b", 0},
		{"hyphens folded", "Кобрин\u2011Брест\u2010x\u2012y", false, "Кобрин-Брест-x–y", 0},
		{"decomposed й and ў composed", "И\u0306ошкар, у\u0306", false, "Йошкар, ў", 0},
		{"decomposed ё and ї composed", "е\u0308лка, і\u0308", false, "ёлка, ї", 0},
		{"latin diacritics composed", "Z\u030cilinskas, Lo\u0301dz\u0301", false, "Žilinskas, Lódź", 0},
		{"stress mark dropped", "за\u0301мок", false, "замок", 0},
		{"unknown mark replaced", "a\u0323", false, "a□", 1},
		{"emoji replaced", "ok 👍", false, "ok □", 1},
		{"supplementary plane replaced", "𝐀𐍈", false, "□□", 2},
		{"cjk replaced", "東京", false, "□□", 2},
		{"private use replaced", "\ue000", false, "□", 1},
		{"invalid utf-8 replaced", "a\xffb\xc3", false, "a□b□", 2},
		{"surrogate bytes replaced", "\xed\xa0\x80", false, "□□□", 3},
	} {
		got, n := r.Sanitize(tc.in, tc.multi)
		if got != tc.want || n != tc.replaced {
			t.Errorf("%s: Sanitize(%q) = %q, %d; want %q, %d", tc.name, tc.in, got, n, tc.want, tc.replaced)
		}
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	// Every rune is 1 unit wide.
	measure := func(rune) int { return 1 }
	for _, tc := range []struct {
		name  string
		in    string
		width float64
		want  []string
	}{
		{"fits", "один два", 10, []string{"один два"}},
		{"breaks at spaces", "один два три", 8, []string{"один два", "три"}},
		{"exact width", "abc def", 7, []string{"abc def"}},
		{"long word split", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"long word after text", "ab abcdefgh", 4, []string{"ab", "abcd", "efgh"}},
		{"paragraphs", "a\n\nb", 5, []string{"a", "", "b"}},
		{"indent kept", "  a b", 10, []string{"  a b"}},
		{"double space kept", "a  b", 10, []string{"a  b"}},
		{"no leading space on continuation", "aaa   bbb", 4, []string{"aaa", "bbb"}},
		{"trailing spaces trimmed", "a   ", 10, []string{"a"}},
		{"nbsp does not break", "г.\u00a0Минск", 4, []string{"г.\u00a0М", "инск"}},
	} {
		if got := pdf.Wrap(tc.in, tc.width, measure); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: wrap(%q, %v) = %q, want %q", tc.name, tc.in, tc.width, got, tc.want)
		}
	}
}

// TestWrapLinear holds line breaking to linear work: however the text is
// made — one word without a space, words just wider than a line, many
// short words, many paragraphs — every rune is measured a bounded number
// of times. A breaker that re-measures the rest of a long word for every
// line it cuts does quadratic work (a 1 MiB body took 30 s).
func TestWrapLinear(t *testing.T) {
	t.Parallel()
	const n = 200_000
	for _, tc := range []struct {
		name  string
		text  string
		width float64
	}{
		{"one word", strings.Repeat("ж", n), 60},
		{"narrow line", strings.Repeat("ж", n), 1},
		{"words wider than a line", strings.Repeat(strings.Repeat("w", 61)+" ", n/62), 60},
		{"short words", strings.Repeat("ab ", n/3), 60},
		{"paragraphs", strings.Repeat("слово\n", n/6), 60},
		{"double spaces", strings.Repeat("a  ", n/3), 60},
	} {
		calls := 0
		lines := pdf.Wrap(tc.text, tc.width, func(rune) int { calls++; return 1 })
		runes := utf8.RuneCountInString(tc.text)
		if calls > 3*runes+10 {
			t.Errorf("%s: %d runes measured %d times (want at most 3 per rune)", tc.name, runes, calls)
		}
		if len(lines) == 0 {
			t.Errorf("%s: no lines", tc.name)
		}
	}
}
