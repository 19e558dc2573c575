package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/probes"
)

const (
	// persistInterval: active log findings are written at most this often
	// (and at shutdown), so a storm costs one small write per interval.
	persistInterval = 5 * time.Second
	// shutdownGrace bounds the HTTP server's graceful shutdown.
	shutdownGrace = 2 * time.Second
	// bootIDPath is the kernel's random boot ID, read through the host root.
	bootIDPath = "/proc/sys/kernel/random/boot_id"
)

// configReloadDebounce collapses the burst of events a ConfigMap update
// (several symlink operations) or an editor's save makes into one reload.
// A variable so tests can shorten it.
var configReloadDebounce = time.Second

// Options are the agent's inputs. Only Checks (may be empty) and Host are
// needed; nil values mean "none" (no streams, no matcher, no runtime, no
// reporter = standalone).
type Options struct {
	// ConfigPath is the AgentConfig file, watched for changes ("" = the
	// built-in defaults, no reload).
	ConfigPath string
	// Config is the already parsed configuration; nil loads ConfigPath.
	Config *Config
	// Host is the host filesystem (the --host-root).
	Host     probes.FS
	NodeName string
	Checks   []probes.Spec
	Streams  []probes.StreamSpec
	// NewMatcher builds the log rule matcher; nil disables log rules.
	NewMatcher NewMatcherFunc
	Enrich     EnrichFunc
	Runtime    probes.Runtime
	// Reporter publishes conditions and events; nil runs standalone.
	Reporter Reporter
	// Node returns the agent's own Node object, or nil.
	Node   func() *corev1.Node
	Clock  clock.Clock
	Logger *slog.Logger
	// Registry receives the agent's metrics and serves /metrics; nil makes a
	// private one.
	Registry *prometheus.Registry
	// ListenAddress serves HTTP ("" = no server).
	ListenAddress   string
	Version, Commit string
}

// Agent is a configured, not yet running agent.
type Agent struct {
	opts     Options
	clock    clock.Clock
	logger   *slog.Logger
	registry *prometheus.Registry
	metrics  *Metrics
	sm       *Conditions
	matcher  *matcherHolder
	watches  *watchSet
	sched    *scheduler
	pipe     *pipeline
	running  atomic.Bool

	// mu guards the applied configuration.
	mu       sync.Mutex
	cfg      *Config
	cfgBytes []byte
	// started is the configuration the agent started with: the settings
	// read only at start (restartOnlyChanges) keep its values until the
	// next start, whatever a reload says.
	started *Config
	// sources are the log sources as configured at start (started.Sources).
	sources map[string]SourceConfig
	// ruleReasons are the reasons the current matcher can emit.
	ruleReasons []probes.ReasonInfo
	pending     *prepared // built by New, started by Run
	runCtx      context.Context
}

// prepared is a validated configuration with everything it needs built, not
// yet applied.
type prepared struct {
	cfg            *Config
	matcher        Matcher
	matcherChanged bool
	ruleReasons    []probes.ReasonInfo
	// checks holds the checks to (re)start, built from their settings; nil
	// for one that could not be built yet (its loop retries).
	checks map[string]probes.Check
}

