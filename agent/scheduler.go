package agent

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/probes"
)

const (
	// maxFirstRunDelay bounds the name-derived jitter of a check's first
	// run, so the first results come fast after start.
	maxFirstRunDelay = 5 * time.Second
	// watchDebounce collapses a burst of file changes (an editor's save, a
	// package upgrade touching many files) into one re-run.
	watchDebounce = 2 * time.Second
)

// scheduler runs each enabled check in its own goroutine on its interval,
// with a per-run deadline, panic recovery and name-derived jitter, and
// re-runs probes.Watched checks when their files change.
type scheduler struct {
	clock   clock.Clock
	logger  *slog.Logger
	metrics *Metrics
	sm      *Conditions
	watches *watchSet

	mu    sync.Mutex
	loops map[string]*checkLoop
	wg    sync.WaitGroup
}

// checkLoop is one check's goroutine and its health.
type checkLoop struct {
	name   string
	spec   probes.Spec
	cfg    CheckConfig
	env    probes.Env
	check  probes.Check
	newErr error
	// watching: the check's WatchPaths are registered.
	watching bool
	trigger  chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}

	// lastCompleted is the clock time (UnixNano) the loop last finished a
	// run, or started.
	lastCompleted atomic.Int64
	ranOnce       atomic.Bool
	// lastErr is the previous run's error text, to log a failure once.
	lastErr string
}

func newScheduler(clk clock.Clock, logger *slog.Logger, m *Metrics, sm *Conditions, w *watchSet) *scheduler {
	return &scheduler{clock: clk, logger: logger, metrics: m, sm: sm, watches: w, loops: map[string]*checkLoop{}}
}

// start runs a check loop. check is the already-built check, or nil when it
// could not be built yet (it is built again on each run until it is).
func (s *scheduler) start(ctx context.Context, spec probes.Spec, cfg CheckConfig, env probes.Env, check probes.Check) {
	ctx, cancel := context.WithCancel(ctx)
	l := &checkLoop{
		name: spec.Name, spec: spec, cfg: cfg, env: env, check: check,
		trigger: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}),
	}
	l.lastCompleted.Store(s.clock.Now().UnixNano())
	s.mu.Lock()
	s.loops[spec.Name] = l
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(l.done)
		s.loop(ctx, l)
	}()
}

// stop ends one check loop and waits for it.
func (s *scheduler) stop(name string) {
	s.mu.Lock()
	l := s.loops[name]
	delete(s.loops, name)
	s.mu.Unlock()
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
	if s.watches != nil {
		s.watches.remove(name)
	}
}

// wait blocks until every loop has returned (after the parent ctx is done).
func (s *scheduler) wait() { s.wg.Wait() }

// firstRunDelay is the deterministic, name-derived offset of a check's
// first run: spread over min(interval, 5s) so checks do not all start at
// once, yet the first results come within seconds.
func firstRunDelay(name string, interval time.Duration) time.Duration {
	span := min(interval, maxFirstRunDelay)
	if span <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return time.Duration(h.Sum64() % uint64(span))
}

