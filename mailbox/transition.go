package mailbox

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/npes/npes/signing"
)

// State follows the evidence (DESIGN §4): a letter's state, route,
// recipient and print job, and a mailbox's status, match key, holder and
// bound credentials, are a fold of its log entries through the tables
// below. Recording applies them to decide what a row becomes; npes audit
// applies them to the log and fails on any row that differs. No other code
// sets these fields.

// stateSubmitted is a letter between SubmissionAcceptance and the event
// that routes it (notification, consignment or relay), which the same
// transaction records: no stored row is ever in it.
const stateSubmitted = "submitted"

// LetterFacts are the access- and delivery-relevant fields of a letter as
// its evidence determines them.
type LetterFacts struct {
	State     string
	Route     string
	Reason    string
	Recipient string // recipient mailbox; "" for letters routed to print
	PrintJob  string // the print job the letter was relayed to
	Region    string // of the print job
	Postcode  string // of the print job; "" in evidence written before it was recorded
}

// letterRule is one row of the transition table: the states an event may
// follow and the state it leads to.
type letterRule struct {
	from []string
	to   string
}

// letterRules is the letter transition table. DeliveryFailed has two rows:
// at the print stage (details stage=print: the print job died) and after
// posting.
var letterRules = map[signing.Event]letterRule{
	signing.EventSubmissionAcceptance:      {from: []string{""}, to: stateSubmitted},
	signing.EventContentConsignment:        {from: []string{stateSubmitted}, to: StateDelivered},
	signing.EventNotificationForAcceptance: {from: []string{stateSubmitted}, to: StateAwaitingAcceptance},
	signing.EventRelayToNonERDS:            {from: []string{stateSubmitted, StateExpired}, to: StatePrintQueued},
	signing.EventContentAccessTracking:     {from: []string{StateDelivered}, to: StateRead},
	signing.EventConsignmentAcceptance:     {from: []string{StateAwaitingAcceptance}, to: StateAccepted},
	signing.EventContentHandover:           {from: []string{StateAccepted}, to: StateAccepted},
	signing.EventConsignmentRejection:      {from: []string{StateAwaitingAcceptance}, to: StateRefused},
	signing.EventAcceptanceRejectionExpiry: {from: []string{StateAwaitingAcceptance}, to: StateExpired},
	signing.EventPrinted:                   {from: []string{StatePrintQueued}, to: StatePrinted},
	signing.EventPosted:                    {from: []string{StatePrinted}, to: StatePosted},
	signing.EventDeliveryFailed:            {from: []string{StatePosted, StateDeliveryFailed}, to: StateDeliveryFailed},
	signing.EventDelivered:                 {from: []string{StatePosted, StateDeliveryFailed}, to: StatePhysicallyDelivered},
	signing.EventReturnedToSender:          {from: []string{StatePosted, StateDeliveryFailed}, to: StateReturned},
	// Recall: before the recipient accepted (registered) or read (simple),
	// or while the print job is queued (Recall checks it is not leased).
	signing.EventRecalled: {from: []string{StateAwaitingAcceptance, StateDelivered, StatePrintQueued}, to: StateRecalled},
	// A print job that died is queued again (the same job, a new round of
	// attempts) by its print centre or an operator.
	signing.EventPrintRetried: {from: []string{StatePrintDead}, to: StatePrintQueued},
}

// printStageFailure is the DeliveryFailed of a print job that died before
// posting.
var printStageFailure = letterRule{from: []string{StatePrintQueued}, to: StatePrintDead}

// NextLetter applies one evidence to a letter's facts. It refuses an event
// the table does not allow in the current state, a route change other than
// by RelayToNonERDS, and a change of recipient; a refused event leaves the
// facts as they were.
func NextLetter(f LetterFacts, ev *signing.Evidence) (LetterFacts, error) {
	rule, ok := letterRules[ev.Event]
	if ev.Event == signing.EventDeliveryFailed && ev.Details["stage"] == "print" {
		rule, ok = printStageFailure, true
	}
	if !ok {
		return f, fmt.Errorf("%s is not a letter transition npes records", ev.Event)
	}
	if !slices.Contains(rule.from, f.State) {
		if f.State == "" {
			return f, fmt.Errorf("%s cannot start a letter's evidence", ev.Event)
		}
		return f, fmt.Errorf("%s cannot follow state %s", ev.Event, f.State)
	}
	n := f // f is returned unchanged on refusal
	switch ev.Event {
	case signing.EventSubmissionAcceptance:
		if ev.Route != RouteElectronic && ev.Route != RoutePrint {
			return f, fmt.Errorf("SubmissionAcceptance has route %q", ev.Route)
		}
		if (ev.Route == RouteElectronic) != (ev.Recipient.Mailbox != "") {
			return f, fmt.Errorf("route %s with recipient mailbox %q", ev.Route, ev.Recipient.Mailbox)
		}
		n.Route, n.Reason, n.Recipient = ev.Route, ev.Reason, ev.Recipient.Mailbox
	case signing.EventRelayToNonERDS:
		if ev.Route != RoutePrint {
			return f, fmt.Errorf("RelayToNonERDS has route %q", ev.Route)
		}
		job := ev.Details["print_job"]
		if job == "" || ev.Details["region"] == "" {
			return f, fmt.Errorf("RelayToNonERDS names no print job and region")
		}
		if f.Route == RouteElectronic && ev.Reason == "" {
			return f, fmt.Errorf("RelayToNonERDS of an electronic letter needs a reason")
		}
		if n.Reason == "" {
			n.Reason = ev.Reason
		}
		n.Route, n.PrintJob, n.Region, n.Postcode = RoutePrint, job, ev.Details["region"], ev.Details["postcode"]
	default:
		if ev.Route != "" && ev.Route != f.Route {
			return f, fmt.Errorf("%s has route %q; the letter's is %q", ev.Event, ev.Route, f.Route)
		}
	}
	if ev.Recipient.Mailbox != n.Recipient {
		return f, fmt.Errorf("%s names recipient mailbox %q; the letter's is %q", ev.Event, ev.Recipient.Mailbox, n.Recipient)
	}
	n.State = rule.to
	return n, nil
}