// New validates the options and configuration and builds every check and
// the matcher, so a bad setting fails here with an error naming the field.
func New(opts Options) (*Agent, error) {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Host.Root() == "" {
		opts.Host = probes.NewFS("/")
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if err := checkUniqueNames(opts.Checks, opts.Streams); err != nil {
		return nil, err
	}
	a := &Agent{
		opts:     opts,
		clock:    opts.Clock,
		logger:   opts.Logger,
		registry: opts.Registry,
		matcher:  &matcherHolder{},
		watches:  newWatchSet(opts.Logger),
	}
	cfg := opts.Config
	if cfg == nil {
		var err error
		if cfg, err = LoadConfig(opts.ConfigPath, a.catalog()); err != nil {
			return nil, err
		}
	}
	if opts.ConfigPath != "" {
		// Remember what was loaded so a reload of identical bytes is a no-op.
		a.cfgBytes, _ = os.ReadFile(opts.ConfigPath)
	}
	m, err := NewMetrics(opts.Registry, opts.Version, opts.Commit)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	a.metrics = m
	a.started, a.sources = cfg, cfg.Sources
	prep, err := a.prepare(cfg, nil)
	if err != nil {
		return nil, err
	}
	a.cfg, a.pending, a.ruleReasons = cfg, prep, prep.ruleReasons
	a.matcher.store(prep.matcher)
	bootID, err := readBootID(opts.Host)
	if err != nil {
		// Without it reboot-cleared findings last until the agent restarts.
		a.logger.Warn("cannot read the boot ID; kernel-log conditions will not survive an agent restart", "path", bootIDPath, "err", err)
	}
	a.sm = NewConditions(ConditionsOptions{
		Clock:     a.clock,
		Reporter:  opts.Reporter,
		Metrics:   m,
		Logger:    a.logger,
		BootID:    bootID,
		StatePath: filepath.Join(cfg.StateDir, StateFileName),
		Policy:    a.policy(cfg, prep.ruleReasons),
	})
	a.sched = newScheduler(a.clock, a.logger, m, a.sm, a.watches)
	a.pipe = &pipeline{clock: a.clock, logger: a.logger, metrics: m, sm: a.sm, matcher: a.matcher, enrich: opts.Enrich}
	return a, nil
}

func checkUniqueNames(checks []probes.Spec, streams []probes.StreamSpec) error {
	seen := map[string]bool{}
	for _, s := range checks {
		if s.Name == "" || s.New == nil {
			return fmt.Errorf("check spec %q: needs a name and a constructor", s.Name)
		}
		if seen["check/"+s.Name] {
			return fmt.Errorf("check %q is listed twice", s.Name)
		}
		seen["check/"+s.Name] = true
	}
	for _, s := range streams {
		if s.Name == "" || s.New == nil {
			return fmt.Errorf("log source spec %q: needs a name and a constructor", s.Name)
		}
		if seen["source/"+s.Name] {
			return fmt.Errorf("log source %q is listed twice", s.Name)
		}
		seen["source/"+s.Name] = true
	}
	return nil
}

func (a *Agent) catalog() Catalog {
	return Catalog{Checks: a.opts.Checks, Streams: a.opts.Streams}
}

// readBootID reads the current boot ID.
func readBootID(host probes.FS) (string, error) {
	data, err := host.ReadFile(bootIDPath)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// prepare validates cfg against what runs now (prev, nil at start) and
// builds the matcher and every check whose configuration changed.
func (a *Agent) prepare(cfg *Config, prev *Config) (*prepared, error) {
	p := &prepared{cfg: cfg, checks: map[string]probes.Check{}}
	if a.opts.NewMatcher != nil {
		if prev == nil || !bytes.Equal(prev.Rules.Raw, cfg.Rules.Raw) || !slices.Equal(prev.NPDRuleFiles, cfg.NPDRuleFiles) {
			m, reasons, err := a.opts.NewMatcher(cfg.Rules, cfg.NPDRuleFiles)
			if err != nil {
				return nil, fmt.Errorf("log rules: %w", err)
			}
			p.matcher, p.ruleReasons, p.matcherChanged = m, reasons, true
		} else {
			p.matcher, p.ruleReasons = a.matcher.load(), a.ruleReasons
		}
	}
	known := slices.Clone(p.ruleReasons)
	for _, s := range a.opts.Checks {
		known = append(known, s.Reasons...)
	}
	if err := cfg.CheckReasons(known); err != nil {
		return nil, err
	}
	// Streams start only with the agent, but their settings are checked
	// here too, so a bad one is rejected with the field's name instead of
	// failing (and retrying) at run time. Building one has no side effects;
	// what it would log is said again when it runs.
	for _, spec := range a.opts.Streams {
		sc := cfg.Sources[spec.Name]
		if !sc.Enabled {
			continue
		}
		env := a.baseEnv(cfg)
		env.Logger = slog.New(slog.DiscardHandler)
		env.Settings = sc.Settings
		if _, err := spec.New(env, probes.StreamOptions{Follow: true}); err != nil && isSettingsError(err) {
			return nil, err
		}
	}
	for _, spec := range a.opts.Checks {
		cc := cfg.Checks[spec.Name]
		if prev != nil && sameCheckConfig(prev.Checks[spec.Name], cc) {
			continue
		}
		if !cc.Enabled {
			continue
		}
		check, err := spec.New(a.checkEnv(spec, cc, cfg))
		switch {
		case err != nil && isSettingsError(err):
			return nil, err
		case err != nil:
			check = nil // its loop builds it again and reports why it cannot
		}
		p.checks[spec.Name] = check
	}
	return p, nil
}

// isSettingsError tells a bad settings section (reject the configuration)
// from a host problem while building the check (retry on its interval):
// constructors report settings problems as *probes.FieldError
// (Settings.Decode and Settings.Fieldf build them).
func isSettingsError(err error) bool {
	var fe *probes.FieldError
	return errors.As(err, &fe)
}

func sameCheckConfig(a, b CheckConfig) bool {
	return a.Enabled == b.Enabled && a.Interval == b.Interval && a.Timeout == b.Timeout &&
		a.VisibilityDelay == b.VisibilityDelay && bytes.Equal(a.Settings.Raw, b.Settings.Raw)
}

func (a *Agent) checkEnv(spec probes.Spec, cc CheckConfig, cfg *Config) probes.Env {
	env := a.baseEnv(cfg)
	env.Logger = a.logger.With("check", spec.Name)
	env.Settings = cc.Settings
	return env
}

func (a *Agent) baseEnv(cfg *Config) probes.Env {
	env := probes.Env{
		Host:     a.opts.Host,
		Clock:    a.clock,
		Runtime:  a.opts.Runtime,
		NodeName: a.opts.NodeName,
		Node:     a.opts.Node,
		StateDir: a.started.StateDir,
	}
	if env.Node == nil {
		env.Node = func() *corev1.Node { return nil }
	}
	if a.opts.NewMatcher != nil {
		env.Logs = a.matcher
	}
	return env
}

// policy derives the state machine's view of a configuration.
func (a *Agent) policy(cfg *Config, ruleReasons []probes.ReasonInfo) ConditionPolicy {
	var streams []string
	for _, s := range a.opts.Streams {
		if a.sources[s.Name].Enabled {
			streams = append(streams, s.Name)
		}
	}
	p := newPolicy(cfg, a.opts.Checks, func(s probes.Spec) bool { return cfg.Checks[s.Name].Enabled }, streams, ruleReasons)
	// The reporter's dedup window is set at start; the state machine's
	// re-emission of a still-present finding keeps in step with it.
	p.EventDedupWindow = a.started.Reporting.EventDedupWindow
	return p
}

// newPolicy builds the state machine's policy: the checks that run (and so
// own their conditions), the conditions the log rules feed, and every
// condition type that could exist.
func newPolicy(cfg *Config, specs []probes.Spec, runs func(probes.Spec) bool, streams []string, ruleReasons []probes.ReasonInfo) ConditionPolicy {
	p := ConditionPolicy{
		Checks:           map[string]CheckPolicy{},
		LogConditions:    map[string][]probes.Source{},
		Streams:          streams,
		Reasons:          cfg.Reasons,
		QuietWindow:      cfg.QuietWindow,
		EventDedupWindow: cfg.Reporting.EventDedupWindow,
	}
	for _, s := range specs {
		if s.Condition != "" {
			p.Known = append(p.Known, s.Condition)
		}
		for _, r := range s.Reasons {
			if r.Condition != "" {
				p.Known = append(p.Known, r.Condition)
			}
		}
		if runs(s) {
			p.Checks[s.Name] = CheckPolicy{Condition: s.Condition, VisibilityDelay: cfg.Checks[s.Name].VisibilityDelay}
		}
	}
	for _, r := range ruleReasons {
		if r.Condition == "" {
			continue
		}
		p.Known = append(p.Known, r.Condition)
		if !cfg.Reasons[r.Reason].Disabled {
			srcs := p.LogConditions[r.Condition]
			if srcs == nil {
				srcs = []probes.Source{}
			}
			for _, src := range r.Sources {
				if !slices.Contains(srcs, src) {
					srcs = append(srcs, src)
				}
			}
			p.LogConditions[r.Condition] = srcs
		}
	}
	slices.Sort(p.Known)
	p.Known = slices.Compact(p.Known)
	return p
}

// Run runs the agent until ctx is done and returns within a few seconds of
// that, with every goroutine it started finished. It fails early only when
// the HTTP listener cannot be opened.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("agent is already running")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var ln net.Listener
	if a.opts.ListenAddress != "" {
		var err error
		if ln, err = net.Listen("tcp", a.opts.ListenAddress); err != nil {
			return fmt.Errorf("listen on %s: %w", a.opts.ListenAddress, err)
		}
	}
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	if ln != nil {
		srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("serve HTTP on %s: %w", a.opts.ListenAddress, err)
				cancel()
			}
		})
		wg.Go(func() {
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
			defer scancel()
			if err := srv.Shutdown(sctx); err != nil {
				srv.Close()
			}
		})
	}
	if a.opts.Reporter != nil {
		wg.Go(func() {
			if err := a.opts.Reporter.Run(ctx); err != nil && ctx.Err() == nil {
				a.logger.Error("reporter stopped", "err", err)
			}
		})
	}

	a.mu.Lock()
	a.runCtx = ctx
	cfg, prep := a.cfg, a.pending
	streams := 0
	for _, spec := range a.opts.Streams {
		if sc := a.sources[spec.Name]; sc.Enabled {
			env := a.baseEnv(cfg)
			env.Logger = a.logger.With("source", spec.Name)
			env.Settings = sc.Settings
			a.pipe.start(ctx, spec, sc, env)
			streams++
		}
	}
	if streams > 0 {
		wg.Go(func() { a.pipe.pollSources(ctx) })
	}
	enabled := 0
	for _, spec := range a.opts.Checks {
		if check, ok := prep.checks[spec.Name]; ok {
			cc := cfg.Checks[spec.Name]
			a.sched.start(ctx, spec, cc, a.checkEnv(spec, cc, cfg), check)
			enabled++
		}
	}
	a.pending = nil
	a.mu.Unlock()
	// Hand over at once what needs no check run: condition types nobody
	// owns any more are removed from the Node.
	a.sm.Evaluate()

	if a.opts.ConfigPath != "" {
		wg.Go(func() { a.watchConfig(ctx) })
	}
	wg.Go(func() { a.housekeeping(ctx) })
	listen := a.opts.ListenAddress
	if ln != nil {
		listen = ln.Addr().String() // the bound address: ":0" picks a port
	}
	a.logger.Info("agent running", "node", a.opts.NodeName, "host_root", a.opts.Host.Root(),
		"checks", enabled, "listen", listen, "standalone", a.opts.Reporter == nil)

	<-ctx.Done()
	a.sched.wait()
	a.pipe.wait()
	a.watches.close()
	wg.Wait()
	a.logger.Info("agent stopped", "node", a.opts.NodeName)
	select {
	case err := <-serveErr:
		return err
	default:
		return nil
	}
}

