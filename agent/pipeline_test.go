package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

// fakeStream runs fn as its Run and says it delivers what sources returns.
type fakeStream struct {
	name    string
	run     func(ctx context.Context, sink probes.Sink) error
	sources func() []probes.Source // nil: delivers nothing
	lost    atomic.Uint64
}

func (s *fakeStream) Name() string                                    { return s.name }
func (s *fakeStream) Run(ctx context.Context, sink probes.Sink) error { return s.run(ctx, sink) }
func (s *fakeStream) Lost() uint64                                    { return s.lost.Load() }

func (s *fakeStream) Sources() []probes.Source {
	if s.sources == nil {
		return nil
	}
	return s.sources()
}

// kernelOnly is a fakeStream's sources: the kernel log.
func kernelOnly() []probes.Source { return []probes.Source{probes.SourceKernel} }

// fakeMatcher turns every line whose text is a reason into a finding.
type fakeMatcher struct {
	condition string
	block     chan struct{} // when set, Match waits on it
	mu        sync.Mutex
	last      map[string]probes.Match
}

func (m *fakeMatcher) Match(l probes.Line) []probes.Finding {
	if m.block != nil {
		<-m.block
	}
	m.mu.Lock()
	if m.last == nil {
		m.last = map[string]probes.Match{}
	}
	m.last[l.Text] = probes.Match{Reason: l.Text, Line: l}
	m.mu.Unlock()
	if l.Text == "noise" {
		return nil
	}
	return []probes.Finding{{Check: "fake-rules", Condition: m.condition, Reason: l.Text, Severity: probes.SeverityProblem,
		Message: l.Text + " seen.", Remedy: "reboot", Time: l.Time, Clear: probes.ClearPolicy{Mode: probes.ClearAfterQuiet}}}
}

func (m *fakeMatcher) LastMatch(reason string) (probes.Match, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	got, ok := m.last[reason]
	return got, ok
}

type pipeHarness struct {
	clock    *testingclock.FakeClock
	reporter *fakeReporter
	metrics  *Metrics
	sm       *Conditions
	pipe     *pipeline
	matcher  *matcherHolder
	ctx      context.Context
}

func newPipeHarness(t testing.TB, m Matcher, enrich EnrichFunc) *pipeHarness {
	t.Helper()
	h := &pipeHarness{clock: testingclock.NewFakeClock(t0), reporter: &fakeReporter{}, matcher: &matcherHolder{}}
	h.metrics, _ = newTestMetrics(t)
	h.matcher.store(m)
	h.sm = NewConditions(ConditionsOptions{Clock: h.clock, Reporter: h.reporter, Metrics: h.metrics, Policy: ConditionPolicy{
		LogConditions: map[string][]probes.Source{"KernelDeadlock": {probes.SourceKernel}}, Streams: []string{"kmsg"},
		Reasons: map[string]ReasonOverride{}, QuietWindow: time.Hour,
	}})
	h.pipe = &pipeline{clock: h.clock, logger: slog.New(slog.DiscardHandler), metrics: h.metrics, sm: h.sm, matcher: h.matcher, enrich: enrich}
	ctx, cancel := context.WithCancel(context.Background())
	h.ctx = ctx
	t.Cleanup(func() {
		cancel()
		h.pipe.wait()
	})
	return h
}

func (h *pipeHarness) start(stream *fakeStream, queueSize int, newErr error) {
	spec := probes.StreamSpec{Name: "kmsg", DefaultEnabled: true, New: func(probes.Env, probes.StreamOptions) (probes.Stream, error) {
		if newErr != nil {
			return nil, newErr
		}
		return stream, nil
	}}
	h.pipe.start(h.ctx, spec, SourceConfig{Enabled: true, QueueSize: queueSize}, probes.Env{})
}

