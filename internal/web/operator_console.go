package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/npes/npes/addressing"
	"github.com/npes/npes/certs"
	"github.com/npes/npes/hybrid"
	"github.com/npes/npes/internal/web/chart"
	"github.com/npes/npes/mailbox"
)

// The operator's console: health, the evidence log and the key figures of
// /metrics with the charts (/operator); pending address proofs and
// recoveries to verify at a counter (/operator/counter); certificates to
// revoke (/operator/credentials); audit runs (/operator/audits, in
// operator_audit.go). Every action is the service method the admin API
// and the CLI use.

// statDays is how many days the operator's charts show.
const statDays = 14

type figure struct {
	Key   string // catalogue key of its caption
	Name  string // the metric's name, as /metrics writes it
	Value string
}

type operatorPage struct {
	Healthy       bool
	HealthError   string
	LogSize       uint64
	Checkpoint    string   // the signed note's text: origin, size, root
	Signers       []string // the names of its signatures
	Figures       []figure
	Charts        []chartView
	RevocationAge string
}

// keyFigures are the metrics the overview shows, with their captions.
var keyFigures = []struct{ name, key string }{
	{"npes_letters_accepted_total", "Letters accepted since start"},
	{"npes_submissions_refused_total", "Submissions refused since start"},
	{"npes_log_size", "Evidence log entries"},
	{"npes_print_jobs", "Print jobs not yet posted"},
	{"npes_print_oldest_queued_seconds", "Oldest queued print job (seconds)"},
	{"npes_lease_expiries_total", "Print leases that expired"},
	{"npes_revocation_set_age_seconds", "Age of the revocation set (seconds)"},
	{"npes_db_pool_in_use", "Database connections in use"},
	{"npes_commit_duration_seconds", "Commits (count)"},
}

