package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/probes"
)

// OnceOptions configure a one-shot run (nodetriage check).
type OnceOptions struct {
	Config     *Config
	Host       probes.FS
	NodeName   string
	Checks     []probes.Spec
	Streams    []probes.StreamSpec
	NewMatcher NewMatcherFunc
	Enrich     EnrichFunc
	Runtime    probes.Runtime
	Clock      clock.Clock
	Logger     *slog.Logger
	// Only names the checks to run; nil runs every enabled check. A named
	// check runs even when the config disables it.
	Only []string
	// Since bounds the log history read.
	Since time.Time
	// StreamPaths overrides a source's input by source name (kmsg: a dump
	// file, journal: a directory). A source given a path runs even when the
	// config disables it.
	StreamPaths map[string]string
}

// RunOnce runs the selected checks once and reads the enabled log sources to
// their end, through the same state machine as the agent, and returns every
// finding seen, the resulting conditions and what each log source read. An
// error means it could not run at all (unknown check name, bad log rules).
//
// o.Logger hears only what went wrong with the run itself: a check without
// a condition that failed (the others' errors are their conditions'
// Unknown messages). What a log source could not read, and its warnings,
// are in Report.Sources; warnings that matter only to a long-running agent
// are not given.
func RunOnce(ctx context.Context, o OnceOptions) (Report, error) {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Host.Root() == "" {
		o.Host = probes.NewFS("/")
	}
	if err := checkUniqueNames(o.Checks, o.Streams); err != nil {
		return Report{}, err
	}
	cfg := o.Config
	if cfg == nil {
		var err error
		if cfg, err = ParseConfig(nil, Catalog{Checks: o.Checks, Streams: o.Streams}); err != nil {
			return Report{}, err
		}
	}
	selected, err := selectChecks(o.Checks, cfg, o.Only)
	if err != nil {
		return Report{}, err
	}
	var matcher Matcher
	var ruleReasons []probes.ReasonInfo
	if o.NewMatcher != nil {
		if matcher, ruleReasons, err = o.NewMatcher(cfg.Rules, cfg.NPDRuleFiles); err != nil {
			return Report{}, fmt.Errorf("log rules: %w", err)
		}
	}
	known := slices.Clone(ruleReasons)
	for _, s := range o.Checks {
		known = append(known, s.Reasons...)
	}
	if err := cfg.CheckReasons(known); err != nil {
		return Report{}, err
	}
	var streams []probes.StreamSpec
	var disabled []string
	for _, s := range o.Streams {
		if _, given := o.StreamPaths[s.Name]; given || cfg.Sources[s.Name].Enabled {
			streams = append(streams, s)
		} else {
			disabled = append(disabled, s.Name)
		}
	}
	metrics, err := NewMetrics(prometheus.NewRegistry(), "", "")
	if err != nil {
		return Report{}, err
	}
	streamNames := make([]string, 0, len(streams))
	for _, s := range streams {
		streamNames = append(streamNames, s.Name)
	}
	if matcher == nil {
		streamNames = nil // nothing would turn their lines into findings
	}
	// Only log findings need the boot ID (to skip lines of earlier boots);
	// without it every line read counts.
	bootID := ""
	if len(streamNames) > 0 {
		bootID, _ = readBootID(o.Host)
	}
	sm := NewConditions(ConditionsOptions{
		Clock:   o.Clock,
		Metrics: metrics,
		// Transitions are the report itself here, not news to log.
		Logger: slog.New(slog.DiscardHandler),
		BootID: bootID,
		Policy: newPolicy(cfg, o.Checks, func(s probes.Spec) bool { return selected[s.Name] },
			streamNames, ruleReasons),
	})
	base := probes.Env{
		Host: o.Host, Clock: o.Clock, Runtime: o.Runtime, NodeName: o.NodeName,
		Node: func() *corev1.Node { return nil }, StateDir: cfg.StateDir,
	}
	if matcher != nil {
		base.Logs = matcher
	}
	collected := &findingCollector{overrides: cfg.Reasons}

	for _, spec := range o.Checks {
		if !selected[spec.Name] {
			continue
		}
		cc := cfg.Checks[spec.Name]
		env := base
		env.Logger = o.Logger.With("check", spec.Name)
		env.Settings = cc.Settings
		findings, err := runOnceCheck(ctx, spec, env, cc.Timeout)
		if err != nil && !errors.Is(err, probes.ErrNotApplicable) && spec.Condition == "" {
			o.Logger.Warn("check failed", "check", spec.Name, "err", err)
		}
		collected.add(findings, false)
		sm.CheckResult(spec.Name, findings, err)
	}

	var sources []SourceStatus
	if matcher != nil {
		for _, spec := range streams {
			env := base
			warnings := newWarningCollector()
			env.Logger = slog.New(warnings)
			env.Settings = cfg.Sources[spec.Name].Settings
			sink := &onceSink{ctx: ctx, matcher: matcher, enrich: o.Enrich, sm: sm, collected: collected}
			delivered, err := readStream(ctx, spec, env, probes.StreamOptions{Since: o.Since, Path: o.StreamPaths[spec.Name]}, sink)
			sm.SetStreamStatus(spec.Name, err == nil, err)
			if err == nil {
				sm.SetStreamSources(spec.Name, delivered)
			}
			st := SourceStatus{Name: spec.Name, Lines: sink.lines, FirstLine: sink.first, LastLine: sink.last, Warnings: warnings.list()}
			switch {
			case err == nil:
				st.State, st.Sources = SourceRead, delivered
			case errors.Is(err, probes.ErrNotApplicable):
				st.State, st.Error = SourceNotApplicable, err.Error()
			default:
				st.State, st.Error = SourceFailed, err.Error()
			}
			sources = append(sources, st)
		}
		for _, name := range disabled {
			sources = append(sources, SourceStatus{Name: name, State: SourceDisabled})
		}
	}
	if err := ctx.Err(); err != nil {
		return Report{}, fmt.Errorf("interrupted: %w", err)
	}
	snap := sm.Snapshot()
	snap.Findings = collected.list()
	r := newReport(o.NodeName, snap)
	r.Sources = sources
	return r, nil
}

