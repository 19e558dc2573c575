package logfile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/nodetriage/nodetriage/probes"
)

// readChunk is the read buffer shared by all files of a stream.
const readChunk = 32 * 1024

// maxEventBatch bounds how many queued fsnotify events are handled before
// the glob is re-run once for all of them.
const maxEventBatch = 256

// tail follows one path.
type tail struct {
	spec FileSpec
	// host is the path as the host shows it (Origin of every line); local
	// is where it is opened here.
	host, local string
	// cur is the file at the path; nil between a rename and the creation of
	// the new file if the old one was already closed.
	cur *fileReader
	// old is the file that was at the path before a rotation. The writer
	// keeps appending to it until it reopens its log (logrotate's
	// postrotate), so it is drained, before cur, until oldSince+grace.
	old      *fileReader
	oldSince time.Time
	// goneSince is when the path was first seen missing.
	goneSince time.Time
}

// markBytes is how much of what was read last a fileReader remembers.
const markBytes = 64

// fileReader is one open file and the line it is in the middle of.
type fileReader struct {
	f      *os.File
	offset int64
	// mark is the last bytes before offset (up to markBytes), as read. A
	// file truncated and written again past offset before the tailer looks
	// never seems shorter; its bytes before offset differ instead.
	mark []byte
	// line holds the start of a line whose newline has not been read yet,
	// at most MaxLineBytes of it; overlong says bytes were dropped.
	line     []byte
	overlong bool
	cri      criJoiner
}

// tailer is the state of one Run: every tracked file and the inotify
// watches. Only the goroutine running Run touches it.
type tailer struct {
	s    *Stream
	ctx  context.Context // Run's: bounds waiting for room in the sink
	sink probes.Sink
	// blocking is sink when it can wait for room (the agent's queue): the
	// lines are on disk, so a burst is read at the consumer's pace rather
	// than dropped, and no more than one read chunk is held meanwhile.
	blocking probes.BlockingSink
	bootID   string
	since    time.Time        // non-follow only
	files    map[string]*tail // by host path
	byLocal  map[string]*tail
	watcher  *fsnotify.Watcher
	watched  map[string]bool
	buf      []byte
}

func newTailer(ctx context.Context, s *Stream, sink probes.Sink) *tailer {
	blocking, _ := sink.(probes.BlockingSink)
	return &tailer{
		s: s, ctx: ctx, sink: sink, blocking: blocking,
		files:   map[string]*tail{},
		byLocal: map[string]*tail{},
		watched: map[string]bool{},
		buf:     make([]byte, readChunk),
	}
}

// goneGrace is how long a file whose path disappeared is kept open (and
// drained) waiting for a new file at the path before it is forgotten.
func (t *tailer) goneGrace() time.Duration {
	return max(5*time.Second, 5*t.s.cfg.PollInterval.Duration)
}

// readAll reads every matching file from its start and closes it (check).
func (t *tailer) readAll(ctx context.Context) {
	for _, spec := range t.s.cfg.Files {
		for _, host := range t.glob(spec) {
			if ctx.Err() != nil {
				return
			}
			tl, err := t.newTail(spec, host, false)
			if err != nil {
				t.s.log.Warn("cannot read log file", "path", host, "err", err)
				continue
			}
			t.read(ctx, tl, tl.cur)
			t.finish(tl, tl.cur)
		}
	}
}

// follow tails until ctx is done.
func (t *tailer) follow(ctx context.Context) error {
	var w *fsnotify.Watcher
	err := errors.New("disabled by test")
	if !t.s.noInotify {
		w, err = fsnotify.NewWatcher()
	}
	if err != nil {
		t.s.log.Warn("no inotify for log files; polling only", "interval", t.s.cfg.PollInterval.Duration, "err", err)
	} else {
		t.watcher = w
		defer w.Close()
	}
	t.rescan(ctx, true)
	if t.s.afterFirstScan != nil {
		t.s.afterFirstScan()
	}

	ticker := time.NewTicker(t.s.cfg.PollInterval.Duration)
	defer ticker.Stop()
	var events <-chan fsnotify.Event
	var errs <-chan error
	if t.watcher != nil {
		events, errs = t.watcher.Events, t.watcher.Errors
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			rescan := t.handle(ctx, ev)
		batch:
			for range maxEventBatch {
				select {
				case ev, ok := <-events:
					if !ok {
						events = nil
						break batch
					}
					rescan = t.handle(ctx, ev) || rescan
				default:
					break batch
				}
			}
			if rescan {
				t.rescan(ctx, false)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// Typically an inotify queue overflow: events were lost, so
			// look at everything.
			t.s.log.Debug("inotify error; rescanning log files", "err", err)
			t.poll(ctx)
		case <-ticker.C:
			t.poll(ctx)
		}
	}
}

