// Package kmsg streams the kernel log from /dev/kmsg (under the host root) to
// the rule engine, or reads a saved kernel log for `nodetriage check
// --kmsg-file`.
//
// It reads one record per read(2) (Documentation/ABI/testing/dev-kmsg),
// replays only a look-back window at start (default 5m, like NPD's
// kernel-monitor), counts records lost to ring-buffer overruns (EPIPE) from
// the sequence-number gap, and tags each line with the boot ID from
// /proc/sys/kernel/random/boot_id. Only records with facility 0 become
// probes.SourceKernel: anything user space writes to /dev/kmsg carries another
// facility and becomes probes.SourceKmsgUser, so `echo "BUG: soft lockup" >
// /dev/kmsg` cannot raise a kernel condition.
//
// When /dev/kmsg cannot be opened (no CAP_SYSLOG, printk.devkmsg=off, not
// mounted) the stream is not applicable and the journal stream reads the
// kernel transport instead (see probes/journal).
//
// The stream emits lines only; conditions and reasons come from the rules
// that match them (probes/rules).
package kmsg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
)

// Name is the stream's config name (sources.kmsg).
const Name = "kmsg"

// bootIDPath identifies the running boot; kernel conditions clear when it
// changes.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// Config is sources.kmsg.settings.
type Config struct {
	// Lookback is how much of the kernel ring buffer is replayed when the
	// stream starts; 0 starts at the end. Default 5m, NPD's kernel-monitor
	// lookback, so a restarted agent sees a fault that just happened but
	// does not re-report old ones.
	Lookback metav1.Duration `json:"lookback"`
}

// DefaultConfig is the configuration used when the section is empty.
func DefaultConfig() Config {
	return Config{Lookback: metav1.Duration{Duration: 5 * time.Minute}}
}

