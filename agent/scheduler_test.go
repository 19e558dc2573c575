package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

type schedHarness struct {
	clock    *testingclock.FakeClock
	reporter *fakeReporter
	metrics  *Metrics
	sm       *Conditions
	sched    *scheduler
	watches  *watchSet
	ctx      context.Context
}

func newSchedHarness(t *testing.T, specs ...probes.Spec) *schedHarness {
	t.Helper()
	h := &schedHarness{clock: testingclock.NewFakeClock(t0), reporter: &fakeReporter{}}
	h.metrics, _ = newTestMetrics(t)
	p := ConditionPolicy{Checks: map[string]CheckPolicy{}, Reasons: map[string]ReasonOverride{}, QuietWindow: time.Minute}
	for _, s := range specs {
		p.Checks[s.Name] = CheckPolicy{Condition: s.Condition}
	}
	logger := slog.New(slog.DiscardHandler)
	h.sm = NewConditions(ConditionsOptions{Clock: h.clock, Reporter: h.reporter, Metrics: h.metrics, Policy: p})
	h.watches = newWatchSet(logger)
	h.sched = newScheduler(h.clock, logger, h.metrics, h.sm, h.watches)
	ctx, cancel := context.WithCancel(context.Background())
	h.ctx = ctx
	t.Cleanup(func() {
		cancel()
		h.sched.wait()
		h.watches.close()
	})
	return h
}

func (h *schedHarness) start(t *testing.T, spec probes.Spec, root string) {
	t.Helper()
	env := probes.Env{Host: probes.NewFS(root), Clock: h.clock, Logger: slog.New(slog.DiscardHandler)}
	check, _ := spec.New(env) // a failed build is retried by the loop
	h.sched.start(h.ctx, spec, CheckConfig{Enabled: true, Interval: spec.Interval, Timeout: spec.Timeout}, env, check)
}

// stepWhenWaiting advances the fake clock once the loops sleep on it.
func (h *schedHarness) stepWhenWaiting(t *testing.T, d time.Duration) {
	t.Helper()
	waitFor(t, "a loop waiting on the clock", h.clock.HasWaiters)
	h.clock.Step(d)
}

func runs(t *testing.T, m *Metrics, check, result string) float64 {
	t.Helper()
	return testutil.ToFloat64(m.checkRuns.WithLabelValues(check, result))
}

func TestFirstRunDelayIsDeterministicAndBounded(t *testing.T) {
	seen := map[time.Duration]bool{}
	for _, name := range []string{"kubelet-cert", "log-filesystem", "conntrack", "hairpin", "memory-cgroups"} {
		d := firstRunDelay(name, time.Minute)
		if d != firstRunDelay(name, time.Minute) {
			t.Errorf("%s: jitter differs between calls", name)
		}
		if d < 0 || d >= maxFirstRunDelay {
			t.Errorf("%s: first run after %s, want under %s", name, d, maxFirstRunDelay)
		}
		if short := firstRunDelay(name, 2*time.Second); short >= 2*time.Second {
			t.Errorf("%s: first run after %s with a 2s interval", name, short)
		}
		seen[d] = true
	}
	if len(seen) < 4 {
		t.Errorf("jitter does not spread checks: %v", seen)
	}
}

func TestSchedulerRunsOnItsInterval(t *testing.T) {
	var count atomic.Int32
	spec := funcSpec("ticker", "Tick", time.Minute, 10*time.Second, func(context.Context) ([]probes.Finding, error) {
		count.Add(1)
		return nil, nil
	})
	h := newSchedHarness(t, spec)
	h.start(t, spec, t.TempDir())
	if err := h.sched.health(); err != nil {
		t.Fatalf("healthy loop reported as stalled: %v", err)
	}
	h.stepWhenWaiting(t, firstRunDelay("ticker", time.Minute))
	waitFor(t, "the first run", func() bool { return count.Load() == 1 })
	if pending := h.sched.pending(); len(pending) != 0 {
		t.Errorf("pending after the first run: %v", pending)
	}
	for i := int32(2); i <= 4; i++ {
		h.stepWhenWaiting(t, 59*time.Second)
		time.Sleep(20 * time.Millisecond)
		if count.Load() != i-1 {
			t.Fatalf("run %d came before its interval", i)
		}
		h.clock.Step(time.Second)
		waitFor(t, "the next run", func() bool { return count.Load() == i })
	}
	if got := runs(t, h.metrics, "ticker", "success"); got != 4 {
		t.Errorf("runs_total{success} = %v", got)
	}
	if got := testutil.ToFloat64(h.metrics.checkLastSuccess.WithLabelValues("ticker")); got != float64(h.clock.Now().Unix()) {
		t.Errorf("last success = %v", got)
	}
	if c, ok := h.reporter.condition("Tick"); !ok || c.Status != corev1.ConditionFalse {
		t.Errorf("condition = %+v %v", c, ok)
	}
}

