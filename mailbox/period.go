package mailbox

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParsePeriod reads an acceptance period as senders write it, the same way
// for every way in (the CLI's flags, the API's print_if_unsigned_after and
// acceptance_period, the SMTP X-Npes-* headers): a Go duration ("240h",
// "36h30m") optionally led by whole days ("10d", "1d12h"). A day is 24
// hours: periods are counted on the server's clock, not the calendar.
// Only positive periods parse; whether one is within the limits is
// Validate's business.
func ParsePeriod(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a period such as 10d, 240h or 1d12h", s)
	if s == "" || strings.ContainsAny(s, "+- \t") {
		return 0, bad
	}
	var days int64
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n < 0 || n > maxPeriodDays {
			return 0, bad
		}
		days, rest = n, s[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, bad
		}
	}
	d += time.Duration(days) * 24 * time.Hour
	if d <= 0 {
		return 0, errors.New("a period must be longer than zero")
	}
	return d, nil
}

// maxPeriodDays keeps days*24h far from overflowing a Duration (about 292
// years); the limits allow far less.
const maxPeriodDays = 100 * 366

// FormatPeriod writes a period the way ParsePeriod reads it, in whole days
// when it is whole days ("90d"), else as a Go duration.
func FormatPeriod(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}
