package mailbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"

	"github.com/npes/npes/signing"
)

// storedStates are the states a letter row may hold.
var storedStates = []string{StateDelivered, StateRead, StateAwaitingAcceptance, StateAccepted, StateRefused,
	StateExpired, StatePrintQueued, StatePrinted, StatePosted, StatePhysicallyDelivered, StateDeliveryFailed,
	StateReturned, StatePrintDead, StateRecalled}

// randomEvidence draws one letter event with random, sometimes wrong,
// route, recipient and details.
func randomEvidence(r *mrand.Rand, recipients []string) signing.Evidence {
	events := []signing.Event{signing.EventSubmissionAcceptance, signing.EventSubmissionRejection,
		signing.EventContentConsignment, signing.EventNotificationForAcceptance, signing.EventConsignmentAcceptance,
		signing.EventConsignmentRejection, signing.EventAcceptanceRejectionExpiry, signing.EventContentHandover,
		signing.EventContentAccessTracking, signing.EventRelayToNonERDS, signing.EventPrinted, signing.EventPosted,
		signing.EventDelivered, signing.EventDeliveryFailed, signing.EventReturnedToSender, signing.EventRecalled,
		signing.EventPrintRetried}
	ev := signing.Evidence{Event: events[r.IntN(len(events))]}
	ev.Route = []string{"", RouteElectronic, RoutePrint, "bogus"}[r.IntN(4)]
	ev.Recipient.Mailbox = recipients[r.IntN(len(recipients))]
	if r.IntN(2) == 0 {
		ev.Reason = ReasonPrintIfUnsigned
	}
	switch r.IntN(4) {
	case 0:
		ev.Details = map[string]string{"stage": "print"}
	case 1:
		ev.Details = map[string]string{"print_job": fmt.Sprint("job-", r.IntN(3)), "region": "220", "postcode": "220050"}
	case 2:
		ev.Details = map[string]string{"print_job": "job-x"}
	}
	return ev
}

