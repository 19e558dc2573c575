package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/logfile"
	"github.com/nodetriage/nodetriage/probes/rules"
)

// syncBuffer is a log sink tests can read while the agent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// problemSwitch is a check whose result the test flips.
type problemSwitch struct {
	on   atomic.Bool
	runs atomic.Int32
}

func (p *problemSwitch) spec(name, condition string, interval time.Duration) probes.Spec {
	return probes.Spec{
		Name: name, Condition: condition, Interval: interval, Timeout: interval / 2, DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{{Reason: "Broken", Condition: condition, Severity: probes.SeverityProblem}},
		New: func(env probes.Env) (probes.Check, error) {
			var cfg struct {
				Subject string `json:"subject"`
			}
			if err := env.Settings.Decode(&cfg); err != nil {
				return nil, err
			}
			return probes.CheckFunc(func(context.Context) ([]probes.Finding, error) {
				p.runs.Add(1)
				if !p.on.Load() {
					return nil, nil
				}
				return []probes.Finding{{Check: name, Condition: condition, Reason: "Broken", Severity: probes.SeverityProblem,
					Message: "broken " + cfg.Subject + ".", Remedy: "repair it", Subject: cfg.Subject}}, nil
			}), nil
		},
	}
}

func startAgent(t *testing.T, opts Options) (*Agent, context.CancelFunc, chan error) {
	t.Helper()
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return a, cancel, done
}

func testOptions(t *testing.T, checks ...probes.Spec) Options {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "proc/sys/kernel/random"), 0o755)
	os.WriteFile(filepath.Join(root, "proc/sys/kernel/random/boot_id"), []byte(testBoot+"\n"), 0o644)
	cfg, err := ParseConfig([]byte(fmt.Sprintf("apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nstateDir: %s\n", filepath.Join(root, "state"))), Catalog{Checks: checks})
	if err != nil {
		t.Fatal(err)
	}
	return Options{Config: cfg, Host: probes.NewFS(root), NodeName: "node-a", Checks: checks, Logger: slog.New(slog.DiscardHandler)}
}

func TestAgentRunStopsCleanly(t *testing.T) {
	defer goleak.VerifyNone(t)
	sw := &problemSwitch{}
	sw.on.Store(true)
	spec := sw.spec("switch", "Switched", 50*time.Millisecond)
	watched := probes.Spec{Name: "watched", Condition: "Watched", Interval: time.Hour, Timeout: time.Second, DefaultEnabled: true,
		New: func(env probes.Env) (probes.Check, error) {
			return watchedCheck{runs: &atomic.Int32{}, path: "/"}, nil
		}}
	stream := probes.StreamSpec{Name: "kmsg", DefaultEnabled: true, New: func(probes.Env, probes.StreamOptions) (probes.Stream, error) {
		return &fakeStream{name: "kmsg", run: func(ctx context.Context, sink probes.Sink) error {
			for i := 0; ctx.Err() == nil; i++ {
				sink.Emit(probes.Line{Source: probes.SourceKernel, Text: "DockerHung", Time: time.Now()})
				time.Sleep(time.Millisecond)
			}
			return nil
		}}, nil
	}}
	opts := testOptions(t, spec, watched)
	opts.Streams = []probes.StreamSpec{stream}
	opts.Config.Sources = map[string]SourceConfig{"kmsg": {Enabled: true, QueueSize: 8}}
	opts.NewMatcher = func(probes.Settings, []string) (Matcher, []probes.ReasonInfo, error) {
		return &fakeMatcher{condition: "KernelDeadlock"}, []probes.ReasonInfo{{Reason: "DockerHung", Condition: "KernelDeadlock"}}, nil
	}
	opts.Reporter = &fakeReporter{}
	opts.ListenAddress = "127.0.0.1:0"

	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitFor(t, "both conditions", func() bool {
		_, okA := opts.Reporter.(*fakeReporter).condition("Switched")
		c, okB := opts.Reporter.(*fakeReporter).condition("KernelDeadlock")
		return okA && okB && c.Status == corev1.ConditionTrue
	})
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	t.Logf("shutdown took %s", time.Since(start))
	// The active log finding was persisted at shutdown.
	data, err := os.ReadFile(filepath.Join(opts.Config.StateDir, StateFileName))
	if err != nil || !strings.Contains(string(data), `"DockerHung"`) {
		t.Errorf("state file after shutdown: %s, %v", data, err)
	}
}

func TestAgentListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	opts := testOptions(t)
	opts.ListenAddress = ln.Addr().String()
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen on "+ln.Addr().String()) {
		t.Errorf("Run = %v, want a listen error", err)
	}
}

func TestAgentNewRejectsBadSettings(t *testing.T) {
	sw := &problemSwitch{}
	opts := testOptions(t, sw.spec("switch", "Switched", time.Minute))
	cfg, err := ParseConfig([]byte("apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nchecks: {switch: {settings: {subjekt: x}}}\n"), Catalog{Checks: opts.Checks})
	if err != nil {
		t.Fatal(err)
	}
	opts.Config = cfg
	if _, err := New(opts); err == nil || err.Error() != `checks.switch.settings.subjekt: unknown field` {
		t.Errorf("New = %v", err)
	}
	opts.Config.Checks["switch"] = CheckConfig{Enabled: true, Interval: time.Minute, Timeout: time.Second, Settings: probes.Settings{Path: "checks.switch.settings"}}
	opts.Config.Reasons = map[string]ReasonOverride{"NoSuch": {Disabled: true}}
	if _, err := New(opts); err == nil || !strings.HasPrefix(err.Error(), "reasons.NoSuch: unknown reason") {
		t.Errorf("New with an unknown reason override = %v", err)
	}
}

// TestAgentTellsSettingsErrorsByType: a constructor's *probes.FieldError
// (however wrapped) rejects the configuration; any other error is a host
// problem the check's loop retries, whatever its text says.
func TestAgentTellsSettingsErrorsByType(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantErr bool
	}{
		{name: "field error", err: &probes.FieldError{Field: "checks.picky.settings.limit", Reason: "must be positive"}, wantErr: true},
		{name: "wrapped field error", err: fmt.Errorf("picky: %w", &probes.FieldError{Field: "checks.picky.settings.limit", Reason: "must be positive"}), wantErr: true},
		{name: "host problem named like a field", err: errors.New("checks.picky.settings: cannot open /etc/picky.conf")},
		{name: "not applicable", err: fmt.Errorf("no picky device: %w", probes.ErrNotApplicable)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := probes.Spec{Name: "picky", Condition: "Picky", Interval: time.Minute, Timeout: time.Second, DefaultEnabled: true,
				New: func(probes.Env) (probes.Check, error) { return nil, tc.err }}
			_, err := New(testOptions(t, spec))
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Errorf("New = %v, want an error: %v", err, tc.wantErr)
			}
		})
		t.Run(tc.name+" from a stream", func(t *testing.T) {
			var builds atomic.Int32
			stream := probes.StreamSpec{Name: "picky-log", DefaultEnabled: true, New: func(probes.Env, probes.StreamOptions) (probes.Stream, error) {
				builds.Add(1)
				return nil, tc.err
			}}
			opts := testOptions(t)
			opts.Streams = []probes.StreamSpec{stream}
			opts.Config.Sources = map[string]SourceConfig{"picky-log": {Enabled: true, QueueSize: 8}}
			_, err := New(opts)
			if gotErr := err != nil; gotErr != tc.wantErr || builds.Load() != 1 {
				t.Errorf("New = %v after %d builds, want an error: %v", err, builds.Load(), tc.wantErr)
			}
		})
	}
}

