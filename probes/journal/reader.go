package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/sdjournal"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/probes"
)

// maxMessageBytes bounds the MESSAGE (and every other field) read per entry,
// so one huge entry cannot balloon memory. It is also libsystemd's default.
const maxMessageBytes = 64 * 1024

// waitTimeout bounds each sd_journal_wait, and so how long a cancelled stream
// takes to notice. New entries wake the wait at once (inotify).
const waitTimeout = time.Second

// errNoLibsystemd is go-systemd's dlopen.ErrSoNotFound text; the package is
// internal, so its sentinel cannot be matched with errors.Is.
const errNoLibsystemd = "unable to open a handle to the library"

// entryMsg is one line on its way from a reader to the sink, with the cursor
// to persist once the sink has it.
type entryMsg struct {
	line    probes.Line
	hostDir string
	cursor  string
}

// dirReader owns one sd_journal handle over one journal directory.
// sd_journal is not thread-safe: only the goroutine running run touches the
// handle, and it stays on one OS thread while doing so.
type dirReader struct {
	dir     string // local path
	hostDir string // host path, for lines, logs and the cursor file
	sel     selector
	follow  bool
	// since is where reading starts without a cursor.
	since time.Time
	// cursor is the last entry read (handed on or skipped); reading resumes
	// after it when the handle is reopened.
	cursor      string
	reopenEvery time.Duration
	// reopenAfter is how many entries a handle reads before it is reopened
	// even when it never catches up (see reopenAfterEntries).
	reopenAfter int
	clock       clock.PassiveClock
	log         *slog.Logger
	// check is Stream.checkDir for this directory. Every open goes through
	// it, not only the first: a directory deleted or emptied while the
	// agent runs must be reported, not opened as an empty journal that
	// reads nothing.
	check func() error
	// onUnread is set when positioning left the handle on an entry that
	// has not been read yet, so the loop reads it before calling Next.
	onUnread bool
	// opens counts handles opened (tests check that reopening happens).
	opens int
}

// unreadableDirError is the reader's end when its directory failed
// checkDir: it is gone, has no journal files any more, or none readable.
// Run waits for such a host directory to come back rather than failing.
type unreadableDirError struct{ err error }

func (e *unreadableDirError) Error() string { return e.err.Error() }
func (e *unreadableDirError) Unwrap() error { return e.err }

