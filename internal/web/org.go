package web

import (
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"
	"sync"
	"time"

	"github.com/npes/npes/certs"
)

// The organization console: pages under /org/… for sessions whose
// certificate has the role org (issue 19). Everyone else, persons
// included, gets the portal's 404 for every /org route: nothing of the
// console exists for them.
type orgConsole struct {
	p *Portal
	// held keeps what a sender checked or previewed (a compose draft with
	// its attachments, a parsed mail merge) until they send it.
	held *heldStore
}

// orgPages are the console's templates, each parsed with the shared layout.
var orgPages = []string{"org_compose", "org_merge", "org_preview", "org_batch", "org_letters"}

// orgRoutes registers the console. It is called by New after the portal's
// own templates are parsed.
func (p *Portal) orgRoutes(post func(pattern string, h http.HandlerFunc)) error {
	for _, name := range orgPages {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/org_common.html", "templates/"+name+".html")
		if err != nil {
			return err
		}
		p.tmpl[name] = t
	}
	o := &orgConsole{p: p, held: newHeldStore(heldLimit, 2*p.Service.Limits().MaxBatchBytes, p.now)}
	get := func(pattern string, h http.HandlerFunc) { p.mux.HandleFunc("GET "+pattern, o.only(h)) }
	postOrg := func(pattern string, h http.HandlerFunc) { post(pattern, o.only(h)) }
	get("/org", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/org/letters", http.StatusSeeOther) })
	get("/org/compose", o.composeForm)
	postOrg("/org/compose", o.composePost)
	get("/org/merge", o.mergeForm)
	postOrg("/org/merge", o.mergePreview)
	postOrg("/org/merge/send", o.mergeSend)
	get("/org/merge/{id}", o.batchPage)
	get("/org/merge/{id}/report.csv", o.batchReport)
	get("/org/letters", o.letters)
	get("/org/letters.csv", o.lettersCSV)
	return nil
}

// only lets live org sessions through; anyone else, signed in or not,
// sees the portal's 404, exactly as for a page that does not exist: the
// console's routes are not revealed even by a redirect to sign in.
func (o *orgConsole) only(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := o.p.session(r)
		if err != nil {
			o.p.serverError(w, r, err)
			return
		}
		if s == nil || s.Identity.Role != certs.RoleOrg {
			o.p.notFound(w, r)
			return
		}
		next(w, r.WithContext(withSession(r.Context(), s)))
	}
}

// heldLimit bounds how many checked drafts and previewed merges the
// console keeps at once; heldTTL how long one waits to be sent.
const (
	heldLimit = 64
	heldTTL   = 30 * time.Minute
)

// heldItem is something a sender checked and may now send: only its owner
// (the identity that checked it) can use it.
type heldItem struct {
	owner   string
	size    int64
	expires time.Time
	value   any
	// closeFn frees what the value holds (a draft's staged files).
	closeFn func()
}

// heldStore is a bounded in-process store of held items. A server with
// several nodes sends a held item only from the node that holds it; a
// sender sent to another node is asked to check again (the token is
// unknown there), which loses nothing.
type heldStore struct {
	mu       sync.Mutex
	items    map[string]*heldItem
	order    []string // oldest first
	max      int
	maxBytes int64
	bytes    int64
	now      func() time.Time
}

func newHeldStore(max int, maxBytes int64, now func() time.Time) *heldStore {
	return &heldStore{items: map[string]*heldItem{}, max: max, maxBytes: maxBytes, now: now}
}

// put holds v for owner and returns its token; the oldest items make room.
func (h *heldStore) put(owner string, size int64, v any, closeFn func()) string {
	b := make([]byte, 18)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expireLocked()
	for len(h.order) > 0 && (len(h.items) >= h.max || h.bytes+size > h.maxBytes) {
		h.dropLocked(h.order[0])
	}
	h.items[token] = &heldItem{owner: owner, size: size, expires: h.now().Add(heldTTL), value: v, closeFn: closeFn}
	h.order = append(h.order, token)
	h.bytes += size
	return token
}

// get returns owner's item named by token, or nil.
func (h *heldStore) get(owner, token string) any {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expireLocked()
	it := h.items[token]
	if it == nil || it.owner != owner {
		return nil
	}
	return it.value
}

func (h *heldStore) expireLocked() {
	now := h.now()
	for len(h.order) > 0 {
		it := h.items[h.order[0]]
		if it != nil && now.Before(it.expires) {
			return
		}
		h.dropLocked(h.order[0])
	}
}

func (h *heldStore) dropLocked(token string) {
	if it := h.items[token]; it != nil {
		if it.closeFn != nil {
			it.closeFn()
		}
		h.bytes -= it.size
		delete(h.items, token)
	}
	for i, t := range h.order {
		if t == token {
			h.order = append(h.order[:i], h.order[i+1:]...)
			break
		}
	}
}
