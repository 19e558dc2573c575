package hostchecks

import (
	"errors"
	"io/fs"
)

// describeFSError is the cause of a filesystem error without its path, for
// messages that name the path themselves ("read: permission denied" about
// /etc/logrotate.d/x).
func describeFSError(err error) string {
	return pathErrorCause(err).Error()
}

// pathErrorCause unwraps an *fs.PathError to its cause (an errno, which
// errors.Is still matches against fs.ErrNotExist and the like). Code that
// reads local paths directly (the container log and memcg walks, a file
// opened through probes.FS) names the host path in its own error instead.
func pathErrorCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