func TestSchedulerTimeout(t *testing.T) {
	spec := funcSpec("slow", "Slow", time.Hour, 50*time.Millisecond, func(ctx context.Context) ([]probes.Finding, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	h := newSchedHarness(t, spec)
	h.start(t, spec, t.TempDir())
	h.stepWhenWaiting(t, maxFirstRunDelay)
	waitFor(t, "the timed-out run", func() bool { return runs(t, h.metrics, "slow", "timeout") == 1 })
	c, _ := h.reporter.condition("Slow")
	if c.Status != corev1.ConditionUnknown || c.Message != "could not check: slow: timed out after 50ms: context deadline exceeded" {
		t.Errorf("condition = %+v", c)
	}
}

func TestSchedulerRecoversFromPanics(t *testing.T) {
	var count atomic.Int32
	spec := funcSpec("buggy", "Buggy", time.Minute, time.Second, func(context.Context) ([]probes.Finding, error) {
		if count.Add(1) == 1 {
			var m map[string]int
			m["boom"] = 1 // a real runtime panic
		}
		return nil, nil
	})
	h := newSchedHarness(t, spec)
	h.start(t, spec, t.TempDir())
	h.stepWhenWaiting(t, maxFirstRunDelay)
	waitFor(t, "the panicking run", func() bool { return runs(t, h.metrics, "buggy", "panic") == 1 })
	c, _ := h.reporter.condition("Buggy")
	if c.Status != corev1.ConditionUnknown || !strings.HasPrefix(c.Message, "could not check: buggy: check buggy panicked: assignment to entry in nil map") {
		t.Errorf("condition = %+v", c)
	}
	h.stepWhenWaiting(t, time.Minute)
	waitFor(t, "the next run after the panic", func() bool { return runs(t, h.metrics, "buggy", "success") == 1 })
	if c, _ := h.reporter.condition("Buggy"); c.Status != corev1.ConditionFalse {
		t.Errorf("after recovery: %+v", c)
	}
}

func TestSchedulerRetriesNotApplicableAndNewErrors(t *testing.T) {
	var builds atomic.Int32
	spec := probes.Spec{Name: "late", Condition: "Late", Interval: time.Minute, Timeout: time.Second,
		New: func(probes.Env) (probes.Check, error) {
			switch builds.Add(1) {
			case 1:
				return nil, errors.New("no bridge yet: " + probes.ErrNotApplicable.Error())
			case 2:
				return nil, errors.Join(errors.New("no bridge yet"), probes.ErrNotApplicable)
			}
			return probes.CheckFunc(func(context.Context) ([]probes.Finding, error) { return nil, nil }), nil
		}}
	h := newSchedHarness(t, spec)
	h.start(t, spec, t.TempDir()) // build 1 fails (a plain error)
	h.stepWhenWaiting(t, maxFirstRunDelay)
	waitFor(t, "build 2", func() bool { return runs(t, h.metrics, "late", "not_applicable") == 1 })
	h.stepWhenWaiting(t, time.Minute)
	waitFor(t, "build 3 and a run", func() bool { return runs(t, h.metrics, "late", "success") == 1 })
	if builds.Load() != 3 {
		t.Errorf("builds = %d, want 3", builds.Load())
	}
}

// watchedCheck counts runs and watches a directory.
type watchedCheck struct {
	runs *atomic.Int32
	path string
}

func (w watchedCheck) Check(context.Context) ([]probes.Finding, error) {
	w.runs.Add(1)
	return nil, nil
}
func (w watchedCheck) WatchPaths() []string { return []string{w.path} }

func TestSchedulerRerunsWatchedChecks(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/cni/net.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	var count atomic.Int32
	spec := probes.Spec{Name: "cni", Condition: "Hairpin", Interval: time.Hour, Timeout: time.Second,
		New: func(probes.Env) (probes.Check, error) {
			return watchedCheck{runs: &count, path: "/etc/cni/net.d"}, nil
		}}
	h := newSchedHarness(t, spec)
	h.start(t, spec, root)
	h.stepWhenWaiting(t, maxFirstRunDelay)
	waitFor(t, "the first run", func() bool { return count.Load() == 1 })
	// The first run registered the watch; a config change re-runs the
	// check long before its hourly interval, after the debounce.
	waitFor(t, "the watch", func() bool { h.watches.mu.Lock(); defer h.watches.mu.Unlock(); return len(h.watches.subs["cni"]) == 1 })
	for _, name := range []string{"10-bridge.conf", "20-other.conf"} {
		if err := os.WriteFile(filepath.Join(root, "etc/cni/net.d", name), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the debounce timer", func() bool { return h.clock.Waiters() == 1 && len(h.watches.subs["cni"]) == 1 })
	time.Sleep(50 * time.Millisecond) // let the second write's event arrive during the debounce
	h.stepWhenWaiting(t, watchDebounce)
	waitFor(t, "the re-run", func() bool { return count.Load() == 2 })
	time.Sleep(50 * time.Millisecond)
	if count.Load() != 2 {
		t.Errorf("%d runs: two writes in the debounce window should re-run once", count.Load())
	}
}

// TestSchedulerAbandonsAStuckCheck: a check that ignores its context (stuck
// in the kernel) is abandoned at its deadline. The condition goes Unknown
// saying so, nodetriage_check_stuck is 1, the loop stays healthy, and no
// other run of the check starts until the stuck one returns; then the
// check runs again at once and nothing is left running.
func TestSchedulerAbandonsAStuckCheck(t *testing.T) {
	verifyNoLeaks(t)
	release := make(chan struct{})
	var started atomic.Int32
	spec := funcSpec("stuck", "Stuck", time.Minute, 30*time.Second, func(ctx context.Context) ([]probes.Finding, error) {
		if started.Add(1) == 1 {
			<-release // ignores its deadline, as a thread in the kernel does
		}
		return nil, nil
	})
	spec.Timeout = 50 * time.Millisecond
	h := newSchedHarness(t, spec)
	h.sched.abandonGrace = 10 * time.Millisecond
	h.start(t, spec, t.TempDir())
	h.stepWhenWaiting(t, maxFirstRunDelay)
	waitFor(t, "the abandoned run", func() bool { return runs(t, h.metrics, "stuck", "timeout") == 1 })

	c, _ := h.reporter.condition("Stuck")
	if want := "could not check: stuck: timed out after 50ms (still running: stuck in the kernel?)"; c.Status != corev1.ConditionUnknown || c.Message != want {
		t.Errorf("condition = %s %q, want Unknown %q", c.Status, c.Message, want)
	}
	if got := testutil.ToFloat64(h.sched.metrics.checkStuck.WithLabelValues("stuck")); got != 1 {
		t.Errorf("nodetriage_check_stuck = %v while stuck, want 1", got)
	}
	// Three intervals later: the loop kept going (healthy), yet started
	// no second run beside the stuck one.
	for range 3 {
		h.stepWhenWaiting(t, time.Minute)
	}
	waitFor(t, "the loop to wait again", h.clock.HasWaiters)
	if err := h.sched.health(); err != nil {
		t.Errorf("a stuck check made the scheduler unhealthy: %v", err)
	}
	if n := started.Load(); n != 1 {
		t.Errorf("%d runs started while the first was stuck, want 1", n)
	}
	if got := runs(t, h.metrics, "stuck", "timeout"); got != 1 {
		t.Errorf("runs_total{timeout} = %v: skipped runs must not count", got)
	}

	close(release)
	waitFor(t, "the stuck gauge back to 0", func() bool {
		return testutil.ToFloat64(h.sched.metrics.checkStuck.WithLabelValues("stuck")) == 0
	})
	// It skipped runs, so it runs again after the trigger's debounce
	// rather than at its next interval, a minute away.
	var stepped time.Duration
	waitFor(t, "the run after the stuck one returned", func() bool {
		if runs(t, h.metrics, "stuck", "success") == 1 {
			return true
		}
		if h.clock.HasWaiters() && stepped < 10*watchDebounce {
			h.clock.Step(watchDebounce)
			stepped += watchDebounce
		}
		return false
	})
	if c, _ := h.reporter.condition("Stuck"); c.Status != corev1.ConditionFalse {
		t.Errorf("after the stuck run returned: %s %q, want False", c.Status, c.Message)
	}
}

// TestSchedulerAbandonsACheckBlockedInOpen is the real-syscall variant: the
// check opens a FIFO that has no writer, so the thread blocks in open(2)
// where no context can reach it.
func TestSchedulerAbandonsACheckBlockedInOpen(t *testing.T) {
	verifyNoLeaks(t)
	fifo := filepath.Join(t.TempDir(), "wedged")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo %s: %v", fifo, err)
	}
	var opened atomic.Int32
	spec := funcSpec("fifo", "Fifo", time.Minute, 50*time.Millisecond, func(ctx context.Context) ([]probes.Finding, error) {
		f, err := os.Open(fifo) // blocks in the kernel until a writer opens it
		if err != nil {
			return nil, err
		}
		defer f.Close()
		opened.Add(1)
		_, err = io.Copy(io.Discard, f)
		return nil, err
	})
	h := newSchedHarness(t, spec)
	h.sched.abandonGrace = 10 * time.Millisecond
	h.start(t, spec, t.TempDir())
	h.stepWhenWaiting(t, maxFirstRunDelay)
	waitFor(t, "the abandoned run", func() bool { return runs(t, h.metrics, "fifo", "timeout") == 1 })
	if c, _ := h.reporter.condition("Fifo"); c.Status != corev1.ConditionUnknown || !strings.HasSuffix(c.Message, "(still running: stuck in the kernel?)") {
		t.Errorf("condition = %s %q", c.Status, c.Message)
	}
	if opened.Load() != 0 {
		t.Fatal("open(2) of a FIFO without a writer returned")
	}
	// A writer releases the open; closing it ends the read with EOF.
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open the FIFO for writing: %v", err)
	}
	w.Close()
	waitFor(t, "the stuck gauge back to 0", func() bool {
		return testutil.ToFloat64(h.sched.metrics.checkStuck.WithLabelValues("fifo")) == 0
	})
	if opened.Load() != 1 {
		t.Errorf("the released run opened the FIFO %d times, want 1", opened.Load())
	}
}

// TestSchedulerHealthReportsAStalledLoop: what does make the scheduler
// unhealthy is its own machinery stopping, here a loop that cannot hand its
// result to the (wedged) state machine.
func TestSchedulerHealthReportsAStalledLoop(t *testing.T) {
	var count atomic.Int32
	spec := funcSpec("wedged", "Wedged", time.Minute, 30*time.Second, func(context.Context) ([]probes.Finding, error) {
		count.Add(1)
		return nil, nil
	})
	h := newSchedHarness(t, spec)
	h.start(t, spec, t.TempDir())
	h.sm.mu.Lock() // the loop blocks handing over its result
	locked := true
	defer func() {
		if locked {
			h.sm.mu.Unlock()
		}
	}()
	h.stepWhenWaiting(t, maxFirstRunDelay)
	waitFor(t, "the run", func() bool { return count.Load() == 1 })
	h.clock.Step(2*time.Minute + 30*time.Second + time.Second - maxFirstRunDelay)
	if err := h.sched.health(); err != nil {
		t.Fatalf("stalled too early: %v", err)
	}
	h.clock.Step(time.Second)
	err := h.sched.health()
	if err == nil || err.Error() != "check wedged has not completed a run for 2m32s (limit 2m31s)" {
		t.Errorf("health = %v", err)
	}
	h.sm.mu.Unlock()
	locked = false
	waitFor(t, "the loop to go on", func() bool { return h.sched.health() == nil })
}

// TestRunWithDeadlineAbandons: the one-shot check command does not hang on
// a stuck check either.
func TestRunWithDeadlineAbandons(t *testing.T) {
	verifyNoLeaks(t)
	release := make(chan struct{})
	check := probes.CheckFunc(func(context.Context) ([]probes.Finding, error) {
		<-release
		return nil, nil
	})
	_, result, err := runWithDeadline(context.Background(), "stuck", check, 10*time.Millisecond, slog.New(slog.DiscardHandler))
	close(release)
	if result != resultTimeout || err == nil || err.Error() != "timed out after 10ms (still running: stuck in the kernel?)" {
		t.Errorf("runWithDeadline = %s, %v", result, err)
	}
}

// verifyNoLeaks fails the test if goroutines it started outlive it (checked
// after every other cleanup, which run first).
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

func TestSchedulerStopEndsTheLoop(t *testing.T) {
	spec := funcSpec("stoppable", "S", time.Minute, time.Second, func(context.Context) ([]probes.Finding, error) { return nil, nil })
	h := newSchedHarness(t, spec)
	h.start(t, spec, t.TempDir())
	h.sched.stop("stoppable")
	if err := h.sched.health(); err != nil || len(h.sched.pending()) != 0 {
		t.Errorf("a stopped loop still counts: %v %v", err, h.sched.pending())
	}
}
