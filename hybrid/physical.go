package hybrid

import (
	"context"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// PhysicalTransition is one row of a letter's transition table (DESIGN §4:
// state follows evidence) for the events the postal network reports after
// posting: the event may follow a letter in one of From and moves it to To.
type PhysicalTransition struct {
	Event signing.Event
	From  []string
	To    string
	// EMSEVT is the UPU EMSEVT event code sealed into the evidence as
	// details "emsevt" (EMH attempted/unsuccessful delivery, EMI final
	// delivery); "" where none exists (a return to sender has no single
	// code).
	EMSEVT string
}

// PhysicalTransitions is the ordering of a printed letter's life in the
// post: Posted → DeliveryFailed (any number of attempts) → Delivered or
// ReturnedToSender, which is final. Anything else is refused.
func PhysicalTransitions() []PhysicalTransition {
	open := []string{mailbox.StatePosted, mailbox.StateDeliveryFailed}
	return []PhysicalTransition{
		{Event: signing.EventDeliveryFailed, From: open, To: mailbox.StateDeliveryFailed, EMSEVT: "EMH"},
		{Event: signing.EventDelivered, From: open, To: mailbox.StatePhysicallyDelivered, EMSEVT: "EMI"},
		{Event: signing.EventReturnedToSender, From: open, To: mailbox.StateReturned},
	}
}

func physicalTransition(event string) (PhysicalTransition, bool) {
	for _, t := range PhysicalTransitions() {
		if string(t.Event) == event {
			return t, true
		}
	}
	return PhysicalTransition{}, false
}

// Limits of the details a reporter attaches to a physical event.
const (
	MaxEventDetails     = 10
	MaxDetailKeyBytes   = 40
	MaxDetailValueBytes = 200
)

// ReportedDetailPrefix starts the key of every detail a reporter supplies
// in the sealed evidence ("reported.office"): the server's own details
// (emsevt, print_job, …) never start with it, so a reporter can add to the
// evidence but never replace what the server sealed.
const ReportedDetailPrefix = "reported."

// reportedDetails validates a reporter's details and returns them under
// ReportedDetailPrefix.
func reportedDetails(details map[string]string) (map[string]string, error) {
	if len(details) > MaxEventDetails {
		return nil, mailbox.Errorf(mailbox.ErrInvalid, "bad_details", "at most %d details", MaxEventDetails)
	}
	out := make(map[string]string, len(details))
	for k, v := range details {
		if k == "" || len(k) > MaxDetailKeyBytes || strings.IndexFunc(k, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-')
		}) >= 0 {
			return nil, mailbox.Errorf(mailbox.ErrInvalid, "bad_details", "detail keys are 1..%d characters of a-z, 0-9, _ and -", MaxDetailKeyBytes)
		}
		if len(v) > MaxDetailValueBytes || !utf8.ValidString(v) || strings.IndexFunc(v, func(r rune) bool {
			return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r)
		}) >= 0 {
			return nil, mailbox.Errorf(mailbox.ErrInvalid, "bad_details", "detail %q: values are UTF-8 text of at most %d bytes without control or format characters", k, MaxDetailValueBytes)
		}
		out[ReportedDetailPrefix+k] = v
	}
	return out, nil
}

// Event records a physical event of a posted letter. Only the print centre
// that printed the job (the identity that held its lease when Printed was
// reported) or an operator may report it: another centre of the region
// could otherwise mark someone else's letter delivered. The event must
// follow the letter's state by PhysicalTransitions.
func (q *Queue) Event(ctx context.Context, c mailbox.Caller, id string, event string, details map[string]string) (mailbox.PrintJob, error) {
	operator := c.Identity.Role == mailbox.RoleOperator
	if !operator && c.Identity.Role != mailbox.RolePrintCenter {
		return mailbox.PrintJob{}, mailbox.Errorf(mailbox.ErrForbidden, "forbidden", "only the printing centre or an operator reports physical events")
	}
	if !operator {
		if _, err := centre(c); err != nil {
			return mailbox.PrintJob{}, err
		}
	}
	tr, ok := physicalTransition(event)
	if !ok {
		return mailbox.PrintJob{}, mailbox.Errorf(mailbox.ErrInvalid, "bad_event", "event must be DeliveryFailed, Delivered or ReturnedToSender")
	}
	d, err := reportedDetails(details)
	if err != nil {
		return mailbox.PrintJob{}, err
	}
	if tr.EMSEVT != "" {
		d["emsevt"] = tr.EMSEVT
	}
	res, err := q.svc.ChangePrintJobs(ctx, []string{id}, true, func(_ int, j mailbox.PrintJob, found bool, letterState string) (mailbox.JobChange, error) {
		if operator && !found {
			return mailbox.JobChange{}, notFound()
		}
		if !operator {
			if err := inRegions(c, j, found); err != nil {
				return mailbox.JobChange{}, err
			}
		}
		if j.State != mailbox.JobPosted {
			return mailbox.JobChange{}, mailbox.Errorf(mailbox.ErrConflict, "invalid_transition", "physical events follow posting; the job is %s", j.State)
		}
		if !operator && j.PrintedBy != c.Identity.ID {
			return mailbox.JobChange{}, mailbox.Errorf(mailbox.ErrForbidden, "not_printing_centre", "only the print centre that printed the job (or an operator) reports its physical events")
		}
		if j.Kind != mailbox.JobLetter {
			return mailbox.JobChange{}, mailbox.Errorf(mailbox.ErrConflict, "no_evidence_chain", "physical events are recorded for letters; a %s letter has no evidence chain", j.Kind)
		}
		if !slices.Contains(tr.From, letterState) {
			return mailbox.JobChange{}, mailbox.Errorf(mailbox.ErrConflict, "invalid_transition", "%s cannot follow a letter that is %s (allowed after %s)", tr.Event, letterState, strings.Join(tr.From, ", "))
		}
		ch := mailbox.JobChange{Job: j}
		letterEvent(&ch, tr.Event, d)
		return ch, nil
	})
	if err != nil {
		return mailbox.PrintJob{}, err
	}
	return res[0].Job, res[0].Err
}
