package mailbox_test

import (
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

func TestParsePeriod(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration // 0: an error
	}{
		{"240h", 240 * time.Hour},
		{"10d", 10 * day},
		{"1d12h", 36 * time.Hour},
		{"1d30m", day + 30*time.Minute},
		{"90m", 90 * time.Minute},
		{"36h30m", 36*time.Hour + 30*time.Minute},
		{"0d1h", time.Hour},
		{"1d0h", day},
		{"", 0},
		{"d", 0},
		{"10", 0},
		{"10days", 0},
		{"1.5d", 0},
		{"d10", 0},
		{"10d10d", 0},
		{"-1d", 0},
		{"-240h", 0},
		{"+10d", 0},
		{"0d", 0},
		{"0h", 0},
		{"10 d", 0},
		{" 10d", 0},
		{"99999999d", 0},
		{"10D", 0},
		{"h", 0},
	} {
		got, err := mailbox.ParsePeriod(tc.in)
		if tc.want == 0 {
			if err == nil {
				t.Errorf("ParsePeriod(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePeriod(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatPeriod(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{90 * 24 * time.Hour, "90d"},
		{24 * time.Hour, "1d"},
		{36 * time.Hour, "36h0m0s"},
		{time.Hour, "1h0m0s"},
	} {
		if got := mailbox.FormatPeriod(tc.in); got != tc.want {
			t.Errorf("FormatPeriod(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if back, err := mailbox.ParsePeriod(mailbox.FormatPeriod(tc.in)); err != nil || back != tc.in {
			t.Errorf("ParsePeriod(FormatPeriod(%v)) = %v, %v", tc.in, back, err)
		}
	}
}
