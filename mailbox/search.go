package mailbox

import (
	"slices"
	"strings"
	"time"
	"unicode"
)

// MaxSearchLen bounds a search text (runes): a longer one is cut.
const MaxSearchLen = 100

// LetterFilter narrows a folder listing. Zero values select everything.
type LetterFilter struct {
	// Search matches the sender's name, the subject, the recipient's name
	// (case-insensitive, any script) or the tracking number.
	Search string
	// State keeps letters in this state only ("" any).
	State string
	// Registered: "yes" registered letters only, "no" simple ones only.
	Registered string
	// Unread keeps inbox letters whose content the caller has not had.
	Unread bool
	// Since and Until bound the creation time: Since <= created < Until.
	Since, Until time.Time
}

// SearchText is the text a letter is found by, normalized as NormalizeSearch
// normalizes a query: the sender's name, the subject and the recipient's
// name. A recipient named only by mailbox (RecipientByMailbox) is left out:
// the sender must not find the holder's name by guessing it.
func SearchText(l Letter) string {
	parts := []string{l.SenderName, l.Subject}
	if !l.RecipientByMailbox {
		parts = append(parts, l.RecipientName)
	}
	return NormalizeSearch(strings.Join(parts, " \u001f "))
}

// NormalizeSearch folds case (Unicode, so Cyrillic too: SQLite's LOWER and
// LIKE fold ASCII only, which is why the stores keep a folded copy), maps ё
// to е as readers do, and collapses white space.
func NormalizeSearch(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == 'ё' || r == 'Ё':
			return 'е'
		case r == '\u001f':
			return r
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r):
			return -1
		}
		return unicode.ToLower(r)
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// States are every letter state, in the order a letter usually meets them.
var States = []string{StateAwaitingAcceptance, StateDelivered, StateRead, StateAccepted, StateRefused, StateExpired,
	StatePrintQueued, StatePrinted, StatePosted, StatePhysicallyDelivered, StateDeliveryFailed, StateReturned,
	StatePrintDead, StateRecalled}

func knownState(s string) bool { return slices.Contains(States, s) }