func selectChecks(specs []probes.Spec, cfg *Config, only []string) (map[string]bool, error) {
	selected := map[string]bool{}
	if len(only) == 0 {
		for _, s := range specs {
			selected[s.Name] = cfg.Checks[s.Name].Enabled
		}
		return selected, nil
	}
	known := map[string]bool{}
	for _, s := range specs {
		known[s.Name] = true
	}
	for _, name := range only {
		if !known[name] {
			return nil, fmt.Errorf("unknown check %q (known: %s)", name, strings.Join(sortedKeys(known), ", "))
		}
		selected[name] = true
	}
	return selected, nil
}

func runOnceCheck(ctx context.Context, spec probes.Spec, env probes.Env, timeout time.Duration) ([]probes.Finding, error) {
	check, err := spec.New(env)
	if err != nil {
		return nil, err
	}
	findings, _, err := runWithDeadline(ctx, spec.Name, check, timeout, env.Logger)
	return findings, err
}

// readStream reads a stream to its end and returns the sources it
// delivered.
func readStream(ctx context.Context, spec probes.StreamSpec, env probes.Env, opts probes.StreamOptions, sink probes.Sink) ([]probes.Source, error) {
	s, err := spec.New(env, opts)
	if err != nil {
		return nil, err
	}
	if err := s.Run(ctx, sink); err != nil {
		return nil, err
	}
	return streamSources(s), nil
}

// onceSink matches each line as it arrives (a one-shot read has no reason
// to queue or drop) and counts what it saw.
type onceSink struct {
	ctx       context.Context
	matcher   Matcher
	enrich    EnrichFunc
	sm        *Conditions
	collected *findingCollector

	lines       uint64
	first, last time.Time
}

