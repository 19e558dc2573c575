// Package journal streams the systemd journal of the host to the rule engine:
// the kubelet, containerd, CRI-O, dockerd and kube-proxy logs, systemd's own
// unit messages (restarts, failures), and — when /dev/kmsg cannot be read —
// the kernel log as journald stored it (_TRANSPORT=kernel).
//
// It reads the journal files under the host root with libsystemd through
// github.com/coreos/go-systemd/v22/sdjournal (cgo; libsystemd.so.0 is loaded
// at run time, so a node without it gets one clear error from this stream and
// the rest of the agent runs). Both /var/log/journal (persistent) and
// /run/log/journal (volatile) are read when present (signals §0.1, §8.1).
// The position is persisted as a cursor in <state dir>/journal.cursor so a
// restarted agent neither replays nor skips; without one it starts at the
// look-back window (default 5m). Handles are reopened every 5m to release
// the files journald rotated away (as the EKS node monitoring agent does),
// and after every 20,000 entries read so that following a storm does not
// keep the whole storm mapped.
// A journal directory without journal files (a fresh node before journald
// flushed to /var/log/journal) is waited for, not failed on, and so is one
// deleted or emptied while it is read: every open, reopens included, first
// checks that the directory still holds journal files. When the sink
// is a probes.BlockingSink (the agent's queue) the stream waits for room
// rather than dropping, and the cursor only moves past queued entries.
//
// The stream emits lines only; conditions and reasons come from the rules
// that match them (probes/rules).
package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/kmsg"
)

// Name is the stream's config name (sources.journal).
const Name = "journal"

// Values of Config.KernelTransport.
const (
	KernelAuto   = "auto"
	KernelAlways = "always"
	KernelNever  = "never"
)

// Config is sources.journal.settings.
type Config struct {
	// Directories are the host's journal directories, read when present.
	Directories []string `json:"directories"`
	// Lookback is where reading starts when there is no cursor (first start,
	// check). Default 5m, like the kmsg stream.
	Lookback metav1.Duration `json:"lookback"`
	// KernelTransport reads _TRANSPORT=kernel entries as kernel lines:
	// "auto" (default) when /dev/kmsg under the host root cannot be opened
	// (and always for a --journal-dir capture), "always", or "never".
	KernelTransport string `json:"kernelTransport"`
	// ExtraIdentifiers and ExtraUnits add SYSLOG_IDENTIFIER and
	// _SYSTEMD_UNIT values to read, each mapped to the source whose rules
	// apply (e.g. {"k3s": "kubelet"}).
	ExtraIdentifiers map[string]probes.Source `json:"extraIdentifiers"`
	ExtraUnits       map[string]probes.Source `json:"extraUnits"`
	// ReopenInterval is how often each journal handle is reopened (default
	// 5m, minimum 10s).
	ReopenInterval metav1.Duration `json:"reopenInterval"`
	// CursorSaveInterval is how often the cursor is written while lines
	// flow (default 10s, minimum 1s); it is also written at shutdown.
	CursorSaveInterval metav1.Duration `json:"cursorSaveInterval"`
}

// DefaultConfig is the configuration used when the section is empty.
func DefaultConfig() Config {
	return Config{
		Directories:        []string{"/var/log/journal", "/run/log/journal"},
		Lookback:           metav1.Duration{Duration: 5 * time.Minute},
		KernelTransport:    KernelAuto,
		ReopenInterval:     metav1.Duration{Duration: 5 * time.Minute},
		CursorSaveInterval: metav1.Duration{Duration: 10 * time.Second},
	}
}

// userSources are the sources a journal identifier or unit may be mapped to.
// The kernel source is reserved for the kernel transport.
var userSources = []probes.Source{
	probes.SourceKubelet, probes.SourceContainerd, probes.SourceCRIO,
	probes.SourceDockerd, probes.SourceKubeProxy, probes.SourceSystemd,
}

