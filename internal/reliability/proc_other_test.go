//go:build !linux

package reliability_test

import "os/exec"

// dieWithTest: only Linux has a parent-death signal; elsewhere t.Cleanup
// alone stops the servers.
func dieWithTest(*exec.Cmd) {}
