package reliability_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

// principal is one caller of the matrix.
type principal struct {
	name string
	p    *party
	role string // person, org, printcenter, operator or none
}

// target is one concrete request on an object, and who may succeed.
type target struct {
	object string
	path   string
	owners []string // principal names for which success is legitimate
	// mutating routes are not sent as their owners: the owners' own
	// requests would change the objects the rest of the matrix probes
	// (other tests cover them succeeding).
	mutating bool
	// conflict names the principals for which 409 is the right refusal: a
	// print centre of the same region presenting a lease that is not its
	// own is told the lease is stale.
	conflict []string
	body     func(pr principal) (io.Reader, string)
	hdr      map[string]string
}

// openAPIRoutes reads "METHOD /path" for every operation of openapi.yaml.
func openAPIRoutes(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for p, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" {
				continue
			}
			out = append(out, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(out)
	return out
}

func jsonBody(v any) func(principal) (io.Reader, string) {
	return func(principal) (io.Reader, string) {
		b, _ := json.Marshal(v)
		return bytes.NewReader(b), "application/json"
	}
}

// accessFixture is a server with two parties of every role and letters,
// mailboxes and print jobs that belong to some of them.
type accessFixture struct {
	d          *deployment
	base       string
	principals []principal
	by         map[string]*party

	letter      mailbox.LetterView // registered, electronic, orgA → personA, accepted
	printed     sent               // orgA → Gomel, print route; job leased by pcGomel
	posted      sent               // orgA → Gomel, print route; job posted by pcGomel
	leasedJob   printJob
	postedJob   printJob
	batch       string // orgA's letter batch (one line, not a letter)
	mailboxA    string // personA's active mailbox
	pendingB    string // personB's second mailbox, pending
	secrets     []string
	printSecret []string
}

