package logfile

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/internal/streamtest"
	"github.com/nodetriage/nodetriage/probes"
)

func TestMain(m *testing.M) {
	// klog headers carry the writer's local time; pin it.
	time.Local = time.UTC
	goleak.VerifyTestMain(m)
}

// sinkTimeout bounds each wait for a line.
const sinkTimeout = 10 * time.Second

// host is a host root under a temp dir with /var/log in it.
type host struct {
	t    *testing.T
	root string
}

func newHost(t *testing.T) host {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "var/log"), 0o755); err != nil {
		t.Fatal(err)
	}
	return host{t: t, root: root}
}

func (h host) path(hostPath string) string { return filepath.Join(h.root, hostPath) }

// appendLines appends lines (each gets a newline) to a host file, creating
// it and its directories.
func (h host) appendLines(hostPath string, lines ...string) {
	h.t.Helper()
	p := h.path(hostPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h host) env(settings string) probes.Env {
	return probes.Env{
		Host:     probes.NewFS(h.root),
		Clock:    clock.RealClock{},
		Logger:   slog.New(slog.DiscardHandler),
		Settings: probes.Settings{Path: "sources.files.settings", Raw: json.RawMessage(settings)},
	}
}

// follow starts the stream and returns once its first scan has placed every
// existing file at its end.
func follow(t *testing.T, s *Stream, sink probes.Sink) {
	t.Helper()
	scanned := make(chan struct{})
	s.afterFirstScan = func() { close(scanned) }
	streamtest.Run(t, s, sink, 5*time.Second)
	select {
	case <-scanned:
	case <-time.After(5 * time.Second):
		t.Fatal("first scan did not finish within 5s")
	}
}

func newStream(t *testing.T, env probes.Env, opts probes.StreamOptions) *Stream {
	t.Helper()
	s, err := New(env, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// followKubeletLog starts a following stream on a host whose kubelet.log
// holds existing, with inotify or the poll alone, and returns once the
// first scan has placed the file at its end.
func followKubeletLog(t *testing.T, noInotify bool, existing string) (host, *streamtest.Sink) {
	t.Helper()
	h := newHost(t)
	h.appendLines("/var/log/kubelet.log", existing)
	s := newStream(t, h.env(""), probes.StreamOptions{Follow: true})
	s.noInotify = noInotify
	sink := streamtest.NewSink(sinkTimeout)
	follow(t, s, sink)
	return h, sink
}

func TestFollowStartsAtTheEndAndTails(t *testing.T) {
	for _, inotify := range []bool{true, false} {
		t.Run(fmt.Sprintf("inotify=%v", inotify), func(t *testing.T) {
			h, sink := followKubeletLog(t, !inotify, "old line from before the agent started")

			klog := `E1122 08:11:02.123456    1234 kubelet.go:2417] "Skipping pod synchronization" err="PLEG is not healthy: pleg has yet to be successful"`
			h.appendLines("/var/log/kubelet.log", klog, "a line without a time")
			got := sink.WaitForText(t, "a line without a time")
			if age := time.Since(got.Time); age < 0 || age > 10*time.Second {
				t.Errorf("line without a time got time %v, want the read time", got.Time)
			}
			// The host root is a temp dir without /proc: no boot ID.
			want := []probes.Line{{
				Source: probes.SourceKubelet,
				Time:   time.Date(time.Now().Year(), 11, 22, 8, 11, 2, 123456000, time.UTC),
				Text:   klog,
				Origin: "/var/log/kubelet.log",
			}, {
				Source: probes.SourceKubelet, Time: got.Time, Text: "a line without a time", Origin: "/var/log/kubelet.log",
			}}
			if want[0].Time.After(time.Now().Add(24 * time.Hour)) {
				want[0].Time = want[0].Time.AddDate(-1, 0, 0)
			}
			if diff := cmp.Diff(want, sink.Lines()); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFollowCarriesTheBootID(t *testing.T) {
	h := newHost(t)
	if err := os.MkdirAll(h.path("/proc/sys/kernel/random"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.path("/proc/sys/kernel/random/boot_id"), []byte("ca4c4ec3-0227-4eda-a161-726a045240e7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sink := streamtest.NewSink(sinkTimeout)
	follow(t, newStream(t, h.env(""), probes.StreamOptions{Follow: true}), sink)
	h.appendLines("/var/log/kube-proxy.log", "x")
	if got := sink.WaitForText(t, "x"); got.BootID != "ca4c4ec3-0227-4eda-a161-726a045240e7" || got.Source != probes.SourceKubeProxy {
		t.Errorf("line = %+v, want kube-proxy with the host's boot ID", got)
	}
}

func logrotate(t *testing.T, h host, directive string) {
	t.Helper()
	bin, err := exec.LookPath("logrotate")
	if err != nil {
		bin = "/usr/sbin/logrotate"
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("logrotate is missing: apt-get install logrotate")
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "kubelet.conf")
	body := fmt.Sprintf("%s {\n  rotate 3\n  %s\n  missingok\n}\n", h.path("/var/log/kubelet.log"), directive)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-f", "-s", filepath.Join(dir, "state"), conf).CombinedOutput()
	if err != nil {
		t.Fatalf("logrotate %s: %v\n%s", directive, err, out)
	}
}

// watchModes are the ways the tailer learns of changes: inotify (with the
// poll as a backstop), and the poll alone (no inotify: its instance limit
// reached, or a filesystem without it).
var watchModes = []struct {
	name      string
	noInotify bool
}{{"inotify", false}, {"poll only", true}}

func TestRotationCreateModeDrainsTheOldFileFirst(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.name, func(t *testing.T) {
			h, sink := followKubeletLog(t, mode.noInotify, "before start")

			// The writer (kubelet) keeps its fd across the rename until it reopens.
			writer, err := os.OpenFile(h.path("/var/log/kubelet.log"), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer writer.Close()
			if _, err := writer.WriteString("before rotate\n"); err != nil {
				t.Fatal(err)
			}
			sink.WaitForText(t, "before rotate")
			logrotate(t, h, "create")
			if _, err := os.Stat(h.path("/var/log/kubelet.log.1")); err != nil {
				t.Fatalf("logrotate did not rename the file: %v", err)
			}
			if _, err := writer.WriteString("late write to the renamed file\n"); err != nil {
				t.Fatal(err)
			}
			h.appendLines("/var/log/kubelet.log", "after rotate")
			sink.WaitForText(t, "after rotate")
			sink.WaitForText(t, "late write to the renamed file")
			want := []string{"before rotate", "late write to the renamed file", "after rotate"}
			if diff := cmp.Diff(want, sink.Texts()); diff != "" {
				t.Errorf("lines across rotation (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTruncationRestartsAtZero(t *testing.T) {
	refill := "refill " + strings.Repeat("x", 200)
	tests := []struct {
		name     string
		truncate func(t *testing.T, h host)
		// written are the lines in the file when the tailer first looks
		// at it after the truncation.
		written []string
	}{
		{name: "logrotate copytruncate", truncate: func(t *testing.T, h host) { logrotate(t, h, "copytruncate") }},
		{name: "truncate in place", truncate: func(t *testing.T, h host) {
			if err := os.Truncate(h.path("/var/log/kubelet.log"), 0); err != nil {
				t.Fatal(err)
			}
		}},
		{
			// The file never looks shorter than the read offset: an
			// inotify event for the truncation merged with the write's,
			// or the poll between them missed.
			name: "refilled past the read offset before the tailer looks",
			truncate: func(t *testing.T, h host) {
				if err := os.Truncate(h.path("/var/log/kubelet.log"), 0); err != nil {
					t.Fatal(err)
				}
				h.appendLines("/var/log/kubelet.log", refill)
			},
			written: []string{refill},
		},
	}
	for _, mode := range watchModes {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				h, sink := followKubeletLog(t, mode.noInotify, "before start")
				h.appendLines("/var/log/kubelet.log", "first line written while tailing", "second line written while tailing")
				sink.WaitForText(t, "second line written while tailing")

				tt.truncate(t, h)
				h.appendLines("/var/log/kubelet.log", "after truncation")
				sink.WaitForText(t, "after truncation")
				want := append([]string{"first line written while tailing", "second line written while tailing"}, tt.written...)
				want = append(want, "after truncation")
				if diff := cmp.Diff(want, sink.Texts()); diff != "" {
					t.Errorf("lines across truncation (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestRefilledBeforeAnythingWasRead: a file the first scan placed at its
// end, truncated and written past that end before the tailer read from it,
// is read from its start.
func TestRefilledBeforeAnythingWasRead(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.name, func(t *testing.T) {
			h, sink := followKubeletLog(t, mode.noInotify, "an old line from before the agent started")

			if err := os.Truncate(h.path("/var/log/kubelet.log"), 0); err != nil {
				t.Fatal(err)
			}
			long := "the new file's first line, longer than all the old content together"
			h.appendLines("/var/log/kubelet.log", long, "second")
			sink.WaitForText(t, "second")
			if diff := cmp.Diff([]string{long, "second"}, sink.Texts()); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReaderMark(t *testing.T) {
	long := strings.Repeat("a", markBytes-10) + strings.Repeat("b", 20)
	tests := []struct {
		name   string
		chunks []string
		want   string
	}{
		{"nothing read", nil, ""},
		{"short reads add up", []string{"abc", "def"}, "abcdef"},
		{"a long read keeps its end", []string{"x", long}, long[len(long)-markBytes:]},
		{"a short read after a full mark shifts it", []string{long, "zz"}, long[len(long)-markBytes+2:] + "zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fileReader{mark: make([]byte, 0, markBytes)}
			for _, c := range tt.chunks {
				r.remember([]byte(c))
			}
			if diff := cmp.Diff(tt.want, string(r.mark)); diff != "" {
				t.Errorf("mark (-want +got):\n%s", diff)
			}
			if cap(r.mark) != markBytes {
				t.Errorf("mark grew to %d bytes of capacity, want %d", cap(r.mark), markBytes)
			}
		})
	}
}

const kubeProxyLog = "/var/log/pods/kube-system_kube-proxy-7xk2p_0f7e2a8c-3b1d-4c55-9a1e-2f6d8b9c0a11/kube-proxy/0.log"

func TestCRIPartialLinesAreJoined(t *testing.T) {
	h := newHost(t)
	h.appendLines(kubeProxyLog, `2026-11-22T08:00:00.000000000Z stderr F I1122 08:00:00.000000       1 server.go:865] "Version info" version="v1.31.2"`)
	sink := streamtest.NewSink(sinkTimeout)
	follow(t, newStream(t, h.env(""), probes.StreamOptions{Follow: true}), sink)

	h.appendLines(kubeProxyLog,
		`2026-11-22T08:11:02.100000000Z stderr P E1122 08:11:02.100000       1 proxier.go:1503] "Failed to execute `,
		`2026-11-22T08:11:02.150000000Z stdout F an interleaved stdout line`,
		`2026-11-22T08:11:02.200000000Z stderr P iptables-restore" err="exec: \"conntrack\": `,
		`2026-11-22T08:11:02.300000000Z stderr F executable file not found in $PATH"`,
	)
	joined := `E1122 08:11:02.100000       1 proxier.go:1503] "Failed to execute iptables-restore" err="exec: \"conntrack\": executable file not found in $PATH"`
	sink.WaitForText(t, joined)
	want := []probes.Line{
		{Source: probes.SourceKubeProxy, Time: time.Date(2026, 11, 22, 8, 11, 2, 150000000, time.UTC), Text: "an interleaved stdout line", Origin: kubeProxyLog},
		{Source: probes.SourceKubeProxy, Time: time.Date(2026, 11, 22, 8, 11, 2, 100000000, time.UTC), Text: joined, Origin: kubeProxyLog},
	}
	if diff := cmp.Diff(want, sink.Lines()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestNewKubeProxyPodIsDiscovered(t *testing.T) {
	h := newHost(t)
	sink := streamtest.NewSink(sinkTimeout)
	follow(t, newStream(t, h.env(""), probes.StreamOptions{Follow: true}), sink)

	// Another pod's log must not be read; the new kube-proxy pod's must be,
	// from its first line.
	h.appendLines("/var/log/pods/kube-system_coredns-5d78c9869d-x2x8v_5b1e/coredns/0.log", "2026-11-22T08:11:00Z stdout F coredns line")
	h.appendLines(kubeProxyLog,
		"2026-11-22T08:11:01Z stderr F first line of the new pod",
		"2026-11-22T08:11:02Z stderr F second line of the new pod")
	sink.WaitForText(t, "second line of the new pod")
	// The container restarts: a new file in the same directory.
	h.appendLines(strings.Replace(kubeProxyLog, "0.log", "1.log", 1), "2026-11-22T08:12:00Z stderr F after a restart")
	sink.WaitForText(t, "after a restart")
	want := []string{"first line of the new pod", "second line of the new pod", "after a restart"}
	if diff := cmp.Diff(want, sink.Texts()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestHugeLineIsCutAndCounted(t *testing.T) {
	h := newHost(t)
	h.appendLines("/var/log/kubelet.log")
	s := newStream(t, h.env(`{"maxLineBytes":4096}`), probes.StreamOptions{Follow: true})
	sink := streamtest.NewSink(sinkTimeout)
	follow(t, s, sink)

	huge := strings.Repeat("x", 10<<20)
	h.appendLines("/var/log/kubelet.log", huge, "next line")
	sink.WaitForText(t, "next line")
	lines := sink.Lines()
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want the cut line and the next", len(lines))
	}
	if got := lines[0]; got.Text != huge[:4096] || got.Fields["truncated"] != "true" {
		t.Errorf("huge line: %d bytes, fields %v; want the first 4096 bytes marked truncated", len(got.Text), got.Fields)
	}
	if s.Truncated() != 1 {
		t.Errorf("Truncated() = %d, want 1", s.Truncated())
	}
}

func TestLineBufferStaysBounded(t *testing.T) {
	s := &Stream{cfg: DefaultConfig(), env: probes.Env{Clock: clock.RealClock{}}, log: slog.New(slog.DiscardHandler)}
	tl := &tail{spec: FileSpec{Source: probes.SourceKubelet, Format: FormatPlain}, host: "/var/log/kubelet.log"}
	r := &fileReader{cri: criJoiner{max: s.cfg.MaxLineBytes}}
	sink := streamtest.NewSink(sinkTimeout)
	tr := newTailer(context.Background(), s, sink)
	chunk := []byte(strings.Repeat("y", readChunk))
	for range (100 << 20) / readChunk { // 100 MiB without a newline
		tr.consume(tl, r, chunk)
		if cap(r.line) > s.cfg.MaxLineBytes {
			t.Fatalf("line buffer grew to %d bytes, limit %d", cap(r.line), s.cfg.MaxLineBytes)
		}
	}
	tr.consume(tl, r, []byte("\n"))
	lines := sink.Lines()
	if len(lines) != 1 || len(lines[0].Text) != s.cfg.MaxLineBytes {
		t.Errorf("got %d lines (first %d bytes), want one of %d bytes", len(lines), len(lines[0].Text), s.cfg.MaxLineBytes)
	}
}

func TestReadExistingSince(t *testing.T) {
	h := newHost(t)
	h.appendLines("/var/log/kubelet.log",
		`I1122 07:00:00.000000    1234 kubelet.go:1] too old`,
		`E1122 08:11:02.000000    1234 kubelet.go:2] recent`,
		`a line without a time`,
		`I1122 08:11:03.000000    1234 kubelet.go:3] last, without a newline`)
	// Drop the final newline: the last line is still read.
	p := h.path("/var/log/kubelet.log")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b[:len(b)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	h.appendLines(kubeProxyLog,
		"2026-11-22T07:00:00Z stderr F too old",
		"2026-11-22T08:11:05Z stderr P unfinished ",
	)
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	env := h.env("")
	env.Clock = clocktesting.NewFakePassiveClock(now)
	s := newStream(t, env, probes.StreamOptions{Since: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)})
	sink := streamtest.NewSink(sinkTimeout)
	if err := s.Run(context.Background(), sink); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []probes.Line{
		{Source: probes.SourceKubelet, Time: time.Date(2026, 11, 22, 8, 11, 2, 0, time.UTC), Text: `E1122 08:11:02.000000    1234 kubelet.go:2] recent`, Origin: "/var/log/kubelet.log"},
		{Source: probes.SourceKubelet, Time: now, Text: `a line without a time`, Origin: "/var/log/kubelet.log"},
		{Source: probes.SourceKubelet, Time: time.Date(2026, 11, 22, 8, 11, 3, 0, time.UTC), Text: `I1122 08:11:03.000000    1234 kubelet.go:3] last, without a newline`, Origin: "/var/log/kubelet.log"},
		{Source: probes.SourceKubeProxy, Time: time.Date(2026, 11, 22, 8, 11, 5, 0, time.UTC), Text: "unfinished ", Origin: kubeProxyLog},
	}
	if diff := cmp.Diff(want, sink.Lines()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestNewRejectsAnInputPath(t *testing.T) {
	h := newHost(t)
	_, err := New(h.env(""), probes.StreamOptions{Path: "/tmp/x.log"})
	want := `the files source reads the files listed in sources.files.settings.files and takes no input path (got "/tmp/x.log")`
	if err == nil || err.Error() != want {
		t.Errorf("New with a path = %v, want %q", err, want)
	}
}

func TestParseConfig(t *testing.T) {
	streamtest.RunParseConfig(t, "sources.files.settings", ParseConfig, DefaultConfig, []streamtest.ConfigCase[Config]{
		{Name: "empty is the default", Raw: ""},
		{Name: "files replace the defaults, format defaults to plain", Raw: `{"files":[{"path":"/var/log/containerd.log","source":"containerd"},{"path":"/var/log/x/*.log","source":"crio","format":"cri"}]}`, Want: func(c *Config) {
			c.Files = []FileSpec{
				{Path: "/var/log/containerd.log", Source: probes.SourceContainerd, Format: FormatPlain},
				{Path: "/var/log/x/*.log", Source: probes.SourceCRIO, Format: FormatCRI},
			}
		}},
		{Name: "poll and lookback", Raw: `{"pollInterval":"250ms","lookback":"1h","maxLineBytes":2048}`, Want: func(c *Config) {
			c.PollInterval = metav1.Duration{Duration: 250 * time.Millisecond}
			c.Lookback = metav1.Duration{Duration: time.Hour}
			c.MaxLineBytes = 2048
		}},
		{Name: "no files", Raw: `{"files":[]}`, WantErr: "sources.files.settings.files: must list at least one file; disable the source instead"},
		{Name: "relative path", Raw: `{"files":[{"path":"kubelet.log","source":"kubelet"}]}`, WantErr: `sources.files.settings.files[0].path: must be an absolute host path, got "kubelet.log"`},
		{Name: "bad glob", Raw: `{"files":[{"path":"/var/log/[.log","source":"kubelet"}]}`, WantErr: `sources.files.settings.files[0].path: bad glob "/var/log/[.log": syntax error in pattern`},
		{Name: "kernel source", Raw: `{"files":[{"path":"/var/log/kern.log","source":"kernel"}]}`, WantErr: `sources.files.settings.files[0].source: must be one of kubelet, containerd, crio, dockerd, kube-proxy, systemd, got "kernel"`},
		{Name: "bad format", Raw: `{"files":[{"path":"/a.log","source":"kubelet","format":"json"}]}`, WantErr: `sources.files.settings.files[0].format: must be plain or cri, got "json"`},
		{Name: "poll too fast", Raw: `{"pollInterval":"1ms"}`, WantErr: "sources.files.settings.pollInterval: must be at least 100ms, got 1ms"},
		{Name: "tiny lines", Raw: `{"maxLineBytes":10}`, WantErr: "sources.files.settings.maxLineBytes: must be between 1024 and 16777216, got 10"},
		{Name: "negative lookback", Raw: `{"lookback":"-1m"}`, WantErr: "sources.files.settings.lookback: must not be negative, got -1m0s"},
		{Name: "bad duration", Raw: `{"pollInterval":"fast"}`, WantErr: `sources.files.settings.pollInterval: not a duration (like "90s" or "10m"): "fast"`},
		{Name: "unknown field", Raw: `{"paths":[]}`, WantErr: `sources.files.settings.paths: unknown field`},
	})
}

func TestFixedPrefix(t *testing.T) {
	tests := map[string]string{
		"/var/log/pods/kube-system_kube-proxy-*/kube-proxy/*.log": "/var/log/pods",
		"/var/log/kubelet.log": "/var/log",
		"/var/log/*.log":       "/var/log",
		"/var/l?g/x/y.log":     "/var",
	}
	for pattern, want := range tests {
		if got := fixedPrefix(pattern); got != want {
			t.Errorf("fixedPrefix(%q) = %q, want %q", pattern, got, want)
		}
	}
}

// queueSink is a bounded queue like the agent's: EmitWait waits for room,
// Emit drops when full (and counts it).
type queueSink struct {
	lines   chan probes.Line
	dropped atomic.Int32
}

func (q *queueSink) Emit(l probes.Line) {
	select {
	case q.lines <- l:
	default:
		q.dropped.Add(1)
	}
}

func (q *queueSink) EmitWait(ctx context.Context, l probes.Line) error {
	select {
	case q.lines <- l:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestBurstWaitsForTheSink: behind a probes.BlockingSink a burst much larger
// than the queue arrives complete and in order, read at the consumer's pace.
func TestBurstWaitsForTheSink(t *testing.T) {
	const burst = 20_000
	h := newHost(t)
	h.appendLines("/var/log/kubelet.log", "before")
	s := newStream(t, h.env(""), probes.StreamOptions{Follow: true})
	q := &queueSink{lines: make(chan probes.Line, 16)}
	follow(t, s, q)
	lines := make([]string, burst)
	for i := range lines {
		lines[i] = fmt.Sprintf("burst line %d", i)
	}
	h.appendLines("/var/log/kubelet.log", lines...)
	for i := range burst {
		select {
		case l := <-q.lines:
			if l.Text != lines[i] {
				t.Fatalf("line %d is %q, want %q", i, l.Text, lines[i])
			}
		case <-time.After(sinkTimeout):
			t.Fatalf("only %d of %d lines arrived", i, burst)
		}
		if i%1000 == 0 {
			time.Sleep(time.Millisecond) // a consumer slower than the reader
		}
	}
	if n := q.dropped.Load(); n != 0 {
		t.Errorf("%d lines went through Emit and were dropped", n)
	}
}
