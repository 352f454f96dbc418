package reliability_test

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the kernel SIGKILL a server subprocess when the test
// process dies (a timeout, a killed `go test`), so no `npes serve` outlives
// the suite: t.Cleanup runs only when the test process ends normally.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
