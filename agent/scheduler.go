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

// scheduler runs each enabled check in its own loop goroutine on its
// interval, with name-derived jitter, and re-runs probes.Watched checks
// when their files change. Each run happens on a goroutine of its own under
// a deadline, with panic recovery; a run stuck past its deadline is
// abandoned instead of stalling the loop (see checkRun).
type scheduler struct {
	clock   clock.Clock
	logger  *slog.Logger
	metrics *Metrics
	sm      *Conditions
	watches *watchSet
	// abandonGrace is how long past its deadline a run may take to return
	// before it is abandoned (defaultAbandonGrace; tests shorten it).
	abandonGrace time.Duration

	mu    sync.Mutex
	loops map[string]*checkLoop
	// stuck is each check's abandoned run that has not returned yet.
	stuck map[string]*checkRun
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
	// run (completed, abandoned or skipped because a run is stuck), or
	// started.
	lastCompleted atomic.Int64
	ranOnce       atomic.Bool
	// lastErr is the previous run's error text, to log a failure once.
	lastErr string
}

func newScheduler(clk clock.Clock, logger *slog.Logger, m *Metrics, sm *Conditions, w *watchSet) *scheduler {
	return &scheduler{
		clock: clk, logger: logger, metrics: m, sm: sm, watches: w,
		abandonGrace: defaultAbandonGrace,
		loops:        map[string]*checkLoop{}, stuck: map[string]*checkRun{},
	}
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
	if s.stuck[spec.Name] == nil {
		s.metrics.checkStuck.WithLabelValues(spec.Name).Set(0) // export 0 from the start
	}
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

// runOnce runs the check once on its own goroutine (building it first if
// needed) and hands the result to the state machine. It waits no longer
// than the run's deadline plus abandonGrace: a run still going then is
// abandoned (see checkRun), and while it has not returned the check is not
// run again.
func (s *scheduler) runOnce(ctx context.Context, l *checkLoop) {
	start := s.clock.Now()
	if run := s.skipIfStuck(l.name); run != nil {
		s.logger.Debug("check not run: its abandoned run has not returned", "check", l.name,
			"running_for", FormatDuration(time.Since(run.started).Truncate(time.Second)))
		l.lastCompleted.Store(start.UnixNano())
		return
	}
	run := startRun(ctx, l.name, l.cfg.Timeout, runHooks{onAbandon: s.markStuck, onLateReturn: s.lateReturn},
		func(ctx context.Context) ([]probes.Finding, error) { return s.execute(ctx, l) })
	findings, err, abandoned := run.await(s.abandonGrace)
	if !abandoned {
		s.watch(l)
	}
	if ctx.Err() != nil {
		return // shutting down: a cancelled run says nothing about the node
	}
	findings, result, err := run.classify(ctx, findings, err, abandoned)
	logPanic(s.logger, err)
	if abandoned {
		s.logger.Debug("check did not return by its deadline; leaving it running and not starting another run until it returns",
			"check", l.name, "timeout", FormatDuration(l.cfg.Timeout))
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

// execute builds the check if needed and runs it. It runs on the run's
// goroutine (building can block in the kernel too); runs of one check
// never overlap (the next starts only after the previous returned), so
// l.check needs no lock.
func (s *scheduler) execute(ctx context.Context, l *checkLoop) ([]probes.Finding, error) {
	if l.check == nil {
		check, err := l.spec.New(l.env)
		if err != nil {
			return nil, err
		}
		l.check = check
	}
	return l.check.Check(ctx)
}

// watch registers a built probes.Watched check's paths once. It runs on
// the loop's goroutine after a run returned, never from an abandoned run
// that may return after its loop was stopped.
func (s *scheduler) watch(l *checkLoop) {
	if w, ok := l.check.(probes.Watched); ok && !l.watching && s.watches != nil {
		s.watches.add(l.name, l.env.Host, w.WatchPaths(), l.trigger)
		l.watching = true
	}
}

// skipIfStuck returns the check's abandoned run that has not returned yet,
// marking it as having cost a scheduled run, or nil.
func (s *scheduler) skipIfStuck(name string) *checkRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	run := s.stuck[name]
	if run != nil {
		run.skipped = true
	}
	return run
}

// markStuck records an abandoned run; it is called while the run cannot
// finish, so lateReturn always finds it.
func (s *scheduler) markStuck(run *checkRun) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stuck[run.name] = run
	s.metrics.checkStuck.WithLabelValues(run.name).Set(1)
}

// lateReturn is called when an abandoned run finally returns: the check
// may run again. If a scheduled run was skipped meanwhile it runs at once
// (after the trigger's debounce) rather than at its next interval, so the
// condition recovers promptly; a check that is merely slower than its
// timeout keeps its interval.
func (s *scheduler) lateReturn(run *checkRun) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stuck[run.name] == run {
		delete(s.stuck, run.name)
		s.metrics.checkStuck.WithLabelValues(run.name).Set(0)
	}
	ranFor := FormatDuration(time.Since(run.started).Truncate(time.Millisecond))
	l := s.loops[run.name]
	if l == nil || !run.skipped {
		s.logger.Info("abandoned check run returned", "check", run.name, "ran_for", ranFor)
		return
	}
	s.logger.Info("abandoned check run returned; running the check again now", "check", run.name, "ran_for", ranFor)
	select {
	case l.trigger <- struct{}{}:
	default:
	}
}

// defaultAbandonGrace is how long past its deadline a run may take to
// return before it is abandoned: enough for a check that honours its
// context to notice and return its error.
const defaultAbandonGrace = time.Second