func newAccessFixture(t *testing.T) *accessFixture {
	t.Helper()
	d, _, base := inProcess(t, "", nil)
	f := &accessFixture{d: d, base: base, by: map[string]*party{}}
	add := func(name, role string, p *party) {
		f.principals = append(f.principals, principal{name: name, p: p, role: role})
		f.by[name] = p
	}
	add("orgA", "org", d.party(t, orgReq))
	add("orgB", "org", d.party(t, org2Req))
	add("personA", "person", d.party(t, citizenReq))
	add("personB", "person", d.party(t, citizen2Req))
	add("twinA", "person", d.party(t, citizenReq)) // same name and personal number, another key
	add("pcGomel", "printcenter", d.party(t, gomelPCReq))
	add("pcGomel2", "printcenter", d.party(t, gomelPC2Req))
	add("pcMinsk", "printcenter", d.party(t, minskPCReq))
	add("operator", "operator", d.operator(t))
	add("none", "none", d.anonymous(t))

	f.by["orgA"].registerActive(t, base, orgAddress)
	f.by["orgB"].registerActive(t, base, org2Address)
	f.mailboxA = f.by["personA"].registerActive(t, base, citizenAddress)
	f.by["personB"].registerActive(t, base, citizen2Address)
	var m struct{ ID string }
	f.by["personB"].must(t, "POST", base+"/v1/mailboxes", map[string]string{"address": "220004, г. Минск, ул. Немига, 3, кв. 9"}, &m, 201)
	f.pendingB = m.ID

	// The registered letter, accepted by its recipient.
	f.secrets = []string{"Тайна переписки", "Совершенно секретный текст", "вложение-секрет", "Содержимое вложения 7f3a",
		"д. 8, кв. 5", "Иванову Ивану"}
	s := f.by["orgA"].mustSend(t, base, map[string]any{
		"recipient":  map[string]string{"name": "Иванову Ивану Ивановичу", "address": citizenAddress},
		"registered": true, "subject": "Тайна переписки", "body": "Совершенно секретный текст",
	}, attachment{name: "вложение-секрет.txt", ctype: "text/plain", data: []byte("Содержимое вложения 7f3a")})
	var v mailbox.LetterView
	f.by["personA"].must(t, "GET", base+"/v1/letters/"+s.ID, nil, &v, 200)
	jws := signStatement(t, f.by["personA"].cred, mailbox.NewStatement(v, mailbox.DecisionAccept, "", time.Now()))
	f.by["personA"].must(t, "POST", base+"/v1/letters/"+s.ID+"/accept", map[string]string{"jws": jws}, &f.letter, 200)

	// Two printed letters: one leased, one posted by pcGomel.
	f.printSecret = []string{"Печатная тайна", "Печатный секретный текст", "Сидорову Семёну", "Билецкого", "печать-секрет"}
	for i, dst := range []*sent{&f.printed, &f.posted} {
		*dst = f.by["orgA"].mustSend(t, base, map[string]any{
			"recipient":  map[string]string{"name": "Сидорову Семёну Семёновичу", "address": printAddress},
			"registered": true, "subject": fmt.Sprintf("Печатная тайна %d", i), "body": "Печатный секретный текст",
		}, attachment{name: "печать-секрет.txt", ctype: "text/plain", data: []byte("Печатное приложение")})
	}
	var leased struct{ Jobs []printJob }
	f.by["pcGomel"].must(t, "POST", base+"/v1/print/leases", map[string]int{"max": 10, "lease_seconds": 3600}, &leased, 200)
	if len(leased.Jobs) != 2 {
		t.Fatalf("leased %d jobs, want 2", len(leased.Jobs))
	}
	for _, j := range leased.Jobs {
		if j.LetterID == f.posted.ID {
			f.postedJob = j
		} else {
			f.leasedJob = j
		}
	}
	for _, step := range []string{"printed", "posted"} {
		f.by["pcGomel"].must(t, "POST", base+"/v1/print/jobs/"+f.postedJob.ID+"/"+step, map[string]any{"lease_token": f.postedJob.LeaseToken, "sheets": f.postedJob.Sheets}, nil, 200)
	}

	// A batch of orgA's whose one line is not a letter: an object to own
	// that sends nothing.
	form, ct := batchForm(`{"recipient":`)
	r, err := f.by["orgA"].call(t.Context(), "POST", base+"/v1/letter-batches", bytes.NewReader(form), ct, nil)
	if err != nil || r.status != 202 {
		t.Fatalf("batch: %v %d %s", err, r.status, r.body)
	}
	var batch struct{ ID string }
	if err := json.Unmarshal(r.body, &batch); err != nil || batch.ID == "" {
		t.Fatalf("batch reply %s: %v", r.body, err)
	}
	f.batch = batch.ID
	return f
}