func TestHTTPEndpoints(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	sw := &problemSwitch{}
	sw.on.Store(true)
	spec := sw.spec("switch", "Switched", time.Minute)
	opts := testOptions(t, spec)
	opts.Clock = clk
	opts.Registry = prometheus.NewRegistry()
	opts.Version, opts.Commit = "v1.2.3", "abc123"
	a, _, _ := startAgent(t, opts)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	waitFor(t, "the loop to wait", clk.HasWaiters)
	if code, body := get("/readyz"); code != 503 || body != "waiting for the first run of switch\n" {
		t.Errorf("/readyz before the first run = %d %q", code, body)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	clk.Step(maxFirstRunDelay)
	waitFor(t, "the first run", func() bool { return sw.runs.Load() == 1 })
	waitFor(t, "ready", func() bool { code, _ := get("/readyz"); return code == 200 })

	code, body := get("/debug/findings")
	var report Report
	if err := json.Unmarshal([]byte(body), &report); code != 200 || err != nil {
		t.Fatalf("/debug/findings = %d %v", code, err)
	}
	if report.Node != "node-a" || len(report.Findings) != 1 || len(report.Conditions) != 1 || report.Conditions[0].Status != "True" {
		t.Errorf("/debug/findings = %s", body)
	}

	_, metrics := get("/metrics")
	for _, want := range []string{
		`nodetriage_condition_status{condition="Switched",status="True"} 1`,
		`nodetriage_condition_status{condition="Switched",status="False"} 0`,
		`nodetriage_check_runs_total{check="switch",result="success"} 1`,
		`nodetriage_findings_total{check="switch",reason="Broken"} 1`,
		`nodetriage_build_info{commit="abc123",goversion="go`,
		`nodetriage_config_last_reload_success 1`,
		"nodetriage_check_duration_seconds_bucket",
		"go_goroutines",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// The loop is now waiting for its next run a minute away. Moving the
	// clock past 2×interval+timeout without letting it run means it stalled.
	waitFor(t, "the loop to wait again", clk.HasWaiters)
	a.sched.mu.Lock()
	a.sched.loops["switch"].lastCompleted.Store(clk.Now().Add(-3 * time.Minute).UnixNano())
	a.sched.mu.Unlock()
	if code, body := get("/healthz"); code != 503 || !strings.HasPrefix(body, "check switch has not completed a run for 3m") {
		t.Errorf("/healthz with a stalled loop = %d %q", code, body)
	}
	if code, _ := get("/debug/nothing"); code != 404 {
		t.Errorf("unknown path = %d", code)
	}
}

func TestAgentClearsLogConditionsWithoutNewInput(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	lines := make(chan probes.Line)
	stream := probes.StreamSpec{Name: "kmsg", DefaultEnabled: true, New: func(probes.Env, probes.StreamOptions) (probes.Stream, error) {
		return &fakeStream{name: "kmsg", run: func(ctx context.Context, sink probes.Sink) error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case l := <-lines:
					sink.Emit(l)
				}
			}
		}, sources: func() []probes.Source { return []probes.Source{probes.SourceKubelet} }}, nil
	}}
	disabled := probes.StreamSpec{Name: "journal", New: func(probes.Env, probes.StreamOptions) (probes.Stream, error) {
		return nil, errors.New("a disabled stream is not built")
	}}
	opts := testOptions(t)
	opts.Clock = clk
	opts.Streams = []probes.StreamSpec{stream, disabled}
	opts.Config.Sources = map[string]SourceConfig{"kmsg": {Enabled: true, QueueSize: 8}}
	opts.NewMatcher = func(probes.Settings, []string) (Matcher, []probes.ReasonInfo, error) {
		return &fakeMatcher{condition: "KubeletUnhealthy"}, []probes.ReasonInfo{{Reason: "PLEGUnhealthy", Condition: "KubeletUnhealthy",
			Sources: []probes.Source{probes.SourceKubelet}}}, nil
	}
	rep := &fakeReporter{}
	opts.Reporter = rep
	a, _, _ := startAgent(t, opts)
	lines <- probes.Line{Source: probes.SourceKubelet, Text: "PLEGUnhealthy", Time: t0}
	waitFor(t, "True", func() bool { c, _ := rep.condition("KubeletUnhealthy"); return c.Status == corev1.ConditionTrue })
	// The agent learns what the stream delivers on its first poll.
	waitFor(t, "the sources poll", func() bool {
		clk.Step(sourcesFirstPoll)
		st := a.sm.Streams()
		return len(st) == 1 && st[0].SourcesKnown
	})
	waitFor(t, "the housekeeping timer", clk.HasWaiters)
	clk.Step(opts.Config.QuietWindow)
	waitFor(t, "False after the quiet window", func() bool { c, _ := rep.condition("KubeletUnhealthy"); return c.Status == corev1.ConditionFalse })
	if c, _ := rep.condition("KubeletUnhealthy"); c.Message != "No problem found in the kubelet log." {
		t.Errorf("message = %q", c.Message)
	}
	want := []SourceStatus{
		{Name: "kmsg", State: SourceRunning, Sources: []probes.Source{probes.SourceKubelet}, Lines: 1, FirstLine: t0, LastLine: t0},
		{Name: "journal", State: SourceDisabled},
	}
	if diff := cmp.Diff(want, a.Report().Sources); diff != "" {
		t.Errorf("report sources (-want +got):\n%s", diff)
	}
}