func (s *onceSink) Emit(line probes.Line) {
	s.lines++
	if t := line.Time; !t.IsZero() {
		if s.first.IsZero() || t.Before(s.first) {
			s.first = t.UTC()
		}
		if t.After(s.last) {
			s.last = t.UTC()
		}
	}
	findings := s.matcher.Match(line)
	if len(findings) == 0 {
		return
	}
	enrichAll(s.ctx, s.enrich, findings)
	s.collected.add(findings, true)
	s.sm.LogFindings(findings)
}

// warningCollector is a stream's logger in a one-shot run: its warnings
// become the report's Warnings for that source instead of lines on stderr;
// the rest is dropped.
type warningCollector struct {
	warnings *warningList
	// attrs are already qualified with the group they were added in.
	attrs []slog.Attr
	group string
}

type warningList struct {
	mu    sync.Mutex
	lines []string
}

func newWarningCollector() *warningCollector {
	return &warningCollector{warnings: &warningList{}}
}

func (w *warningCollector) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

// Handle keeps the record as one line: "message: key=value, key=value".
func (w *warningCollector) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	sep := ": "
	write := func(a slog.Attr) {
		if a.Equal(slog.Attr{}) {
			return
		}
		b.WriteString(sep + a.Key + "=" + a.Value.String())
		sep = ", "
	}
	for _, a := range w.attrs {
		write(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		write(w.qualify(a))
		return true
	})
	w.warnings.mu.Lock()
	defer w.warnings.mu.Unlock()
	w.warnings.lines = append(w.warnings.lines, b.String())
	return nil
}

func (w *warningCollector) WithAttrs(attrs []slog.Attr) slog.Handler {
	next := &warningCollector{warnings: w.warnings, attrs: slices.Clip(w.attrs), group: w.group}
	for _, a := range attrs {
		next.attrs = append(next.attrs, w.qualify(a))
	}
	return next
}

func (w *warningCollector) WithGroup(name string) slog.Handler {
	next := &warningCollector{warnings: w.warnings, attrs: w.attrs, group: name}
	if w.group != "" {
		next.group = w.group + "." + name
	}
	return next
}

func (w *warningCollector) qualify(a slog.Attr) slog.Attr {
	if w.group != "" && a.Key != "" {
		a.Key = w.group + "." + a.Key
	}
	return a
}

func (w *warningCollector) list() []string {
	w.warnings.mu.Lock()
	defer w.warnings.mu.Unlock()
	return slices.Clone(w.warnings.lines)
}

// findingCollector keeps every finding a one-shot run saw, one per key (the
// latest), counting repeats in Evidence["occurrences"].
type findingCollector struct {
	overrides map[string]ReasonOverride
	byKey     map[string]probes.Finding
	counts    map[string]int
	fromLogs  map[string]bool
}

// add records findings from a check run or (fromLogs) from a log line.
func (c *findingCollector) add(findings []probes.Finding, fromLogs bool) {
	if c.byKey == nil {
		c.byKey, c.counts, c.fromLogs = map[string]probes.Finding{}, map[string]int{}, map[string]bool{}
	}
	for _, f := range findings {
		if f.Recovered {
			continue
		}
		f, ok := applyOverride(c.overrides, f)
		if !ok {
			continue
		}
		c.byKey[f.Key()] = f
		c.counts[f.Key()]++
		c.fromLogs[f.Key()] = fromLogs
	}
}

// list returns the findings, leaving out log findings about the same fault
// as a check finding (see SameFault), like the state machine does.
func (c *findingCollector) list() []probes.Finding {
	var checkFindings []probes.Finding
	for key, f := range c.byKey {
		if !c.fromLogs[key] && f.Severity.Rank() >= probes.SeverityWarning.Rank() {
			checkFindings = append(checkFindings, f)
		}
	}
	out := make([]probes.Finding, 0, len(c.byKey))
	for key, f := range c.byKey {
		if c.fromLogs[key] && coveredBy(checkFindings, f) {
			continue
		}
		if n := c.counts[key]; n > 1 {
			f.Evidence = maps.Clone(f.Evidence)
			if f.Evidence == nil {
				f.Evidence = map[string]string{}
			}
			f.Evidence["occurrences"] = strconv.Itoa(n)
		}
		out = append(out, f)
	}
	SortFindings(out)
	return out
}