// housekeeping evaluates the state machine when a deadline passes (quiet
// windows, visibility delays) and persists log findings, at most every
// persistInterval. It sleeps while there is nothing to do.
func (a *Agent) housekeeping(ctx context.Context) {
	var lastFlush time.Time
	for {
		now := a.clock.Now()
		deadline, hasDeadline := a.sm.NextDeadline()
		wait := time.Duration(-1)
		if hasDeadline {
			wait = max(deadline.Sub(now), 0)
		}
		if a.sm.Dirty() {
			flushIn := max(lastFlush.Add(persistInterval).Sub(now), 0)
			if wait < 0 || flushIn < wait {
				wait = flushIn
			}
		}
		var timer clock.Timer
		var fire <-chan time.Time
		if wait >= 0 {
			timer = a.clock.NewTimer(wait)
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			a.sm.Flush()
			return
		case <-a.sm.Wake():
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		now = a.clock.Now()
		if hasDeadline && !now.Before(deadline) {
			a.sm.Evaluate()
		}
		if a.sm.Dirty() && !now.Before(lastFlush.Add(persistInterval)) {
			a.sm.Flush()
			lastFlush = now
		}
	}
}

// Report is the agent's current findings and conditions, the shape of
// /debug/findings and `nodetriage check --output json` (DESIGN §3; Sources
// is an addition to that schema).
type Report struct {
	Node       string            `json:"node"`
	Findings   []probes.Finding  `json:"findings"`
	Conditions []ConditionStatus `json:"conditions"`
	// Sources are the log streams: what each read, or why it did not.
	Sources []SourceStatus `json:"sources,omitempty"`
}

// States of a log stream in a report.
const (
	SourceStarting      = "starting"
	SourceRunning       = "running"
	SourceRead          = "read" // check: read to its end
	SourceNotApplicable = "not-applicable"
	SourceFailed        = "failed"
	SourceDisabled      = "disabled"
)

// SourceStatus is one log stream in a report.
type SourceStatus struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Sources are the logs it delivers (delivered, for check).
	Sources []probes.Source `json:"sources,omitempty"`
	// Lines counts the lines it delivered; FirstLine and LastLine are the
	// earliest and latest line times.
	Lines     uint64    `json:"lines"`
	FirstLine time.Time `json:"firstLine,omitzero"`
	LastLine  time.Time `json:"lastLine,omitzero"`
	// Error is why it does not run or does not apply.
	Error string `json:"error,omitempty"`
	// Warnings are what went wrong while it read (check only), e.g.
	// skipped lines of a kernel log dump.
	Warnings []string `json:"warnings,omitempty"`
}