// targets returns the concrete requests for one route of openapi.yaml;
// ok is false for a route the matrix does not know (the test then fails,
// so a new route cannot go unchecked).
func (f *accessFixture) targets(t *testing.T, route string) (ts []target, collection bool, ok bool) {
	t.Helper()
	method, path, _ := strings.Cut(route, " ")
	_ = method
	letters := []struct {
		obj    string
		id     string
		owners []string
	}{
		{"registered letter", f.letter.ID, []string{"orgA", "personA"}},
		{"printed letter", f.printed.ID, []string{"orgA"}},
	}
	jobs := []struct {
		obj string
		j   printJob
	}{{"leased job", f.leasedJob}, {"posted job", f.postedJob}}
	letterTargets := func(suffix string, owners func([]string) []string, body func(id string) func(principal) (io.Reader, string)) []target {
		var out []target
		for _, l := range letters {
			tg := target{object: l.obj, path: "/v1/letters/" + l.id + suffix, owners: owners(l.owners)}
			if body != nil {
				tg.body = body(l.id)
			}
			out = append(out, tg)
		}
		return out
	}
	same := func(o []string) []string { return o }
	// recipientOf(true) keeps a letter's recipient, (false) its sender.
	recipientOf := func(keep bool) func([]string) []string {
		return func(o []string) []string {
			return slices.DeleteFunc(slices.Clone(o), func(n string) bool { return (n == "orgA") == keep })
		}
	}
	// Only the recipient decides (the sender is refused too).
	recipient := recipientOf(true)
	decision := func(decision string) func(id string) func(principal) (io.Reader, string) {
		return func(id string) func(principal) (io.Reader, string) {
			return func(pr principal) (io.Reader, string) {
				if pr.p == nil || pr.p.cred.Cert == nil {
					return strings.NewReader(`{"jws":"x.y.z"}`), "application/json"
				}
				// A statement for this letter, signed by the caller's own key:
				// what an attacker can make.
				st := mailbox.Statement{V: 1, Decision: decision, Letter: id, Notification: f.letter.Notification,
					ContentSHA256: f.letter.ContentSHA256, Time: time.Now().UTC().Truncate(time.Second)}
				b, _ := json.Marshal(map[string]string{"jws": signStatement(t, pr.p.cred, st)})
				return bytes.NewReader(b), "application/json"
			}
		}
	}
	jobTargets := func(suffix string, body func(j printJob) func(principal) (io.Reader, string), hdr func(j printJob) map[string]string) []target {
		var out []target
		for _, j := range jobs {
			tg := target{object: j.obj, path: "/v1/print/jobs/" + j.j.ID + suffix, owners: []string{"pcGomel"}, conflict: []string{"pcGomel2"}}
			if body != nil {
				tg.body = body(j.j)
			}
			if hdr != nil {
				tg.hdr = hdr(j.j)
			}
			out = append(out, tg)
		}
		return out
	}
	// Reports carry the job's real lease token: tokens count up from 1,
	// so a competitor can always guess them.
	report := func(j printJob) func(principal) (io.Reader, string) {
		return jsonBody(map[string]any{"lease_token": j.LeaseToken, "reason": "paper jam", "sheets": j.Sheets})
	}
	mailboxTargets := func(suffix string, body func(principal) (io.Reader, string)) []target {
		return []target{{object: "personA's mailbox", path: "/v1/mailboxes/" + f.mailboxA + suffix, owners: []string{"personA"}, body: body}}
	}
	mutating := func(ts []target) []target {
		for i := range ts {
			ts[i].mutating = true
		}
		return ts
	}
	switch path {
	case "/v1/letters/{id}", "/v1/letters/{id}/content", "/v1/letters/{id}/evidence", "/v1/letters/{id}/bundle":
		return letterTargets(strings.TrimPrefix(path, "/v1/letters/{id}"), same, nil), false, true
	case "/v1/letters/{id}/receipt":
		// The submission receipt is the sender's alone.
		return letterTargets("/receipt", recipientOf(false), nil), false, true
	case "/v1/letters/{id}/attachments/{n}":
		return letterTargets("/attachments/1", same, nil), false, true
	case "/v1/letters/{id}/accept":
		return mutating(letterTargets("/accept", recipient, decision(mailbox.DecisionAccept))), false, true
	case "/v1/letters/{id}/refuse":
		return mutating(letterTargets("/refuse", recipient, decision(mailbox.DecisionRefuse))), false, true
	case "/v1/letters/{id}/recall":
		// Only the sender recalls (the recipient is refused too).
		return mutating(letterTargets("/recall", recipientOf(false), nil)), false, true
	case "/v1/letters/{id}/thread":
		return letterTargets("/thread", same, nil), false, true
	case "/v1/print/jobs/{id}/pdf", "/v1/print/jobs/{id}/evidence":
		// Only a leased job has a document (and its evidence) to fetch.
		return jobTargets(strings.TrimPrefix(path, "/v1/print/jobs/{id}"), nil, func(j printJob) map[string]string {
			return map[string]string{"X-Lease-Token": fmt.Sprint(j.LeaseToken)}
		})[:1], false, true
	case "/v1/print/jobs/{id}/printed", "/v1/print/jobs/{id}/failed", "/v1/print/jobs/{id}/posted":
		return mutating(jobTargets(strings.TrimPrefix(path, "/v1/print/jobs/{id}"), report, nil)), false, true
	case "/v1/print/jobs/{id}/events":
		// Physical events are reported by the centre that printed the job
		// or by an operator; another centre of the region is refused (403
		// on the posted job, 409 on the one not yet posted).
		ts := mutating(jobTargets("/events", func(printJob) func(principal) (io.Reader, string) {
			return jsonBody(map[string]any{"event": "Delivered"})
		}, nil))
		for i := range ts {
			ts[i].owners = []string{"pcGomel", "operator"}
		}
		return ts, false, true
	case "/v1/print/jobs/{id}/retry":
		// Any centre of the job's region or an operator retries a failed
		// job (these are not failed: 409 for them, and they are not sent);
		// everyone else is refused.
		ts := mutating(jobTargets("/retry", nil, nil))
		for i := range ts {
			ts[i].owners = []string{"pcGomel", "pcGomel2", "operator"}
		}
		return ts, false, true
	case "/v1/mailboxes/{id}/activate":
		return mutating(mailboxTargets("/activate", jsonBody(map[string]string{"code": "ABCD-EFGH-JKLM"}))), false, true
	case "/v1/mailboxes/{id}/activation-letter":
		return mutating(mailboxTargets("/activation-letter", nil)), false, true
	case "/v1/mailboxes/{id}/credentials":
		if method == "GET" {
			return mailboxTargets("/credentials", nil), false, true
		}
		// An attacker binding their own certificate to the victim's
		// mailbox.
		return mutating(mailboxTargets("/credentials", func(pr principal) (io.Reader, string) {
			pemCert := ""
			if pr.p != nil {
				pemCert = string(pr.p.cred.CertPEM)
			}
			b, _ := json.Marshal(map[string]string{"certificate": pemCert})
			return bytes.NewReader(b), "application/json"
		})), false, true
	case "/v1/mailboxes/{id}/credentials/{identity}":
		return mutating(mailboxTargets("/credentials/"+url.PathEscape(f.by["personA"].id.ID), nil)), false, true
	case "/v1/admin/mailboxes/{id}/verify":
		return mutating([]target{{object: "personB's pending mailbox", path: "/v1/admin/mailboxes/" + f.pendingB + "/verify", owners: []string{"operator"}}}), false, true
	case "/v1/mailboxes/recoveries":
		// Recovering personA's mailbox: refused for everyone, personA's
		// own certificates included, while personA's credential works.
		return []target{{object: "collection", path: path, body: jsonBody(map[string]string{"address": citizenAddress})}}, true, true
	case "/v1/mailboxes/recoveries/{id}/complete", "/v1/admin/recoveries/{id}/verify":
		// No recovery is pending in the fixture: nobody completes one,
		// and no role learns more than 404 (or 403 for the wrong role).
		p := strings.Replace(path, "{id}", "2f1f6a7e-8c1b-4e53-9d2a-6f0b1c3d4e5f", 1)
		return mutating([]target{{object: "a recovery", path: p, body: jsonBody(map[string]string{"code": "ABCDE-FGHJK"})}}), false, true
	case "/v1/health", "/v1/ca.pem", "/v1/crl", "/v1/keys", "/v1/log/checkpoint", "/v1/whoami", "/metrics", "/v1/mailboxes/me":
		return []target{{object: "collection", path: path}}, true, true
	case "/v1/log/proof/inclusion":
		return []target{{object: "collection", path: path + "?index=0&size=1"}}, true, true
	case "/v1/log/proof/consistency":
		return []target{{object: "collection", path: path + "?from=1&to=2"}}, true, true
	case "/v1/letters":
		if method == "GET" {
			return []target{{object: "collection", path: path + "?folder=inbox"}, {object: "collection", path: path + "?folder=sent"}}, true, true
		}
		return []target{{object: "collection", path: path, body: func(principal) (io.Reader, string) {
			b, ct := letterForm(map[string]any{"recipient": map[string]string{"name": "Петров П.П.", "address": citizen2Address}, "subject": "x", "body": "y"})
			return bytes.NewReader(b), ct
		}}}, true, true
	case "/v1/letter-batches":
		return []target{{object: "collection", path: path, body: func(principal) (io.Reader, string) {
			b, ct := batchForm(`{"recipient":{"name":"Петров П.П.","address":"` + citizen2Address + `"},"subject":"x","body":"y"}`)
			return bytes.NewReader(b), ct
		}}}, true, true
	case "/v1/letter-batches/{id}":
		return []target{{object: "orgA's batch", path: "/v1/letter-batches/" + f.batch, owners: []string{"orgA"}}}, false, true
	case "/v1/mailboxes":
		return []target{{object: "collection", path: path, body: jsonBody(map[string]string{"address": "220005, г. Минск, пр-т Независимости, 4"})}}, true, true
	case "/v1/print/leases":
		return []target{{object: "collection", path: path, body: jsonBody(map[string]int{"max": 10})}}, true, true
	case "/v1/print/reports":
		// A batch answers 200 with a result per report; a report on a job
		// someone else leased (even with its real token) must come back as
		// that report's error and change nothing. "posted" on a job still
		// leased is refused for its holder too, so the fixture stays put.
		return []target{{object: "collection", path: path, body: jsonBody(map[string]any{"reports": []map[string]any{
			{"id": f.leasedJob.ID, "lease_token": f.leasedJob.LeaseToken, "outcome": "posted"}}})}}, true, true
	case "/v1/print/manifest":
		return []target{{object: "collection", path: path + "?date=" + time.Now().In(time.FixedZone("Minsk", 3*3600)).Format("2006-01-02")}}, true, true
	}
	return nil, false, false
}