// handle reacts to one inotify event and says whether the globs should be
// re-run (something was created, renamed or removed).
func (t *tailer) handle(ctx context.Context, ev fsnotify.Event) bool {
	structural := ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Remove)
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		// inotify drops the watch of a directory that goes away.
		delete(t.watched, ev.Name)
	}
	if tl := t.byLocal[ev.Name]; tl != nil {
		t.check(ctx, tl)
	}
	return structural
}

// poll checks every tracked file and looks for new ones.
func (t *tailer) poll(ctx context.Context) {
	for _, tl := range t.files {
		t.check(ctx, tl)
	}
	t.rescan(ctx, false)
}

// rescan runs the globs, starts tailing new files and watches the
// directories where new files can appear. Files found by the first scan are
// read from their end (no replay of old logs); files found later are new and
// read from their start.
func (t *tailer) rescan(ctx context.Context, first bool) {
	for _, spec := range t.s.cfg.Files {
		for _, host := range t.glob(spec) {
			if _, ok := t.files[host]; ok {
				continue
			}
			tl, err := t.newTail(spec, host, first)
			if err != nil {
				t.s.log.Debug("cannot open log file", "path", host, "err", err)
				continue
			}
			t.files[host] = tl
			t.byLocal[tl.local] = tl
			t.watch(filepath.Dir(tl.local))
			t.read(ctx, tl, tl.cur)
		}
		if t.watcher == nil {
			continue
		}
		// The fixed part of the pattern (where new pod directories appear)
		// and the directories its last element is matched in.
		if dir, err := t.s.env.Host.Path(fixedPrefix(spec.Path)); err == nil {
			t.watch(dir)
		}
		dirs, _ := t.s.env.Host.Glob(filepath.Dir(spec.Path)) // the pattern was validated
		for _, d := range dirs {
			if local, err := t.s.env.Host.Path(d); err == nil {
				t.watch(local)
			}
		}
	}
}

