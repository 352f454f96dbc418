//go:build !race

package hybrid

// raceEnabled: this test binary runs under the race detector.
const raceEnabled = false
