package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/probes"
)

// Matcher turns log lines into findings (the rule engine) and remembers the
// latest match per reason for checks. Match is called from one goroutine
// per source, so it must be safe for concurrent use.
type Matcher interface {
	Match(probes.Line) []probes.Finding
	probes.LogRecall
}

// NewMatcherFunc builds the matcher from the user's rules (Path "rules") and
// node-problem-detector rule files, and lists every reason it can emit.
type NewMatcherFunc func(userRules probes.Settings, npdRuleFiles []string) (Matcher, []probes.ReasonInfo, error)

// EnrichFunc adds what a finding's log line alone cannot say (e.g. the pod
// behind an OOM-killed memcg). It must honour ctx; it runs on the consumer's
// goroutine under enrichTimeout.
type EnrichFunc func(ctx context.Context, f *probes.Finding)

const (
	// enrichTimeout bounds one Enrich call so a slow CRI cannot stall a
	// source's consumer (and fill its queue).
	enrichTimeout = 2 * time.Second
	// consumerStallAfter: a consumer busy with one line for longer than this
	// is wedged, and /healthz says so.
	consumerStallAfter = 30 * time.Second
	// streamBackoffMin and streamBackoffMax bound the wait before a failed
	// source is restarted; a source that ran longer than the maximum starts
	// again from the minimum.
	streamBackoffMin = time.Second
	streamBackoffMax = time.Minute
	// streamHealthyAfter: after a failure, a restarted source counts as
	// running again once it has delivered a line or stayed up this long, so
	// a source failing on every restart does not flap its conditions.
	streamHealthyAfter = 30 * time.Second
)

// sourcesFirstPoll and sourcesPollInterval: how soon after start, and then
// how often, each running stream is asked which sources it delivers
// (probes.SourceReporter). Until the first answer the conditions only its
// rules decide are not reported, so a start does not flap them to Unknown.
// Variables so tests can shorten them.
var (
	sourcesFirstPoll    = time.Second
	sourcesPollInterval = 5 * time.Second
)

// matcherHolder lets the matcher be swapped atomically on reload.
type matcherHolder struct {
	p atomic.Pointer[matcherBox]
}

type matcherBox struct{ m Matcher }

func (h *matcherHolder) load() Matcher {
	if b := h.p.Load(); b != nil {
		return b.m
	}
	return nil
}

func (h *matcherHolder) store(m Matcher) { h.p.Store(&matcherBox{m: m}) }

// LastMatch implements probes.LogRecall over whatever matcher is current.
func (h *matcherHolder) LastMatch(reason string) (probes.Match, bool) {
	if m := h.load(); m != nil {
		return m.LastMatch(reason)
	}
	return probes.Match{}, false
}

// pipeline runs the log sources: one goroutine per stream (restarted with
// backoff), a bounded queue per source and one consumer per source feeding
// the matcher and the state machine.
type pipeline struct {
	clock   clock.Clock
	logger  *slog.Logger
	metrics *Metrics
	sm      *Conditions
	matcher *matcherHolder
	enrich  EnrichFunc

	mu      sync.Mutex
	sources []*sourceQueue
	wg      sync.WaitGroup
}

// sourceQueue is a source's bounded queue; it is the stream's probes.Sink.
type sourceQueue struct {
	name    string
	lines   chan probes.Line
	read    prometheus.Counter
	dropped prometheus.Counter
	// busySince is the clock time (UnixNano) the consumer started on its
	// current line, 0 when idle.
	busySince atomic.Int64
	// healthy is false after a failure until the source proves itself again.
	healthy atomic.Bool
	sm      *Conditions
	// current is the stream instance running now, nil between runs.
	current atomic.Pointer[runningStream]
	// delivered counts lines (dropped ones included); firstLine and
	// lastLine are the earliest and latest line times seen (UnixNano, 0 =
	// none), for the report.
	delivered           atomic.Uint64
	firstLine, lastLine atomic.Int64
}

type runningStream struct{ s probes.Stream }

// Emit queues a line without blocking; a full queue drops and counts it.
func (q *sourceQueue) Emit(l probes.Line) {
	q.read.Inc()
	q.delivered.Add(1)
	if !l.Time.IsZero() {
		// One stream goroutine emits into a queue: load-then-store is safe.
		at := l.Time.UnixNano()
		if first := q.firstLine.Load(); first == 0 || at < first {
			q.firstLine.Store(at)
		}
		if at > q.lastLine.Load() {
			q.lastLine.Store(at)
		}
	}
	select {
	case q.lines <- l:
	default:
		q.dropped.Inc()
	}
	if !q.healthy.Load() && q.healthy.CompareAndSwap(false, true) {
		q.sm.SetStreamStatus(q.name, true, nil)
	}
}

// start runs one source: its stream goroutine and its consumer.
func (p *pipeline) start(ctx context.Context, spec probes.StreamSpec, cfg SourceConfig, env probes.Env) {
	q := &sourceQueue{
		name:    spec.Name,
		lines:   make(chan probes.Line, cfg.QueueSize),
		read:    p.metrics.logLines.WithLabelValues(spec.Name),
		dropped: p.metrics.logLinesDropped.WithLabelValues(spec.Name),
		sm:      p.sm,
	}
	q.healthy.Store(true)
	p.metrics.streamRestarts.WithLabelValues(spec.Name) // export 0 from the start
	p.mu.Lock()
	p.sources = append(p.sources, q)
	p.mu.Unlock()
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.runStream(ctx, spec, env, q)
	}()
	go func() {
		defer p.wg.Done()
		p.consume(ctx, q)
	}()
}