// TestAccessControlMatrix sends every route of openapi.yaml as every role —
// person, org, print centre, operator and no certificate — and as a second
// party of the same role (another mailbox, another print centre of the same
// region, a certificate with the same name and another key). Nobody but a
// letter's sender and recipient, a mailbox's holder, a job's lease holder
// and the operator (for verification) gets anything: 401 without a
// certificate, 403 or 404 otherwise, and the body never holds a letter's
// subject, body, names, address or attachment. The objects are unchanged
// afterwards. Scenario 5 of RELIABILITY.md.
func TestAccessControlMatrix(t *testing.T) {
	t.Parallel()
	f := newAccessFixture(t)
	ctx := t.Context()
	secrets := append(slices.Clone(f.secrets), f.printSecret...)
	// Who may see which letter's secrets in a collection reply.
	mayRead := map[string][]string{
		"orgA":    secrets,
		"personA": f.secrets,
		// Print centres of Gomel print the letters: the manifest and the
		// lease carry the recipient's name and address by design.
		"pcGomel":  {"Сидорову Семёну", "Билецкого"},
		"pcGomel2": {"Сидорову Семёну", "Билецкого"},
	}
	checked := 0
	for _, route := range openAPIRoutes(t) {
		ts, collection, ok := f.targets(t, route)
		if !ok {
			t.Errorf("%s: a route of openapi.yaml that the access matrix does not cover", route)
			continue
		}
		method, _, _ := strings.Cut(route, " ")
		for _, tg := range ts {
			for _, pr := range f.principals {
				if tg.mutating && slices.Contains(tg.owners, pr.name) {
					continue
				}
				var body io.Reader
				ct := ""
				if tg.body != nil {
					body, ct = tg.body(pr)
				}
				r, err := pr.p.call(ctx, method, f.base+tg.path, body, ct, tg.hdr)
				if err != nil {
					t.Fatalf("%s %s as %s: %v", method, tg.path, pr.name, err)
				}
				checked++
				where := fmt.Sprintf("%s %s (%s) as %s", method, route, tg.object, pr.name)
				var hidden []string
				for _, s := range secrets {
					if !slices.Contains(mayRead[pr.name], s) {
						hidden = append(hidden, s)
					}
				}
				if !collection && !slices.Contains(tg.owners, pr.name) {
					hidden = secrets
					if slices.Contains(tg.owners, "orgA") && pr.name == "personA" {
						hidden = f.printSecret // the recipient of the other letter
					}
				}
				if s, leak := containsAny(r.body, hidden); leak {
					t.Errorf("%s: %d, the body holds %q", where, r.status, s)
				}
				if h := r.header.Get("Content-Disposition"); h != "" {
					if s, leak := containsAny([]byte(h), hidden); leak {
						t.Errorf("%s: Content-Disposition holds %q", where, s)
					}
				}
				if collection {
					if r.status >= 500 {
						t.Errorf("%s: %d %s", where, r.status, r.body)
					}
					continue
				}
				owner := slices.Contains(tg.owners, pr.name)
				refused := r.status == 403 || r.status == 404 || (r.status == 409 && slices.Contains(tg.conflict, pr.name))
				switch {
				case pr.role == "none" && r.status != 401:
					t.Errorf("%s: %d %s, want 401", where, r.status, r.body)
				case owner && r.status/100 != 2:
					t.Errorf("%s: the owner gets %d %s", where, r.status, r.body)
				case !owner && pr.role != "none" && !refused:
					t.Errorf("%s: %d %s, want 403 or 404", where, r.status, r.body)
				}
			}
		}
	}
	t.Logf("%d requests checked", checked)

	// Nothing changed: the letter is accepted once, the leased job is
	// still leased, personA's mailbox has one credential, the pending
	// mailbox was verified only by the operator's own request.
	var v mailbox.LetterView
	f.by["orgA"].must(t, "GET", f.base+"/v1/letters/"+f.letter.ID, nil, &v, 200)
	if v.State != mailbox.StateAccepted || len(v.Evidence) != len(f.letter.Evidence) {
		t.Errorf("registered letter changed: %s with %d evidence (was %d)", v.State, len(v.Evidence), len(f.letter.Evidence))
	}
	f.by["orgA"].must(t, "GET", f.base+"/v1/letters/"+f.printed.ID, nil, &v, 200)
	if v.State != mailbox.StatePrintQueued {
		t.Errorf("the leased job's letter is %s: someone reported on another centre's lease", v.State)
	}
	var creds struct{ Credentials []struct{ Identity string } }
	f.by["personA"].must(t, "GET", f.base+"/v1/mailboxes/"+f.mailboxA+"/credentials", nil, &creds, 200)
	if len(creds.Credentials) != 1 {
		t.Errorf("personA's mailbox has credentials %v", creds.Credentials)
	}
}