// letterFactsOf reads a letter row's facts (without the print job's, which
// live on the job row).
func letterFactsOf(l Letter) LetterFacts {
	return LetterFacts{State: l.State, Route: l.Route, Reason: l.RouteReason, Recipient: l.RecipientMailbox}
}

// setLetterFacts writes facts into a letter row.
func setLetterFacts(l *Letter, f LetterFacts) {
	l.State, l.Route, l.RouteReason, l.RecipientMailbox = f.State, f.Route, f.Reason, f.Recipient
}

// MailboxFacts are the access-relevant fields of a mailbox as its log
// entries determine them.
type MailboxFacts struct {
	Status   string
	MatchKey string // set by MailboxActivated
	Holder   string // holder key, set by MailboxActivated
	// Bound maps each bound credential's identity id to its SPKI SHA-256.
	Bound map[string]string
}

// NextMailbox applies one log entry to a mailbox's facts.
func NextMailbox(f MailboxFacts, e *signing.MailboxEntry) (MailboxFacts, error) {
	if f.Status == "" {
		f.Status = StatusPending
	}
	bound := make(map[string]string, len(f.Bound)+1)
	for k, v := range f.Bound {
		bound[k] = v
	}
	switch e.Event {
	case signing.EventMailboxActivated:
		if f.Status == StatusActive {
			return f, fmt.Errorf("MailboxActivated of an active mailbox")
		}
		if e.MatchKey == "" || e.Holder == "" {
			return f, fmt.Errorf("MailboxActivated names no match key and holder")
		}
		f.Status, f.MatchKey, f.Holder = StatusActive, e.MatchKey, e.Holder
	case signing.EventMailboxDeactivated:
		if f.Status != StatusActive {
			return f, fmt.Errorf("MailboxDeactivated of a mailbox that is not active")
		}
		f.Status, f.MatchKey, f.Holder = StatusPending, "", ""
	case signing.EventCredentialBound, signing.EventCredentialUnbound:
		if e.Identity == nil || e.Identity.ID == "" || e.JWK == nil {
			return f, fmt.Errorf("%s names no identity and key", e.Event)
		}
		_, isBound := bound[e.Identity.ID]
		if e.Event == signing.EventCredentialBound {
			if isBound {
				return f, fmt.Errorf("CredentialBound of a bound credential %s", e.Identity.ID)
			}
			spki, err := spkiOfJWK(e.JWK)
			if err != nil {
				return f, err
			}
			bound[e.Identity.ID] = spki
		} else {
			if !isBound {
				return f, fmt.Errorf("CredentialUnbound of a credential that is not bound: %s", e.Identity.ID)
			}
			delete(bound, e.Identity.ID)
		}
	case signing.EventMailboxRecovered:
		// Recovery reaches only the holder's own mailbox: the holder the
		// address was proven for, and it replaces every binding.
		if e.Identity == nil || e.Identity.ID == "" || e.JWK == nil {
			return f, fmt.Errorf("MailboxRecovered names no identity and key")
		}
		if f.Holder != "" && e.Holder != f.Holder {
			return f, fmt.Errorf("MailboxRecovered for holder %q of a mailbox of holder %q", e.Holder, f.Holder)
		}
		spki, err := spkiOfJWK(e.JWK)
		if err != nil {
			return f, err
		}
		bound = map[string]string{e.Identity.ID: spki}
	default:
		return f, fmt.Errorf("%s is not a mailbox event", e.Event)
	}
	f.Bound = bound
	return f, nil
}

// spkiOfJWK is the hex SHA-256 of the key's subjectPublicKeyInfo, the form
// credential rows keep (certs.Identity.SPKISHA256).
func spkiOfJWK(k *signing.JWK) (string, error) {
	pub, err := k.PublicKey()
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}
