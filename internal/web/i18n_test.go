package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name, url, accept, cookie, remembered, want string
	}{
		{"default", "/", "", "", "", "en"},
		{"accept be", "/", "be-BY,be;q=0.9", "", "", "be"},
		{"accept ru before en", "/", "ru;q=0.9,en;q=0.8", "", "", "ru"},
		{"accept unknown", "/", "de-DE,fr;q=0.5", "", "", "en"},
		{"accept garbage", "/", ";;;q=x", "", "", "en"},
		{"cookie over accept", "/", "ru", "be", "", "be"},
		{"session over cookie", "/", "ru", "en", "be", "be"},
		{"query over all", "/?lang=ru", "be", "en", "be", "ru"},
		{"bad query ignored", "/?lang=xx", "be", "", "", "be"},
		{"bad cookie ignored", "/", "ru", "<script>", "", "ru"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.url, nil)
			if tc.accept != "" {
				r.Header.Set("Accept-Language", tc.accept)
			}
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: langCookie, Value: tc.cookie})
			}
			if got := negotiate(r, tc.remembered); got != tc.want {
				t.Errorf("negotiate = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLocalizedDates(t *testing.T) {
	at := time.Date(2026, 12, 3, 7, 5, 0, 0, time.UTC) // 10:05 in Minsk
	for _, tc := range []struct{ lang, want string }{
		{"be", "3 снежня 2026 г., 10:05"},
		{"ru", "3 декабря 2026 г., 10:05"},
		{"en", "3 December 2026, 10:05"},
	} {
		if got := newLocale(tc.lang).Date(at); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.lang, got, tc.want)
		}
	}
}

// TestCatalogueComplete: every key has all three texts, and each
// translation keeps the key's verbs (%s, %d) in the same order.
func TestCatalogueComplete(t *testing.T) {
	for key, tr := range allTexts {
		for i, text := range tr {
			if text == "" {
				t.Errorf("%q: empty text for language %d", key, i)
			}
			if verbs(text) != verbs(tr[0]) {
				t.Errorf("%q: language %d has verbs %q, English %q", key, i, verbs(text), verbs(tr[0]))
			}
		}
	}
}

func verbs(s string) string {
	var out []byte
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '%' {
			out = append(out, s[i+1])
			i++
		}
	}
	return string(out)
}

// TestTemplateKeysTranslated: every text a template asks for is in the
// catalogue, so no page shows an untranslated English key.
func TestTemplateKeysTranslated(t *testing.T) {
	re := regexp.MustCompile(`\.T "([^"]+)"`)
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("templates: %v", err)
	}
	for _, f := range files {
		data, err := fs.ReadFile(templateFS, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(data), -1) {
			if _, ok := allTexts[m[1]]; !ok {
				t.Errorf("%s: %q is not in the catalogue", f, m[1])
			}
		}
	}
	for _, key := range monthKeys {
		if _, ok := allTexts[key]; !ok {
			t.Errorf("%s is not in the catalogue", key)
		}
	}
}

// TestStatesAndEventsTranslated: each letter state and evidence event has
// a plain-words text in the catalogue.
func TestStatesAndEventsTranslated(t *testing.T) {
	for _, st := range []string{mailbox.StateDelivered, mailbox.StateRead, mailbox.StateAwaitingAcceptance,
		mailbox.StateAccepted, mailbox.StateRefused, mailbox.StateExpired, mailbox.StatePrintQueued,
		mailbox.StatePrinted, mailbox.StatePosted, mailbox.StatePhysicallyDelivered, mailbox.StateDeliveryFailed,
		mailbox.StateReturned, mailbox.StatePrintDead} {
		if _, ok := allTexts["state."+st]; !ok {
			t.Errorf("state %s is not in the catalogue", st)
		}
	}
	for _, ev := range []signing.Event{signing.EventSubmissionAcceptance, signing.EventSubmissionRejection,
		signing.EventContentConsignment, signing.EventNotificationForAcceptance, signing.EventConsignmentAcceptance,
		signing.EventConsignmentRejection, signing.EventAcceptanceRejectionExpiry, signing.EventContentHandover,
		signing.EventContentAccessTracking, signing.EventRelayToNonERDS, signing.EventPrinted, signing.EventPosted,
		signing.EventDelivered, signing.EventDeliveryFailed, signing.EventReturnedToSender} {
		if _, ok := allTexts["event."+string(ev)]; !ok {
			t.Errorf("event %s is not in the catalogue", ev)
		}
	}
}