// pollSources calls reportSources sourcesFirstPoll after it starts and then
// every sourcesPollInterval until ctx is done. Streams have no way to
// announce a change (a log file appearing or going away), so they are asked
// on a timer; the agent runs it when it has streams.
func (p *pipeline) pollSources(ctx context.Context) {
	wait := sourcesFirstPoll
	for {
		t := p.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		p.reportSources()
		wait = sourcesPollInterval
	}
}

// reportSources asks every running stream which sources it delivers and
// tells the state machine, which re-derives the conditions only when an
// answer changed.
func (p *pipeline) reportSources() {
	p.mu.Lock()
	queues := slices.Clone(p.sources)
	p.mu.Unlock()
	for _, q := range queues {
		if run := q.current.Load(); run != nil {
			p.sm.SetStreamSources(q.name, streamSources(run.s))
		}
	}
}

// streamSources is what a stream says it delivers; a stream that cannot
// say is taken to deliver nothing, so it never vouches for "no problem".
func streamSources(s probes.Stream) []probes.Source {
	if r, ok := s.(probes.SourceReporter); ok {
		return r.Sources()
	}
	return nil
}

// addLines fills in the stream's line counts for the report.
func (q *sourceQueue) addLines(st *SourceStatus) {
	st.Lines = q.delivered.Load()
	if at := q.firstLine.Load(); at != 0 {
		st.FirstLine = time.Unix(0, at).UTC()
	}
	if at := q.lastLine.Load(); at != 0 {
		st.LastLine = time.Unix(0, at).UTC()
	}
}

// queues returns the sources' queues by name.
func (p *pipeline) queues() map[string]*sourceQueue {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]*sourceQueue, len(p.sources))
	for _, q := range p.sources {
		out[q.name] = q
	}
	return out
}

func (p *pipeline) wait() { p.wg.Wait() }

// runStream builds and runs the stream until ctx is done, restarting it with
// capped exponential backoff when it fails.
func (p *pipeline) runStream(ctx context.Context, spec probes.StreamSpec, env probes.Env, q *sourceQueue) {
	backoff := streamBackoffMin
	for {
		started := p.clock.Now()
		err := p.runStreamOnce(ctx, spec, env, q)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, probes.ErrNotApplicable) {
			p.logger.Info("log source does not apply on this node", "source", spec.Name, "why", err.Error())
			p.sm.SetStreamStatus(spec.Name, false, err)
			return
		}
		if err == nil {
			err = errors.New("stopped without an error")
		}
		if p.clock.Since(started) > streamBackoffMax {
			backoff = streamBackoffMin
		}
		q.healthy.Store(false)
		p.sm.SetStreamStatus(spec.Name, false, err)
		p.metrics.streamRestarts.WithLabelValues(spec.Name).Inc()
		p.logger.Warn("log source failed; restarting", "source", spec.Name, "err", err, "retry_in", backoff)
		t := p.clock.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		backoff = min(2*backoff, streamBackoffMax)
	}
}

func (p *pipeline) runStreamOnce(ctx context.Context, spec probes.StreamSpec, env probes.Env, q *sourceQueue) error {
	s, err := spec.New(env, probes.StreamOptions{Follow: true})
	if err != nil {
		return err
	}
	q.current.Store(&runningStream{s: s})
	defer q.current.Store(nil)
	if lossy, ok := s.(probes.Lossy); ok {
		p.metrics.recordsLost.track(spec.Name, lossy)
	}
	if q.healthy.Load() {
		p.sm.SetStreamStatus(spec.Name, true, nil)
		return s.Run(ctx, q)
	}
	// After a failure: running again once it stays up for a while (or
	// delivers a line, see Emit).
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := p.clock.NewTimer(streamHealthyAfter)
		defer t.Stop()
		select {
		case <-runCtx.Done():
		case <-t.C():
			if q.healthy.CompareAndSwap(false, true) {
				p.sm.SetStreamStatus(spec.Name, true, nil)
			}
		}
	}()
	return s.Run(runCtx, q)
}

// consume feeds queued lines through the matcher into the state machine.
func (p *pipeline) consume(ctx context.Context, q *sourceQueue) {
	for {
		select {
		case <-ctx.Done():
			return
		case line := <-q.lines:
			q.busySince.Store(p.clock.Now().UnixNano())
			p.process(ctx, line)
			q.busySince.Store(0)
		}
	}
}

func (p *pipeline) process(ctx context.Context, line probes.Line) {
	m := p.matcher.load()
	if m == nil {
		return
	}
	findings := m.Match(line)
	if len(findings) == 0 {
		return
	}
	enrichAll(ctx, p.enrich, findings)
	p.sm.LogFindings(findings)
}

// enrichAll runs enrich (when there is one) on each finding under
// enrichTimeout.
func enrichAll(ctx context.Context, enrich EnrichFunc, findings []probes.Finding) {
	if enrich == nil {
		return
	}
	for i := range findings {
		ectx, cancel := context.WithTimeout(ctx, enrichTimeout)
		enrich(ectx, &findings[i])
		cancel()
	}
}

// health names the first consumer stuck on one line.
func (p *pipeline) health() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	for _, q := range p.sources {
		if busy := q.busySince.Load(); busy != 0 {
			if since := now.Sub(time.Unix(0, busy)); since > consumerStallAfter {
				return fmt.Errorf("log consumer %s has been stuck on one line for %s", q.name, FormatDuration(since.Truncate(time.Second)))
			}
		}
	}
	return nil
}
