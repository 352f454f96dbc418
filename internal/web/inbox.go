package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/npes/npes/mailbox"
)

// inboxPageSize is how many letters one page of a folder shows.
const inboxPageSize = 25

type inboxPage struct {
	Folder   string
	Query    string
	Show     string
	Awaiting []mailbox.LetterView
	Others   []mailbox.LetterView
	Count    int
	Next     string // query string of the next (older) page, or ""
	First    string // query string of the first page when not on it
}

// inbox lists a folder: registered letters awaiting the caller's signature
// first (with their deadline, the earliest first), then the rest, newest
// first. Search (q) and the filter (show) apply to the page of letters the
// service returned; paging follows the service's cursor.
func (p *Portal) inbox(folder string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		search := strings.TrimSpace(q.Get("q"))
		if len(search) > 200 {
			search = search[:200]
		}
		show := q.Get("show")
		if show != "awaiting" && show != "unread" {
			show = ""
		}
		cursor := q.Get("cursor")
		letters, next, err := p.Service.ListLetters(r.Context(), caller(r), folder, cursor, inboxPageSize)
		if err != nil {
			p.serviceError(w, r, err)
			return
		}
		page := inboxPage{Folder: folder, Query: search, Show: show}
		needle := strings.ToLower(search)
		for _, l := range letters {
			if needle != "" && !matches(l, needle) {
				continue
			}
			switch show {
			case "awaiting":
				if !awaitingMe(l) {
					continue
				}
			case "unread":
				if !unread(l) {
					continue
				}
			}
			if awaitingMe(l) {
				page.Awaiting = append(page.Awaiting, l)
			} else {
				page.Others = append(page.Others, l)
			}
		}
		slices.SortStableFunc(page.Awaiting, func(a, b mailbox.LetterView) int { return a.Deadline.Compare(*b.Deadline) })
		page.Count = len(page.Awaiting) + len(page.Others)
		keep := func(cursor string) string {
			v := url.Values{}
			if search != "" {
				v.Set("q", search)
			}
			if show != "" {
				v.Set("show", show)
			}
			if cursor != "" {
				v.Set("cursor", cursor)
			}
			return "?" + v.Encode()
		}
		if next != "" {
			page.Next = keep(next)
		}
		if cursor != "" {
			page.First = keep("")
		}
		title := "Inbox"
		if folder == "sent" {
			title = "Sent"
		}
		p.render(w, r, http.StatusOK, "inbox", title, page)
	}
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

func matches(l mailbox.LetterView, needle string) bool {
	for _, s := range []string{l.Subject, l.Sender.Name, l.Recipient.Name, l.Tracking} {
		if strings.Contains(strings.ToLower(s), needle) {
			return true
		}
	}
	return false
}
