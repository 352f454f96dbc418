package addressing_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/npes/npes/addressing"
)

// FuzzParse checks that Parse never panics, returns either an address or an
// error wrapping ErrBadAddress, and is a pure function of its input: two
// parses give the same Address and the same match key. ParseStrict accepts
// only what Parse accepts, with nothing in Rest and the same key. Run it bounded:
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 10s ./addressing/
func FuzzParse(f *testing.F) {
	for _, s := range readTestdata(f) {
		f.Add(s)
	}
	for _, c := range parseCases {
		f.Add(c.in)
	}
	for _, g := range equivalentSpellings {
		f.Add(g[0])
	}
	f.Fuzz(func(t *testing.T, raw string) {
		a, err := addressing.Parse(raw)
		if err != nil && !errors.Is(err, addressing.ErrBadAddress) {
			t.Fatalf("Parse(%q) error %v does not wrap ErrBadAddress", raw, err)
		}
		if a.Warnings == nil {
			t.Fatalf("Parse(%q): nil Warnings", raw)
		}
		b, err2 := addressing.Parse(raw)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(a, b) {
			t.Fatalf("Parse(%q) is not deterministic: %+v / %+v", raw, a, b)
		}
		key := a.MatchKey()
		if key != b.MatchKey() {
			t.Fatalf("MatchKey(%q) is not stable", raw)
		}
		if strings.Count(key, "|") != 5 {
			t.Fatalf("MatchKey(%q) = %q: want 6 fields", raw, key)
		}
		for _, s := range append([]string{a.Postcode, a.Region, a.District, a.Selsoviet, a.SettlementType, a.Settlement,
			a.StreetType, a.Street, a.House, a.Building, a.Unit, a.Rest, key}, a.Warnings...) {
			if !utf8.ValidString(s) {
				t.Fatalf("Parse(%q): invalid UTF-8 in %q", raw, s)
			}
		}
		strict, serr := addressing.ParseStrict(raw)
		switch {
		case serr == nil && err != nil:
			t.Fatalf("ParseStrict(%q) accepted what Parse refuses: %v", raw, err)
		case serr == nil && (strict.Rest != "" || strict.MatchKey() != key):
			t.Fatalf("ParseStrict(%q) = rest %q, key %s; want no rest and key %s", raw, strict.Rest, strict.MatchKey(), key)
		case serr != nil && !errors.Is(serr, addressing.ErrBadAddress) && !errors.Is(serr, addressing.ErrInexactAddress):
			t.Fatalf("ParseStrict(%q) error %v wraps neither ErrBadAddress nor ErrInexactAddress", raw, serr)
		}
		if err == nil {
			if len(a.Lines()) == 0 {
				t.Fatalf("Parse(%q) succeeded with no envelope lines", raw)
			}
			if a.Settlement == "" && a.Postcode == "" {
				t.Fatalf("Parse(%q) succeeded without settlement and postcode", raw)
			}
		}
	})
}

// FuzzMatchPersonName checks that the name matcher never panics, is
// deterministic, and never matches a name without its surname.
func FuzzMatchPersonName(f *testing.F) {
	f.Add("Иванову Ивану Ивановичу", "Иванов Иван Иванович")
	f.Add("Иванов И.И.", "Иванов Иван Иванович")
	f.Add("ИВАНОВ Иван", "Иванов Иван Иванович")
	f.Add("Іванову Івану Іванавічу", "Иванов Иван Иванович")
	f.Add("Ivanov I.I.", "Иванов Иван Иванович")
	f.Add("Петрову-Водкину К.С.", "Петров-Водкин Кузьма Сергеевич")
	f.Add("Ковальской Марии", "Ковальская Мария Олеговна")
	f.Add("И.", "И")
	f.Add("", "")
	for _, s := range readTestdata(f) {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, written, holder string) {
		got := addressing.MatchPersonName(written, holder)
		if got != addressing.MatchPersonName(written, holder) {
			t.Fatalf("MatchPersonName(%q, %q) is not deterministic", written, holder)
		}
		if got && addressing.NameKey(written) == "" {
			t.Fatalf("MatchPersonName(%q, %q) matched an empty name", written, holder)
		}
		if k := addressing.NameKey(written); k != addressing.NameKey(written) || !utf8.ValidString(k) {
			t.Fatalf("NameKey(%q) unstable or invalid", written)
		}
		_ = addressing.MatchOrgName(written, holder)
	})
}
