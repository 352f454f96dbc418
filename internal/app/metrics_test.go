package app_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// scrape is one /metrics exposition, sample by sample.
type scrape struct {
	body    string
	samples map[string]float64 // `name{labels}` as exposed → value
}

func parseScrape(t *testing.T, body string) scrape {
	t.Helper()
	s := scrape{body: body, samples: map[string]float64{}}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		s.samples[line[:i]] = v
	}
	return s
}

// value is the sample of name with labels given in the order the exposition
// writes them (sorted by label name), e.g. `channel="api",route="print"`.
func (s scrape) value(name, labels string) (float64, bool) {
	key := name
	if labels != "" {
		key += "{" + labels + "}"
	}
	v, ok := s.samples[key]
	return v, ok
}

// family reports whether a metric family of that name is exposed (with
// HELP and TYPE lines).
func (s scrape) family(name string) bool {
	return strings.Contains(s.body, "\n# TYPE "+name+" ") || strings.HasPrefix(s.body, "# HELP "+name+" ")
}

// TestMetrics sends letters over HTTP and SMTP, has some refused, leases a
// print job and takes it over after its lease expires, then scrapes
// /metrics as the operator: every npes metric is there with the values
// those steps produce, and the exposition passes the linter of `promtool
// check metrics`.
func TestMetrics(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(*testing.T) string{
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
		"sqlite":   func(t *testing.T) string { return "" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testMetrics(t, setup(t, url(t)))
		})
	}
}

