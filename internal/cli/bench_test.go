package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchCommand(t *testing.T) {
	t.Parallel()
	profile := filepath.Join(t.TempDir(), "cpu.pprof")
	code, out, errs := npes(t, nil, "bench", "render", "--count", "3", "--concurrency", "1", "--json", "--quiet", "--cpuprofile", profile)
	if code != 0 {
		t.Fatalf("bench render: exit %d: %s", code, errs)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("want one JSON object, got %q (%v)", out, err)
	}
	if res["scenario"] != "render" || res["items"] != float64(3) || res["ratio"] == nil || res["baseline"] == nil {
		t.Fatalf("result %v", res)
	}
	if fi, err := os.Stat(profile); err != nil || fi.Size() == 0 {
		t.Fatalf("CPU profile: %v", err)
	}
	code, out, _ = npes(t, nil, "bench", "render", "--count", "2", "--concurrency", "1", "--no-baseline", "--quiet")
	if code != 0 || !strings.Contains(out, "items/s") || !strings.Contains(out, "no baseline") {
		t.Fatalf("table: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"bench"},
		{"bench", "nope"},
		{"bench", "lease", "--server", "https://127.0.0.1:1"},
		{"bench", "render", "--count", "-1"},
		{"bench", "render", "extra"},
		{"bench", "lease", "--report", "posted"},
	} {
		if code, _, errs := npes(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errs)
		}
	}
}
