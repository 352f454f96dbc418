package web

import (
	"net/http"

	"github.com/npes/npes/mailbox"
)

// letterMore is what the letter page shows besides the letter itself: the
// recall button or why there is none, the thread, the reply link, the
// outcome of an action.
type letterMore struct {
	Recall *recallInfo
	// Thread is the letter's thread as the caller sees it, oldest first;
	// empty when the letter stands alone.
	Thread []mailbox.LetterView
	// CanReply: the caller may answer (an electronic letter with a
	// sender mailbox).
	CanReply bool
	Error    string // catalogue key
	Done     string // "recalled", "sent"
}

func (p *Portal) letterMore(r *http.Request, page *letterPage, errKey, done string) error {
	v := page.L
	page.Recall = recallOf(v)
	page.Error = errKey
	if done == "recalled" || done == "sent" {
		page.Done = done
	}
	thread, err := p.Service.Thread(r.Context(), caller(r), v.ID)
	if err != nil {
		return err
	}
	if len(thread) > 1 {
		page.Thread = thread
	}
	page.CanReply = v.State != mailbox.StateRecalled && (v.Folder == "sent" || v.Sender.Mailbox != "")
	return nil
}
