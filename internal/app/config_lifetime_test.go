package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/internal/app"
)

func TestConnMaxLifetimeSetting(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env     string
		want    time.Duration
		wantErr string // part of Start's error; empty: Start gets past the setting
	}{
		{"", 0, ""}, // zero: the default, filled by Start
		{"90s", 90 * time.Second, ""},
		{"1h", time.Hour, ""},
		{"5", 0, `NPES_CONN_MAX_LIFETIME: "5" is not a duration`},
		{"500ms", 0, `NPES_CONN_MAX_LIFETIME: "500ms" is shorter than the minimum of 1s`},
		{"-1m", 0, `NPES_CONN_MAX_LIFETIME: "-1m" is shorter than the minimum of 1s`},
	}
	for _, c := range cases {
		cfg := app.FromEnv(func(k string) string {
			if k == "NPES_CONN_MAX_LIFETIME" {
				return c.env
			}
			return ""
		})
		if c.wantErr == "" {
			if cfg.ConnMaxLifetime != c.want {
				t.Errorf("NPES_CONN_MAX_LIFETIME=%q: %s, want %s", c.env, cfg.ConnMaxLifetime, c.want)
			}
			continue
		}
		cfg.DataDir = t.TempDir()
		if srv, err := app.Start(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), c.wantErr) {
			if srv != nil {
				_ = srv.Shutdown(t.Context())
			}
			t.Errorf("NPES_CONN_MAX_LIFETIME=%q: Start error %v, want %q", c.env, err, c.wantErr)
		}
		// A flag replaces even an unparsable environment value.
		cfg.SetConnMaxLifetime(2 * time.Minute)
		if cfg.ConnMaxLifetime != 2*time.Minute {
			t.Errorf("after SetConnMaxLifetime: %s", cfg.ConnMaxLifetime)
		}
	}
}
