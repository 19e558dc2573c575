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
// finding seen and the resulting conditions. An error means it could not
// run at all (unknown check name, bad log rules).
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
	for _, s := range o.Streams {
		if _, given := o.StreamPaths[s.Name]; given || cfg.Sources[s.Name].Enabled {
			streams = append(streams, s)
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
	bootID := ""
	if len(streamNames) > 0 { // only log findings need it
		bootID = readBootID(o.Host, o.Logger)
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
		if err != nil && !errors.Is(err, probes.ErrNotApplicable) {
			o.Logger.Warn("check failed", "check", spec.Name, "err", err)
		}
		collected.add(findings)
		sm.CheckResult(spec.Name, findings, err)
	}

	if matcher != nil {
		for _, spec := range streams {
			env := base
			env.Logger = o.Logger.With("source", spec.Name)
			env.Settings = cfg.Sources[spec.Name].Settings
			sink := &onceSink{ctx: ctx, matcher: matcher, enrich: o.Enrich, sm: sm, collected: collected}
			err := readStream(ctx, spec, env, probes.StreamOptions{Since: o.Since, Path: o.StreamPaths[spec.Name]}, sink)
			switch {
			case errors.Is(err, probes.ErrNotApplicable):
				o.Logger.Debug("log source does not apply", "source", spec.Name, "why", err.Error())
			case err != nil:
				o.Logger.Warn("log source failed", "source", spec.Name, "err", err)
			}
			sm.SetStreamStatus(spec.Name, err == nil, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return Report{}, fmt.Errorf("interrupted: %w", err)
	}
	snap := sm.Snapshot()
	snap.Findings = collected.list()
	return newReport(o.NodeName, snap), nil
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

func readStream(ctx context.Context, spec probes.StreamSpec, env probes.Env, opts probes.StreamOptions, sink probes.Sink) error {
	s, err := spec.New(env, opts)
	if err != nil {
		return err
	}
	return s.Run(ctx, sink)
}

// onceSink matches each line as it arrives: a one-shot read has no reason
// to queue or drop.
type onceSink struct {
	ctx       context.Context
	matcher   Matcher
	enrich    EnrichFunc
	sm        *Conditions
	collected *findingCollector
}

func (s *onceSink) Emit(line probes.Line) {
	findings := s.matcher.Match(line)
	if len(findings) == 0 {
		return
	}
	enrichAll(s.ctx, s.enrich, findings)
	s.collected.add(findings)
	s.sm.LogFindings(findings)
}

// findingCollector keeps every finding a one-shot run saw, one per key (the
// latest), counting repeats in Evidence["occurrences"].
type findingCollector struct {
	overrides map[string]ReasonOverride
	byKey     map[string]probes.Finding
	counts    map[string]int
}

func (c *findingCollector) add(findings []probes.Finding) {
	if c.byKey == nil {
		c.byKey, c.counts = map[string]probes.Finding{}, map[string]int{}
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
	}
}

func (c *findingCollector) list() []probes.Finding {
	out := make([]probes.Finding, 0, len(c.byKey))
	for key, f := range c.byKey {
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
