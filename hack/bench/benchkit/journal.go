package benchkit

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// JournalRemote is Debian's systemd-journal-remote, which writes real
// journal files from the journal export format.
const JournalRemote = "/lib/systemd/systemd-journal-remote"

// JournalEntry is one journal entry to write.
type JournalEntry struct {
	Time       time.Time
	Identifier string // SYSLOG_IDENTIFIER, e.g. "kubelet" or "kernel"
	Unit       string // _SYSTEMD_UNIT, optional
	// Kernel marks a kernel-transport entry (_TRANSPORT=kernel,
	// SYSLOG_FACILITY=0).
	Kernel   bool
	Message  string
	Priority int
	// BootID is the 32-hex-digit _BOOT_ID; the machine's when empty.
	BootID string
}

var (
	bootIDOnce sync.Once
	bootID     string
)

// MachineBootID is this boot's ID in the journal's form (no dashes).
func MachineBootID() string {
	bootIDOnce.Do(func() {
		b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
		if err == nil {
			bootID = strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
		}
	})
	return bootID
}

// AppendExport writes e in the journal export format.
func (e JournalEntry) AppendExport(b []byte) []byte {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	boot := e.BootID
	if boot == "" {
		boot = MachineBootID()
	}
	b = fmt.Appendf(b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n_MACHINE_ID=%s\n_HOSTNAME=nodetriage-bench\n",
		t.UnixMicro(), t.UnixMicro()%(1<<40), boot, MachineID)
	transport := "stdout"
	if e.Kernel {
		transport = "kernel"
		b = append(b, "SYSLOG_FACILITY=0\n"...)
	}
	b = fmt.Appendf(b, "_TRANSPORT=%s\nPRIORITY=%d\n", transport, e.Priority)
	if e.Identifier != "" {
		b = fmt.Appendf(b, "SYSLOG_IDENTIFIER=%s\n", e.Identifier)
	}
	if e.Unit != "" {
		b = fmt.Appendf(b, "_SYSTEMD_UNIT=%s\n", e.Unit)
	}
	if strings.ContainsRune(e.Message, '\n') {
		// Binary-safe field: name, newline, little-endian 64-bit size, data.
		b = append(b, "MESSAGE\n"...)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(e.Message)))
		b = append(b, e.Message...)
		b = append(b, '\n')
	} else {
		b = append(b, "MESSAGE="...)
		b = append(b, e.Message...)
		b = append(b, '\n')
	}
	return append(b, '\n')
}

// WriteJournal appends entries to the journal file at path (created when
// missing) with systemd-journal-remote.
func WriteJournal(path string, entries []JournalEntry) error {
	var b []byte
	for _, e := range entries {
		b = e.AppendExport(b)
	}
	cmd := exec.Command(JournalRemote, "-o", path, "-")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s -o %s: %w: %s", JournalRemote, path, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// JournalStream feeds entries to one long-running systemd-journal-remote
// writing path, for sustained rates.
type JournalStream struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	w     *bufio.Writer
	buf   []byte
	out   bytes.Buffer
}

// StartJournalStream starts systemd-journal-remote reading export format
// from a pipe.
func StartJournalStream(path string) (*JournalStream, error) {
	s := &JournalStream{cmd: exec.Command(JournalRemote, "-o", path, "-")}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	stdin, err := s.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	s.stdin, s.w = stdin, bufio.NewWriterSize(stdin, 256<<10)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", JournalRemote, err)
	}
	return s, nil
}

// Write queues one entry; Flush hands queued entries to journal-remote.
func (s *JournalStream) Write(e JournalEntry) error {
	s.buf = e.AppendExport(s.buf[:0])
	_, err := s.w.Write(s.buf)
	return err
}

// Flush writes the queued entries to journal-remote.
func (s *JournalStream) Flush() error { return s.w.Flush() }

// Close flushes, ends the input and waits for journal-remote to finish.
func (s *JournalStream) Close() error {
	ferr := s.w.Flush()
	s.stdin.Close()
	if err := s.cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w: %s", JournalRemote, err, strings.TrimSpace(s.out.String()))
	}
	return ferr
}

// Pid is journal-remote's process ID (to account for its CPU).
func (s *JournalStream) Pid() int { return s.cmd.Process.Pid }

// ArchivedJournalName is the name journald gives a file it rotated away:
// system@<seqnum id>-<head seqnum>-<head realtime>.journal.
func ArchivedJournalName(n int, at time.Time) string {
	return fmt.Sprintf("system@%032x-%016x-%016x.journal", n, n, at.UnixMicro())
}
