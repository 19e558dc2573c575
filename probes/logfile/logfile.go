// Package logfile tails log files on the host for the rule engine: by
// default the kubelet's and kube-proxy's own log files (/var/log/kubelet.log,
// /var/log/kube-proxy.log, written by distributions that run them with
// --log-file or a redirect) and the kube-proxy container's CRI log under
// /var/log/pods (signals §3.1, §6: kube-proxy usually runs as a pod, so its
// log is not in the journal).
//
// Tailing survives logrotate's create mode (the file is renamed and a new one
// created: the old one is drained first), copytruncate and truncation (the
// size drops below the read offset, or — written again past it before the
// tailer looked — the last bytes read are no longer there: reading restarts
// at 0), and finds files
// that appear later (a new kube-proxy pod) by fsnotify plus a poll (default
// every 1s) that also covers filesystems without inotify. CRI lines
// ("<RFC3339Nano> stdout|stderr F|P <msg>") are rejoined from their partial
// parts. Lines are cut at 64 KiB (counted) so one runaway line cannot
// exhaust memory. When the sink is a probes.BlockingSink (the agent's
// queue) the tailer waits for room instead of letting the queue drop: the
// lines are still on disk, so a burst is read at the rule engine's pace.
//
// The stream emits lines only; conditions and reasons come from the rules
// that match them (probes/rules).
package logfile

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
)

// Name is the stream's config name (sources.files).
const Name = "files"

// Formats of a tailed file.
const (
	FormatPlain = "plain"
	FormatCRI   = "cri"
)

// FileSpec is one set of files to tail.
type FileSpec struct {
	// Path is a host path or filepath.Match glob.
	Path string `json:"path"`
	// Source is the rules' source for its lines.
	Source probes.Source `json:"source"`
	// Format is "plain" (default) or "cri".
	Format string `json:"format"`
}

// Config is sources.files.settings.
type Config struct {
	// Files replaces the default list when set.
	Files []FileSpec `json:"files"`
	// PollInterval is how often files are checked for growth, rotation and
	// new glob matches without waiting for an inotify event. Default 1s.
	PollInterval metav1.Duration `json:"pollInterval"`
	// MaxLineBytes cuts longer lines (the cut is counted). Default 64 KiB,
	// four times the 16 KiB at which container runtimes split CRI lines.
	MaxLineBytes int `json:"maxLineBytes"`
	// Lookback is how far back `check` reads when given no --since.
	// Default 5m, like the kmsg and journal streams.
	Lookback metav1.Duration `json:"lookback"`
}

// DefaultConfig is the configuration used when the section is empty.
func DefaultConfig() Config {
	return Config{
		Files: []FileSpec{
			{Path: "/var/log/kubelet.log", Source: probes.SourceKubelet, Format: FormatPlain},
			{Path: "/var/log/kube-proxy.log", Source: probes.SourceKubeProxy, Format: FormatPlain},
			{Path: "/var/log/pods/kube-system_kube-proxy-*/kube-proxy/*.log", Source: probes.SourceKubeProxy, Format: FormatCRI},
		},
		PollInterval: metav1.Duration{Duration: time.Second},
		MaxLineBytes: 64 * 1024,
		Lookback:     metav1.Duration{Duration: 5 * time.Minute},
	}
}

// fileSources are the sources a file may feed; only the kernel's own log may
// carry probes.SourceKernel.
var fileSources = []probes.Source{
	probes.SourceKubelet, probes.SourceContainerd, probes.SourceCRIO,
	probes.SourceDockerd, probes.SourceKubeProxy, probes.SourceSystemd,
}

// ParseConfig decodes and validates the settings section.
func ParseConfig(s probes.Settings) (Config, error) {
	cfg := DefaultConfig()
	// encoding/json decodes array elements into the existing ones, which
	// would let a user's file inherit a default's format: decode into none.
	defaultFiles := cfg.Files
	cfg.Files = nil
	if err := config.Decode(s, &cfg); err != nil {
		return Config{}, err
	}
	if cfg.Files == nil {
		cfg.Files = defaultFiles
	}
	if len(cfg.Files) == 0 {
		return Config{}, s.Fieldf("files", "must list at least one file; disable the source instead")
	}
	for i := range cfg.Files {
		f := &cfg.Files[i]
		field := fmt.Sprintf("files[%d]", i)
		if err := config.HostPath(s, field+".path", f.Path); err != nil {
			return Config{}, err
		}
		if _, err := filepath.Match(f.Path, ""); err != nil {
			return Config{}, s.Fieldf(field+".path", "bad glob %q: %v", f.Path, err)
		}
		if !slices.Contains(fileSources, f.Source) {
			names := make([]string, len(fileSources))
			for i, src := range fileSources {
				names[i] = string(src)
			}
			return Config{}, s.Fieldf(field+".source", "must be one of %s, got %q", strings.Join(names, ", "), f.Source)
		}
		switch f.Format {
		case "":
			f.Format = FormatPlain
		case FormatPlain, FormatCRI:
		default:
			return Config{}, s.Fieldf(field+".format", "must be plain or cri, got %q", f.Format)
		}
	}
	if cfg.PollInterval.Duration < 100*time.Millisecond {
		return Config{}, s.Fieldf("pollInterval", "must be at least 100ms, got %s", cfg.PollInterval.Duration)
	}
	if cfg.MaxLineBytes < 1024 || cfg.MaxLineBytes > 16<<20 {
		return Config{}, s.Fieldf("maxLineBytes", "must be between 1024 and 16777216, got %d", cfg.MaxLineBytes)
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

// Stream tails the configured files. It implements probes.Stream.
type Stream struct {
	cfg       Config
	env       probes.Env
	opts      probes.StreamOptions
	log       *slog.Logger
	truncated atomic.Uint64

	// Test hooks: run without inotify (poll only); learn when the first
	// scan has positioned every existing file at its end.
	noInotify      bool
	afterFirstScan func()
}

// New builds the stream. Files that do not exist yet are picked up when they
// appear.
func New(env probes.Env, opts probes.StreamOptions) (*Stream, error) {
	cfg, err := ParseConfig(env.Settings)
	if err != nil {
		return nil, err
	}
	if opts.Path != "" {
		return nil, fmt.Errorf("the files source reads the files listed in %s.files and takes no input path (got %q)", env.Settings.Path, opts.Path)
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Stream{cfg: cfg, env: env, opts: opts, log: log}, nil
}

// Name is "files".
func (s *Stream) Name() string { return Name }

// Truncated is the number of lines cut at MaxLineBytes since the stream
// started.
func (s *Stream) Truncated() uint64 { return s.truncated.Load() }

// bootIDPath names the running boot. Lines read as they are written belong to
// it; lines read from existing files (check) may not.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// Run tails the files until ctx is done (follow), or reads what they hold
// and returns.
func (s *Stream) Run(ctx context.Context, sink probes.Sink) error {
	t := newTailer(ctx, s, sink)
	defer t.closeAll()
	if !s.opts.Follow {
		t.since = s.opts.Since
		if t.since.IsZero() {
			t.since = s.env.Clock.Now().Add(-s.cfg.Lookback.Duration)
		}
		t.readAll(ctx)
		return nil
	}
	if b, err := s.env.Host.ReadFile(bootIDPath); err == nil {
		t.bootID = strings.TrimSpace(string(b))
	} else {
		s.log.Debug("file lines carry no boot ID", "path", bootIDPath, "err", err)
	}
	return t.follow(ctx)
}
