package probes

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Source names the origin of a log line. Rules are written per source.
type Source string

const (
	// SourceKernel is the kernel log: /dev/kmsg records with facility 0, or
	// journal entries with _TRANSPORT=kernel. Nothing else may carry it.
	SourceKernel Source = "kernel"
	// SourceKmsgUser is a /dev/kmsg record written from user space (facility
	// != 0). Kernel rules never see it; it exists so the line is counted.
	SourceKmsgUser   Source = "kmsg-user"
	SourceKubelet    Source = "kubelet"
	SourceContainerd Source = "containerd"
	SourceCRIO       Source = "crio"
	SourceDockerd    Source = "dockerd"
	SourceKubeProxy  Source = "kube-proxy"
	// SourceSystemd is systemd's own unit messages (SYSLOG_IDENTIFIER=systemd).
	SourceSystemd Source = "systemd"
)

// Line is one log record from a stream.
type Line struct {
	Source Source
	// Time is the record's own timestamp (kmsg: boot time + offset; journal:
	// realtime; files: the parsed timestamp or the read time).
	Time time.Time
	Text string
	// BootID is the boot the record belongs to, when the source knows it.
	BootID string
	// Origin says where exactly the line came from, for evidence:
	// "/dev/kmsg seq=1234", "journal cursor=…", "/var/log/kubelet.log".
	Origin string
	// Fields carries source-specific extras worth keeping as evidence
	// (kmsg SUBSYSTEM/DEVICE, journal _SYSTEMD_UNIT, MESSAGE_ID). May be nil.
	Fields map[string]string
}

// Sink receives lines from a stream. Emit must not block: a full queue drops
// the line and counts the drop.
type Sink interface {
	Emit(Line)
}

// Stream is a long-running log source (kmsg, a journal directory, a set of
// log files). The agent runs each stream in its own goroutine; Run returns when
// ctx is done or the source cannot continue (the error says which source and
// why, in one line). Streams reopen and retry transient failures themselves.
type Stream interface {
	Name() string
	Run(ctx context.Context, sink Sink) error
}

// Match is the latest line a rule matched, kept so checks can consult the
// logs (e.g. kube-proxy's version line for the conntrack check).
type Match struct {
	Reason   string
	Line     Line
	Captures map[string]string
}

// LogRecall lets a check read what the streams have seen without touching
// them.
type LogRecall interface {
	// LastMatch returns the most recent line matched by a rule with this
	// reason, if any was seen since the agent started.
	LastMatch(reason string) (Match, bool)
}

// StreamSpec describes a log source to the agent, like Spec does for checks.
type StreamSpec struct {
	// Name is the source's config name (sources.<name>), e.g. "kmsg".
	Name           string
	DefaultEnabled bool
	// New builds the stream. env.Settings holds sources.<name>.settings.
	// It may return an error wrapping ErrNotApplicable (nothing to read here).
	New func(env Env, opts StreamOptions) (Stream, error)
}

// StreamOptions says how a stream is used.
type StreamOptions struct {
	// Follow keeps reading new lines until ctx is done (the agent). Without
	// it, Run reads what already exists since Since and returns nil (the
	// one-shot check command).
	Follow bool
	// Since bounds the history read at start; zero means the source's own
	// default (e.g. the kmsg look-back window, or the persisted cursor).
	Since time.Time
	// Path overrides the source's input: a kmsg dump file (check
	// --kmsg-file), a journal directory (check --journal-dir).
	Path string
}

// SourceReporter is implemented by every stream: it says which sources it
// is delivering right now. The answer can change while the stream runs (the
// journal delivers kernel lines only while /dev/kmsg is unreadable; the file
// tailer delivers a source only while one of its files exists). The agent
// uses it to tell "no problem in the logs" from "no logs to look at".
type SourceReporter interface {
	Sources() []Source
}

// SourceDelivery is the state behind a stream's SourceReporter: which
// sources its Run is delivering right now. The zero value delivers nothing.
type SourceDelivery struct {
	mu      sync.Mutex
	sources []Source
}

// Begin records that Run now delivers srcs.
func (d *SourceDelivery) Begin(srcs []Source) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sources = srcs
}

// End records how Run returned. A followed stream delivers nothing once Run
// has returned; a one-shot read that reached its end keeps saying what it
// read, which is what the check command reports.
func (d *SourceDelivery) End(follow bool, err error) {
	if !follow && err == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sources = nil
}

// Sources returns a copy of what is being delivered.
func (d *SourceDelivery) Sources() []Source {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.sources)
}
