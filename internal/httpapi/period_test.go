package httpapi

import (
	"errors"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

// TestParsePeriodField checks that the API reads periods with
// mailbox.ParsePeriod, days included, and refuses others as bad_period.
func TestParsePeriodField(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		code string
	}{
		{"", 0, ""},
		{"10d", 240 * time.Hour, ""},
		{"240h", 240 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"soon", 0, "bad_period"},
		{"-1d", 0, "bad_period"},
		{"10 days", 0, "bad_period"},
	} {
		got, err := parsePeriod("print_if_unsigned_after", tc.in)
		var me *mailbox.Error
		switch {
		case tc.code == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.code != "" && (!errors.As(err, &me) || me.Code != tc.code):
			t.Errorf("%q: error %v, want code %s", tc.in, err, tc.code)
		}
	}
}