// ConfigMap-style config directory: config.yaml -> ..data/config.yaml,
// ..data -> ..<timestamp>/.
type configMapDir struct {
	dir string
	gen int
}

func (c *configMapDir) write(t *testing.T, content string) {
	t.Helper()
	c.gen++
	ts := fmt.Sprintf("..2026_11_22_08_00_%02d.%09d", c.gen, c.gen)
	if err := os.MkdirAll(filepath.Join(c.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, ts, "config.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(c.dir, "..data"))
	if err := os.Symlink(ts, filepath.Join(c.dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(c.dir, "..data_tmp"), filepath.Join(c.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if c.gen == 1 {
		if err := os.Symlink("..data/config.yaml", filepath.Join(c.dir, "config.yaml")); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" {
		os.RemoveAll(filepath.Join(c.dir, old))
	}
}

func TestConfigReloadThroughConfigMapSwap(t *testing.T) {
	old := configReloadDebounce
	configReloadDebounce = 50 * time.Millisecond
	t.Cleanup(func() { configReloadDebounce = old })

	sw := &problemSwitch{}
	sw.on.Store(true)
	spec := sw.spec("switch", "Switched", 100*time.Millisecond)
	opts := testOptions(t, spec)
	cm := &configMapDir{dir: t.TempDir()}
	head := fmt.Sprintf("apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nstateDir: %s\n", opts.Config.StateDir)
	cm.write(t, head+"checks: {switch: {settings: {subject: first}}}\n")
	opts.ConfigPath = filepath.Join(cm.dir, "config.yaml")
	opts.Config = nil
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	rep := &fakeReporter{}
	opts.Reporter = rep
	a, _, _ := startAgent(t, opts)
	message := func() string { c, _ := rep.condition("Switched"); return c.Message }
	waitFor(t, "the first config in effect", func() bool { return message() == "broken first. Fix: repair it" })

	// Settings change: the check is rebuilt with them.
	cm.write(t, head+"checks: {switch: {settings: {subject: second}}}\n")
	waitFor(t, "the reloaded settings", func() bool { return message() == "broken second. Fix: repair it" })
	if got := testutil.ToFloat64(a.metrics.configReloads.WithLabelValues("success")); got != 1 {
		t.Errorf("reload_total{success} = %v", got)
	}

	// An invalid file is rejected, the running config stays, and it says so.
	cm.write(t, head+"checks: {switch: {timeout: 1h, settings: {subject: third}}}\n")
	waitFor(t, "the rejection", func() bool { return testutil.ToFloat64(a.metrics.configReloads.WithLabelValues("error")) == 1 })
	if got := testutil.ToFloat64(a.metrics.configLastReload); got != 0 {
		t.Errorf("last_reload_success = %v after a rejected reload", got)
	}
	if !strings.Contains(logs.String(), `level=WARN msg="config reload rejected; keeping the running config"`) ||
		!strings.Contains(logs.String(), "checks.switch.timeout: must be shorter than interval (100ms), got 1h") {
		t.Errorf("rejection log:\n%s", logs.String())
	}
	time.Sleep(300 * time.Millisecond)
	if m := message(); m != "broken second. Fix: repair it" {
		t.Errorf("the rejected config took effect: %q", m)
	}

	// Reason override and disabling take effect.
	cm.write(t, head+"checks: {switch: {settings: {subject: second}}}\nreasons: {Broken: {severity: info}}\n")
	waitFor(t, "the override", func() bool { c, _ := rep.condition("Switched"); return c.Status == corev1.ConditionFalse })
	if got := testutil.ToFloat64(a.metrics.configLastReload); got != 1 {
		t.Errorf("last_reload_success = %v after a good reload", got)
	}
	cm.write(t, head+"checks: {switch: {enabled: false}}\n")
	waitFor(t, "the disabled check's condition removed", func() bool {
		_, _, remove, _ := rep.state()
		_, present := rep.condition("Switched")
		return contains(remove, "Switched") && !present
	})
	runs := sw.runs.Load()
	time.Sleep(300 * time.Millisecond)
	if sw.runs.Load() != runs {
		t.Error("a disabled check keeps running")
	}
}

// A reload that changes settings read only at start applies the rest and
// warns, naming exactly the fields that wait for a restart; a reload that
// brings them back to their start values warns no more.
func TestConfigReloadNamesTheSettingsThatNeedARestart(t *testing.T) {
	old := configReloadDebounce
	configReloadDebounce = 50 * time.Millisecond
	t.Cleanup(func() { configReloadDebounce = old })

	sw := &problemSwitch{}
	sw.on.Store(true)
	opts := testOptions(t, sw.spec("switch", "Switched", 100*time.Millisecond))
	opts.Streams = []probes.StreamSpec{{Name: "kmsg", DefaultEnabled: true, New: func(probes.Env, probes.StreamOptions) (probes.Stream, error) {
		return &fakeStream{name: "kmsg", run: func(ctx context.Context, _ probes.Sink) error {
			<-ctx.Done()
			return nil
		}}, nil
	}}}
	cm := &configMapDir{dir: t.TempDir()}
	head := "apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\n"
	stateDir := "stateDir: " + opts.Config.StateDir + "\n"
	cm.write(t, head+stateDir+"checks: {switch: {settings: {subject: first}}}\n")
	opts.ConfigPath = filepath.Join(cm.dir, "config.yaml")
	opts.Config = nil
	logs := &kubeLogRecorder{}
	opts.Logger = slog.New(logs)
	rep := &fakeReporter{}
	opts.Reporter = rep
	a, _, _ := startAgent(t, opts)
	message := func() string { c, _ := rep.condition("Switched"); return c.Message }
	waitFor(t, "the first config in effect", func() bool { return message() == "broken first. Fix: repair it" })

	steps := []struct {
		name, config string
		subject      string
		// wantLater are the fields the Warn names; nil: an Info, no Warn.
		wantLater []string
	}{
		{
			name:    "check settings only",
			config:  head + stateDir + "checks: {switch: {settings: {subject: second}}}\n",
			subject: "second",
		},
		{
			name: "start-only settings with a check's",
			config: head + "stateDir: " + filepath.Join(t.TempDir(), "elsewhere") + "\n" +
				"reporting: {batchInterval: 2s, eventsPerMinutePerReason: 6}\nsources: {kmsg: {queueSize: 16}}\n" +
				"checks: {switch: {settings: {subject: third}}}\n",
			subject:   "third",
			wantLater: []string{"stateDir", "reporting.batchInterval", "reporting.eventsPerMinutePerReason", "sources.kmsg.queueSize"},
		},
		{
			name:    "start-only settings back to what runs",
			config:  head + stateDir + "checks: {switch: {settings: {subject: fourth}}}\n",
			subject: "fourth",
		},
	}
	for i, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			warnsBefore := len(logs.matching(slog.LevelWarn, "config reloaded"))
			infosBefore := len(logs.matching(slog.LevelInfo, "config reloaded"))
			cm.write(t, step.config)
			waitFor(t, "the reload", func() bool {
				return testutil.ToFloat64(a.metrics.configReloads.WithLabelValues("success")) == float64(i+1)
			})
			if want := "broken " + step.subject + ". Fix: repair it"; message() != want {
				waitFor(t, "the check's new settings in effect", func() bool { return message() == want })
			}
			warns := logs.matching(slog.LevelWarn, "config reloaded")[warnsBefore:]
			infos := logs.matching(slog.LevelInfo, "config reloaded")[infosBefore:]
			if step.wantLater == nil {
				if len(warns) != 0 || len(infos) != 1 {
					t.Errorf("%d warnings and %d infos for a reload that needs no restart, want 0 and 1", len(warns), len(infos))
				}
				return
			}
			if len(warns) != 1 || len(infos) != 0 {
				t.Fatalf("%d warnings and %d infos, want 1 warning", len(warns), len(infos))
			}
			var fields string
			warns[0].Attrs(func(attr slog.Attr) bool {
				if attr.Key == "fields" {
					fields = attr.Value.String()
				}
				return true
			})
			if diff := cmp.Diff(strings.Join(step.wantLater, ", "), fields); diff != "" {
				t.Errorf("fields named (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAgentFollowsLogFilesComingAndGoing runs the agent with the real file
// tailer and the default rules: the kubelet's conditions are Unknown while
// no kubelet log exists, False while /var/log/kubelet.log does, and Unknown
// again once it is gone.
func TestAgentFollowsLogFilesComingAndGoing(t *testing.T) {
	first, every := sourcesFirstPoll, sourcesPollInterval
	t.Cleanup(func() { sourcesFirstPoll, sourcesPollInterval = first, every }) // after the agent stopped
	sourcesFirstPoll, sourcesPollInterval = 10*time.Millisecond, 50*time.Millisecond

	opts := testOptions(t)
	root := opts.Host.Root()
	opts.Streams = []probes.StreamSpec{logfile.Spec()}
	cfg, err := ParseConfig([]byte(fmt.Sprintf("apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nstateDir: %s\n", opts.Config.StateDir)),
		Catalog{Streams: opts.Streams})
	if err != nil {
		t.Fatal(err)
	}
	opts.Config = cfg
	opts.NewMatcher = func(probes.Settings, []string) (Matcher, []probes.ReasonInfo, error) {
		e, err := rules.NewEngine(rules.DefaultRules(), rules.Options{})
		if err != nil {
			return nil, nil, err
		}
		return e, e.Reasons(), nil
	}
	rep := &fakeReporter{}
	opts.Reporter = rep
	a, _, _ := startAgent(t, opts)
	kubelet := func() Condition { c, _ := rep.condition("KubeletUnhealthy"); return c }

	waitFor(t, "KubeletUnhealthy Unknown", func() bool { return kubelet().Status == corev1.ConditionUnknown })
	if got, want := kubelet().Message, "no kubelet or systemd log is being read: files: reads none of them"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	logPath := filepath.Join(root, "var/log/kubelet.log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logPath, []byte("I1122 08:00:00.000000    1234 server.go:1] kubelet started\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "KubeletUnhealthy False", func() bool { return kubelet().Status == corev1.ConditionFalse })
	if got, want := kubelet().Message, "No problem found in the kubelet log."; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if src := a.Report().Sources; len(src) != 1 || src[0].State != SourceRunning || !cmp.Equal(src[0].Sources, []probes.Source{probes.SourceKubelet}) {
		t.Errorf("report sources = %+v", src)
	}
	if err := os.Remove(logPath); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "KubeletUnhealthy Unknown again", func() bool { return kubelet().Status == corev1.ConditionUnknown })
}
