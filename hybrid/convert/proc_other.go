//go:build !unix

package convert

import (
	"os"
	"os/exec"
)

// isolate has no process groups to use here; New fails before any
// conversion, since the sandbox (bubblewrap) exists on Linux only.
func isolate(*exec.Cmd) {}

func exceededLimits(*os.ProcessState) bool { return false }
