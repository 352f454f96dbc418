package app_test

import (
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/httpapi"
)

func TestRateLimitPerIdentity(t *testing.T) {
	t.Parallel()
	b := setupWith(t, "", func(c *app.Config) { c.RateLimit = httpapi.RateLimit{PerSecond: 0.5, Burst: 3} })
	noisy := b.party(t, citizenReq)
	quiet := b.party(t, certs.Request{Role: certs.RolePerson, Name: "Петров Пётр", PersonalID: "3140582A002PB4"})
	var limited bool
	for range 6 {
		req := b.base + "/v1/whoami"
		resp, err := noisy.c.Get(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 429 {
			limited = true
			if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Fatalf("429 without a Retry-After: %q", ra)
			}
		}
	}
	if !limited {
		t.Fatal("6 requests at a burst of 3 were never limited")
	}
	// Another identity is unaffected.
	if status, _, err := get(t, quiet.c, b.base+"/v1/whoami"); err != nil || status != 200 {
		t.Fatalf("other identity: %d %v", status, err)
	}
	// The limit refills with time.
	b.clock.Advance(10 * time.Second)
	if status, _, err := get(t, noisy.c, b.base+"/v1/whoami"); err != nil || status != 200 {
		t.Fatalf("after refill: %d %v", status, err)
	}
}