// ParseConfig decodes and validates the settings section.
func ParseConfig(s probes.Settings) (Config, error) {
	cfg := DefaultConfig()
	if err := config.Decode(s, &cfg); err != nil {
		return Config{}, err
	}
	if len(cfg.Directories) == 0 {
		return Config{}, s.Fieldf("directories", "must list at least one directory")
	}
	if err := config.HostPaths(s, "directories", cfg.Directories); err != nil {
		return Config{}, err
	}
	switch cfg.KernelTransport {
	case KernelAuto, KernelAlways, KernelNever:
	default:
		return Config{}, s.Fieldf("kernelTransport", "must be auto, always or never, got %q", cfg.KernelTransport)
	}
	if cfg.ReopenInterval.Duration < 10*time.Second {
		return Config{}, s.Fieldf("reopenInterval", "must be at least 10s, got %s", cfg.ReopenInterval.Duration)
	}
	if cfg.CursorSaveInterval.Duration < time.Second {
		return Config{}, s.Fieldf("cursorSaveInterval", "must be at least 1s, got %s", cfg.CursorSaveInterval.Duration)
	}
	for field, m := range map[string]map[string]probes.Source{"extraIdentifiers": cfg.ExtraIdentifiers, "extraUnits": cfg.ExtraUnits} {
		for _, key := range slices.Sorted(maps.Keys(m)) {
			if key == "" || strings.ContainsAny(key, "=\n") {
				return Config{}, s.Fieldf(field, "%q is not a journal field value", key)
			}
			if !slices.Contains(userSources, m[key]) {
				return Config{}, s.Fieldf(field+"."+key, "source must be one of %s, got %q", joinSources(userSources), m[key])
			}
		}
	}
	return cfg, nil
}

func joinSources(ss []probes.Source) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// Spec describes the stream to the agent.
func Spec() probes.StreamSpec {
	return probes.StreamSpec{
		Name:           Name,
		DefaultEnabled: true,
		New: func(env probes.Env, opts probes.StreamOptions) (probes.Stream, error) {
			return New(env, opts)
		},
	}
}

// Stream reads journal directories. It implements probes.Stream.
type Stream struct {
	cfg  Config
	env  probes.Env
	opts probes.StreamOptions
	log  *slog.Logger

	// dirPoll is how often a followed host journal looks for directories
	// that got journal files (defaultDirPollInterval; tests shorten it).
	dirPoll time.Duration
	// reopenAfter is reopenAfterEntries; tests shorten it.
	reopenAfter int

	// opens counts journal handles opened over the stream's life (tests).
	mu    sync.Mutex
	opens int
	// delivering is what Sources reports (sources.go).
	delivering probes.SourceDelivery
}