// fixedPrefix is the longest directory of pattern without glob characters.
func fixedPrefix(pattern string) string {
	dir := filepath.Dir(pattern)
	for strings.ContainsAny(dir, `*?[\`) {
		dir = filepath.Dir(dir)
	}
	return dir
}

func (t *tailer) watch(dir string) {
	if t.watcher == nil || t.watched[dir] {
		return
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return
	}
	if err := t.watcher.Add(dir); err != nil {
		t.s.log.Debug("cannot watch log directory; relying on polling", "dir", dir, "err", err)
		return
	}
	t.watched[dir] = true
}

// glob lists the regular files matching spec, as host paths.
func (t *tailer) glob(spec FileSpec) []string {
	matches, err := t.s.env.Host.Glob(spec.Path)
	if err != nil {
		t.s.log.Debug("bad log file pattern", "pattern", spec.Path, "err", err)
		return nil
	}
	files := matches[:0]
	for _, m := range matches {
		if fi, err := t.s.env.Host.Stat(m); err == nil && fi.Mode().IsRegular() {
			files = append(files, m)
		}
	}
	return files
}

// newTail opens a file at its end or its start.
func (t *tailer) newTail(spec FileSpec, host string, atEnd bool) (*tail, error) {
	local, err := t.s.env.Host.Path(host)
	if err != nil {
		return nil, err
	}
	tl := &tail{spec: spec, host: host, local: local}
	if tl.cur, err = t.openReader(local, atEnd); err != nil {
		return nil, err
	}
	return tl, nil
}

func (t *tailer) openReader(local string, atEnd bool) (*fileReader, error) {
	f, err := os.Open(local)
	if err != nil {
		return nil, err
	}
	r := &fileReader{f: f, cri: criJoiner{max: t.s.cfg.MaxLineBytes}, mark: make([]byte, 0, markBytes)}
	if atEnd {
		if r.offset, err = f.Seek(0, io.SeekEnd); err != nil {
			f.Close()
			return nil, err
		}
		n := min(r.offset, markBytes)
		r.mark = r.mark[:n]
		if _, err := f.ReadAt(r.mark, r.offset-n); err != nil {
			r.mark = r.mark[:0] // unverifiable until something is read
		}
	}
	return r, nil
}

// remember keeps the tail of what was just read as the mark.
func (r *fileReader) remember(chunk []byte) {
	if len(chunk) >= markBytes {
		r.mark = append(r.mark[:0], chunk[len(chunk)-markBytes:]...)
		return
	}
	if drop := len(r.mark) + len(chunk) - markBytes; drop > 0 {
		r.mark = r.mark[:copy(r.mark, r.mark[drop:])]
	}
	r.mark = append(r.mark, chunk...)
}

// rewritten says whether the bytes before offset are no longer those read
// there: the file was truncated and written again (copytruncate, "> file")
// at least up to offset since the tailer last looked.
func (r *fileReader) rewritten() bool {
	if len(r.mark) == 0 {
		return false
	}
	var buf [markBytes]byte
	n, err := r.f.ReadAt(buf[:len(r.mark)], r.offset-int64(len(r.mark)))
	if err != nil && !errors.Is(err, io.EOF) {
		return false // cannot tell; the size check still applies
	}
	return !bytes.Equal(buf[:n], r.mark)
}

// check follows the file's path: a new file there (rotation), a shorter file
// (truncation), or no file (renamed away, deleted), then reads what is new.
func (t *tailer) check(ctx context.Context, tl *tail) {
	now := t.s.env.Clock.Now()
	grace := max(5*time.Second, 5*t.s.cfg.PollInterval.Duration)

	if tl.old != nil {
		t.read(ctx, tl, tl.old)
		if now.Sub(tl.oldSince) > grace {
			t.finish(tl, tl.old)
			tl.old = nil
		}
	}

	pathInfo, statErr := os.Stat(tl.local)
	if statErr != nil {
		// Renamed away and not recreated yet, or deleted. Keep reading what
		// is open; forget the path if nothing comes back.
		if tl.cur != nil {
			t.read(ctx, tl, tl.cur)
		}
		if tl.goneSince.IsZero() {
			tl.goneSince = now
		}
		if now.Sub(tl.goneSince) > grace {
			t.finish(tl, tl.cur)
			t.finish(tl, tl.old)
			tl.cur, tl.old = nil, nil
			delete(t.files, tl.host)
			delete(t.byLocal, tl.local)
		}
		return
	}
	tl.goneSince = time.Time{}
	if !pathInfo.Mode().IsRegular() {
		return
	}

	if tl.cur != nil {
		openInfo, err := tl.cur.f.Stat()
		if err != nil {
			t.s.log.Debug("cannot stat open log file", "path", tl.host, "err", err)
			return
		}
		switch {
		case !os.SameFile(pathInfo, openInfo):
			// Rotated (logrotate create mode): what was written to the old
			// file so far comes first; it stays open for late writes.
			t.read(ctx, tl, tl.cur)
			t.finish(tl, tl.old)
			tl.old, tl.oldSince, tl.cur = tl.cur, now, nil
		case openInfo.Size() < tl.cur.offset || tl.cur.rewritten():
			// copytruncate or "> file": the content we were reading is
			// gone, and what is there now was written from the start.
			t.s.log.Debug("log file truncated; reading from its start", "path", tl.host, "size", openInfo.Size(), "offset", tl.cur.offset)
			if _, err := tl.cur.f.Seek(0, io.SeekStart); err != nil {
				t.s.log.Debug("cannot rewind truncated log file", "path", tl.host, "err", err)
				return
			}
			tl.cur.offset = 0
			tl.cur.mark = tl.cur.mark[:0]
			tl.cur.line, tl.cur.overlong = tl.cur.line[:0], false
			tl.cur.cri.reset()
		}
	}
	if tl.cur == nil {
		r, err := t.openReader(tl.local, false)
		if err != nil {
			t.s.log.Debug("cannot open rotated log file", "path", tl.host, "err", err)
			return
		}
		tl.cur = r
	}
	t.read(ctx, tl, tl.cur)
}

// finish emits what is left of an unterminated line and closes the file.
func (t *tailer) finish(tl *tail, r *fileReader) {
	if r == nil || r.f == nil {
		return
	}
	if len(r.line) > 0 || r.overlong {
		t.physicalLine(tl, r, r.line, r.overlong)
		r.line, r.overlong = r.line[:0], false
	}
	r.cri.flush(func(line []byte, at time.Time, truncated bool) {
		t.emit(tl, line, at, truncated)
	})
	r.f.Close()
	r.f = nil
}

func (t *tailer) closeAll() {
	for _, tl := range t.files {
		for _, r := range []*fileReader{tl.cur, tl.old} {
			if r != nil && r.f != nil {
				r.f.Close()
				r.f = nil
			}
		}
	}
}

// read consumes the file from its offset to its end.
func (t *tailer) read(ctx context.Context, tl *tail, r *fileReader) {
	for ctx.Err() == nil {
		n, err := r.f.Read(t.buf)
		if n > 0 {
			r.offset += int64(n)
			r.remember(t.buf[:n])
			t.consume(tl, r, t.buf[:n])
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.s.log.Debug("cannot read log file", "path", tl.host, "err", err)
			}
			return
		}
		if n == 0 {
			return
		}
	}
}

// consume splits a chunk into lines. A line that ends inside the chunk and
// has no earlier part is used in place; otherwise its parts are collected in
// r.line, up to MaxLineBytes.
func (t *tailer) consume(tl *tail, r *fileReader, chunk []byte) {
	limit := t.s.cfg.MaxLineBytes
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			r.appendPart(chunk, limit)
			return
		}
		if len(r.line) == 0 && !r.overlong {
			line := chunk[:i]
			if len(line) > limit {
				t.physicalLine(tl, r, line[:limit], true)
			} else {
				t.physicalLine(tl, r, line, false)
			}
		} else {
			r.appendPart(chunk[:i], limit)
			t.physicalLine(tl, r, r.line, r.overlong)
			r.line, r.overlong = r.line[:0], false
		}
		chunk = chunk[i+1:]
	}
}

// appendPart adds part of an unterminated line, keeping at most limit bytes
// and never letting the buffer's capacity exceed limit (append's own growth
// could double it).
func (r *fileReader) appendPart(b []byte, limit int) {
	if room := limit - len(r.line); len(b) > room {
		b, r.overlong = b[:max(room, 0)], true
	}
	if need := len(r.line) + len(b); need > cap(r.line) {
		grown := make([]byte, len(r.line), min(max(2*cap(r.line), need, 512), limit))
		copy(grown, r.line)
		r.line = grown
	}
	r.line = append(r.line, b...)
}

// physicalLine handles one line as written in the file.
func (t *tailer) physicalLine(tl *tail, r *fileReader, line []byte, truncated bool) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if tl.spec.Format != FormatCRI {
		at, ok := lineTime(line, t.s.env.Clock.Now())
		if !ok {
			at = t.s.env.Clock.Now()
		}
		t.emit(tl, line, at, truncated)
		return
	}
	ts, stream, partial, msg, err := ParseCRILine(line)
	if err != nil {
		t.s.log.Debug("skipping malformed CRI log line", "path", tl.host, "err", err)
		return
	}
	text, at, cut, complete := r.cri.add(ts, stream, partial, msg)
	if complete {
		t.emit(tl, text, at, truncated || cut)
	}
}

func (t *tailer) emit(tl *tail, text []byte, at time.Time, truncated bool) {
	if !t.since.IsZero() && at.Before(t.since) {
		return
	}
	l := probes.Line{Source: tl.spec.Source, Time: at, Text: string(text), BootID: t.bootID, Origin: tl.host}
	if truncated {
		t.s.truncated.Add(1)
		l.Fields = map[string]string{"truncated": "true"}
	}
	if t.blocking == nil {
		t.sink.Emit(l)
		return
	}
	// An error means ctx is done: Run is returning and the line goes with it.
	_ = t.blocking.EmitWait(t.ctx, l)
}
