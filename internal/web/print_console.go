package web

import (
	"encoding/csv"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/npes/npes/hybrid"
	"github.com/npes/npes/hybrid/pdf"
	"github.com/npes/npes/internal/web/chart"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// The print centre's console: the queue of its regions, failed jobs and
// their retry, the day's manifest, physical events of the jobs it posted.
// Every action goes through the print queue the API uses (hybrid.Queue).

// consoleRows bounds each list of the console.
const consoleRows = 100

type jobRow struct {
	mailbox.PrintJob
	Age       string // since the job was queued
	LeaseLeft string // for leased jobs
}

type chartView struct {
	ID    string
	Title string
	SVG   template.HTML
	Table chart.Table
}

func newChartView(c chart.Chart) chartView {
	return chartView{ID: c.ID, Title: c.Title, SVG: c.SVG(), Table: c.Table()}
}

type printPage struct {
	Centre  string
	Regions []string
	Done    string
	Failed  string
	Queued  []jobRow
	Leased  []jobRow
	Printed []jobRow // printed, not yet posted
	Dead    []jobRow
	Posted  []jobRow
	Charts  []chartView
	Today   string
	Events  []string
}

// physicalEvents are what a print centre reports after posting.
var physicalEvents = []string{string(signing.EventDelivered), string(signing.EventDeliveryFailed), string(signing.EventReturnedToSender)}

// printOutcomes are the messages of the console's actions (?done=, ?err=).
var printOutcomes = map[string]string{
	"retried":             "The job is back in the queue.",
	"event":               "The event is recorded in the letter's evidence.",
	"not_failed":          "Only a failed job can be retried.",
	"job_not_found":       "No such print job in your regions.",
	"invalid_transition":  "This event cannot follow the letter's current state.",
	"not_printing_centre": "Only the centre that printed the letter reports its events.",
	"bad_details":         "The note is too long or has characters that are not allowed.",
	"bad_event":           "Choose an event.",
	"no_evidence_chain":   "Activation letters have no evidence to record events in.",
	"failed":              "The action could not be done.",
}

// outcomeCode is the ?err= code of a service error: its domain code when
// the console has a message for it.
func outcomeCode(err error, known map[string]string) string {
	var de *mailbox.Error
	if errors.As(err, &de) {
		if _, ok := known[de.Code]; ok {
			return de.Code
		}
	}
	return "failed"
}

// duration writes d coarsely in the page's language.
func (l *locale) duration(d time.Duration) string {
	switch {
	case d < time.Hour:
		return l.T("%d min", int(max(d, 0)/time.Minute))
	case d < 24*time.Hour:
		return l.T("%d h %d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return l.T("%d d %d h", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

func (p *Portal) printHome(w http.ResponseWriter, r *http.Request) {
	ctx, c, l := r.Context(), caller(r), p.locale(w, r)
	now := p.now()
	page := printPage{Centre: c.Identity.Name, Regions: c.Identity.Regions, Today: now.In(hybrid.Minsk).Format("2006-01-02"), Events: physicalEvents}
	page.Done, page.Failed = flash(r, printOutcomes)
	rows := func(js []mailbox.PrintJob) []jobRow {
		out := make([]jobRow, len(js))
		for i, j := range js {
			out[i] = jobRow{PrintJob: j, Age: l.duration(now.Sub(j.CreatedAt))}
			if j.State == mailbox.JobLeased {
				out[i].LeaseLeft = l.duration(j.LeaseExpiresAt.Sub(now))
			}
		}
		return out
	}
	for _, q := range []struct {
		into *[]jobRow
		q    mailbox.ConsoleJobQuery
	}{
		{&page.Queued, mailbox.ConsoleJobQuery{States: []string{mailbox.JobQueued}}},
		{&page.Leased, mailbox.ConsoleJobQuery{States: []string{mailbox.JobLeased}}},
		{&page.Printed, mailbox.ConsoleJobQuery{States: []string{mailbox.JobPrinted}}},
		{&page.Dead, mailbox.ConsoleJobQuery{States: []string{mailbox.JobDead, mailbox.JobFailed}}},
		{&page.Posted, mailbox.ConsoleJobQuery{States: []string{mailbox.JobPosted}, PrintedBy: c.Identity.ID, NewestFirst: true}},
	} {
		q.q.Limit = consoleRows
		js, err := p.Service.ConsoleJobs(ctx, c, q.q)
		if err != nil {
			p.serverError(w, r, err)
			return
		}
		*q.into = rows(js)
	}
	groups, err := p.Service.QueueStats(ctx, c)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	page.Charts = queueCharts(l, groups, c.Identity.Regions, now)
	p.render(w, r, http.StatusOK, "print", "Print centre", page)
}

// queueCharts draws the queue depth by region and state and the age of
// each region's oldest waiting job (queued, leased or failed).
func queueCharts(l *locale, groups []mailbox.PrintJobGroup, regions []string, now time.Time) []chartView {
	if regions == nil {
		for _, g := range groups {
			if !slices.Contains(regions, g.Region) {
				regions = append(regions, g.Region)
			}
		}
	}
	slices.Sort(regions)
	states := []string{mailbox.JobQueued, mailbox.JobLeased, mailbox.JobDead}
	depth := chart.Chart{ID: "queue-depth", Title: l.T("Print queue depth by region"), LabelHeader: l.T("Region"), Labels: regions, Empty: l.T("No data.")}
	depth.Desc = l.T("Jobs waiting in each region: queued, being printed (leased) and failed.")
	for _, st := range states {
		s := chart.Series{Name: l.T("job." + st), Values: make([]float64, len(regions))}
		for _, g := range groups {
			if i := slices.Index(regions, g.Region); i >= 0 && g.State == st {
				s.Values[i] += float64(g.Count)
			}
		}
		depth.Series = append(depth.Series, s)
	}
	age := chart.Chart{ID: "queue-age", Title: l.T("Oldest waiting job by region (hours)"), LabelHeader: l.T("Region"), Labels: regions, Empty: l.T("No data.")}
	age.Desc = l.T("How long the oldest queued, leased or failed job of each region has waited, in hours.")
	hours := chart.Series{Name: l.T("hours"), Values: make([]float64, len(regions))}
	for _, g := range groups {
		if i := slices.Index(regions, g.Region); i >= 0 && slices.Contains(states, g.State) && !g.Oldest.IsZero() {
			hours.Values[i] = max(hours.Values[i], float64(int(now.Sub(g.Oldest).Hours()*10))/10)
		}
	}
	age.Series = []chart.Series{hours}
	return []chartView{newChartView(depth), newChartView(age)}
}

// manifestDay reads ?date=YYYY-MM-DD (a Belarusian day), today by default.
func (p *Portal) manifestDay(r *http.Request) (time.Time, bool) {
	v := r.URL.Query().Get("date")
	if v == "" {
		n := p.now().In(hybrid.Minsk)
		return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, hybrid.Minsk), true
	}
	d, err := time.ParseInLocation("2006-01-02", v, hybrid.Minsk)
	return d, err == nil
}

func (p *Portal) manifestJobs(w http.ResponseWriter, r *http.Request) ([]mailbox.PrintJob, time.Time, bool) {
	day, ok := p.manifestDay(r)
	if !ok {
		p.errorPage(w, r, http.StatusBadRequest, "The date must be written as YYYY-MM-DD.")
		return nil, day, false
	}
	jobs, err := p.Consoles.Print.Manifest(r.Context(), caller(r), day)
	if err != nil {
		p.serviceError(w, r, err)
		return nil, day, false
	}
	return jobs, day, true
}

// printManifestCSV is the day's manifest with the API's columns
// (GET /v1/print/manifest).
func (p *Portal) printManifestCSV(w http.ResponseWriter, r *http.Request) {
	jobs, day, ok := p.manifestJobs(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="manifest-`+day.Format("2006-01-02")+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"tracking", "postcode", "recipient_name", "sheets", "job_id"})
	for _, j := range jobs {
		_ = cw.Write([]string{j.Tracking, j.Postcode, spreadsheetSafe(j.RecipientName), strconv.Itoa(j.Sheets), j.ID})
	}
	cw.Flush()
}

// spreadsheetSafe defuses formula injection (OWASP "CSV injection") as the
// API's manifest does.
func spreadsheetSafe(v string) string {
	if v != "" && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@') {
		return "'" + v
	}
	return v
}

func (p *Portal) printManifestPDF(w http.ResponseWriter, r *http.Request) {
	jobs, day, ok := p.manifestJobs(w, r)
	if !ok {
		return
	}
	c := caller(r)
	m := pdf.Manifest{Centre: c.Identity.Name, Regions: c.Identity.Regions, Day: day}
	for _, j := range jobs {
		m.Items = append(m.Items, pdf.ManifestItem{Tracking: j.Tracking, Postcode: j.Postcode, RecipientName: j.RecipientName, Sheets: j.Sheets, JobID: j.ID})
	}
	doc, err := pdf.RenderManifest(m)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `attachment; filename="manifest-`+day.Format("2006-01-02")+`.pdf"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(doc)
}

func (p *Portal) printRetry(w http.ResponseWriter, r *http.Request) {
	if _, err := p.Consoles.Print.Retry(r.Context(), caller(r), r.PathValue("id")); err != nil {
		p.Logger.InfoContext(r.Context(), "console retry refused", "job", r.PathValue("id"), "err", err)
		http.Redirect(w, r, "/print?err="+outcomeCode(err, printOutcomes)+"#failed-h", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/print?done=retried#failed-h", http.StatusSeeOther)
}

func (p *Portal) printEvent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	event := r.PostFormValue("event")
	if !slices.Contains(physicalEvents, event) {
		http.Redirect(w, r, "/print?err=bad_event#posted-h", http.StatusSeeOther)
		return
	}
	var details map[string]string
	if note := r.PostFormValue("note"); note != "" {
		details = map[string]string{"note": note}
	}
	if _, err := p.Consoles.Print.Event(r.Context(), caller(r), r.PathValue("id"), event, details); err != nil {
		http.Redirect(w, r, "/print?err="+outcomeCode(err, printOutcomes)+"#posted-h", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/print?done=event#posted-h", http.StatusSeeOther)
}
