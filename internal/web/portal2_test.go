package web

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

// TestGoKeysTranslated: the texts handlers pick in Go (error explanations,
// notices, receipt labels) are in the catalogue, as the templates' are.
func TestGoKeysTranslated(t *testing.T) {
	for code, key := range errorKeys {
		if _, ok := allTexts[key]; !ok {
			t.Errorf("error code %s: %q is not in the catalogue", code, key)
		}
	}
	for done, key := range mailboxDone {
		if _, ok := allTexts[key]; !ok {
			t.Errorf("notice %s: %q is not in the catalogue", done, key)
		}
	}
	res := []*regexp.Regexp{
		regexp.MustCompile(`\.T\("([^"]+)"[,)]`), // a whole key, not a prefix ("job." + state)
		regexp.MustCompile(`fail\([^,]+, "([^"]+)"`),
		regexp.MustCompile(`page\.Error = "([^"]+)"`),
		regexp.MustCompile(`errorKey\(err, "([^"]+)"`),
		regexp.MustCompile(`errorPage\([^,]+, [^,]+, [^,]+, "([^"]+)"`),
	}
	files, _ := filepath.Glob("*.go")
	n := 0
	for _, f := range files {
		if matched, _ := filepath.Match("*_test.go", f); matched {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range res {
			for _, m := range re.FindAllStringSubmatch(string(data), -1) {
				n++
				if _, ok := allTexts[m[1]]; !ok && !regexp.MustCompile(`^(state|event)\.$`).MatchString(m[1]) {
					t.Errorf("%s: %q is not in the catalogue", f, m[1])
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("found only %d keys in Go: the patterns no longer match the code", n)
	}
}

func TestParseDay(t *testing.T) {
	for _, tc := range []struct {
		in   string
		end  bool
		want time.Time
		ok   bool
	}{
		{"", false, time.Time{}, true},
		{"2026-03-01", false, time.Date(2026, 3, 1, 0, 0, 0, 0, minsk), true},
		{"2026-03-01", true, time.Date(2026, 3, 2, 0, 0, 0, 0, minsk), true},
		{"2026-02-30", false, time.Time{}, false},
		{"01.03.2026", false, time.Time{}, false},
		{"1999-12-31", false, time.Time{}, false},
	} {
		_, got, ok := parseDay(tc.in, tc.end)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseDay(%q, %v) = %v, %v; want %v, %v", tc.in, tc.end, got, ok, tc.want, tc.ok)
		}
	}
}

// TestRecallOf: the page offers the button exactly when the service's rule
// allows a recall, and explains the refusal otherwise.
func TestRecallOf(t *testing.T) {
	for _, st := range mailbox.States {
		v := mailbox.LetterView{Folder: "sent", State: st}
		info := recallOf(v)
		allowed := mailbox.RecallRefusal(st) == nil
		if info == nil || info.Allowed != allowed || !allowed && info.Why == "" {
			t.Errorf("%s: %+v, service allows %v", st, info, allowed)
		}
		v.Folder = "inbox"
		if recallOf(v) != nil {
			t.Errorf("%s: a recipient is offered a recall", st)
		}
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"220030, г. Минск,\r\nул. Энгельса, 6": "220030, г. Минск, ул. Энгельса, 6",
		"220030\nМинск\n\n ул. Энгельса 6 ":    "220030, Минск, ул. Энгельса 6",
		"одна строка":                          "одна строка",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
