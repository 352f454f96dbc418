//go:build unix

package printagent

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrSpoolBusy means another agent holds the spool directory.
var ErrSpoolBusy = errors.New("printagent: another print agent is using this spool directory")

// lockDir takes an exclusive flock(2) on path. The kernel drops it when the
// process dies, so a crashed agent never leaves a stale lock behind.
func lockDir(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("printagent: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s)", ErrSpoolBusy, path)
		}
		return nil, fmt.Errorf("printagent: lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
