package app_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// formFile is a file field of a multipart form.
type formFile struct {
	field, name, ctype string
	data               []byte
}

// multipartForm builds a browser-like multipart/form-data body.
func multipartForm(t *testing.T, fields [][2]string, files ...formFile) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, f.field, f.name))
		h.Set("Content-Type", f.ctype)
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(f.data)
	}
	_ = mw.Close()
	return &buf, mw.FormDataContentType()
}

// orgRoutes are every route of the organization console, with a method.
var orgRoutes = [][2]string{
	{"GET", "/org"}, {"GET", "/org/compose"}, {"POST", "/org/compose"}, {"GET", "/org/merge"}, {"POST", "/org/merge"},
	{"POST", "/org/merge/send"}, {"GET", "/org/merge/00000000-0000-4000-8000-000000000000"},
	{"GET", "/org/merge/00000000-0000-4000-8000-000000000000/report.csv"}, {"GET", "/org/letters"},
	{"GET", "/org/letters.csv"}, {"GET", "/org/letters?state=accepted&route=print"},
}

func TestOrgConsole(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(*testing.T) string{
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
		"sqlite":   func(t *testing.T) string { return "" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testOrgConsole(t, setup(t, url(t)))
		})
	}
}

func testOrgConsole(t *testing.T, b *bundle) {
	org := b.party(t, orgReq)
	orgBox := org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	person := b.portal(t, &citizen.cred)
	person.signIn()
	anon := b.portal(t, nil)
	console := b.portal(t, &org.cred)
	console.signIn()

	t.Run("OnlyForOrganizations", func(t *testing.T) {
		for _, c := range []*portalClient{person, anon} {
			for _, rt := range orgRoutes {
				resp, body := c.request(rt[0], rt[1], strings.NewReader(""), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
				if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "nav-org") || strings.Contains(body, "subnav") ||
					strings.Contains(body, "Mail merge") || strings.Contains(body, "/static/org_") {
					t.Errorf("%s %s without an org session: %d, want 404 with nothing of the console", rt[0], rt[1], resp.StatusCode)
				}
			}
		}
		if _, body := person.do("GET", "/inbox", nil); strings.Contains(body, `href="/org`) {
			t.Error("a person's navigation links to the organization console")
		}
		if _, body := console.do("GET", "/inbox", nil); !strings.Contains(body, `href="/org/letters" id="nav-org"`) {
			t.Error("an organization's navigation has no console entry")
		}
		if resp, body := console.do("GET", "/org/compose", nil); resp.StatusCode != 200 || !strings.Contains(body, `id="check"`) {
			t.Errorf("GET /org/compose as an org: %d", resp.StatusCode)
		}
	})

	var held string
	var sent string
	t.Run("ComposeCheck", func(t *testing.T) {
		fields := [][2]string{{"key", "CCCCCCCCCCCCCCCCCCCCCC"}, {"name", citizenReq.Name},
			{"address", "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5"}, {"subject", "Уведомление"},
			{"body", "Текст уведомления."}, {"registered", "on"}, {"print_if_unsigned", "10d"}, {"action", "check"}}
		// An attachment that cannot be printed: the check refuses it even
		// though the recipient has a mailbox (Submit would send it
		// electronically), so the answer says nothing of who is registered.
		body, ct := multipartForm(t, fields, formFile{"attachment", "archive.zip", "application/zip", []byte("PK\x03\x04 not printable")})
		resp, page := console.send("POST", "/org/compose", body, ct)
		if resp.StatusCode != 200 || !strings.Contains(page, `id="parsed-address"`) || !strings.Contains(page, `id="match-key"`) ||
			!strings.Contains(page, "unprintable_attachment") && !strings.Contains(page, "cannot be printed") {
			t.Fatalf("check with an unprintable attachment: %d\n%s", resp.StatusCode, page)
		}
		if !strings.Contains(page, "Дорошевича") || !strings.Contains(page, "220013") {
			t.Error("the check does not show the parsed street and postcode")
		}
		// The check of an address with an active mailbox reads the same as
		// the check of the flat next door, where nobody has one.
		probe := func(flat string) string {
			f := append([][2]string{}, fields...)
			f[2] = [2]string{"address", "220013, г. Минск, ул. Дорошевича, д. 8, кв. " + flat}
			body, ct := multipartForm(t, f)
			_, page := console.send("POST", "/org/compose", body, ct)
			key := regexp.MustCompile(`id="match-key">([^<]*)<`).FindStringSubmatch(page)
			if key == nil {
				t.Fatalf("no match key for flat %s:\n%s", flat, page)
			}
			return strings.ReplaceAll(strings.ReplaceAll(page, key[1], "KEY"), "кв. "+flat, "кв. N")
		}
		if a, b := probe("5"), probe("6"); a != b {
			t.Errorf("the check tells a registered address from an unregistered one:\n%s\n----\n%s", a, b)
		}
		// The same letter with a printable attachment passes, and the
		// draft is held for sending.
		body, ct = multipartForm(t, fields, formFile{"attachment", "terms.txt", "text/plain", []byte("Условия договора.\n")})
		resp, page = console.send("POST", "/org/compose", body, ct)
		if resp.StatusCode != 200 || !strings.Contains(page, `id="verdict"`) || strings.Contains(page, `class="error" id="verdict"`) {
			t.Fatalf("check with a printable attachment: %d\n%s", resp.StatusCode, page)
		}
		m := regexp.MustCompile(`name="draft" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil || !strings.Contains(page, "terms.txt") {
			t.Fatalf("the checked draft is not held:\n%s", page)
		}
		held = m[1]
		// An address with a warning shows the warning.
		warnFields := append([][2]string{}, fields...)
		warnFields[2] = [2]string{"address", "210001, г. Минск, ул. Энгельса, 6"}
		body, ct = multipartForm(t, warnFields)
		if _, page = console.send("POST", "/org/compose", body, ct); !strings.Contains(page, `id="address-warnings"`) {
			t.Errorf("a postcode of another region shows no warning:\n%s", page)
		}
		// Another org session cannot use the held draft.
	})

	t.Run("ComposeSend", func(t *testing.T) {
		fields := [][2]string{{"key", "CCCCCCCCCCCCCCCCCCCCCC"}, {"draft", held}, {"name", citizenReq.Name},
			{"address", citizenAddress}, {"subject", "Уведомление"}, {"body", "Текст уведомления."},
			{"registered", "on"}, {"print_if_unsigned", "10d"}, {"action", "send"}}
		body, ct := multipartForm(t, fields)
		resp, page := console.send("POST", "/org/compose", body, ct)
		sent = strings.TrimPrefix(resp.Header.Get("Location"), "/letters/")
		if resp.StatusCode != http.StatusSeeOther || sent == "" {
			t.Fatalf("send: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
		}
		var v mailbox.LetterView
		org.mustJSON("GET", "/v1/letters/"+sent, nil, &v, 200)
		if !v.Registered || v.Attachments != 1 || v.Subject != "Уведомление" {
			t.Errorf("the letter sent from the console: %+v", v)
		}
		// A second press sends nothing new.
		body, ct = multipartForm(t, fields)
		if resp, _ := console.send("POST", "/org/compose", body, ct); resp.Header.Get("Location") != "/letters/"+sent {
			t.Errorf("a second press of Send: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		// The held draft is its checker's alone: the person's session
		// does not reach the console at all, and a bad period is refused.
		fields[8] = [2]string{"action", "send"}
		fields[7] = [2]string{"print_if_unsigned", "soon"}
		fields[0] = [2]string{"key", "DDDDDDDDDDDDDDDDDDDDDD"}
		body, ct = multipartForm(t, fields)
		if resp, page := console.send("POST", "/org/compose", body, ct); resp.StatusCode != 400 || !strings.Contains(page, `id="compose-error"`) {
			t.Errorf("a bad print-if-unsigned period: %d", resp.StatusCode)
		}
	})

	t.Run("MailMerge", func(t *testing.T) {
		csvData := "\ufeffname;address;registered;amount\n" +
			"Петров Пётр Петрович;220030, г. Минск, ул. Энгельса, 10, кв. 1;no;12,50\n" +
			"Сидорова Анна;220030, г. Минск, ул. Энгельса, 12, кв. 2;yes;8,00\n" +
			"Козлов Олег;нигде;no;1,00\n" +
			"Иванов Иван Иванович;" + citizenAddress + ";yes;30,00\n" +
			"Орлова Мария;220030, г. Минск, ул. Энгельса, 14;no;5,25\n"
		tmpl := "Subject: Счёт на {{amount}} руб.\n\nУважаемый(ая) {{name}}! К оплате {{amount}} руб.\n"
		body, ct := multipartForm(t, nil, formFile{"csv", "list.csv", "text/csv", []byte(csvData)},
			formFile{"template", "letter.txt", "text/plain", []byte(tmpl)})
		resp, page := console.send("POST", "/org/merge", body, ct)
		if resp.StatusCode != 200 || !strings.Contains(page, "Счёт на 12,50 руб.") || !strings.Contains(page, "К оплате 8,00 руб.") ||
			!strings.Contains(page, "5 rows: 4 letters ready, 1 rows with problems.") || !strings.Contains(page, "CSV line 4: bad address") {
			t.Fatalf("preview: %d\n%s", resp.StatusCode, page)
		}
		m := regexp.MustCompile(`name="merge" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no merge token in the preview")
		}
		resp, page = console.postForm("/org/merge/send", map[string][]string{"merge": {m[1]}})
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/org/merge/") {
			t.Fatalf("send the merge: %d %s\n%s", resp.StatusCode, loc, page)
		}
		// A second press is the same batch.
		if resp, _ := console.postForm("/org/merge/send", map[string][]string{"merge": {m[1]}}); resp.Header.Get("Location") != loc {
			t.Errorf("a second press of Send: %s, first %s", resp.Header.Get("Location"), loc)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			_, page = console.do("GET", loc, nil)
			if !strings.Contains(page, `data-state="running"`) {
				break
			}
			if !strings.Contains(page, `id="refresh"`) || !strings.Contains(page, "<progress") {
				t.Fatalf("a running batch's page has no progress or refresh link:\n%s", page)
			}
			if time.Now().After(deadline) {
				t.Fatal("the batch did not finish")
			}
			time.Sleep(50 * time.Millisecond)
		}
		for id, want := range map[string]string{"count-sent": "4", "count-refused": "1", "count-electronic": "1", "count-print": "3"} {
			if !strings.Contains(page, `id="`+id+`">`+want+`<`) {
				t.Errorf("report %s is not %s:\n%s", id, want, page)
			}
		}
		if !strings.Contains(page, "<td>4</td>") || !strings.Contains(page, "bad_address") {
			t.Errorf("the refused CSV line 4 and its reason are not in the report:\n%s", page)
		}
		resp, report := console.do("GET", loc+"/report.csv", nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("report.csv: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(report, "\ufeff"))).ReadAll()
		if err != nil || len(rows) != 6 {
			t.Fatalf("report.csv: %d rows, %v\n%s", len(rows), err, report)
		}
		refused := 0
		for _, r := range rows[1:] {
			if r[1] == "refused" {
				refused++
				if r[0] != "4" || r[5] != "bad_address" || r[6] == "" {
					t.Errorf("refused row %v", r)
				}
			} else if r[2] == "" || r[4] == "" {
				t.Errorf("sent row without letter or route: %v", r)
			}
		}
		if refused != 1 {
			t.Errorf("%d refused rows in report.csv, want 1", refused)
		}
		// Another identity cannot see the batch.
		if resp, _ := person.do("GET", loc, nil); resp.StatusCode != 404 {
			t.Errorf("a person reads the org's batch: %d", resp.StatusCode)
		}
	})

	t.Run("SentLetters", func(t *testing.T) {
		// An employee's certificate shares the organization's mailbox: the
		// list names who sent each letter.
		employeeReq := orgReq
		employeeReq.Name = "ОАО «Белтелеком», Петрова Анна"
		employee := b.party(t, employeeReq)
		org.mustJSON("POST", "/v1/mailboxes/"+orgBox+"/credentials", map[string]string{"certificate": string(employee.cred.CertPEM)}, nil, 201)
		if status, _, data := employee.send(map[string]any{"recipient": map[string]string{"name": "Орлова Мария", "address": "220030, г. Минск, ул. Энгельса, 14"},
			"subject": "Письмо сотрудника", "body": "Текст."}, ""); status != 201 {
			t.Fatalf("the employee sends: %d %s", status, data)
		}
		_, page := console.do("GET", "/org/letters", nil)
		if !strings.Contains(page, "Sent by ОАО «Белтелеком», Петрова Анна") || !strings.Contains(page, "Sent by ОАО «Белтелеком»</span>") {
			t.Errorf("the list does not name each letter's employee:\n%s", page)
		}

		resp, page := console.do("GET", "/org/letters?registered=yes&route=electronic", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("sent letters: %d", resp.StatusCode)
		}
		if !strings.Contains(page, `href="/letters/`+sent+`"`) || strings.Contains(page, "Счёт на 12,50") {
			t.Errorf("filter registered+electronic:\n%s", page)
		}
		_, page = console.do("GET", "/org/letters?route=print", nil)
		if strings.Contains(page, `href="/letters/`+sent+`"`) || !strings.Contains(page, "Счёт на 12,50") {
			t.Errorf("filter print:\n%s", page)
		}
		today := b.clock.Now().In(time.FixedZone("", 3*3600)).Format("2006-01-02")
		future := b.clock.Now().AddDate(0, 0, 3).Format("2006-01-02")
		if _, page = console.do("GET", "/org/letters?from="+future, nil); strings.Contains(page, "/letters/"+sent) {
			t.Error("a date range after the letters still lists them")
		}
		resp, data := console.do("GET", "/org/letters.csv?route=print&from="+today+"&to="+today, nil)
		rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(data, "\ufeff"))).ReadAll()
		if resp.StatusCode != 200 || err != nil || len(rows) != 5 { // 3 merged, 1 employee letter, header
			t.Fatalf("letters.csv: %d, %d rows, %v\n%s", resp.StatusCode, len(rows), err, data)
		}
		for _, r := range rows[1:] {
			if r[4] != "print" {
				t.Errorf("letters.csv row of route %s", r[4])
			}
		}
	})
}