func TestSourceQueueDropsWhenFull(t *testing.T) {
	m, _ := newTestMetrics(t)
	q := newTestQueue(m, "kmsg", 2)
	done := make(chan struct{})
	go func() { // Emit must never block, even with nobody reading
		for i := range 5 {
			q.Emit(probes.Line{Text: fmt.Sprint(i)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Emit blocked on a full queue")
	}
	if got := testutil.ToFloat64(m.logLines.WithLabelValues("kmsg")); got != 5 {
		t.Errorf("lines_total = %v, want 5", got)
	}
	if got := testutil.ToFloat64(m.logLinesDropped.WithLabelValues("kmsg")); got != 3 {
		t.Errorf("lines_dropped_total = %v, want 3", got)
	}
	if len(q.lines) != 2 || (<-q.lines).Text != "0" {
		t.Error("the queue should keep the oldest lines")
	}
}

// newTestQueue is a source queue with nobody consuming it.
func newTestQueue(m *Metrics, name string, size int) *sourceQueue {
	return &sourceQueue{name: name, lines: make(chan *probes.Line, size),
		read: m.logLines.WithLabelValues(name), dropped: m.logLinesDropped.WithLabelValues(name)}
}

// TestSourceQueueEmitWaitWaitsForRoom: EmitWait never drops; it waits for
// the consumer, and gives up (without counting the line) when ctx ends.
func TestSourceQueueEmitWaitWaitsForRoom(t *testing.T) {
	m, _ := newTestMetrics(t)
	q := newTestQueue(m, "files", 2)
	const total = 50
	errs := make(chan error, 1)
	go func() {
		for i := range total {
			if err := q.EmitWait(context.Background(), probes.Line{Text: fmt.Sprint(i)}); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	var got []string
	for range total {
		got = append(got, (<-q.lines).Text)
	}
	if err := <-errs; err != nil {
		t.Fatalf("EmitWait: %v", err)
	}
	for i, text := range got {
		if text != fmt.Sprint(i) {
			t.Fatalf("line %d is %q: lines lost or reordered: %q", i, text, got)
		}
	}
	if got := testutil.ToFloat64(m.logLinesDropped.WithLabelValues("files")); got != 0 {
		t.Errorf("lines_dropped_total = %v, want 0", got)
	}

	// Full queue, nobody reading: EmitWait returns when ctx ends.
	for range 2 {
		q.Emit(probes.Line{Text: "filler"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	if err := q.EmitWait(ctx, probes.Line{Text: "late"}); !errors.Is(err, context.Canceled) {
		t.Errorf("EmitWait on a full queue after cancel = %v, want context.Canceled", err)
	}
	if got := testutil.ToFloat64(m.logLines.WithLabelValues("files")); got != total+2 {
		t.Errorf("lines_total = %v, want %d (the line not queued is not counted)", got, total+2)
	}
}

func TestPipelineMatchesEnrichesAndRaises(t *testing.T) {
	m := &fakeMatcher{condition: "KernelDeadlock"}
	var deadlines atomic.Int32
	enrich := func(ctx context.Context, f *probes.Finding) {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= enrichTimeout {
			deadlines.Add(1)
		}
		f.Evidence = map[string]string{"pod": "default/web-1"}
	}
	h := newPipeHarness(t, m, enrich)
	stream := &fakeStream{name: "kmsg", run: func(ctx context.Context, sink probes.Sink) error {
		sink.Emit(probes.Line{Source: probes.SourceKernel, Text: "noise", Time: t0})
		sink.Emit(probes.Line{Source: probes.SourceKernel, Text: "DockerHung", Time: t0})
		<-ctx.Done()
		return nil
	}}
	h.start(stream, 16, nil)
	waitFor(t, "KernelDeadlock True", func() bool {
		c, ok := h.reporter.condition("KernelDeadlock")
		return ok && c.Status == corev1.ConditionTrue
	})
	if deadlines.Load() != 1 {
		t.Errorf("enrich ran %d times with its deadline, want 1", deadlines.Load())
	}
	snap := h.sm.Snapshot()
	if len(snap.Findings) != 1 || snap.Findings[0].Evidence["pod"] != "default/web-1" {
		t.Errorf("findings = %+v", snap.Findings)
	}
	if _, ok := h.matcher.LastMatch("noise"); !ok {
		t.Error("LastMatch does not reach the matcher")
	}
}

func TestPipelineRestartsFailingStreamsWithBackoff(t *testing.T) {
	h := newPipeHarness(t, &fakeMatcher{condition: "KernelDeadlock"}, nil)
	var starts atomic.Int32
	stream := &fakeStream{name: "kmsg", run: func(ctx context.Context, sink probes.Sink) error {
		starts.Add(1)
		return errors.New("read /dev/kmsg: broken pipe")
	}}
	stream.lost.Store(7)
	h.start(stream, 16, nil)
	waitFor(t, "the first failure", func() bool {
		return testutil.ToFloat64(h.metrics.streamRestarts.WithLabelValues("kmsg")) == 1
	})
	c, _ := h.reporter.condition("KernelDeadlock")
	if c.Status != corev1.ConditionUnknown || c.Reason != ReasonLogsNotRead || c.Message != "no kernel log is being read: kmsg: read /dev/kmsg: broken pipe" {
		t.Errorf("condition = %+v", c)
	}
	for i, backoff := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		waitFor(t, "the backoff timer", h.clock.HasWaiters)
		h.clock.Step(backoff - time.Millisecond)
		time.Sleep(10 * time.Millisecond)
		if int(starts.Load()) != i+1 {
			t.Fatalf("restarted before the %s backoff", backoff)
		}
		h.clock.Step(time.Millisecond)
		waitFor(t, "the restart", func() bool { return int(starts.Load()) == i+2 })
	}
	// Every instance lost 7 records at the source; the count survives restarts.
	waitFor(t, "lost records", func() bool { return testutil.ToFloat64(h.metrics.recordsLost) == 28 })
}

func TestPipelineNotApplicableStreamIsNotRestarted(t *testing.T) {
	h := newPipeHarness(t, &fakeMatcher{condition: "KernelDeadlock"}, nil)
	h.start(nil, 16, fmt.Errorf("no /dev/kmsg: %w", probes.ErrNotApplicable))
	waitFor(t, "the condition Unknown", func() bool {
		c, _ := h.reporter.condition("KernelDeadlock")
		return c.Status == corev1.ConditionUnknown
	})
	if c, _ := h.reporter.condition("KernelDeadlock"); c.Message != "no kernel log is being read: kmsg: no /dev/kmsg: not applicable on this node" {
		t.Errorf("message = %q", c.Message)
	}
	time.Sleep(20 * time.Millisecond)
	if h.clock.HasWaiters() || testutil.ToFloat64(h.metrics.streamRestarts.WithLabelValues("kmsg")) != 0 {
		t.Error("a not-applicable stream is being restarted")
	}
}

func TestPipelineRecoveredStreamTurnsHealthyAgain(t *testing.T) {
	h := newPipeHarness(t, &fakeMatcher{condition: "KernelDeadlock"}, nil)
	var starts atomic.Int32
	stream := &fakeStream{name: "kmsg", run: func(ctx context.Context, sink probes.Sink) error {
		if starts.Add(1) == 1 {
			return errors.New("transient")
		}
		<-ctx.Done()
		return nil
	}, sources: kernelOnly}
	h.start(stream, 16, nil)
	waitFor(t, "Unknown", func() bool {
		c, _ := h.reporter.condition("KernelDeadlock")
		return c.Status == corev1.ConditionUnknown
	})
	h.stepBackoff(t)
	waitFor(t, "the second start", func() bool { return starts.Load() == 2 })
	waitFor(t, "the healthy timer", h.clock.HasWaiters)
	if c, _ := h.reporter.condition("KernelDeadlock"); c.Status != corev1.ConditionUnknown {
		t.Fatalf("healthy before proving itself: %+v", c)
	}
	h.clock.Step(streamHealthyAfter)
	waitFor(t, "running again", func() bool {
		st := h.sm.Streams()
		return len(st) == 1 && st[0].Running
	})
	h.pipe.reportSources()
	waitFor(t, "False", func() bool {
		c, _ := h.reporter.condition("KernelDeadlock")
		return c.Status == corev1.ConditionFalse
	})
}

func (h *pipeHarness) stepBackoff(t *testing.T) {
	waitFor(t, "the backoff timer", h.clock.HasWaiters)
	h.clock.Step(streamBackoffMin)
}

func TestPipelineHealthReportsAStuckConsumer(t *testing.T) {
	m := &fakeMatcher{condition: "KernelDeadlock", block: make(chan struct{})}
	h := newPipeHarness(t, m, nil)
	stream := &fakeStream{name: "kmsg", run: func(ctx context.Context, sink probes.Sink) error {
		sink.Emit(probes.Line{Text: "DockerHung"})
		<-ctx.Done()
		return nil
	}}
	h.start(stream, 16, nil)
	waitFor(t, "the consumer to take the line", func() bool { return h.pipe.sources[0].busySince.Load() != 0 })
	if err := h.pipe.health(); err != nil {
		t.Fatalf("unhealthy at once: %v", err)
	}
	h.clock.Step(consumerStallAfter + time.Second)
	if err := h.pipe.health(); err == nil || err.Error() != "log consumer kmsg has been stuck on one line for 31s" {
		t.Errorf("health = %v", err)
	}
	close(m.block)
	waitFor(t, "the consumer to finish", func() bool { return h.pipe.health() == nil })
}

// TestPipelinePollsWhatStreamsDeliver: the poll hands each running stream's
// sources to the state machine, so a log-fed condition is False only while
// its log is read.
func TestPipelinePollsWhatStreamsDeliver(t *testing.T) {
	h := newPipeHarness(t, &fakeMatcher{condition: "KernelDeadlock"}, nil)
	var delivering atomic.Pointer[[]probes.Source]
	delivering.Store(&[]probes.Source{probes.SourceKernel})
	stream := &fakeStream{name: "kmsg", run: func(ctx context.Context, sink probes.Sink) error {
		sink.Emit(probes.Line{Source: probes.SourceKernel, Text: "noise", Time: t0.Add(-time.Minute)})
		sink.Emit(probes.Line{Source: probes.SourceKernel, Text: "noise", Time: t0})
		<-ctx.Done()
		return nil
	}, sources: func() []probes.Source { return *delivering.Load() }}
	h.start(stream, 16, nil)
	waitFor(t, "the stream running", func() bool { return h.pipe.sources[0].current.Load() != nil })
	if _, ok := h.reporter.condition("KernelDeadlock"); ok {
		t.Fatal("KernelDeadlock handed over before the stream said what it reads")
	}
	h.pipe.wg.Add(1)
	go func() {
		defer h.pipe.wg.Done()
		h.pipe.pollSources(h.ctx)
	}()
	waitFor(t, "the first poll", func() bool {
		h.clock.Step(sourcesFirstPoll)
		c, ok := h.reporter.condition("KernelDeadlock")
		return ok && c.Status == corev1.ConditionFalse
	})
	delivering.Store(&[]probes.Source{probes.SourceKubelet})
	waitFor(t, "the next poll", func() bool {
		h.clock.Step(sourcesPollInterval)
		c, _ := h.reporter.condition("KernelDeadlock")
		return c.Status == corev1.ConditionUnknown
	})
	if c, _ := h.reporter.condition("KernelDeadlock"); c.Message != "no kernel log is being read: kmsg: does not read it" {
		t.Errorf("message = %q", c.Message)
	}
	var st SourceStatus
	h.pipe.queues()["kmsg"].addLines(&st)
	if want := (SourceStatus{Lines: 2, FirstLine: t0.Add(-time.Minute), LastLine: t0}); !cmp.Equal(want, st) {
		t.Errorf("line counts = %+v, want %+v", st, want)
	}
}

// flakyStream is a fakeStream whose runs are driven by the test: each run
// emits what emit says, then waits for an error on fail (or ctx).
func flakyStream(fail <-chan error, emit []string) (*fakeStream, *atomic.Int32) {
	var starts atomic.Int32
	return &fakeStream{name: "kmsg", run: func(ctx context.Context, sink probes.Sink) error {
		starts.Add(1)
		for _, text := range emit {
			sink.Emit(probes.Line{Source: probes.SourceKernel, Text: text, Time: t0})
		}
		select {
		case err := <-fail:
			return err
		case <-ctx.Done():
			return nil
		}
	}, sources: kernelOnly}, &starts
}

// conditionEvents lists the condition's status-change Events as
// "Type/Action/Reason".
func conditionEvents(r *fakeReporter) []string {
	_, _, _, events := r.state()
	var out []string
	for _, e := range events {
		out = append(out, e.Type+"/"+e.Action+"/"+e.Reason)
	}
	return out
}

// TestPipelineHoldsTheVerdictOverARestart: a source that fails now and then
// after running a while is restarted at once and keeps counting as running,
// so its conditions do not flap to Unknown and back on every restart.
func TestPipelineHoldsTheVerdictOverARestart(t *testing.T) {
	h := newPipeHarness(t, &fakeMatcher{condition: "KernelDeadlock"}, nil)
	fail := make(chan error)
	stream, starts := flakyStream(fail, nil)
	h.start(stream, 16, nil)
	waitFor(t, "the first start", func() bool { return starts.Load() == 1 })
	h.pipe.reportSources()
	waitFor(t, "False", func() bool {
		c, _ := h.reporter.condition("KernelDeadlock")
		return c.Status == corev1.ConditionFalse
	})
	for i := int32(2); i <= 4; i++ {
		h.clock.Step(streamHealthyAfter + 10*time.Second)
		fail <- errors.New("read /dev/kmsg: input/output error")
		h.stepBackoff(t) // the minimum: the run had proven itself
		waitFor(t, "the restart", func() bool { return starts.Load() == i })
		h.pipe.reportSources() // too early to ask the new instance: ignored
		h.clock.Step(sourcesFirstPoll)
		h.pipe.reportSources()
	}
	if got := testutil.ToFloat64(h.metrics.streamRestarts.WithLabelValues("kmsg")); got != 3 {
		t.Errorf("restarts = %v, want 3", got)
	}
	if c, _ := h.reporter.condition("KernelDeadlock"); c.Status != corev1.ConditionFalse {
		t.Errorf("after three restarts: %s %q, want False throughout", c.Status, c.Message)
	}
	if events := conditionEvents(h.reporter); len(events) != 0 {
		t.Errorf("events %q, want none: the condition must not flap", events)
	}
}

// TestPipelineFailingSourceGoesUnknownOnce: a source failing on every
// restart (with or without delivering lines first) makes its conditions
// Unknown once and keeps them there, one Event in all.
func TestPipelineFailingSourceGoesUnknownOnce(t *testing.T) {
	tests := []struct {
		name string
		emit []string
	}{
		{"fails at once", nil},
		{"fails after delivering lines", []string{"noise", "noise"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newPipeHarness(t, &fakeMatcher{condition: "KernelDeadlock"}, nil)
			fail := make(chan error, 1)
			stream, starts := flakyStream(fail, tt.emit)
			h.start(stream, 16, nil)
			for i := int32(1); i <= 6; i++ {
				waitFor(t, "a start", func() bool { return starts.Load() == i })
				h.pipe.reportSources()
				fail <- errors.New("journal directory /var/log/journal: permission denied")
				waitFor(t, "the failure", func() bool {
					return testutil.ToFloat64(h.metrics.streamRestarts.WithLabelValues("kmsg")) == float64(i)
				})
				waitFor(t, "the backoff timer", h.clock.HasWaiters)
				h.clock.Step(streamBackoffMax)
			}
			c, _ := h.reporter.condition("KernelDeadlock")
			if want := "no kernel log is being read: kmsg: journal directory /var/log/journal: permission denied"; c.Status != corev1.ConditionUnknown || c.Message != want {
				t.Errorf("condition = %s %q, want Unknown %q", c.Status, c.Message, want)
			}
			if diff := cmp.Diff([]string{"Warning/CouldNotCheck/LogsNotRead"}, conditionEvents(h.reporter)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPipelineRecoveryEventAfterAFailedSource: when a failed source works
// again the condition goes False with one Normal Event; its reason names
// what cleared (the state machine's LogsNotRead, the reason the Unknown
// condition had), and its note says the condition is False now.
func TestPipelineRecoveryEventAfterAFailedSource(t *testing.T) {
	h := newPipeHarness(t, &fakeMatcher{condition: "KernelDeadlock"}, nil)
	fail := make(chan error, 1)
	fail <- errors.New("transient")
	stream, starts := flakyStream(fail, nil)
	h.start(stream, 16, nil)
	waitFor(t, "Unknown", func() bool {
		c, _ := h.reporter.condition("KernelDeadlock")
		return c.Status == corev1.ConditionUnknown
	})
	h.stepBackoff(t)
	waitFor(t, "the second start", func() bool { return starts.Load() == 2 })
	waitFor(t, "the healthy timer", h.clock.HasWaiters)
	h.clock.Step(streamHealthyAfter)
	waitFor(t, "running again", func() bool {
		st := h.sm.Streams()
		return len(st) == 1 && st[0].Running
	})
	h.pipe.reportSources()
	waitFor(t, "False", func() bool {
		c, _ := h.reporter.condition("KernelDeadlock")
		return c.Status == corev1.ConditionFalse
	})
	_, _, _, events := h.reporter.state()
	var got []Event
	for _, e := range events {
		e.Key, e.Time = "", time.Time{}
		got = append(got, e)
	}
	want := []Event{
		{Type: corev1.EventTypeWarning, Reason: ReasonLogsNotRead, Action: actionUnknown,
			Note: "KernelDeadlock is Unknown: no kernel log is being read: kmsg: transient",
			Transition: &Transition{Condition: "KernelDeadlock", Status: corev1.ConditionUnknown,
				Message: "no kernel log is being read: kmsg: transient", Initial: true}},
		{Type: corev1.EventTypeNormal, Reason: ReasonLogsNotRead, Action: actionCleared,
			Note:       "KernelDeadlock is False (was Unknown: LogsNotRead). No problem found in the kernel log.",
			Transition: &Transition{Condition: "KernelDeadlock", Status: corev1.ConditionFalse, Message: "No problem found in the kernel log."}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