// TestLetterTransitionsProperty walks random event sequences through the
// letter transition table and checks, after every accepted event, the
// properties access control and the print path rely on: a refused event
// changes nothing; every state after the routing event is a stored state;
// the recipient and an electronic route are fixed by SubmissionAcceptance
// and the route only ever changes to print, by RelayToNonERDS; the
// recipient can read a registered letter (accepted) only after a
// ConsignmentAcceptance; a letter has a print job exactly when it was
// relayed, and nothing is printed that was not; terminal states accept
// nothing that changes the state; and folding the accepted events again
// gives the same facts (audit sees what recording decided).
func TestLetterTransitionsProperty(t *testing.T) {
	r := mrand.New(mrand.NewPCG(13, 2026))
	recipients := []string{"", "m-1", "m-2"}
	// print_dead is left only by PrintRetried, back to print_queued (a
	// print centre or operator queued the dead job again).
	terminal := []string{StateRefused, StateRead, StatePhysicallyDelivered, StateReturned, StateRecalled}
	accepted := 0
	reached := map[string]bool{}
	for seq := 0; seq < 20000; seq++ {
		var f LetterFacts
		var log []signing.Evidence
		consigned, relayed, printed, handedOver := false, false, false, false
		for step := 0; step < 12; step++ {
			ev := randomEvidence(r, recipients)
			// Bias towards reachable events: half the time, an event the
			// table allows in the current state.
			if r.IntN(2) == 0 {
				if allowed := eventsFrom(f.State); len(allowed) > 0 {
					ev.Event = allowed[r.IntN(len(allowed))]
				}
			}
			// Bias towards valid histories: half the time, use the
			// letter's own route and recipient.
			if r.IntN(2) == 0 && f.State != "" {
				ev.Route, ev.Recipient.Mailbox = f.Route, f.Recipient
				if ev.Event == signing.EventRelayToNonERDS {
					ev.Route = RoutePrint
				}
			}
			next, err := NextLetter(f, &ev)
			if err != nil {
				if next != f {
					t.Fatalf("seq %d: a refused %s changed the facts: %+v → %+v", seq, ev.Event, f, next)
				}
				continue
			}
			accepted++
			prev := f
			f = next
			log = append(log, ev)
			switch ev.Event {
			case signing.EventConsignmentAcceptance:
				consigned = true
			case signing.EventRelayToNonERDS:
				relayed = true
			case signing.EventPrinted:
				printed = true
			case signing.EventContentAccessTracking, signing.EventContentHandover:
				handedOver = true
			case signing.EventRecalled:
				// A sender recalls only what the recipient does not have
				// and the print centre has not printed.
				if consigned || handedOver || printed {
					t.Fatalf("seq %d: recalled after the content was handed over or printed: %v", seq, events(log))
				}
			}
			reached[f.State] = true
			if f.State != stateSubmitted && !slices.Contains(storedStates, f.State) {
				t.Fatalf("seq %d: %s led to state %q", seq, ev.Event, f.State)
			}
			if prev.State != "" && f.Recipient != prev.Recipient {
				t.Fatalf("seq %d: %s changed the recipient %q → %q", seq, ev.Event, prev.Recipient, f.Recipient)
			}
			if prev.State != "" && f.Route != prev.Route && (ev.Event != signing.EventRelayToNonERDS || f.Route != RoutePrint) {
				t.Fatalf("seq %d: %s changed the route %q → %q", seq, ev.Event, prev.Route, f.Route)
			}
			if (f.Route == RouteElectronic) != (f.Recipient != "") && !relayed {
				t.Fatalf("seq %d: route %s with recipient %q", seq, f.Route, f.Recipient)
			}
			if f.State == StateAccepted && !consigned {
				t.Fatalf("seq %d: accepted without ConsignmentAcceptance: %v", seq, events(log))
			}
			if (f.PrintJob != "") != relayed || (printed && !relayed) {
				t.Fatalf("seq %d: print job %q, relayed %v, printed %v: %v", seq, f.PrintJob, relayed, printed, events(log))
			}
			if slices.Contains(terminal, prev.State) && f.State != prev.State {
				t.Fatalf("seq %d: terminal state %s left by %s", seq, prev.State, ev.Event)
			}
			if prev.State == StatePrintDead && (ev.Event != signing.EventPrintRetried || f.State != StatePrintQueued) {
				t.Fatalf("seq %d: print_dead left by %s to %s", seq, ev.Event, f.State)
			}
			if ev.Event == signing.EventPrintRetried && prev.State != StatePrintDead {
				t.Fatalf("seq %d: PrintRetried after %s", seq, prev.State)
			}
		}
		var again LetterFacts
		for i := range log {
			var err error
			if again, err = NextLetter(again, &log[i]); err != nil {
				t.Fatalf("seq %d: refolding refused %s: %v", seq, log[i].Event, err)
			}
		}
		if again != f {
			t.Fatalf("seq %d: refold %+v, recorded %+v", seq, again, f)
		}
	}
	t.Logf("%d events accepted", accepted)
	for _, st := range storedStates {
		if !reached[st] {
			t.Errorf("no random sequence reached state %s", st)
		}
	}
	if accepted < 40000 {
		t.Fatalf("only %d events accepted: the generator hardly reaches the table", accepted)
	}
}

// eventsFrom lists the events the table allows in a state, in a fixed
// order.
func eventsFrom(state string) []signing.Event {
	var out []signing.Event
	for ev, rule := range letterRules {
		if slices.Contains(rule.from, state) {
			out = append(out, ev)
		}
	}
	slices.Sort(out)
	return out
}

func events(log []signing.Evidence) []signing.Event {
	out := make([]signing.Event, len(log))
	for i, e := range log {
		out[i] = e.Event
	}
	return out
}

