package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/kmsg"
	"github.com/nodetriage/nodetriage/probes/logfile"
	"github.com/nodetriage/nodetriage/probes/rules"
)

// burstLines is the size of the kubelet.log burst of the demo that lost
// ≈90 % of its lines at the files source's 4096-line queue.
const burstLines = 400_000

// burstLine is line i of a burst: kubelet klog lines, one in a hundred a
// PLEG failure that the default rules match.
func burstLine(i int) string {
	head := fmt.Sprintf("I1122 08:11:%02d.%06d    2311 ", i%60, i%1_000_000)
	switch {
	case i%100 == 42:
		return "E" + head[1:] + fmt.Sprintf(`kubelet.go:2412] "Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active 3m0.%06ds ago; threshold is 3m0s" seq=%d`, i, i)
	case i%3 == 0:
		return head + fmt.Sprintf(`prober.go:107] "Probe failed" probeType="Readiness" pod="default/web-%d" containerName="app" probeResult="failure" output="connection refused" seq=%d`, i%50, i)
	default:
		return head + fmt.Sprintf(`kubelet.go:2451] "SyncLoop (PLEG): event for pod" pod="default/web-%d" event={"Type":"ContainerStarted"} seq=%d`, i%50, i)
	}
}

// appendBurst appends lines [from, from+n) of the burst to path.
func appendBurst(t testing.TB, path string, from, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := from; i < from+n; i++ {
		w.WriteString(burstLine(i))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// tailedKubeletLog is a host root with an empty /var/log/kubelet.log and the
// files stream tailing it.
func tailedKubeletLog(t testing.TB) (path string, stream probes.Stream) {
	t.Helper()
	root := t.TempDir()
	path = filepath.Join(root, "var/log/kubelet.log")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	settings, _ := json.Marshal(map[string]any{
		"files":        []map[string]string{{"path": "/var/log/kubelet.log", "source": "kubelet"}},
		"pollInterval": "100ms",
	})
	s, err := logfile.New(probes.Env{
		Host: probes.NewFS(root), Clock: clock.RealClock{}, Logger: slog.New(slog.DiscardHandler),
		Settings: probes.Settings{Path: "sources.files.settings", Raw: settings},
	}, probes.StreamOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	return path, s
}

// burstMatcher runs the default rules on every line and checks that the
// burst's lines arrive complete and in order. Until open is closed it holds
// the first burst line, so the queue fills up however fast the engine is.
type burstMatcher struct {
	engine   *rules.Engine
	open     chan struct{}
	ready    atomic.Bool // a "ready" line was seen: the tailer is at the file
	burst    atomic.Int64
	findings atomic.Int64
	mu       sync.Mutex
	outOfSeq string
}

func newBurstMatcher(t testing.TB) *burstMatcher {
	t.Helper()
	engine, err := rules.NewEngine(rules.DefaultRules(), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &burstMatcher{engine: engine, open: make(chan struct{})}
}

func (m *burstMatcher) Match(l probes.Line) []probes.Finding {
	if l.Text == "ready" {
		m.ready.Store(true)
		return nil
	}
	<-m.open
	n := m.burst.Add(1) - 1
	if want := burstLine(int(n)); l.Text != want && !strings.HasSuffix(l.Text, fmt.Sprintf(" seq=%d", n)) {
		m.mu.Lock()
		if m.outOfSeq == "" {
			m.outOfSeq = fmt.Sprintf("burst line %d is %q", n, l.Text)
		}
		m.mu.Unlock()
	}
	f := m.engine.Match(l)
	m.findings.Add(int64(len(f)))
	return f
}

func (m *burstMatcher) LastMatch(reason string) (probes.Match, bool) {
	return m.engine.LastMatch(reason)
}

// emitOnly hides the queue's EmitWait: the sink a stream saw before
// probes.BlockingSink.
type emitOnly struct{ q *sourceQueue }

func (s emitOnly) Emit(l probes.Line) { s.q.Emit(l) }

// TestFilesBurstIsNotDropped: a 400k-line burst appended to a tailed
// kubelet.log reaches the matcher complete and in order through a 4096-line
// queue, because the files stream waits for room (probes.BlockingSink).
// The control case is the same stream behind a sink without EmitWait: the
// queue drops what does not fit, as before.
func TestFilesBurstIsNotDropped(t *testing.T) {
	tests := []struct {
		name        string
		sink        func(*sourceQueue) probes.Sink
		wantDropped func(read float64) float64
	}{
		{"waits for the queue", func(q *sourceQueue) probes.Sink { return q }, func(float64) float64 { return 0 }},
		// The consumer holds one line and the queue the next 4096.
		{"without EmitWait the queue drops", func(q *sourceQueue) probes.Sink { return emitOnly{q} },
			func(read float64) float64 { return read - 1 - DefaultQueueSize }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newBurstMatcher(t)
			h := newPipeHarness(t, m, nil)
			q := newTestQueue(h.metrics, "files", DefaultQueueSize)
			path, stream := tailedKubeletLog(t)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer func() {
				cancel()
				wg.Wait()
			}()
			runErr := make(chan error, 1)
			wg.Go(func() { runErr <- stream.Run(ctx, tt.sink(q)) })
			wg.Go(func() { h.pipe.consume(ctx, q) })

			waitFor(t, "the tailer to read the file", func() bool {
				if !m.ready.Load() {
					if err := appendText(path, "ready\n"); err != nil {
						t.Fatal(err)
					}
					time.Sleep(20 * time.Millisecond)
				}
				return m.ready.Load()
			})
			readies := testutil.ToFloat64(h.metrics.logLines.WithLabelValues("files"))
			appendBurst(t, path, 0, burstLines)

			lines := h.metrics.logLines.WithLabelValues("files")
			if tt.wantDropped(0) == 0 {
				waitFor(t, "the queue to fill up", func() bool { return len(q.lines) == cap(q.lines) })
			} else {
				waitForLong(t, "the stream to read the burst", func() bool { return testutil.ToFloat64(lines) == readies+burstLines })
			}
			close(m.open)
			read := testutil.ToFloat64(lines) - readies
			dropped := testutil.ToFloat64(h.metrics.logLinesDropped.WithLabelValues("files"))
			waitForLong(t, "the stream to read the burst and the matcher to see every queued line", func() bool {
				read = testutil.ToFloat64(lines) - readies
				return read == burstLines && float64(m.burst.Load()) == read-dropped && len(q.lines) == 0 && q.busySince.Load() == 0
			})
			dropped = testutil.ToFloat64(h.metrics.logLinesDropped.WithLabelValues("files"))
			if want := tt.wantDropped(burstLines); dropped != want {
				t.Errorf("dropped %v lines, want %v", dropped, want)
			}
			if read != burstLines {
				t.Errorf("the stream read %v burst lines, want %d", read, burstLines)
			}
			if dropped == 0 {
				if got := m.burst.Load(); got != burstLines {
					t.Errorf("the matcher saw %d burst lines, want %d", got, burstLines)
				}
				if m.outOfSeq != "" {
					t.Errorf("lines out of sequence: %s", m.outOfSeq)
				}
				if got, want := m.findings.Load(), int64(burstLines/100); got != want {
					t.Errorf("%d PLEG findings, want %d", got, want)
				}
			}
			cancel()
			if err := <-runErr; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
}

func appendText(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// waitForLong is waitFor for work that takes seconds under -race.
func waitForLong(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKmsgStillDropsUnderOverload: the kernel log keeps using the
// non-blocking Emit (the ring buffer overwrites what a blocked reader does
// not take), so with nobody consuming, the queue drops and counts the rest.
func TestKmsgStillDropsUnderOverload(t *testing.T) {
	const records, queue = 1000, 16
	var dump strings.Builder
	for i := range records {
		fmt.Fprintf(&dump, "6,%d,%d,-;record %d\n", i+1, 1000*(i+1), i)
	}
	path := filepath.Join(t.TempDir(), "kmsg.dump")
	if err := os.WriteFile(path, []byte(dump.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := kmsg.New(probes.Env{Host: probes.NewFS(t.TempDir()), Clock: clock.RealClock{}, Logger: slog.New(slog.DiscardHandler)},
		probes.StreamOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := newTestMetrics(t)
	q := newTestQueue(m, "kmsg", queue)
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), q) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the kmsg stream blocked on a full queue")
	}
	if got := testutil.ToFloat64(m.logLines.WithLabelValues("kmsg")); got != records {
		t.Errorf("lines_total = %v, want %d", got, records)
	}
	if got := testutil.ToFloat64(m.logLinesDropped.WithLabelValues("kmsg")); got != records-queue {
		t.Errorf("lines_dropped_total = %v, want %d", got, records-queue)
	}
}

// BenchmarkFilesBurst measures a 400k-line kubelet.log burst through the
// real files stream, a 4096-line queue and the default rules: lines/s from
// the append until the matcher has seen the last line, drops, and the live
// heap (objects) before the burst and at its peak, sampled every
// millisecond through runtime/metrics (which does not stop the world). The
// burst is prepared in a file first and appended with copy_file_range, so
// neither its generation nor a buffer of it is measured.
//
//	go test -run '^$' -bench FilesBurst -benchtime 3x ./agent/
func BenchmarkFilesBurst(b *testing.B) {
	prepared := filepath.Join(b.TempDir(), "burst.log")
	if err := os.WriteFile(prepared, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	appendBurst(b, prepared, 0, burstLines)
	for b.Loop() {
		b.StopTimer()
		m := newBurstMatcher(b)
		close(m.open)
		h := newPipeHarness(b, m, nil)
		q := newTestQueue(h.metrics, "files", DefaultQueueSize)
		path, stream := tailedKubeletLog(b)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { _ = stream.Run(ctx, q) })
		wg.Go(func() { h.pipe.consume(ctx, q) })
		waitFor(b, "the tailer to read the file", func() bool {
			if !m.ready.Load() {
				if err := appendText(path, "ready\n"); err != nil {
					b.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			return m.ready.Load()
		})
		runtime.GC()
		before := heapObjects()
		peak := sampleHeapPeak()
		b.StartTimer()
		if err := appendFile(path, prepared); err != nil {
			b.Fatal(err)
		}
		dropped := h.metrics.logLinesDropped.WithLabelValues("files")
		for m.burst.Load()+int64(testutil.ToFloat64(dropped)) < burstLines {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		b.ReportMetric(float64(before)/(1<<20), "heap-before-MiB")
		b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
		b.ReportMetric(testutil.ToFloat64(dropped), "dropped")
		cancel()
		wg.Wait()
		b.StartTimer()
	}
	b.ReportMetric(float64(burstLines*b.N)/b.Elapsed().Seconds(), "lines/s")
}

// appendFile appends the file at from to the file at to.
func appendFile(to, from string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func heapObjects() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// sampleHeapPeak samples the bytes of live and unswept heap objects every
// millisecond until the returned function is called, which returns the
// peak.
func sampleHeapPeak() (stop func() uint64) {
	done := make(chan struct{})
	result := make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, heapObjects())
			select {
			case <-done:
				result <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-result
	}
}
