package benchkit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nodetriage/nodetriage/internal/journalexport"
)

// JournalRemote is Debian's systemd-journal-remote, which writes real
// journal files from the journal export format.
const JournalRemote = journalexport.Remote

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
	fields := [][2]string{{"_BOOT_ID", boot}, {"_MACHINE_ID", MachineID}, {"_HOSTNAME", "nodetriage-bench"}}
	transport := "stdout"
	if e.Kernel {
		transport = "kernel"
		fields = append(fields, [2]string{"SYSLOG_FACILITY", "0"})
	}
	fields = append(fields, [2]string{"_TRANSPORT", transport}, [2]string{"PRIORITY", strconv.Itoa(e.Priority)})
	if e.Identifier != "" {
		fields = append(fields, [2]string{"SYSLOG_IDENTIFIER", e.Identifier})
	}
	if e.Unit != "" {
		fields = append(fields, [2]string{"_SYSTEMD_UNIT", e.Unit})
	}
	fields = append(fields, [2]string{"MESSAGE", e.Message})
	return journalexport.Append(b, journalexport.Entry{Time: t, Fields: fields})
}

// WriteJournal appends entries to the journal file at path (created when
// missing) with systemd-journal-remote.
func WriteJournal(path string, entries []JournalEntry) error {
	var b []byte
	for _, e := range entries {
		b = e.AppendExport(b)
	}
	return journalexport.Import(path, bytes.NewReader(b))
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
