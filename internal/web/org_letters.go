package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/npes/npes/mailbox"
)

// The sent-letters list reads the service's pages of sent letters, newest
// first, and filters them here: scanLimit bounds the letters one request
// reads (the page says when it was reached), lettersShown the rows one
// page shows.
const (
	scanPage     = 200
	scanLimit    = 10000
	lettersShown = 100
)

// letterFilter is the filter of the sent-letters list, from the query.
type letterFilter struct {
	State      string
	Route      string
	Registered string // "", "yes", "no"
	From, To   string // dates, YYYY-MM-DD, in the portal's zone
	from, to   time.Time
	Invalid    string // a date that could not be read
}

var filterStates = []string{mailbox.StateDelivered, mailbox.StateRead, mailbox.StateAwaitingAcceptance, mailbox.StateAccepted,
	mailbox.StateRefused, mailbox.StateExpired, mailbox.StatePrintQueued, mailbox.StatePrinted, mailbox.StatePosted,
	mailbox.StatePhysicallyDelivered, mailbox.StateDeliveryFailed, mailbox.StateReturned, mailbox.StatePrintDead, mailbox.StateRecalled}

func readFilter(q url.Values) letterFilter {
	f := letterFilter{}
	for _, s := range filterStates {
		if q.Get("state") == s {
			f.State = s
		}
	}
	if r := q.Get("route"); r == mailbox.RouteElectronic || r == mailbox.RoutePrint {
		f.Route = r
	}
	if r := q.Get("registered"); r == "yes" || r == "no" {
		f.Registered = r
	}
	for _, d := range []struct {
		name string
		s    *string
		t    *time.Time
	}{{"from", &f.From, &f.from}, {"to", &f.To, &f.to}} {
		v := strings.TrimSpace(q.Get(d.name))
		if v == "" {
			continue
		}
		t, err := time.ParseInLocation("2006-01-02", v, minsk)
		if err != nil {
			f.Invalid = v
			continue
		}
		*d.s, *d.t = v, t
	}
	if !f.to.IsZero() {
		f.to = f.to.AddDate(0, 0, 1) // the whole day
	}
	return f
}

// query is the filter as a query string.
func (f letterFilter) query() string {
	v := url.Values{}
	for k, s := range map[string]string{"state": f.State, "route": f.Route, "registered": f.Registered, "from": f.From, "to": f.To} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

func (f letterFilter) keep(l mailbox.LetterView) bool {
	return (f.State == "" || l.State == f.State) && (f.Route == "" || l.Route == f.Route) &&
		(f.Registered == "" || l.Registered == (f.Registered == "yes")) &&
		(f.from.IsZero() || !l.CreatedAt.Before(f.from)) && (f.to.IsZero() || l.CreatedAt.Before(f.to))
}

// scan reads the sent letters newest first and returns up to max that the
// filter keeps; truncated says the scan stopped at scanLimit.
func (o *orgConsole) scan(r *http.Request, f letterFilter, max int) (out []mailbox.LetterView, more, truncated bool, err error) {
	cursor, read := "", 0
	for {
		ls, next, err := o.p.Service.ListLetters(r.Context(), caller(r), "sent", cursor, scanPage)
		if err != nil {
			return nil, false, false, err
		}
		for _, l := range ls {
			if !f.from.IsZero() && l.CreatedAt.Before(f.from) {
				return out, false, false, nil // older than the range: nothing further can match
			}
			if f.keep(l) {
				if len(out) == max {
					return out, true, false, nil
				}
				out = append(out, l)
			}
		}
		read += len(ls)
		if next == "" {
			return out, false, false, nil
		}
		if read >= scanLimit {
			return out, false, true, nil
		}
		cursor = next
	}
}

type lettersPage struct {
	F         letterFilter
	States    []string
	Letters   []mailbox.LetterView
	More      bool
	Truncated bool
	ScanLimit int
	CSV       string
}

// letters is GET /org/letters: the organization's sent letters, filtered
// by state, route, date range and registered, each linking to its letter
// page (evidence timeline, bundle, receipt, recall).
func (o *orgConsole) letters(w http.ResponseWriter, r *http.Request) {
	f := readFilter(r.URL.Query())
	ls, more, truncated, err := o.scan(r, f, lettersShown)
	if err != nil {
		o.p.serviceError(w, r, err)
		return
	}
	csvURL := "/org/letters.csv"
	if q := f.query(); q != "" {
		csvURL += "?" + q
	}
	o.p.render(w, r, http.StatusOK, "org_letters", "Sent letters", lettersPage{F: f, States: filterStates, Letters: ls,
		More: more, Truncated: truncated, ScanLimit: scanLimit, CSV: csvURL})
}

// lettersCSV is GET /org/letters.csv: the filtered list as CSV.
func (o *orgConsole) lettersCSV(w http.ResponseWriter, r *http.Request) {
	f := readFilter(r.URL.Query())
	ls, _, _, err := o.scan(r, f, scanLimit)
	if err != nil {
		o.p.serviceError(w, r, err)
		return
	}
	cw := startCSV(w, "npes-sent-letters.csv")
	_ = cw.Write([]string{"id", "created_at", "tracking", "registered", "route", "state", "recipient_name", "recipient_address", "subject", "sent_by"})
	for _, l := range ls {
		reg := "no"
		if l.Registered {
			reg = "yes"
		}
		_ = cw.Write(csvSafe(l.ID, l.CreatedAt.UTC().Format(time.RFC3339), l.Tracking, reg, l.Route, l.State,
			l.Recipient.Name, l.Recipient.Address, l.Subject, l.SentBy))
	}
	cw.Flush()
}