// runWithDeadline runs a check once under its timeout and classifies the
// result for nodetriage_check_runs_total. A run that has not returned
// abandonGrace after its deadline is abandoned and reported as a timeout
// (the one-shot check command uses this; its process exits soon after).
func runWithDeadline(ctx context.Context, name string, check probes.Check, timeout time.Duration, logger *slog.Logger) ([]probes.Finding, string, error) {
	run := startRun(ctx, name, timeout, runHooks{}, check.Check)
	findings, err, abandoned := run.await(defaultAbandonGrace)
	if abandoned {
		logger.Warn("check did not return by its deadline; abandoned", "check", name, "timeout", FormatDuration(timeout))
	}
	findings, result, err := run.classify(ctx, findings, err, abandoned)
	logPanic(logger, err)
	return findings, result, err
}

// logPanic logs a panicking check's stack at Debug; the panic itself is
// the run's error and is logged with it.
func logPanic(logger *slog.Logger, err error) {
	var p *panicError
	if errors.As(err, &p) {
		logger.Debug("check panicked", "check", p.check, "panic", fmt.Sprint(p.value), "stack", p.stack)
	}
}

// checkRun is one run of a check on its own goroutine.
//
// A check stuck in a syscall (statfs of a hung NFS mount, a read of a
// wedged sysfs file) cannot see its context: Go cannot interrupt a thread
// blocked in the kernel. Waiting for it would stall the check's loop, fail
// /healthz and get the agent restarted by its liveness probe, straight back
// into the same hang. So the waiter gives up at the deadline (plus a
// grace) and leaves the goroutine to finish whenever the kernel lets it;
// the scheduler starts no new run of that check meanwhile, so at most one
// goroutine per check is ever stuck.
type checkRun struct {
	name    string
	timeout time.Duration
	started time.Time // wall clock, like the deadline
	ctx     context.Context
	done    chan struct{}
	hooks   runHooks
	// skipped: a scheduled run of the check was skipped while this one was
	// stuck (guarded by the scheduler's mutex).
	skipped bool

	mu sync.Mutex
	// findings and err are the run's result, set when finished.
	findings  []probes.Finding
	err       error
	finished  bool
	abandoned bool
}

// runHooks tell the run's owner about abandonment. Either may be nil.
type runHooks struct {
	// onAbandon is called, with the run's lock held (so the run cannot
	// finish meanwhile), when the waiter gives up on it.
	onAbandon func(*checkRun)
	// onLateReturn is called on the run's goroutine when an abandoned run
	// returns.
	onLateReturn func(*checkRun)
}

// startRun starts fn on a new goroutine under a timeout derived from ctx. A
// panic in fn becomes a *panicError.
func startRun(ctx context.Context, name string, timeout time.Duration, hooks runHooks, fn func(context.Context) ([]probes.Finding, error)) *checkRun {
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	r := &checkRun{name: name, timeout: timeout, started: time.Now(), ctx: runCtx, done: make(chan struct{}), hooks: hooks}
	go func() {
		defer close(r.done)
		findings, err := guard(runCtx, name, fn)
		r.mu.Lock()
		r.findings, r.err, r.finished = findings, err, true
		late := r.abandoned
		r.mu.Unlock()
		cancel()
		if late && r.hooks.onLateReturn != nil {
			r.hooks.onLateReturn(r)
		}
	}()
	return r
}

// await waits for the run until its deadline (or ctx's end) and grace
// more, and abandons it if it has not returned by then.
func (r *checkRun) await(grace time.Duration) (findings []probes.Finding, err error, abandoned bool) {
	select {
	case <-r.done:
	case <-r.ctx.Done():
		t := time.NewTimer(grace)
		select {
		case <-r.done:
		case <-t.C:
		}
		t.Stop()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.finished {
		r.abandoned = true
		if r.hooks.onAbandon != nil {
			r.hooks.onAbandon(r)
		}
		return nil, nil, true
	}
	return r.findings, r.err, false
}

// classify turns what await returned into the result for
// nodetriage_check_runs_total and the error the condition shows.
func (r *checkRun) classify(ctx context.Context, findings []probes.Finding, err error, abandoned bool) ([]probes.Finding, string, error) {
	var p *panicError
	switch {
	case abandoned:
		return nil, resultTimeout, fmt.Errorf("timed out after %s (still running: stuck in the kernel?)", FormatDuration(r.timeout))
	case errors.As(err, &p):
		return nil, resultPanic, err
	case err != nil && errors.Is(r.ctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		return nil, resultTimeout, fmt.Errorf("timed out after %s: %w", FormatDuration(r.timeout), err)
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
	stack string
}

func (e *panicError) Error() string { return fmt.Sprintf("check %s panicked: %v", e.check, e.value) }

// guard runs fn (building and running one check), turning a panic into an
// error so a buggy check cannot take the agent down.
func guard(ctx context.Context, name string, fn func(context.Context) ([]probes.Finding, error)) (findings []probes.Finding, err error) {
	defer func() {
		if r := recover(); r != nil {
			findings, err = nil, &panicError{check: name, value: r, stack: string(debug.Stack())}
		}
	}()
	return fn(ctx)
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
// than 2×interval + timeout + abandonGrace. A check stuck in the kernel does
// not count: its run is abandoned and the loop goes on; only a loop that
// itself stopped (the agent's own machinery) makes the agent unhealthy.
func (s *scheduler) health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for _, name := range sortedKeys(s.loops) {
		l := s.loops[name]
		limit := 2*l.cfg.Interval + l.cfg.Timeout + s.abandonGrace
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