// TestIDsNotEnumerable checks that letters, mailboxes and print jobs are
// named by random (version 4) UUIDs, and that an object that exists but is
// not the caller's is answered exactly like an absent or malformed id, so
// ids can be neither guessed nor probed. Scenario 5 of RELIABILITY.md.
func TestIDsNotEnumerable(t *testing.T) {
	t.Parallel()
	f := newAccessFixture(t)
	for name, id := range map[string]string{"letter": f.letter.ID, "printed letter": f.printed.ID, "mailbox": f.mailboxA,
		"job": f.leasedJob.ID, "evidence": f.letter.Evidence[0].ID} {
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 || u.String() != id {
			t.Errorf("%s id %q is not a canonical random UUID", name, id)
		}
	}
	absent := uuid.NewString()
	cases := []struct {
		who     string
		pattern string // %s is the id
		real    string
		hdr     map[string]string
	}{
		{"orgB", "/v1/letters/%s", f.letter.ID, nil},
		{"personB", "/v1/letters/%s/content", f.letter.ID, nil},
		{"operator", "/v1/letters/%s/bundle", f.letter.ID, nil},
		{"pcGomel", "/v1/letters/%s/evidence", f.printed.ID, nil},
		{"orgB", "/v1/letters/%s/attachments/1", f.letter.ID, nil},
		{"twinA", "/v1/mailboxes/%s/credentials", f.mailboxA, nil},
		{"pcMinsk", "/v1/print/jobs/%s/pdf", f.leasedJob.ID, map[string]string{"X-Lease-Token": fmt.Sprint(f.leasedJob.LeaseToken)}},
	}
	for _, c := range cases {
		p := f.by[c.who]
		ids := []string{c.real, absent, "1", "..%2f..%2fetc%2fpasswd", strings.ToUpper(c.real), c.real + "0", "' OR '1'='1"}
		var first reply
		for i, id := range ids {
			r, err := p.call(t.Context(), "GET", f.base+fmt.Sprintf(c.pattern, id), nil, "", c.hdr)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = r
				if r.status != 404 {
					t.Errorf("%s %s on another's object: %d %s, want 404", c.who, c.pattern, r.status, r.body)
				}
				continue
			}
			if r.status != first.status || !bytes.Equal(r.body, first.body) {
				t.Errorf("%s %s: id %q answers %d %s, another's existing object %d %s: the difference tells them apart",
					c.who, c.pattern, id, r.status, r.body, first.status, first.body)
			}
		}
	}
}

