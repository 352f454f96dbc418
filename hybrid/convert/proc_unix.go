//go:build unix

package convert

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

// isolate puts the converter in its own process group and makes a
// cancellation (the timeout) kill the whole group: LibreOffice's start
// script, oosplash and soffice.bin are three processes, and a document
// must not leave any of them behind. The sandbox's PID namespace and
// --die-with-parent kill what could have left the group.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// Output pipes held open by a stray process do not hold Wait up.
	cmd.WaitDelay = 5 * time.Second
}

// exceededLimits reports a converter killed by a resource limit: the CPU
// limit's SIGXCPU or SIGKILL, which bwrap reports as exit status 128+signal.
func exceededLimits(ps *os.ProcessState) bool {
	if ps == nil {
		return false
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal() == syscall.SIGXCPU || ws.Signal() == syscall.SIGKILL
	}
	code := ps.ExitCode()
	return code == 128+int(syscall.SIGXCPU) || code == 128+int(syscall.SIGKILL)
}