func (s *scheduler) loop(ctx context.Context, l *checkLoop) {
	next := s.clock.Now().Add(firstRunDelay(l.name, l.cfg.Interval))
	for {
		timer := s.clock.NewTimer(next.Sub(s.clock.Now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C():
		case <-l.trigger:
			timer.Stop()
			if !s.sleep(ctx, watchDebounce) {
				return
			}
			select { // changes during the debounce are covered by this run
			case <-l.trigger:
			default:
			}
		}
		s.runOnce(ctx, l)
		if ctx.Err() != nil {
			return
		}
		now := s.clock.Now()
		for !next.After(now) {
			next = next.Add(l.cfg.Interval)
		}
	}
}

func (s *scheduler) sleep(ctx context.Context, d time.Duration) bool {
	t := s.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// runOnce builds the check if needed, runs it under its deadline and hands
// the result to the state machine.
func (s *scheduler) runOnce(ctx context.Context, l *checkLoop) {
	start := s.clock.Now()
	findings, result, err := s.execute(ctx, l)
	if ctx.Err() != nil {
		return // shutting down: a cancelled run says nothing about the node
	}
	s.logResult(l, err, result)
	// The state machine first, then the metrics: whoever sees a run counted
	// also sees its result in the conditions.
	s.sm.CheckResult(l.name, findings, err)
	s.metrics.checkDuration.WithLabelValues(l.name).Observe(s.clock.Since(start).Seconds())
	s.metrics.checkRuns.WithLabelValues(l.name, result).Inc()
	if result == resultSuccess {
		s.metrics.checkLastSuccess.WithLabelValues(l.name).Set(float64(s.clock.Now().Unix()))
	}
	l.lastCompleted.Store(s.clock.Now().UnixNano())
	l.ranOnce.Store(true)
}

func (s *scheduler) execute(ctx context.Context, l *checkLoop) ([]probes.Finding, string, error) {
	if l.check == nil {
		check, err := l.spec.New(l.env)
		if err != nil {
			return nil, resultOf(err), err
		}
		l.check = check
	}
	if w, ok := l.check.(probes.Watched); ok && !l.watching && s.watches != nil {
		s.watches.add(l.name, l.env.Host, w.WatchPaths(), l.trigger)
		l.watching = true
	}
	return runWithDeadline(ctx, l.name, l.check, l.cfg.Timeout, l.env.Logger)
}

// runWithDeadline runs a check once under its timeout and classifies the
// result for nodetriage_check_runs_total.
func runWithDeadline(ctx context.Context, name string, check probes.Check, timeout time.Duration, logger *slog.Logger) ([]probes.Finding, string, error) {
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	findings, err := runCheck(runCtx, name, check, logger)
	var p *panicError
	switch {
	case errors.As(err, &p):
		return nil, resultPanic, err
	case err != nil && errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		return nil, resultTimeout, fmt.Errorf("timed out after %s: %w", FormatDuration(timeout), err)
	}
	return findings, resultOf(err), err
}

func resultOf(err error) string {
	switch {
	case err == nil:
		return resultSuccess
	case errors.Is(err, probes.ErrNotApplicable):
		return resultNotApplicable
	}
	return resultError
}

// panicError is a check that panicked, reported as an error.
type panicError struct {
	check string
	value any
}

func (e *panicError) Error() string { return fmt.Sprintf("check %s panicked: %v", e.check, e.value) }

// runCheck runs one check, turning a panic into an error so a buggy check
// cannot take the agent down. The stack goes to the log at Debug.
func runCheck(ctx context.Context, name string, check probes.Check, logger *slog.Logger) (findings []probes.Finding, err error) {
	defer func() {
		if r := recover(); r != nil {
			logger.Debug("check panicked", "check", name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			findings, err = nil, &panicError{check: name, value: r}
		}
	}()
	return check.Check(ctx)
}

// logResult logs a check's failure once, its recovery once, repeats at Debug.
func (s *scheduler) logResult(l *checkLoop, err error, result string) {
	msg := ""
	if err != nil && result != resultNotApplicable {
		msg = err.Error()
	}
	switch {
	case msg == l.lastErr:
		if msg != "" {
			s.logger.Debug("check still failing", "check", l.name, "err", msg)
		}
	case msg == "":
		s.logger.Info("check works again", "check", l.name)
	default:
		s.logger.Warn("check failed", "check", l.name, "result", result, "err", msg)
	}
	if result == resultNotApplicable && !l.ranOnce.Load() {
		s.logger.Info("check does not apply on this node", "check", l.name, "why", err.Error())
	}
	l.lastErr = msg
}

// health names the first check loop that has not completed a run for more
// than 2×interval + timeout.
func (s *scheduler) health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for _, name := range sortedKeys(s.loops) {
		l := s.loops[name]
		limit := 2*l.cfg.Interval + l.cfg.Timeout
		if since := now.Sub(time.Unix(0, l.lastCompleted.Load())); since > limit {
			return fmt.Errorf("check %s has not completed a run for %s (limit %s)", name, FormatDuration(since.Truncate(time.Second)), FormatDuration(limit))
		}
	}
	return nil
}

// pending lists the checks that have not completed their first run.
func (s *scheduler) pending() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, name := range sortedKeys(s.loops) {
		if !s.loops[name].ranOnce.Load() {
			names = append(names, name)
		}
	}
	return names
}