// metricValue sums a family's samples (counters and gauges) or counts its
// observations (histograms and summaries).
func metricValue(f *dto.MetricFamily) float64 {
	sum := 0.0
	for _, m := range f.GetMetric() {
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Summary != nil:
			sum += float64(m.Summary.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

func (p *Portal) operatorHome(w http.ResponseWriter, r *http.Request) {
	ctx, c, l := r.Context(), caller(r), p.locale(w, r)
	page := operatorPage{Healthy: true}
	if err := p.Consoles.Health(ctx); err != nil {
		page.Healthy, page.HealthError = false, err.Error()
	}
	size, note, err := p.Service.Checkpoint(ctx)
	if err != nil && !errors.Is(err, mailbox.ErrNotFound) {
		p.serverError(w, r, err)
		return
	}
	page.LogSize = size
	page.Checkpoint, page.Signers = checkpointText(note)
	if p.Consoles.Metrics != nil {
		fams, err := p.Consoles.Metrics.Gather()
		if err != nil {
			p.Logger.WarnContext(ctx, "gathering metrics for the console", "err", err)
		}
		byName := map[string]*dto.MetricFamily{}
		for _, f := range fams {
			byName[f.GetName()] = f
		}
		for _, k := range keyFigures {
			f, ok := byName[k.name]
			if !ok {
				continue
			}
			page.Figures = append(page.Figures, figure{Key: k.key, Name: k.name, Value: chart.Number(metricValue(f))})
		}
	}
	// Charts: letters per day by route, the acceptance rate of registered
	// letters, the print queue.
	now := p.now().In(hybrid.Minsk)
	end := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, hybrid.Minsk).AddDate(0, 0, 1)
	start := end.AddDate(0, 0, -statDays)
	counts, err := p.Service.LetterDayCounts(ctx, c, start, end, hybrid.Minsk)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	page.Charts = letterCharts(l, counts, start)
	groups, err := p.Service.QueueStats(ctx, c)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	page.Charts = append(page.Charts, queueCharts(l, groups, nil, p.now())...)
	p.render(w, r, http.StatusOK, "operator", "Operator", page)
}

// letterCharts draws letters per day by route and the daily acceptance
// rate of registered electronic letters (accepted of those accepted,
// refused or expired, by day of sending).
func letterCharts(l *locale, counts []mailbox.LetterDayCount, start time.Time) []chartView {
	labels := make([]string, statDays)
	days := make([]time.Time, statDays)
	for i := range statDays {
		days[i] = start.AddDate(0, 0, i)
		labels[i] = days[i].Format("02.01")
	}
	index := func(d time.Time) int {
		for i, day := range days {
			if day.Equal(d) {
				return i
			}
		}
		return -1
	}
	elec := chart.Series{Name: l.T("electronic"), Values: make([]float64, statDays)}
	prnt := chart.Series{Name: l.T("print"), Values: make([]float64, statDays)}
	accepted := make([]float64, statDays)
	decided := make([]float64, statDays)
	for _, c := range counts {
		i := index(c.Day)
		if i < 0 {
			continue
		}
		if c.Route == mailbox.RoutePrint {
			prnt.Values[i] += float64(c.Count)
		} else {
			elec.Values[i] += float64(c.Count)
		}
		if c.Registered && c.Route == mailbox.RouteElectronic {
			switch c.State {
			case mailbox.StateAccepted:
				accepted[i] += float64(c.Count)
				decided[i] += float64(c.Count)
			case mailbox.StateRefused, mailbox.StateExpired:
				decided[i] += float64(c.Count)
			}
		}
	}
	perDay := chart.Chart{ID: "letters-per-day", Title: l.T("Letters per day by route"), LabelHeader: l.T("Day"), Labels: labels,
		Series: []chart.Series{elec, prnt}, Empty: l.T("No data.")}
	perDay.Desc = l.T("Letters sent on each of the last %d days, delivered electronically or routed to print.", statDays)
	rate := chart.Series{Name: l.T("share accepted (%%)"), Values: make([]float64, statDays)}
	for i := range decided {
		if decided[i] > 0 {
			rate.Values[i] = float64(int(accepted[i]/decided[i]*1000)) / 10
		}
	}
	acc := chart.Chart{ID: "acceptance-rate", Title: l.T("Acceptance rate of registered letters"), LabelHeader: l.T("Day"), Labels: labels,
		Series: []chart.Series{rate}, Max: 100, Format: func(v float64) string { return chart.Number(v) + " %" }, Empty: l.T("No data.")}
	acc.Desc = l.T("Of the registered letters sent each day and decided (accepted, refused or expired), the share the recipients accepted. Days without decisions show 0.")
	return []chartView{newChartView(perDay), newChartView(acc)}
}

// checkpointText splits a signed note (golang.org/x/mod/sumdb/note) into
// its text and the names of its signatures: the signatures themselves (an
// ML-DSA-65 one is 3 KB of base64) say nothing to a reader of the page.
func checkpointText(note []byte) (string, []string) {
	text, sigs, ok := strings.Cut(string(note), "\n\n")
	if !ok {
		return text, nil
	}
	var names []string
	for _, line := range strings.Split(sigs, "\n") {
		if name, _, ok := strings.Cut(strings.TrimPrefix(line, "— "), " "); ok && strings.HasPrefix(line, "— ") {
			names = append(names, name)
		}
	}
	return text, names
}

// Counter: pending proofs and recoveries.

type proofRow struct {
	M       mailbox.Mailbox
	Parsed  addressing.Address
	Lines   []string
	Created string
}

type recoveryRow struct {
	R       mailbox.Recovery
	M       mailbox.Mailbox
	Created string
}

type counterPage struct {
	Done, Failed string
	Proofs       []proofRow
	Recoveries   []recoveryRow
}

var counterOutcomes = map[string]string{
	"verified":           "The address is verified: the mailbox is active.",
	"recovered":          "The recovery is verified: the new certificate is bound.",
	"mailbox_not_found":  "No such mailbox.",
	"recovery_not_found": "No such recovery.",
	"failed":             "The action could not be done.",
}

func (p *Portal) operatorCounter(w http.ResponseWriter, r *http.Request) {
	ctx, c, l := r.Context(), caller(r), p.locale(w, r)
	page := counterPage{}
	page.Done, page.Failed = flash(r, counterOutcomes)
	ms, err := p.Service.PendingProofs(ctx, c, consoleRows)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	for _, m := range ms {
		row := proofRow{M: m, Created: l.Date(m.CreatedAt)}
		if json.Unmarshal(m.AddressJSON, &row.Parsed) == nil {
			row.Lines = row.Parsed.Lines()
		}
		page.Proofs = append(page.Proofs, row)
	}
	rs, boxes, err := p.Service.PendingRecoveryList(ctx, c, consoleRows)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	for _, rec := range rs {
		page.Recoveries = append(page.Recoveries, recoveryRow{R: rec, M: boxes[rec.MailboxID], Created: l.Date(rec.CreatedAt)})
	}
	p.render(w, r, http.StatusOK, "operator_counter", "Counter", page)
}

func (p *Portal) operatorVerifyMailbox(w http.ResponseWriter, r *http.Request) {
	if _, err := p.Service.VerifyAddress(r.Context(), caller(r), r.PathValue("id")); err != nil {
		http.Redirect(w, r, "/operator/counter?err="+outcomeCode(err, counterOutcomes), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/operator/counter?done=verified", http.StatusSeeOther)
}

func (p *Portal) operatorVerifyRecovery(w http.ResponseWriter, r *http.Request) {
	if _, err := p.Service.VerifyRecovery(r.Context(), caller(r), r.PathValue("id")); err != nil {
		http.Redirect(w, r, "/operator/counter?err="+outcomeCode(err, counterOutcomes), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/operator/counter?done=recovered", http.StatusSeeOther)
}

// Credentials: search and revoke.

type certRow struct {
	C        mailbox.CertificateRecord
	NotAfter string
	Revoked  string
}

type credentialsPage struct {
	Done, Failed string
	Query        string
	Searched     bool
	Results      []certRow
	Reasons      []reasonOption
}

type reasonOption struct {
	Code int
	Key  string
}

// revocationReasons an operator chooses from (RFC 5280 §5.3.1).
var revocationReasons = []reasonOption{
	{int(certs.ReasonKeyCompromise), "reason.keyCompromise"},
	{int(certs.ReasonAffiliationChanged), "reason.affiliationChanged"},
	{int(certs.ReasonSuperseded), "reason.superseded"},
	{int(certs.ReasonCessationOfOperation), "reason.cessationOfOperation"},
	{int(certs.ReasonPrivilegeWithdrawn), "reason.privilegeWithdrawn"},
	{int(certs.ReasonUnspecified), "reason.unspecified"},
}

var credentialOutcomes = map[string]string{
	"revoked":     "The certificate is revoked. Its sessions and connections end now.",
	"not_found":   "No certificate with this serial was issued by this CA.",
	"bad_reason":  "Choose a reason.",
	"bad_query":   "The search is too long.",
	"failed":      "The action could not be done.",
	"self_revoke": "You cannot revoke the certificate you are signed in with here.",
}

func (p *Portal) operatorCredentials(w http.ResponseWriter, r *http.Request) {
	ctx, c, l := r.Context(), caller(r), p.locale(w, r)
	page := credentialsPage{Query: strings.TrimSpace(r.URL.Query().Get("q")), Reasons: revocationReasons}
	page.Done, page.Failed = flash(r, credentialOutcomes)
	if page.Query != "" {
		page.Searched = true
		found, err := p.Service.SearchCertificates(ctx, c, page.Query, 50)
		if err != nil {
			var de *mailbox.Error
			if errors.As(err, &de) {
				page.Failed = credentialOutcomes["bad_query"]
			} else {
				p.serverError(w, r, err)
				return
			}
		}
		for _, cr := range found {
			row := certRow{C: cr, NotAfter: l.Date(cr.NotAfter)}
			if cr.Revoked() {
				row.Revoked = l.Date(cr.RevokedAt)
			}
			page.Results = append(page.Results, row)
		}
	}
	p.render(w, r, http.StatusOK, "operator_credentials", "Credentials", page)
}

func (p *Portal) operatorRevoke(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	back := func(q string) string {
		v := url.Values{"q": {r.PostFormValue("q")}}
		return "/operator/credentials?" + v.Encode() + "&" + q
	}
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	serial := r.PathValue("serial")
	code, err := strconv.Atoi(r.PostFormValue("reason"))
	if err != nil || !slices.ContainsFunc(revocationReasons, func(o reasonOption) bool { return o.Code == code }) {
		http.Redirect(w, r, back("err=bad_reason"), http.StatusSeeOther)
		return
	}
	if strings.EqualFold(serial, sessionFrom(r).CertSerial) {
		http.Redirect(w, r, back("err=self_revoke"), http.StatusSeeOther)
		return
	}
	if _, err := p.Consoles.Revoke(r.Context(), serial, certs.Reason(code)); err != nil {
		switch {
		case errors.Is(err, mailbox.ErrNotFound):
			http.Redirect(w, r, back("err=not_found"), http.StatusSeeOther)
		default:
			p.Logger.ErrorContext(r.Context(), "console revocation failed", "serial", serial, "err", err)
			http.Redirect(w, r, back("err=failed"), http.StatusSeeOther)
		}
		return
	}
	p.Logger.InfoContext(r.Context(), "certificate revoked from the operator console", "serial", serial, "reason", code, "operator", sessionFrom(r).CertSerial)
	http.Redirect(w, r, back("done=revoked"), http.StatusSeeOther)
}