// TestMailboxTransitionsProperty walks random mailbox entries through the
// mailbox table against a plain model: the bound set is exactly the
// identities bound and not unbound since, each with its key; a mailbox is
// active exactly between a MailboxActivated and a MailboxDeactivated, with
// the match key and holder the activation named; a refused entry changes
// nothing.
func TestMailboxTransitionsProperty(t *testing.T) {
	r := mrand.New(mrand.NewPCG(6, 13))
	keys := make([]*signing.JWK, 3)
	spkis := make([]string, 3)
	for i := range keys {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		jwk, err := signing.NewJWK(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = &jwk
		if spkis[i], err = spkiOfJWK(&jwk); err != nil {
			t.Fatal(err)
		}
	}
	for seq := 0; seq < 5000; seq++ {
		var f MailboxFacts
		model := map[string]string{}
		activated := false
		for step := 0; step < 10; step++ {
			var e signing.MailboxEntry
			i := r.IntN(len(keys))
			switch r.IntN(5) {
			case 4:
				holder := "pn:1"
				if r.IntN(4) == 0 {
					holder = "pn:2" // another holder's: refused once the address is proven
				}
				e = signing.MailboxEntry{Event: signing.EventMailboxRecovered, Holder: holder, How: "recovery-code",
					Identity: &signing.CredentialIdentity{ID: fmt.Sprint("id-", i)}, JWK: keys[i]}
			case 0:
				e = signing.MailboxEntry{Event: signing.EventMailboxActivated, Holder: "pn:1", MatchKey: fmt.Sprint("k", r.IntN(2))}
			case 3:
				e = signing.MailboxEntry{Event: signing.EventMailboxDeactivated}
			case 1:
				e = signing.MailboxEntry{Event: signing.EventCredentialBound, Identity: &signing.CredentialIdentity{ID: fmt.Sprint("id-", i)}, JWK: keys[i]}
			default:
				e = signing.MailboxEntry{Event: signing.EventCredentialUnbound, Identity: &signing.CredentialIdentity{ID: fmt.Sprint("id-", i)}, JWK: keys[i]}
			}
			before := f
			next, err := NextMailbox(f, &e)
			id := fmt.Sprint("id-", i)
			_, isBound := model[id]
			want := true
			switch e.Event {
			case signing.EventMailboxActivated:
				want = !activated
			case signing.EventMailboxDeactivated:
				want = activated
			case signing.EventCredentialBound:
				want = !isBound
			case signing.EventMailboxRecovered:
				want = f.Holder == "" || e.Holder == f.Holder
			default:
				want = isBound
			}
			if (err == nil) != want {
				t.Fatalf("seq %d: %s of %s (bound %v, activated %v): err %v", seq, e.Event, id, isBound, activated, err)
			}
			if err != nil {
				if before.Status != f.Status || len(before.Bound) != len(f.Bound) {
					t.Fatalf("seq %d: a refused entry changed the facts", seq)
				}
				continue
			}
			f = next
			switch e.Event {
			case signing.EventMailboxActivated:
				activated = true
				if f.MatchKey != e.MatchKey {
					t.Fatalf("seq %d: activation set match key %q, entry names %q", seq, f.MatchKey, e.MatchKey)
				}
			case signing.EventMailboxDeactivated:
				activated = false
				if f.MatchKey != "" || f.Holder != "" {
					t.Fatalf("seq %d: a deactivated mailbox keeps match key %q", seq, f.MatchKey)
				}
			case signing.EventCredentialBound:
				model[id] = spkis[i]
			case signing.EventMailboxRecovered:
				model = map[string]string{id: spkis[i]}
			default:
				delete(model, id)
			}
			if (f.Status == StatusActive) != activated {
				t.Fatalf("seq %d: status %s, activated %v", seq, f.Status, activated)
			}
			if len(f.Bound) != len(model) {
				t.Fatalf("seq %d: bound %v, model %v", seq, f.Bound, model)
			}
			for k, v := range model {
				if f.Bound[k] != v {
					t.Fatalf("seq %d: bound %v, model %v", seq, f.Bound, model)
				}
			}
		}
	}
}
