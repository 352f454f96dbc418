package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/npes/npes/mailbox"
)

// inboxPageSize is how many letters one page of a folder shows.
const inboxPageSize = 25

// awaitingMax bounds the "awaiting your signature" section; a mailbox with
// more waiting letters sees the rest in the list below.
const awaitingMax = 50

// dateLayout is the value format of <input type="date"> (HTML §4.10.5.1.7).
const dateLayout = "2006-01-02"

type inboxPage struct {
	Folder string
	// The filter as the form shows it.
	Query, State, Registered, From, To string
	Unread                             bool
	Filtered                           bool
	States                             []string
	Error                              string // a catalogue key: a bad filter value
	Awaiting                           []mailbox.LetterView
	Others                             []mailbox.LetterView
	Count                              int
	Next                               string // query string of the next (older) page, or ""
	First                              string // query string of the first page when not on it
}

// inbox lists a folder. The search (q) and the filters (state, registered,
// unread, from/to dates) run in the store over the whole folder, and the
// cursor pages through the matches. On the first page of the inbox the
// registered letters awaiting the caller's signature come first, the
// earliest deadline first.
func (p *Portal) inbox(folder string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		page := inboxPage{Folder: folder, States: mailbox.States}
		page.Query = strings.TrimSpace(q.Get("q"))
		if r := []rune(page.Query); len(r) > mailbox.MaxSearchLen {
			page.Query = string(r[:mailbox.MaxSearchLen])
		}
		f := mailbox.LetterFilter{Search: page.Query}
		if st := q.Get("state"); slices.Contains(mailbox.States, st) {
			page.State, f.State = st, st
		}
		if reg := q.Get("registered"); reg == "yes" || reg == "no" {
			page.Registered, f.Registered = reg, reg
		}
		if folder == "inbox" && q.Get("unread") == "1" {
			page.Unread, f.Unread = true, true
		}
		var ok bool
		if page.From, f.Since, ok = parseDay(q.Get("from"), false); !ok {
			page.Error = "Enter dates as year-month-day, for example 2026-03-01."
		}
		if page.To, f.Until, ok = parseDay(q.Get("to"), true); !ok {
			page.Error = "Enter dates as year-month-day, for example 2026-03-01."
		}
		if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
			page.Error = "The first date must not be after the last date."
		}
		page.Filtered = page.Query != "" || page.State != "" || page.Registered != "" || page.Unread || page.From != "" || page.To != ""
		if page.Error != "" {
			p.render(w, r, http.StatusBadRequest, "inbox", folderTitle(folder), page)
			return
		}
		cursor := q.Get("cursor")
		ctx, c := r.Context(), caller(r)
		// The waiting letters lead the first page; when they all fit there,
		// the list (on every page) leaves them out instead of repeating them.
		awaitingAll := false
		if folder == "inbox" && (f.State == "" || f.State == mailbox.StateAwaitingAcceptance) {
			af := f
			af.State = mailbox.StateAwaitingAcceptance
			waiting, more, err := p.Service.SearchLetters(ctx, c, folder, af, "", awaitingMax)
			if err != nil {
				p.serviceError(w, r, err)
				return
			}
			awaitingAll = more == ""
			if cursor == "" {
				for _, l := range waiting {
					if awaitingMe(l) {
						page.Awaiting = append(page.Awaiting, l)
					}
				}
				slices.SortStableFunc(page.Awaiting, func(a, b mailbox.LetterView) int { return a.Deadline.Compare(*b.Deadline) })
			}
		}
		letters, next, err := p.Service.SearchLetters(ctx, c, folder, f, cursor, inboxPageSize)
		if err != nil {
			p.serviceError(w, r, err)
			return
		}
		for _, l := range letters {
			if awaitingAll && awaitingMe(l) {
				continue
			}
			page.Others = append(page.Others, l)
		}
		page.Count = len(page.Awaiting) + len(page.Others)
		keep := func(cursor string) string {
			v := url.Values{}
			set := func(k, val string) {
				if val != "" {
					v.Set(k, val)
				}
			}
			set("q", page.Query)
			set("state", page.State)
			set("registered", page.Registered)
			if page.Unread {
				v.Set("unread", "1")
			}
			set("from", page.From)
			set("to", page.To)
			set("cursor", cursor)
			return "?" + v.Encode()
		}
		if next != "" {
			page.Next = keep(next)
		}
		if cursor != "" {
			page.First = keep("")
		}
		p.render(w, r, http.StatusOK, "inbox", folderTitle(folder), page)
	}
}

func folderTitle(folder string) string {
	if folder == "sent" {
		return "Sent"
	}
	return "Inbox"
}

// parseDay reads a yyyy-mm-dd date as a day in the portal's zone: its
// start, or with end the start of the next day (an exclusive bound).
func parseDay(s string, end bool) (string, time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", time.Time{}, true
	}
	d, err := time.ParseInLocation(dateLayout, s, minsk)
	if err != nil || d.Year() < 2000 || d.Year() > 9999 {
		return s, time.Time{}, false
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return s, d, true
}

// awaitingMe: a registered letter in the inbox waiting for the caller's
// signature.
func awaitingMe(l mailbox.LetterView) bool {
	return l.Folder == "inbox" && l.State == mailbox.StateAwaitingAcceptance && l.Deadline != nil
}

// unread: an electronic letter in the inbox whose content was not opened.
func unread(l mailbox.LetterView) bool {
	return l.Folder == "inbox" && (l.State == mailbox.StateDelivered || l.State == mailbox.StateAwaitingAcceptance)
}
