//go:build !unix

package printagent

import (
	"errors"
	"fmt"
)

// ErrSpoolBusy means another agent holds the spool directory.
var ErrSpoolBusy = errors.New("printagent: another print agent is using this spool directory")

// lockDir refuses: without flock(2) two agents could share a spool
// directory and print a letter twice.
func lockDir(path string) (func(), error) {
	return nil, fmt.Errorf("printagent: lock %s: %w", path, errors.ErrUnsupported)
}
