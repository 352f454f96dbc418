package web

import (
	"fmt"
	"net/http"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// The portal's languages: Belarusian, Russian, English. English is the
// fallback and the message keys are its texts.
var (
	langBE    = language.MustParse("be")
	langRU    = language.Russian
	langEN    = language.English
	languages = []language.Tag{langEN, langBE, langRU}
	matcher   = language.NewMatcher(languages)
	texts     = newCatalog(allTexts)
)

// catalogues are the portal's message maps (key → English, Belarusian,
// Russian): translations.go for the citizen pages, and one file per page
// group that keeps its own (translations_*.go). Add a group's map here.
var catalogues = []map[string][3]string{translations, passkeyTranslations, corgTranslations, portal2Translations, copsTranslations}

// allTexts is every catalogue merged; a key defined twice with different
// texts is a programming error.
var allTexts = mergeCatalogues(catalogues)

func mergeCatalogues(maps []map[string][3]string) map[string][3]string {
	all := make(map[string][3]string)
	for _, m := range maps {
		for k, v := range m {
			if old, ok := all[k]; ok && old != v {
				panic("web: message " + k + " translated twice differently")
			}
			all[k] = v
		}
	}
	return all
}

// langCookie remembers a ?lang= choice on the sign-in page too, where there
// is no session yet (RFC 6265bis §4.1.3.2: __Host- requires Secure, Path=/
// and no Domain).
const langCookie = "__Host-npes-lang"

// locale is one request's language: the printer of its catalogue and its
// BCP 47 tag for <html lang>.
type locale struct {
	Tag  language.Tag
	Code string
	p    *message.Printer
}

func newLocale(code string) *locale {
	tag := langEN
	switch code {
	case "be":
		tag = langBE
	case "ru":
		tag = langRU
	default:
		code = "en"
	}
	return &locale{Tag: tag, Code: code, p: message.NewPrinter(tag, message.Catalog(texts))}
}

// validLang reports whether code is one of the portal's language codes.
func validLang(code string) bool { return code == "be" || code == "ru" || code == "en" }

// negotiate picks the language of a request: an explicit ?lang=, else the
// remembered choice (session or cookie), else Accept-Language (RFC 9110
// §12.5.4) matched against the portal's languages.
func negotiate(r *http.Request, remembered string) string {
	if q := r.URL.Query().Get("lang"); validLang(q) {
		return q
	}
	if validLang(remembered) {
		return remembered
	}
	if c, err := r.Cookie(langCookie); err == nil && validLang(c.Value) {
		return c.Value
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return "en"
	}
	_, i, _ := matcher.Match(tags...)
	base, _ := languages[i].Base()
	return base.String()
}

// T translates a message key (the English text) with fmt-style arguments;
// numbers are formatted by the language's conventions.
func (l *locale) T(key string, args ...any) string { return l.p.Sprintf(key, args...) }

// Date formats a time in the language's long form, in the portal's zone
// (Belarus uses UTC+3 all year).
func (l *locale) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(minsk)
	month := l.T(monthKeys[t.Month()-1])
	if l.Code == "en" {
		return fmt.Sprintf("%d %s %d, %02d:%02d", t.Day(), month, t.Year(), t.Hour(), t.Minute())
	}
	return fmt.Sprintf("%d %s %d г., %02d:%02d", t.Day(), month, t.Year(), t.Hour(), t.Minute())
}

// ISO is the machine-readable form for <time datetime>.
func (l *locale) ISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }

var minsk = time.FixedZone("Europe/Minsk", 3*60*60)

var monthKeys = [12]string{"month.1", "month.2", "month.3", "month.4", "month.5", "month.6",
	"month.7", "month.8", "month.9", "month.10", "month.11", "month.12"}

func newCatalog(all map[string][3]string) catalog.Catalog {
	b := catalog.NewBuilder(catalog.Fallback(langEN))
	set := func(tag language.Tag, key, msg string) {
		if err := b.SetString(tag, key, msg); err != nil {
			panic(err)
		}
	}
	for key, tr := range all {
		set(langEN, key, tr[0])
		set(langBE, key, tr[1])
		set(langRU, key, tr[2])
	}
	return b
}
