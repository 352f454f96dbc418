package hybrid

import (
	"testing"

	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// TestPhysicalTransitionsFollowTheLetterTable: the order of physical
// events this package enforces is the letter transition table's (mailbox),
// which decides the state when the event is recorded and when npes audit
// folds the log; the two cannot drift apart.
func TestPhysicalTransitionsFollowTheLetterTable(t *testing.T) {
	for _, tr := range PhysicalTransitions() {
		for _, from := range tr.From {
			f := mailbox.LetterFacts{State: from, Route: mailbox.RoutePrint, PrintJob: "j"}
			ev := signing.Evidence{Event: tr.Event, Route: mailbox.RoutePrint}
			next, err := mailbox.NextLetter(f, &ev)
			if err != nil || next.State != tr.To {
				t.Errorf("%s after %s: the letter table gives %q (%v), this package %q", tr.Event, from, next.State, err, tr.To)
			}
		}
		// Before posting, the table refuses it as this package does.
		for _, from := range []string{mailbox.StatePrintQueued, mailbox.StatePrinted, mailbox.StateReturned, mailbox.StatePhysicallyDelivered} {
			ev := signing.Evidence{Event: tr.Event, Route: mailbox.RoutePrint}
			if _, err := mailbox.NextLetter(mailbox.LetterFacts{State: from, Route: mailbox.RoutePrint}, &ev); err == nil {
				t.Errorf("%s after %s: the letter table allows it", tr.Event, from)
			}
		}
	}
}