// TestRecipientSignatures refuses acceptances that are not the
// recipient's own, fresh signature over this letter: a credential of the
// same person that is not bound to the mailbox, another person's bound
// credential, a statement for another letter, or with another
// notification or content digest, a refusal presented as an acceptance, a
// statement replayed on a second letter, and an acceptance replayed after
// it was recorded. Scenario 5 of RELIABILITY.md.
func TestRecipientSignatures(t *testing.T) {
	t.Parallel()
	f := newAccessFixture(t)
	org, personA := f.by["orgA"], f.by["personA"]
	newLetter := func() mailbox.LetterView {
		s := org.mustSend(t, f.base, map[string]any{
			"recipient":  map[string]string{"name": "Иванову Ивану Ивановичу", "address": citizenAddress},
			"registered": true, "subject": "Заказное", "body": "Текст"})
		var v mailbox.LetterView
		personA.must(t, "GET", f.base+"/v1/letters/"+s.ID, nil, &v, 200)
		return v
	}
	first, second := newLetter(), newLetter()
	stmt := func(v mailbox.LetterView, decision string) mailbox.Statement {
		return mailbox.NewStatement(v, decision, "", time.Now())
	}
	accept := func(id string, jws string) reply {
		b, _ := json.Marshal(map[string]string{"jws": jws})
		r, err := personA.call(t.Context(), "POST", f.base+"/v1/letters/"+id+"/accept", bytes.NewReader(b), "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	wrongNotification := stmt(first, mailbox.DecisionAccept)
	wrongNotification.Notification = second.Notification
	wrongContent := stmt(first, mailbox.DecisionAccept)
	wrongContent.ContentSHA256 = strings.Repeat("0", 64)
	cases := []struct {
		name   string
		cred   certs.Credential
		st     mailbox.Statement
		status int
		code   string
	}{
		{"unbound credential of the same person", f.by["twinA"].cred, stmt(first, mailbox.DecisionAccept), 403, "signer_not_bound"},
		{"another person's bound credential", f.by["personB"].cred, stmt(first, mailbox.DecisionAccept), 403, "signer_not_bound"},
		{"statement for another letter", personA.cred, stmt(second, mailbox.DecisionAccept), 400, "bad_signature"},
		{"another notification", personA.cred, wrongNotification, 400, "bad_signature"},
		{"another content digest", personA.cred, wrongContent, 400, "bad_signature"},
		{"refusal presented as acceptance", personA.cred, stmt(first, mailbox.DecisionRefuse), 400, "bad_statement"},
	}
	for _, c := range cases {
		r := accept(first.ID, signStatement(t, c.cred, c.st))
		if r.status != c.status || errorCode(r.body) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
		}
	}
	good := signStatement(t, personA.cred, stmt(first, mailbox.DecisionAccept))
	if r := accept(first.ID, good); r.status != 200 {
		t.Fatalf("the recipient's own acceptance: %d %s", r.status, r.body)
	}
	if r := accept(first.ID, good); r.status != 409 {
		t.Errorf("acceptance replayed on the same letter: %d %s, want 409", r.status, r.body)
	}
	if r := accept(second.ID, good); r.status != 400 {
		t.Errorf("acceptance replayed on another letter: %d %s, want 400", r.status, r.body)
	}
	var v mailbox.LetterView
	personA.must(t, "GET", f.base+"/v1/letters/"+second.ID, nil, &v, 200)
	if v.State != mailbox.StateAwaitingAcceptance {
		t.Errorf("the second letter is %s after the refused replays", v.State)
	}
}

// batchForm is a POST /v1/letter-batches body with these NDJSON lines.
func batchForm(lines ...string) ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormField("letters")
	_, _ = w.Write([]byte(strings.Join(lines, "\n") + "\n"))
	_ = mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}
