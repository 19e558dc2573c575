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
	// source is restarted; a source that ran for streamHealthyAfter before
	// failing starts again from the minimum.
	streamBackoffMin = time.Second
	streamBackoffMax = time.Minute
	// streamHealthyAfter: a run that stayed up this long proves the source
	// works. Its failure is a one-off (the source still counts as running
	// over the restart); after a quicker failure the source counts as
	// failed until a run stays up this long, so a source failing on every
	// restart does not flap its conditions.
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

// sourceQueue is a source's bounded queue; it is the stream's
// probes.BlockingSink. The queue is the memory bound of the source: Emit
// drops when it is full, EmitWait waits for room.
//
// It holds pointers: a channel of 4,096 Lines by value is 384 KiB per source
// that is live heap from the start and, as sends walk round the ring, all
// resident, even on an idle node; pointers cost 32 KiB, and a Line is only
// allocated while it waits in the queue.
type sourceQueue struct {
	name    string
	lines   chan *probes.Line
	read    prometheus.Counter
	dropped prometheus.Counter
	// busySince is the clock time (UnixNano) the consumer started on its
	// current line, 0 when idle.
	busySince atomic.Int64
	// failed: the state machine was told the source failed, and no run
	// has proven it works since.
	failed atomic.Bool
	// current is the stream instance running now, nil between runs.
	current atomic.Pointer[runningStream]
	// delivered counts lines (dropped ones included); firstLine and
	// lastLine are the earliest and latest line times seen (UnixNano, 0 =
	// none), for the report.
	delivered           atomic.Uint64
	firstLine, lastLine atomic.Int64
}

type runningStream struct {
	s probes.Stream
	// asksFrom is when the stream is first asked what it delivers: a
	// restarted stream gets sourcesFirstPoll to set up, so a restart
	// during which the last verdict is held does not flap it.
	asksFrom time.Time
}

var _ probes.BlockingSink = (*sourceQueue)(nil)

// Emit queues a line without blocking; a full queue drops and counts it.
// Sources that lose data when they fall behind (/dev/kmsg) use it.
func (q *sourceQueue) Emit(l probes.Line) {
	q.count(l)
	// No allocation for a line a full queue drops anyway; the send below
	// still drops when the queue filled up in between.
	if len(q.lines) < cap(q.lines) {
		lp := new(probes.Line)
		*lp = l
		select {
		case q.lines <- lp:
			return
		default:
		}
	}
	q.dropped.Inc()
}

// EmitWait queues a line, waiting for room while the queue is full, until
// ctx is done. Sources whose lines wait on disk (log files, the journal)
// use it, so a burst is read at the consumer's pace instead of dropped.
func (q *sourceQueue) EmitWait(ctx context.Context, l probes.Line) error {
	lp := new(probes.Line)
	*lp = l
	select {
	case q.lines <- lp:
	default:
		select {
		case q.lines <- lp:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	q.count(l)
	return nil
}

// count records a line the stream delivered.
func (q *sourceQueue) count(l probes.Line) {
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
}

// start runs one source: its stream goroutine and its consumer.
func (p *pipeline) start(ctx context.Context, spec probes.StreamSpec, cfg SourceConfig, env probes.Env) {
	q := &sourceQueue{
		name:    spec.Name,
		lines:   make(chan *probes.Line, cfg.QueueSize),
		read:    p.metrics.logLines.WithLabelValues(spec.Name),
		dropped: p.metrics.logLinesDropped.WithLabelValues(spec.Name),
	}
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
	now := p.clock.Now()
	for _, q := range queues {
		if run := q.current.Load(); run != nil && !now.Before(run.asksFrom) {
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
//
// What the state machine hears is damped so that a source failing over and
// over does not flap its conditions (an Event and an API write each time):
//   - a run that fails after streamHealthyAfter is a one-off: the source
//     keeps counting as running (the last verdict is held over the restart,
//     whose backoff starts again from the minimum);
//   - a run that fails sooner makes the source failed (repeats of the same
//     error change nothing), and it counts as running again only once a
//     later run has stayed up for streamHealthyAfter. Lines delivered
//     meanwhile are matched as usual; they just do not vouch for "no
//     problem in the logs" yet.
func (p *pipeline) runStream(ctx context.Context, spec probes.StreamSpec, env probes.Env, q *sourceQueue) {
	backoff := streamBackoffMin
	lastErr := ""
	for first := true; ; first = false {
		started := p.clock.Now()
		err := p.runStreamOnce(ctx, spec, env, q, first)
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
		if ran := p.clock.Since(started); ran >= streamHealthyAfter {
			backoff = streamBackoffMin
			p.logger.Warn("log source stopped; restarting", "source", spec.Name, "err", err,
				"ran_for", FormatDuration(ran.Truncate(time.Second)), "retry_in", backoff)
		} else {
			q.failed.Store(true)
			p.sm.SetStreamStatus(spec.Name, false, err)
			if msg := err.Error(); msg != lastErr {
				lastErr = msg
				p.logger.Warn("log source failed; restarting with backoff", "source", spec.Name, "err", err, "retry_in", backoff)
			} else {
				p.logger.Debug("log source still failing", "source", spec.Name, "err", err, "retry_in", backoff)
			}
		}
		// Counted after the state machine heard of it: whoever sees the
		// restart counted also sees its effect on the conditions.
		p.metrics.streamRestarts.WithLabelValues(spec.Name).Inc()
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

// runStreamOnce builds the stream and runs it. The first run counts as
// running at once; a run after a reported failure once it has stayed up for
// streamHealthyAfter.
func (p *pipeline) runStreamOnce(ctx context.Context, spec probes.StreamSpec, env probes.Env, q *sourceQueue, first bool) error {
	s, err := spec.New(env, probes.StreamOptions{Follow: true})
	if err != nil {
		return err
	}
	run := &runningStream{s: s}
	if !first {
		run.asksFrom = p.clock.Now().Add(sourcesFirstPoll)
	}
	q.current.Store(run)
	defer q.current.Store(nil)
	if lossy, ok := s.(probes.Lossy); ok {
		p.metrics.recordsLost.track(spec.Name, lossy)
	}
	if !q.failed.Load() {
		p.sm.SetStreamStatus(spec.Name, true, nil) // a no-op when the verdict is held
		return s.Run(ctx, q)
	}
	runCtx, cancel := context.WithCancel(ctx)
	proving := make(chan struct{})
	defer func() {
		cancel()
		<-proving // gone before the restart backoff starts
	}()
	go func() {
		defer close(proving)
		t := p.clock.NewTimer(streamHealthyAfter)
		defer t.Stop()
		select {
		case <-runCtx.Done():
		case <-t.C():
			if runCtx.Err() == nil && q.failed.CompareAndSwap(true, false) {
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
			p.process(ctx, *line)
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