// Report returns the current state.
func (a *Agent) Report() Report {
	r := newReport(a.opts.NodeName, a.sm.Snapshot())
	queues := a.pipe.queues()
	enabled := map[string]bool{}
	for _, st := range a.sm.Streams() {
		enabled[st.Name] = true
		s := sourceStatus(st, SourceRunning)
		if q := queues[st.Name]; q != nil {
			q.addLines(&s)
		}
		r.Sources = append(r.Sources, s)
	}
	for _, spec := range a.opts.Streams {
		if !enabled[spec.Name] {
			r.Sources = append(r.Sources, SourceStatus{Name: spec.Name, State: SourceDisabled})
		}
	}
	return r
}

// sourceStatus reports a stream the state machine knows; running is the
// word for a stream that runs (SourceRunning, or SourceRead for check).
func sourceStatus(st StreamStatus, running string) SourceStatus {
	s := SourceStatus{Name: st.Name, Error: st.Err}
	switch {
	case !st.Reported || (st.Running && !st.SourcesKnown):
		s.State = SourceStarting
	case st.Running:
		s.State, s.Sources = running, st.Sources
	case st.NotApplicable:
		s.State = SourceNotApplicable
	default:
		s.State = SourceFailed
	}
	return s
}

func newReport(node string, s Snapshot) Report {
	r := Report{Node: node, Findings: s.Findings, Conditions: s.Conditions}
	if r.Findings == nil {
		r.Findings = []probes.Finding{}
	}
	if r.Conditions == nil {
		r.Conditions = []ConditionStatus{}
	}
	return r
}

// Healthy says why the agent itself is stuck (a check loop or a log
// consumer stalled), or nil. What the agent finds on the node never makes
// it unhealthy.
func (a *Agent) Healthy() error {
	if err := a.sched.health(); err != nil {
		return err
	}
	return a.pipe.health()
}

// Ready says what the agent still waits for before its state means
// something, or nil once every enabled check has run once.
func (a *Agent) Ready() error {
	if !a.running.Load() {
		return errors.New("agent not started")
	}
	if pending := a.sched.pending(); len(pending) > 0 {
		return fmt.Errorf("waiting for the first run of %s", strings.Join(pending, ", "))
	}
	return nil
}
