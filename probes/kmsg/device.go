package kmsg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nodetriage/nodetriage/probes"
)

// devicePath is the kernel log device, a host path.
const devicePath = "/dev/kmsg"

// recordBufferSize is the read buffer. One read(2) returns exactly one
// record and fails with EINVAL if the record does not fit; older kernels
// format records up to CONSOLE_EXT_LOG_MAX (8192) bytes, newer ones up to
// PRINTK_MESSAGE_MAX (2048) (signals §7.2).
const recordBufferSize = 8192

// device is an open /dev/kmsg. Read returns one record per call; in follow
// mode it waits for the next record (until the context given to open is
// done), otherwise it returns io.EOF once the reader has caught up.
type device struct {
	f      *os.File
	raw    syscall.RawConn
	follow bool
	stop   func() bool
}

// openDevice opens /dev/kmsg under the host root without blocking reads, so
// the Go runtime's poller waits for records and ctx can interrupt the wait.
func openDevice(ctx context.Context, host probes.FS, follow bool) (*device, error) {
	p, err := host.Path(devicePath)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	d := &device{f: f, raw: raw, follow: follow}
	if follow {
		// A deadline is how a blocked read learns that ctx is done; a file
		// the runtime cannot poll would ignore it and block forever.
		if err := f.SetReadDeadline(time.Time{}); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s cannot be polled: %w", p, err)
		}
		d.stop = context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
	}
	return d, nil
}

// seek positions the reader: whence is unix.SEEK_DATA (first record after the
// last "dmesg -c"), unix.SEEK_SET (oldest record) or unix.SEEK_END.
func (d *device) seek(whence int) error {
	_, err := d.f.Seek(0, whence)
	if err != nil && whence == unix.SEEK_DATA {
		_, err = d.f.Seek(0, io.SeekStart)
	}
	return err
}

func (d *device) Read(p []byte) (int, error) {
	var n int
	var readErr error
	err := d.raw.Read(func(fd uintptr) bool {
		for {
			n, readErr = unix.Read(int(fd), p)
			if readErr != unix.EINTR {
				break
			}
		}
		// Returning false makes the runtime wait until the fd is readable.
		return readErr != unix.EAGAIN || !d.follow
	})
	if err != nil {
		return 0, err
	}
	if readErr == unix.EAGAIN {
		return 0, io.EOF
	}
	if readErr != nil {
		return 0, readErr
	}
	return n, nil
}

func (d *device) Close() error {
	if d.stop != nil {
		d.stop()
	}
	return d.f.Close()
}

// CanRead reports whether /dev/kmsg under the host root can be opened for
// reading. It fails without CAP_SYSLOG (kernel.dmesg_restrict=1), when the
// kernel was booted with printk.devkmsg=off (EPERM even for readers), or when
// the device is not mounted into the container (ENOENT). The journal stream
// uses it to decide whether to read the kernel transport instead.
func CanRead(host probes.FS) error {
	p, err := host.Path(devicePath)
	if err != nil {
		return err
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: devicePath, Err: err} // the host path, as probes.FS errors name it
	}
	unix.Close(fd)
	return nil
}

// unreadable says whether an open error means "this node will not let us
// read the kernel log" (as opposed to a transient failure).
func unreadable(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENXIO)
}

// monotonicNow is CLOCK_MONOTONIC, the clock that, like printk's
// local_clock(), stops across suspend (signals §7.3).
func monotonicNow() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