// ParseConfig decodes and validates the settings section.
func ParseConfig(s probes.Settings) (Config, error) {
	cfg := DefaultConfig()
	if err := config.Decode(s, &cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
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

// Stream reads the kernel log. It implements probes.Stream and probes.Lossy.
type Stream struct {
	cfg  Config
	env  probes.Env
	opts probes.StreamOptions
	log  *slog.Logger
	// monotonic reads CLOCK_MONOTONIC; tests replace it to pin boot time.
	monotonic func() time.Duration
	lost      atomic.Uint64
	overruns  atomic.Uint64
	// delivering is what Sources reports (sources.go).
	delivering probes.SourceDelivery
}

// New builds the stream. Reading the live log (no opts.Path) needs /dev/kmsg
// to open; when the node does not allow that, New logs the cause and returns
// an error wrapping probes.ErrNotApplicable (see notReadable).
func New(env probes.Env, opts probes.StreamOptions) (*Stream, error) {
	cfg, err := ParseConfig(env.Settings)
	if err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stream{cfg: cfg, env: env, opts: opts, log: log, monotonic: monotonicNow}
	if opts.Path != "" {
		return s, nil
	}
	if err := CanRead(env.Host); err != nil {
		if unreadable(err) {
			return nil, notReadable(log, err)
		}
		return nil, err
	}
	return s, nil
}

// notReadable says why this node does not let the stream read /dev/kmsg and
// returns the error that makes the agent stop the source for the rest of
// its run (a source that does not apply is not restarted). So whichever of
// New and Run meets the refusal first says it, and it is said once per
// agent run however often the source was restarted before.
func notReadable(log *slog.Logger, err error) error {
	log.Warn("cannot read the kernel log from /dev/kmsg; kernel rules use the journal's kernel transport instead",
		"err", err, "hint", "mount /dev/kmsg and grant CAP_SYSLOG; printk.devkmsg=off on the kernel command line blocks readers too")
	return fmt.Errorf("%w: %w", err, probes.ErrNotApplicable)
}

// Name is "kmsg".
func (s *Stream) Name() string { return Name }

// Lost is the number of records the kernel overwrote before the stream read
// them, counted from sequence-number gaps.
func (s *Stream) Lost() uint64 { return s.lost.Load() }

// Run streams records until ctx is done (follow mode) or until the end of
// the ring buffer or dump file.
func (s *Stream) Run(ctx context.Context, sink probes.Sink) (err error) {
	defer func() { s.delivering.End(s.opts.Follow, err) }()
	if s.opts.Path != "" {
		s.delivering.Begin(kmsgSources)
		return s.readDump(ctx, s.opts.Path, sink)
	}
	dev, err := openDevice(ctx, s.env.Host, s.opts.Follow)
	if err != nil {
		if unreadable(err) {
			// Opened in New, refused now (the device unmounted, or its
			// permissions changed, since).
			return notReadable(s.log, err)
		}
		return fmt.Errorf("open %s: %w", devicePath, err)
	}
	defer dev.Close()
	s.delivering.Begin(kmsgSources)

	cutoff := s.opts.Since
	if cutoff.IsZero() && s.cfg.Lookback.Duration > 0 {
		cutoff = s.env.Clock.Now().Add(-s.cfg.Lookback.Duration)
	}
	whence := unix.SEEK_DATA
	if cutoff.IsZero() {
		whence = unix.SEEK_END
	}
	if err := dev.seek(whence); err != nil {
		return fmt.Errorf("seek %s: %w", devicePath, err)
	}
	return s.readRecords(ctx, dev, sink, cutoff, s.bootID())
}

func (s *Stream) bootID() string {
	b, err := s.env.Host.ReadFile(bootIDPath)
	if err != nil {
		s.log.Warn("kernel lines carry no boot ID; kernel conditions cannot clear on reboot", "path", bootIDPath, "err", err)
		return ""
	}
	return strings.TrimSpace(string(b))
}

// bootTime is the wall-clock time of boot as the printk clock sees it. It is
// recomputed per record so that a wall-clock step (NTP) does not leave it
// stale.
func (s *Stream) bootTime() time.Time {
	return s.env.Clock.Now().Add(-s.monotonic())
}

// readRecords is the read loop: r returns one record per Read, io.EOF when
// caught up (non-follow), EPIPE after an overrun, and a deadline error once
// ctx is done.
func (s *Stream) readRecords(ctx context.Context, r io.Reader, sink probes.Sink, cutoff time.Time, bootID string) error {
	buf := make([]byte, recordBufferSize)
	var lastSeq uint64
	haveSeq := false
	for ctx.Err() == nil {
		n, err := r.Read(buf)
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
			return nil
		case errors.Is(err, unix.EPIPE):
			// The kernel moved our position to the oldest record still in
			// the ring; the next record's sequence number tells how many
			// were lost.
			if s.overruns.Add(1) == 1 {
				s.log.Warn("kernel log overran the reader; records were lost", "path", devicePath)
			}
			continue
		default:
			return fmt.Errorf("read %s: %w", devicePath, err)
		}
		rec, err := ParseRecord(buf[:n])
		if err != nil {
			s.log.Debug("skipping malformed kernel log record", "path", devicePath, "err", err)
			continue
		}
		if haveSeq && rec.Seq > lastSeq+1 {
			gap := rec.Seq - lastSeq - 1
			s.lost.Add(gap)
			s.log.Debug("kernel log records lost", "path", devicePath, "lost", gap, "seq", rec.Seq)
		}
		lastSeq, haveSeq = rec.Seq, true

		t := s.bootTime().Add(rec.Offset)
		if t.Before(cutoff) {
			continue
		}
		sink.Emit(probes.Line{
			Source: source(rec.Kernel()),
			Time:   t,
			Text:   rec.Message,
			BootID: bootID,
			Origin: devicePath + " seq=" + strconv.FormatUint(rec.Seq, 10),
			Fields: rec.Fields,
		})
	}
	return nil
}

func source(kernel bool) probes.Source {
	if kernel {
		return probes.SourceKernel
	}
	return probes.SourceKmsgUser
}

// maxDumpLine bounds one line of a dump file; kernel records are at most 8 KiB.
const maxDumpLine = 1 << 20

// readDump reads a saved kernel log (check --kmsg-file): raw /dev/kmsg
// records, dmesg or journalctl -k output. Lines with a wall-clock time older
// than opts.Since are skipped; lines with only a time since boot are all
// read, because a dump usually comes from another boot or another node (their
// Time is this node's boot time plus the offset, which keeps their spacing).
func (s *Stream) readDump(ctx context.Context, path string, sink probes.Sink) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("kernel log dump: %w", err)
	}
	defer f.Close()

	boot := s.bootTime()
	now := s.env.Clock.Now()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), maxDumpLine)

	var pending *probes.Line
	flush := func() {
		if pending != nil {
			sink.Emit(*pending)
			pending = nil
		}
	}
	lineNo, parsed, bad := 0, 0, 0
	var firstErr error
	for sc.Scan() {
		if err := ctx.Err(); err != nil {
			return nil
		}
		lineNo++
		d, err := ParseDumpLine(sc.Text())
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			bad++
			if firstErr == nil {
				firstErr = fmt.Errorf("line %d: %w", lineNo, err)
			}
			continue
		}
		if d.Format == DumpDictionary {
			if pending != nil {
				if pending.Fields == nil {
					pending.Fields = map[string]string{}
				}
				pending.Fields[d.Key] = d.Value
			}
			continue
		}
		flush()
		parsed++
		line := probes.Line{Source: source(d.Kernel()), Text: d.Message, Origin: path}
		switch d.Format {
		case DumpRaw:
			line.Time = boot.Add(d.Offset)
			line.Origin = path + " seq=" + strconv.FormatUint(d.Seq, 10)
		case DumpDmesg:
			line.Time = boot.Add(d.Offset)
		default:
			line.Time = d.Wall
			if !d.HasYear {
				line.Time = withYear(d.Wall, now)
			}
			if line.Time.Before(s.opts.Since) {
				continue
			}
		}
		if d.Format == DumpRaw {
			pending = &line
			continue
		}
		sink.Emit(line)
	}
	flush()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("kernel log dump %s: line %d: %w", path, lineNo+1, err)
	}
	if parsed == 0 && bad > 0 {
		return fmt.Errorf("kernel log dump %s: no line in a known format (kmsg records, dmesg, journalctl -k): %w", path, firstErr)
	}
	if bad > 0 {
		s.log.Warn("skipped lines of the kernel log dump in no known format", "path", path, "skipped", bad, "first", firstErr)
	}
	return nil
}
