package reliability_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Environment knobs of the suite (RELIABILITY.md). The defaults are the CI
// size: bounded so that `go test -race ./internal/reliability/` fits in a
// few minutes on two shared cores.
const (
	// EnvTrials is the number of kill -9 trials per crash scenario.
	EnvTrials = "NPES_RELIABILITY_TRIALS"
	// EnvScale multiplies the work per trial and per scenario: at 20 a crash
	// trial fires the 1,000 submissions.
	EnvScale = "NPES_RELIABILITY_SCALE"
	// EnvSeed fixes the random choices (kill moments, letter mix) to replay
	// a failing run; every test logs the seed it used.
	EnvSeed = "NPES_RELIABILITY_SEED"

	defaultTrials = 20
)

// knobs are the sizes one test runs at.
type knobs struct {
	trials int
	scale  float64
	seed   uint64
}

func knobsFor(t testing.TB) knobs {
	t.Helper()
	k := knobs{trials: defaultTrials, scale: 1, seed: uint64(time.Now().UnixNano())}
	if v := os.Getenv(EnvTrials); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", EnvTrials, v)
		}
		k.trials = n
	}
	if v := os.Getenv(EnvScale); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) {
			t.Fatalf("%s=%q: want a positive number", EnvScale, v)
		}
		k.scale = f
	}
	if v := os.Getenv(EnvSeed); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", EnvSeed, v)
		}
		k.seed = s
	}
	t.Logf("knobs: %s=%d %s=%g %s=%d", EnvTrials, k.trials, EnvScale, k.scale, EnvSeed, k.seed)
	return k
}

// n scales a CI-size count.
func (k knobs) n(base int) int { return max(1, int(math.Round(float64(base)*k.scale))) }

// rng is the test's source of random choices, derived from the seed and a
// per-test stream so parallel tests do not share one.
func (k knobs) rng(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(k.seed, stream)) }

// binaries builds the npes binary once per test process, on first use, so
// that fuzzing workers and tests that run no subprocess never pay for it.
// It is the suite's only package-level state and is written once.
var binaries = struct {
	dir  string
	once sync.Once
	path string
	err  error
}{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "npes-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binaries.dir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// npesBinary returns the path of an npes binary built from this tree
// (without -race: the subprocesses are the system under test, the race
// detector watches the test process).
func npesBinary(t testing.TB) string {
	t.Helper()
	binaries.once.Do(func() {
		p := filepath.Join(binaries.dir, "npes")
		cmd := exec.Command("go", "build", "-o", p, "github.com/npes/npes/cmd/npes")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaries.err = fmt.Errorf("go build ./cmd/npes: %v\n%s", err, out)
			return
		}
		binaries.path = p
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return binaries.path
}
