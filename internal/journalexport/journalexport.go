// Package journalexport writes real journal files for tests and measurement
// programs: entries in systemd's journal export format, turned into a
// journal file by systemd-journal-remote (Debian package
// systemd-journal-remote), so the readers under test see what journald
// writes rather than a fake.
package journalexport

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Remote is Debian's systemd-journal-remote.
const Remote = "/lib/systemd/systemd-journal-remote"

// Entry is one journal entry: its realtime timestamp and its fields in
// order (trusted fields such as _BOOT_ID included), each a name and a value.
type Entry struct {
	Time   time.Time
	Fields [][2]string
}

// Append appends e to b in the export format. A value with a newline is
// written in the binary-safe form (name, newline, little-endian 64-bit
// size, data).
func Append(b []byte, e Entry) []byte {
	us := e.Time.UnixMicro()
	b = fmt.Appendf(b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n", us, us%(1<<40))
	for _, f := range e.Fields {
		if strings.ContainsRune(f[1], '\n') {
			b = append(b, f[0]...)
			b = append(b, '\n')
			b = binary.LittleEndian.AppendUint64(b, uint64(len(f[1])))
		} else {
			b = append(b, f[0]...)
			b = append(b, '=')
		}
		b = append(b, f[1]...)
		b = append(b, '\n')
	}
	return append(b, '\n')
}

// Write appends the entries to the journal file at path (created when
// missing) with systemd-journal-remote.
func Write(path string, entries []Entry) error {
	var b []byte
	for _, e := range entries {
		b = Append(b, e)
	}
	return Import(path, bytes.NewReader(b))
}

// Import runs systemd-journal-remote on export-format input, appending to
// the journal file at path.
func Import(path string, export io.Reader) error {
	if _, err := os.Stat(Remote); err != nil {
		return fmt.Errorf("%s is missing: apt-get install systemd-journal-remote", Remote)
	}
	cmd := exec.Command(Remote, "-o", path, "-")
	cmd.Stdin = export
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s -o %s: %w: %s", Remote, path, err, strings.TrimSpace(string(out)))
	}
	return nil
}