// run reads entries into out until the directory is read to the end (not
// following), ctx is done, or the directory cannot be read any more
// (*unreadableDirError). r.cursor is where it stopped.
func (r *dirReader) run(ctx context.Context, out chan<- entryMsg) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	j, err := r.open()
	if err != nil {
		return err
	}
	defer func() {
		if j != nil {
			j.Close()
		}
	}()
	openedAt := r.clock.Now()
	read := 0 // entries read through this handle

	for ctx.Err() == nil {
		if read >= r.reopenAfter && !r.onUnread {
			// Under a storm the handle may never reach the end, so the
			// idle reopen below never comes: bound the mmap windows by
			// volume too. r.cursor is the last entry consumed.
			j.Close()
			if j, err = r.open(); err != nil {
				return err
			}
			openedAt, read = r.clock.Now(), 0
			continue
		}
		n := uint64(1)
		if r.onUnread {
			r.onUnread = false
		} else if n, err = j.Next(); err != nil {
			return fmt.Errorf("journal %s: %w", r.hostDir, err)
		}
		if n == 0 {
			if !r.follow {
				return nil
			}
			if r.clock.Since(openedAt) >= r.reopenEvery {
				// A long-lived handle keeps an fd and mmap window for every
				// file journald ever rotated into the directory.
				j.Close()
				if j, err = r.open(); err != nil {
					return err
				}
				openedAt, read = r.clock.Now(), 0
				continue
			}
			switch st := j.Wait(waitTimeout); {
			case st < 0:
				// No inotify (limit reached): poll instead.
				select {
				case <-ctx.Done():
				case <-time.After(waitTimeout):
				}
			case st == sdjournal.SD_JOURNAL_INVALIDATE:
				// Files were added or removed (a rotation, a vacuum, or
				// the directory deleted): libsystemd drops what went
				// away and reads on, so without a look a deleted
				// directory would be a quiet journal until the reopen.
				if err := r.check(); err != nil {
					return &unreadableDirError{err: err}
				}
			}
			continue
		}
		read++
		cursor, err := j.GetCursor()
		if err != nil {
			r.log.Debug("skipping journal entry without a cursor", "dir", r.hostDir, "err", err)
			continue
		}
		msg, ok, err := r.entry(j)
		if err != nil {
			r.log.Debug("skipping unreadable journal entry", "dir", r.hostDir, "err", err)
		}
		if !ok {
			r.cursor = cursor
			continue
		}
		msg.cursor = cursor
		select {
		case out <- msg:
			r.cursor = msg.cursor
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// open opens the directory with the stream's matches and positions the
// handle after the cursor, or at since.
func (r *dirReader) open() (*sdjournal.Journal, error) {
	if err := r.check(); err != nil {
		return nil, &unreadableDirError{err: err}
	}
	j, err := sdjournal.NewJournalFromDir(r.dir)
	if err != nil {
		if err.Error() == errNoLibsystemd {
			return nil, fmt.Errorf("libsystemd.so.0 not found (install libsystemd0): %w", err)
		}
		return nil, fmt.Errorf("open journal %s: %w", r.hostDir, err)
	}
	r.opens++
	if err := r.setUp(j); err != nil {
		j.Close()
		return nil, fmt.Errorf("journal %s: %w", r.hostDir, err)
	}
	return j, nil
}

func (r *dirReader) setUp(j *sdjournal.Journal) error {
	if err := j.SetDataThreshold(maxMessageBytes); err != nil {
		return err
	}
	first := true
	for _, group := range r.sel.matches() {
		if len(group) == 0 {
			continue
		}
		if !first {
			if err := j.AddDisjunction(); err != nil {
				return err
			}
		}
		first = false
		for _, m := range group {
			if err := j.AddMatch(m); err != nil {
				return err
			}
		}
	}
	if r.cursor != "" {
		err := r.seekAfterCursor(j)
		if err == nil {
			return nil
		}
		r.log.Warn("journal cursor unusable; starting from the look-back window", "dir", r.hostDir, "err", err)
		r.cursor = ""
	}
	if r.since.IsZero() {
		// Start at the end: step onto the last entry so that the next
		// Next() returns only entries added from now on.
		if err := j.SeekTail(); err != nil {
			return err
		}
		n, err := j.Previous()
		if err != nil || n == 0 {
			return err
		}
		r.cursor, err = j.GetCursor()
		return err
	}
	return j.SeekRealtimeUsec(uint64(r.since.UnixMicro()))
}

// seekAfterCursor positions the handle after the cursor's entry.
// sd_journal_seek_cursor followed by Next lands on the cursor's entry if it
// still exists; otherwise (the journal was vacuumed meanwhile) on the nearest
// entry after it, which has not been read and must not be skipped. Stepping
// back with Previous does not work for that: at the head of the journal it
// does not move.
func (r *dirReader) seekAfterCursor(j *sdjournal.Journal) error {
	r.onUnread = false
	if err := j.SeekCursor(r.cursor); err != nil {
		return err
	}
	n, err := j.Next()
	if err != nil || n == 0 {
		return err
	}
	r.onUnread = j.TestCursor(r.cursor) != nil
	return nil
}

// entry reads the current entry (without its cursor); false means it is not
// for this stream.
func (r *dirReader) entry(j *sdjournal.Journal) (entryMsg, bool, error) {
	fields := make(map[string]string, len(entryFields))
	for _, name := range entryFields {
		v, err := j.GetDataValue(name)
		if errors.Is(err, syscall.ENOENT) {
			continue
		}
		if err != nil {
			return entryMsg{}, false, fmt.Errorf("read %s: %w", name, err)
		}
		fields[name] = v
	}
	text, hasText := fields[fieldMessage]
	src, ok := r.sel.source(fields)
	if !ok || !hasText {
		return entryMsg{}, false, nil
	}
	usec, err := j.GetRealtimeUsec()
	if err != nil {
		return entryMsg{}, false, err
	}
	var evidence map[string]string
	for _, name := range evidenceFields {
		if v, ok := fields[name]; ok {
			if evidence == nil {
				evidence = make(map[string]string, len(evidenceFields))
			}
			evidence[name] = v
		}
	}
	return entryMsg{
		line: probes.Line{
			Source: src,
			Time:   time.UnixMicro(int64(usec)),
			Text:   text,
			BootID: formatBootID(fields[fieldBootID]),
			Origin: "journal " + r.hostDir,
			Fields: evidence,
		},
		hostDir: r.hostDir,
	}, true, nil
}
