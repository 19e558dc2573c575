package benchkit

import (
	"fmt"
	"os"
)

// kmsgWritesPerOpen stays within the kernel's per-open-file rate limit on
// /dev/kmsg writes (DEFAULT_RATELIMIT_BURST, 10 per 5 s) when
// kernel.printk_devkmsg is "ratelimit", the default: the limit belongs to
// the open file (devkmsg_user.rs in kernel/printk/printk.c), so reopening
// every 10 writes lets user space log at any rate without changing a
// kernel setting.
const kmsgWritesPerOpen = 10

// KmsgWriter writes records to /dev/kmsg. They arrive with facility user
// (1), never kernel: the agent reads them as kmsg-user lines, which no
// kernel rule matches.
type KmsgWriter struct {
	path   string
	f      *os.File
	writes int
}

// NewKmsgWriter writes to the device at path ("/dev/kmsg").
func NewKmsgWriter(path string) *KmsgWriter { return &KmsgWriter{path: path} }

// WriteLine writes one record (at most about 1 KiB; the kernel truncates
// longer ones).
func (w *KmsgWriter) WriteLine(line string) error {
	if w.f == nil || w.writes == kmsgWritesPerOpen {
		if w.f != nil {
			w.f.Close()
		}
		f, err := os.OpenFile(w.path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", w.path, err)
		}
		w.f, w.writes = f, 0
	}
	w.writes++
	if _, err := w.f.Write([]byte(line)); err != nil {
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	return nil
}

// Close closes the device.
func (w *KmsgWriter) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
