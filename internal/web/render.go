package web

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"github.com/npes/npes/mailbox"
)

// pages are the templates, each parsed with the shared layout.
var pages = []string{"signin", "inbox", "letter", "verify", "mailbox", "write", "error"}

func (p *Portal) parseTemplates() error {
	p.tmpl = make(map[string]*template.Template, len(pages))
	for _, name := range pages {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return err
		}
		p.tmpl[name] = t
	}
	return nil
}

var funcs = template.FuncMap{
	"inc": func(i int) int { return i + 1 },
	// fieldCtx hands a form page and one of its field names to a
	// sub-template (the field's error message).
	"fieldCtx": func(v view, name string) fieldCtx { return fieldCtx{L: v.L, Page: v.Page, Name: name} },
	// boxCtx does the same for one form of one mailbox (or recovery).
	"boxCtx": func(v view, box, name string) fieldCtx { return fieldCtx{L: v.L, Page: v.Page, Box: box, Name: name} },
	"rowOf": func(l *locale, v mailbox.LetterView) row {
		return row{L: l, V: v, Unread: unread(v), Awaiting: awaitingMe(v)}
	},
}

type fieldCtx struct {
	L         *locale
	Page      any
	Box, Name string
}

// row is one letter of a list.
type row struct {
	L        *locale
	V        mailbox.LetterView
	Unread   bool
	Awaiting bool
}

// view is what the layout renders around a page.
type view struct {
	L       *locale
	Title   string
	Session *mailbox.WebSession
	Langs   []langLink
	Nav     string
	Page    any
}

type langLink struct {
	Code, Name, URL string
	Current         bool
}

// langNames are each language's own name (WCAG 3.1.2: marked with lang).
var langNames = [][2]string{{"be", "Беларуская"}, {"ru", "Русский"}, {"en", "English"}}

func (p *Portal) locale(w http.ResponseWriter, r *http.Request) *locale {
	remembered := ""
	if s := sessionFrom(r); s != nil {
		remembered = s.Lang
	}
	code := negotiate(r, remembered)
	if q := r.URL.Query().Get("lang"); validLang(q) {
		// Remembered for the browser, sessions or not (the sign-in page).
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
			Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	return newLocale(code)
}

func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name, titleKey string, page any) {
	l := p.locale(w, r)
	v := view{L: l, Title: l.T(titleKey), Session: sessionFrom(r), Nav: name, Page: page}
	if r.URL.Path == "/sent" {
		v.Nav = "sent"
	}
	for _, ln := range langNames {
		q := r.URL.Query()
		q.Del("ended")
		q.Set("lang", ln[0])
		u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
		v.Langs = append(v.Langs, langLink{Code: ln[0], Name: ln[1], URL: u.String(), Current: ln[0] == l.Code})
	}
	var buf bytes.Buffer
	if err := p.tmpl[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		p.Logger.ErrorContext(r.Context(), "portal template", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage shows a catalogue message (Key) or a domain error's own
// message (Raw).
type errorPage struct{ Key, Raw string }

func (p *Portal) errorPage(w http.ResponseWriter, r *http.Request, status int, msgKey string) {
	p.render(w, r, status, "error", "Error", errorPage{Key: msgKey})
}

func (p *Portal) notFound(w http.ResponseWriter, r *http.Request) {
	p.errorPage(w, r, http.StatusNotFound, "Page not found.")
}

func (p *Portal) serverError(w http.ResponseWriter, r *http.Request, err error) {
	p.Logger.ErrorContext(r.Context(), "portal request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	p.errorPage(w, r, http.StatusInternalServerError, "Something went wrong. Please try again later.")
}

// serviceError shows a domain error: a letter the caller may not see is
// "not found", as the API answers (no leak of its existence).
func (p *Portal) serviceError(w http.ResponseWriter, r *http.Request, err error) {
	var de *mailbox.Error
	switch {
	case errors.Is(err, mailbox.ErrNotFound), errors.Is(err, mailbox.ErrForbidden) && errors.As(err, &de) && de.Code == "not_your_letter":
		p.errorPage(w, r, http.StatusNotFound, "Letter not found.")
	case errors.As(err, &de):
		p.render(w, r, statusOf(err), "error", "Error", errorPage{Raw: de.Message})
	default:
		p.serverError(w, r, err)
	}
}

// statusOf is the HTTP status of a domain error, as the API answers it.
func statusOf(err error) int {
	switch {
	case errors.Is(err, mailbox.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, mailbox.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, mailbox.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, mailbox.ErrUnauthenticated):
		return http.StatusUnauthorized
	}
	return http.StatusBadRequest
}