// New builds the stream. It returns an error wrapping probes.ErrNotApplicable
// when the host has none of the journal directories (no journald).
func New(env probes.Env, opts probes.StreamOptions) (*Stream, error) {
	cfg, err := ParseConfig(env.Settings)
	if err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stream{cfg: cfg, env: env, opts: opts, log: log, dirPoll: defaultDirPollInterval, reopenAfter: reopenAfterEntries}
	if opts.Path == "" {
		found := false
		for _, d := range cfg.Directories {
			if _, err := env.Host.Stat(d); err == nil {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("no journal directory on this host (%s): %w", strings.Join(cfg.Directories, ", "), probes.ErrNotApplicable)
		}
	}
	return s, nil
}

// Name is "journal".
func (s *Stream) Name() string { return Name }

// journalDir is a directory to read: its path here and on the host.
type journalDir struct{ local, host string }

// defaultDirPollInterval is how often a followed journal looks again at the
// configured directories it does not read yet: an empty /var/log/journal
// gets files when journald flushes its runtime journal there (a fresh node,
// or Storage=auto once the directory exists).
const defaultDirPollInterval = 10 * time.Second

// reopenAfterEntries bounds how much of the journal one handle maps.
// libsystemd keeps every 8 MiB mmap window it touched until the handle is
// closed, so a handle that follows a storm maps the storm: in the soak
// (hack/bench/soak, 5,000 entries/s for 10 min) the journal's mapped pages
// reached 86 MiB of the agent's RSS with only the idle reopen. Reopening
// after this many entries (a few seconds of a storm, resuming at the
// cursor) keeps the mapping to a few windows; at the normal rate of a node
// it never comes before the periodic reopen.
const reopenAfterEntries = 20000

// Run reads the journal until ctx is done (follow) or to its end.
//
// Following the host's journal, directories without journal files are
// waited for rather than failed on: while none has files the stream
// delivers no source (Sources is empty, so the agent calls the logs unread)
// and says so once in the log, and a directory that gets files later is
// read from then on. A directory that is deleted or loses its journal files
// while it is read (seen when libsystemd reports files removed, and at every
// reopen) is dropped with one warning, delivers nothing while no other
// directory is read, and is read again from where it stopped once it has
// journal files. Reading --journal-dir, or not following, an empty,
// missing or vanished directory is an error.
func (s *Stream) Run(ctx context.Context, sink probes.Sink) (err error) {
	defer func() { s.delivering.End(s.opts.Follow, err) }()
	watchHost := s.opts.Follow && s.opts.Path == ""
	dirs, problems := s.directories(nil)
	if len(dirs) == 0 && !(watchHost && onlyEmpty(problems)) {
		return s.noDirectoryError(problems)
	}
	sel := selector{
		identifiers: merge(DefaultIdentifiers, s.cfg.ExtraIdentifiers),
		units:       merge(DefaultUnits, s.cfg.ExtraUnits),
		kernel:      s.readKernel(),
	}
	since := s.opts.Since
	if since.IsZero() && s.cfg.Lookback.Duration > 0 {
		since = s.env.Clock.Now().Add(-s.cfg.Lookback.Duration)
	}

	persist := s.opts.Follow && s.env.StateDir != ""
	cursorPath := filepath.Join(s.env.StateDir, cursorFile)
	cursors := map[string]string{}
	if persist {
		if cursors, err = loadCursors(cursorPath); err != nil {
			s.log.Warn("starting from the look-back window", "err", err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	msgs := make(chan entryMsg, 64)
	// One result per reader; there is at most one reader per directory at
	// a time, and a directory gets a new one only after its last result
	// was received.
	results := make(chan readerEnd, len(s.cfg.Directories)+1)
	var readers []*dirReader
	reading := map[string]bool{}
	// resume is where the reader of a directory that went away stopped:
	// everything before it was handed on or is in msgs, so a new reader
	// for the directory goes on from there.
	resume := map[string]string{}
	start := func(d journalDir, from time.Time) {
		cursor := cursors[d.host]
		if c := resume[d.host]; c != "" {
			cursor = c
		}
		r := &dirReader{
			dir: d.local, hostDir: d.host, sel: sel, follow: s.opts.Follow, since: from,
			cursor: cursor, reopenEvery: s.cfg.ReopenInterval.Duration, reopenAfter: s.reopenAfter,
			clock: s.env.Clock, log: s.log,
			check: func() error {
				_, err := checkDir(d)
				return err
			},
		}
		readers = append(readers, r)
		reading[d.host] = true
		wg.Go(func() { results <- readerEnd{r: r, err: r.run(ctx, msgs)} })
	}
	defer func() {
		cancel()
		wg.Wait() // the readers' counts are theirs until they return
		s.mu.Lock()
		for _, r := range readers {
			s.opens += r.opens
		}
		s.mu.Unlock()
	}()
	for _, d := range dirs {
		start(d, since)
	}
	if len(dirs) > 0 {
		s.delivering.Begin(sel.sources())
	} else {
		s.log.Info("no journal files yet; waiting for journald to write some",
			"directories", strings.Join(s.cfg.Directories, ", "), "poll", s.dirPoll, "problems", joinErrors(problems))
	}

	var poll <-chan time.Time
	var pollTicker *time.Ticker
	startPolling := func() {
		if pollTicker == nil {
			pollTicker = time.NewTicker(s.dirPoll)
			poll = pollTicker.C
		}
	}
	defer func() {
		if pollTicker != nil {
			pollTicker.Stop()
		}
	}()
	if watchHost && len(dirs) < len(s.cfg.Directories) {
		startPolling()
	}
	var save <-chan time.Time
	if persist {
		t := time.NewTicker(s.cfg.CursorSaveInterval.Duration)
		defer t.Stop()
		save = t.C
	}
	dirty := false
	saveFailed := false
	saveCursorsNow := func() {
		if !dirty {
			return
		}
		if err := saveCursors(cursorPath, cursors); err != nil {
			if !saveFailed {
				s.log.Warn("cannot persist the journal position; a restart will re-read the look-back window", "err", err)
			}
			saveFailed = true
			return
		}
		dirty, saveFailed = false, false
	}
	if persist {
		defer saveCursorsNow()
	}

	// The sink waits for room when it can (the agent's queue): the entries
	// stay in the journal meanwhile, so a burst is read at the rule
	// engine's pace instead of being dropped.
	blocking, _ := sink.(probes.BlockingSink)
	// latest is the newest entry time handed on, where a directory that
	// gets journal files later starts: journald's flush copies the runtime
	// journal into /var/log/journal, and those entries were read already.
	latest := since
	hand := func(m entryMsg) bool {
		if blocking != nil {
			if blocking.EmitWait(ctx, m.line) != nil {
				return false // not queued: the cursor stays before it
			}
		} else {
			sink.Emit(m.line)
		}
		cursors[m.hostDir] = m.cursor
		dirty = persist
		if m.line.Time.After(latest) {
			latest = m.line.Time
		}
		return true
	}
	running := len(dirs)
	for {
		select {
		case m := <-msgs:
			if !hand(m) {
				return nil
			}
		case end := <-results:
			running--
			var gone *unreadableDirError
			if watchHost && errors.As(end.err, &gone) {
				// Deleted or emptied under the reader: wait for it as for
				// a directory without journal files at start.
				host := end.r.hostDir
				delete(reading, host)
				resume[host] = end.r.cursor
				if len(reading) == 0 {
					s.delivering.Begin(nil)
				}
				s.log.Warn("journal directory can no longer be read; reading it again once it has journal files",
					"dir", host, "err", gone.err, "reading", len(reading), "poll", s.dirPoll)
				startPolling()
				continue
			}
			if end.err != nil {
				return end.err
			}
			if !s.opts.Follow && running == 0 {
				// Every reader returned after sending all it read.
				for {
					select {
					case m := <-msgs:
						hand(m)
					default:
						return nil
					}
				}
			}
		case <-poll:
			more, _ := s.directories(reading)
			for _, d := range more {
				if _, back := resume[d.host]; back {
					s.log.Info("journal directory readable again; reading on from where it stopped", "dir", d.host)
				} else {
					s.log.Info("journal files appeared; reading them", "dir", d.host)
				}
				from := latest
				if !from.IsZero() {
					from = from.Add(time.Microsecond)
				}
				start(d, from)
				running++
			}
			if len(more) > 0 && len(reading) == len(more) {
				s.delivering.Begin(sel.sources())
			}
		case <-save:
			saveCursorsNow()
		case <-ctx.Done():
			return nil
		}
	}
}

// readerEnd is how one dirReader's run returned.
type readerEnd struct {
	r   *dirReader
	err error
}

func merge(base, extra map[string]probes.Source) map[string]probes.Source {
	m := maps.Clone(base)
	maps.Copy(m, extra)
	return m
}

// readKernel decides whether kernel-transport entries are kernel lines here.
func (s *Stream) readKernel() bool {
	switch s.cfg.KernelTransport {
	case KernelAlways:
		return true
	case KernelNever:
		return false
	}
	if s.opts.Path != "" {
		// Journal files from --journal-dir are a capture: the live
		// /dev/kmsg here says nothing about them.
		return true
	}
	if err := kmsg.CanRead(s.env.Host); err != nil {
		s.log.Info("reading kernel lines from the journal's kernel transport", "reason", err)
		return true
	}
	return false
}

// directories lists the journal directories to read: opts.Path alone, or
// each configured host directory not in skip that holds journal files; and
// why each other one cannot be read (a missing host directory is no
// problem: journald may store elsewhere).
func (s *Stream) directories(skip map[string]bool) ([]journalDir, []error) {
	if s.opts.Path != "" {
		d := journalDir{local: s.opts.Path, host: s.opts.Path}
		if err := s.checkNewDir(d); err != nil {
			return nil, []error{err}
		}
		return []journalDir{d}, nil
	}
	var dirs []journalDir
	var problems []error
	for _, host := range s.cfg.Directories {
		if skip[host] {
			continue
		}
		local, err := s.env.Host.Path(host)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		d := journalDir{local: local, host: host}
		if err := s.checkNewDir(d); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				problems = append(problems, err)
			}
			continue
		}
		dirs = append(dirs, d)
	}
	return dirs, problems
}

// noDirectoryError says why no journal directory can be read.
func (s *Stream) noDirectoryError(problems []error) error {
	if len(problems) == 0 {
		return fmt.Errorf("no journal directory on this host (%s): %w", strings.Join(s.cfg.Directories, ", "), probes.ErrNotApplicable)
	}
	if len(problems) == 1 {
		return problems[0]
	}
	return errors.New(joinErrors(problems))
}

// onlyEmpty says whether some directory exists and every one that does
// merely has no journal file yet.
func onlyEmpty(problems []error) bool {
	for _, err := range problems {
		if !errors.Is(err, errNoJournalFiles) {
			return false
		}
	}
	return len(problems) > 0
}

func joinErrors(errs []error) string {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

// errNoJournalFiles: the directory exists but journald has written no
// journal file there (yet).
var errNoJournalFiles = errors.New("has no journal files (*.journal)")

// journalSignature starts every journal file (systemd JOURNAL_FILE_FORMAT.md).
const journalSignature = "LPKSHHRH"

// checkDir fails unless d holds at least one journal file with a valid
// header, in itself or a machine-id subdirectory, which is where
// sd_journal_open_directory looks; it also returns why each other journal
// file there is skipped. libsystemd silently skips files it cannot read, so
// an empty or corrupt directory would otherwise look like a quiet node. It
// runs before every sd_journal_open_directory (the periodic reopens too):
// on a missing directory that fails with a bare ENOENT, and on an emptied
// one it succeeds and reads nothing.
func checkDir(d journalDir) (skipped []string, err error) {
	fi, err := os.Stat(d.local)
	if err != nil {
		return nil, fmt.Errorf("journal directory %s: %w", d.host, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("journal directory %s is not a directory", d.host)
	}
	var files []string
	for _, pattern := range []string{"*.journal", "*.journal~", "*/*.journal", "*/*.journal~"} {
		m, _ := filepath.Glob(filepath.Join(d.local, pattern)) // only ErrBadPattern, and these are fixed
		files = append(files, m...)
	}
	sort.Strings(files)
	// noFiles says why nothing was found: the directory may have gone
	// since the stat above (a glob of a missing directory is empty too).
	noFiles := func() error {
		if _, err := os.Stat(d.local); err != nil {
			return fmt.Errorf("journal directory %s: %w", d.host, err)
		}
		return fmt.Errorf("journal directory %s %w", d.host, errNoJournalFiles)
	}
	if len(files) == 0 {
		return nil, noFiles()
	}
	var bad []string
	present := 0
	for _, f := range files {
		err := checkSignature(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue // vacuumed (or the directory deleted) since the glob
		}
		present++
		if err != nil {
			bad = append(bad, err.Error())
		}
	}
	if present == 0 {
		return nil, noFiles()
	}
	if len(bad) == present {
		return nil, fmt.Errorf("journal directory %s has no readable journal file: %s", d.host, strings.Join(bad, "; "))
	}
	return bad, nil
}

// checkNewDir is checkDir for a directory about to be read: the files it
// skips are said once here, not at every reopen.
func (s *Stream) checkNewDir(d journalDir) error {
	bad, err := checkDir(d)
	if len(bad) > 0 {
		s.log.Warn("skipping unreadable journal files", "dir", d.host, "files", strings.Join(bad, "; "))
	}
	return err
}

func checkSignature(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sig := make([]byte, len(journalSignature))
	if _, err := io.ReadFull(f, sig); err != nil {
		return fmt.Errorf("%s: too short for a journal file", filepath.Base(path))
	}
	if string(sig) != journalSignature {
		return fmt.Errorf("%s: not a journal file (bad signature)", filepath.Base(path))
	}
	return nil
}