func testMetrics(t *testing.T, b *bundle) {
	p := newSMTPParties(t, b) // two activation letters queued in region 220
	gomel := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель", Regions: []string{"246"}})

	// HTTP: one letter to print, two refused (one by the core, one at the
	// edge before it).
	status, sent, data := p.org.send(map[string]any{
		"recipient": map[string]string{"name": "Сидорову Сидору Сидоровичу", "address": "246050, г. Гомель, ул. Билецкого, 10, кв. 3"},
		"subject":   "Извещение", "body": "Текст письма.",
	}, "")
	if status != 201 || sent.Route != mailbox.RoutePrint {
		t.Fatalf("send: %d %s", status, data)
	}
	if status, _, data := p.org.send(map[string]any{
		"recipient": map[string]string{"name": "Сидорову", "address": "Гомель"},
		"subject":   "Извещение", "body": "Текст письма.",
	}, ""); status != 400 || !strings.Contains(string(data), "postcode_required") {
		t.Fatalf("no postcode: %d %s", status, data)
	}
	if status, data := p.org.do("POST", "/v1/letters", strings.NewReader("{}"), "application/json", nil, nil); status != 400 || !strings.Contains(string(data), "bad_request") {
		t.Fatalf("not multipart: %d %s", status, data)
	}

	// SMTP: one letter accepted, one refused at the end of DATA.
	c := b.dialSMTP(t, &p.org.cred, true, "")
	if _, err := submit(c, p.orgAddr, p.citizenAddr, compose(p.orgAddr, "m-1@mta.example", []string{"Subject: Счёт"}, "Текст.\n")); err != nil {
		t.Fatal(err)
	}
	_, err := submit(c, p.orgAddr, p.citizenAddr, compose(p.citizenAddr, "m-2@mta.example", []string{"Subject: Счёт"}, "Текст.\n"))
	if code, msg := smtpCode(err); code != 550 {
		t.Fatalf("From of another mailbox: %d %s", code, msg)
	}
	_ = c.Quit()

	// The print centre leases the job, lets the lease expire and leases it
	// again: one expiry.
	var lease jobsReply
	gomel.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10, "lease_seconds": 60}, &lease, 200)
	if len(lease.Jobs) != 1 {
		t.Fatalf("leased %d jobs", len(lease.Jobs))
	}
	b.clock.Advance(2 * time.Minute)
	gomel.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10, "lease_seconds": 600}, &lease, 200)
	if len(lease.Jobs) != 1 {
		t.Fatalf("re-leased %d jobs", len(lease.Jobs))
	}

	var head mailbox.LogHead
	if err := b.srv.Store.View(t.Context(), func(tx mailbox.Tx) error {
		var err error
		head, err = tx.GetLogHead(t.Context())
		return err
	}); err != nil {
		t.Fatal(err)
	}

	status, body := b.operator(t).do("GET", "/metrics", nil, "", nil, nil)
	if status != 200 {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	s := parseScrape(t, string(body))
	for _, name := range app.MetricNames {
		if !s.family(name) {
			t.Errorf("%s is not exposed", name)
		}
	}
	exact := []struct {
		name, labels string
		want         float64
	}{
		{"npes_letters_accepted_total", `channel="api",route="print"`, 1},
		{"npes_letters_accepted_total", `channel="smtp",route="electronic"`, 1},
		{"npes_submissions_refused_total", `reason="postcode_required"`, 1},
		{"npes_submissions_refused_total", `reason="bad_request"`, 1},
		{"npes_submissions_refused_total", `reason="sender_not_allowed"`, 1},
		// Two transactions: MAIL, RCPT and DATA, then MAIL and RCPT.
		{"npes_smtp_replies_total", `code="250"`, 5},
		{"npes_smtp_replies_total", `code="550"`, 1},
		{"npes_lease_expiries_total", "", 1},
		{"npes_log_size", "", float64(head.Size)},
		{"npes_print_jobs", `region="246",state="leased"`, 1},
		{"npes_print_jobs", `region="220",state="queued"`, 2},
	}
	for _, e := range exact {
		if got, ok := s.value(e.name, e.labels); !ok || got != e.want {
			t.Errorf("%s{%s} = %v (present %v), want %v", e.name, e.labels, got, ok, e.want)
		}
	}
	// The activation letters were queued two minutes before, by the
	// server's clock (stored to the microsecond).
	if v, _ := s.value("npes_print_oldest_queued_seconds", ""); v < 120 || v >= 120.000001 {
		t.Errorf("npes_print_oldest_queued_seconds = %v, want 120", v)
	}
	// Two letters, each with two evidence envelopes, at least: every one
	// sealed and committed in some batch.
	batches, _ := s.value("npes_commit_batch_size_count", "")
	items, _ := s.value("npes_commit_batch_size_sum", "")
	commits, _ := s.value("npes_commit_duration_seconds_count", "")
	seals, _ := s.value("npes_seal_duration_seconds_count", "")
	if batches < 1 || items < 2 || commits != batches || seals < 4 || head.Size < 4 {
		t.Errorf("batches %v, items %v, commits %v, seals %v, log size %d", batches, items, commits, seals, head.Size)
	}
	// One process appending alone: after its first append every
	// prediction of the log index holds.
	if hits, _ := s.value("npes_log_predictions_total", `result="hit"`); hits < 1 {
		t.Errorf("npes_log_predictions_total{result=\"hit\"} = %v, want at least 1", hits)
	}
	if misses, ok := s.value("npes_log_predictions_total", `result="miss"`); ok && misses != 0 {
		t.Errorf("npes_log_predictions_total{result=\"miss\"} = %v with one process", misses)
	}
	if v, ok := s.value("npes_revocation_set_age_seconds", ""); !ok || v < 0 {
		t.Errorf("npes_revocation_set_age_seconds = %v %v", v, ok)
	}
	if v, ok := s.value("npes_db_pool_in_use", ""); !ok || v < 0 {
		t.Errorf("npes_db_pool_in_use = %v %v", v, ok)
	}

	problems, err := promlint.New(strings.NewReader(string(body))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	checkDashboard(t, s)
	if t.Failed() {
		t.Logf("exposition:\n%s", grepLines(string(body), "npes_"))
	}
}

// metricRef finds metric names in PromQL: the server's own and the Go
// runtime's and process's.
var metricRef = regexp.MustCompile(`\b(?:npes|go|process)_[a-z0-9_]+`)

// checkDashboard: deploy/grafana-dashboard.json is valid JSON, every
// expression in it names only metrics this server exposes (a histogram's
// _bucket, _sum and _count series included), and it uses every npes metric.
func checkDashboard(t *testing.T, s scrape) {
	t.Helper()
	data, err := os.ReadFile("../../deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("deploy/grafana-dashboard.json: %v", err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if e, ok := x.(string); ok && k == "expr" {
					exprs = append(exprs, e)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	if len(exprs) == 0 {
		t.Fatal("the dashboard has no expressions")
	}
	used := map[string]bool{}
	for _, e := range exprs {
		refs := metricRef.FindAllString(e, -1)
		if len(refs) == 0 {
			t.Errorf("dashboard expression %q names no metric", e)
		}
		for _, name := range refs {
			family := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && s.family(base) {
					family = base
				}
			}
			if !s.family(family) {
				t.Errorf("dashboard expression %q names %s, which /metrics does not expose", e, name)
			}
			used[family] = true
		}
	}
	for _, name := range app.MetricNames {
		if !used[name] {
			t.Errorf("the dashboard does not use %s", name)
		}
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return fmt.Sprint(strings.Join(out, "\n"))
}
