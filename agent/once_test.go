package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

func TestRunOnce(t *testing.T) {
	var gotOpts probes.StreamOptions
	kmsg := probes.StreamSpec{Name: "kmsg", DefaultEnabled: true, New: func(_ probes.Env, opts probes.StreamOptions) (probes.Stream, error) {
		gotOpts = opts
		return &fakeStream{name: "kmsg", run: func(_ context.Context, sink probes.Sink) error {
			for _, text := range []string{"noise", "DockerHung", "DockerHung", "DockerHung"} {
				sink.Emit(probes.Line{Source: probes.SourceKernel, Text: text, Time: t0.Add(-time.Minute)})
			}
			return nil // a one-shot read ends at the end of the data
		}}, nil
	}}
	journal := probes.StreamSpec{Name: "journal", DefaultEnabled: true, New: func(probes.Env, probes.StreamOptions) (probes.Stream, error) {
		return nil, fmt.Errorf("no journal here: %w", probes.ErrNotApplicable)
	}}
	sw := &problemSwitch{}
	sw.on.Store(true)
	other := &problemSwitch{}
	opts := testOptions(t, sw.spec("switch", "Switched", time.Minute), other.spec("other", "Other", time.Minute))
	cfg, err := ParseConfig(nil, Catalog{Checks: opts.Checks, Streams: []probes.StreamSpec{kmsg, journal}})
	if err != nil {
		t.Fatal(err)
	}
	report, err := RunOnce(context.Background(), OnceOptions{
		Config: cfg, Host: opts.Host, NodeName: "node-a",
		Checks: opts.Checks, Streams: []probes.StreamSpec{kmsg, journal},
		NewMatcher: func(probes.Settings, []string) (Matcher, []probes.ReasonInfo, error) {
			return &fakeMatcher{condition: "KernelDeadlock"}, []probes.ReasonInfo{{Reason: "DockerHung", Condition: "KernelDeadlock"}}, nil
		},
		Clock:       testingclock.NewFakeClock(t0),
		Only:        []string{"switch"},
		Since:       t0.Add(-time.Hour),
		StreamPaths: map[string]string{"kmsg": "/tmp/dmesg.txt"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(probes.StreamOptions{Follow: false, Since: t0.Add(-time.Hour), Path: "/tmp/dmesg.txt"}, gotOpts); diff != "" {
		t.Errorf("stream options (-want +got):\n%s", diff)
	}
	if other.runs.Load() != 0 || sw.runs.Load() != 1 {
		t.Errorf("--checks switch ran switch %d times and other %d times", sw.runs.Load(), other.runs.Load())
	}
	var reasons []string
	for _, f := range report.Findings {
		reasons = append(reasons, f.Reason+"×"+f.Evidence["occurrences"])
	}
	if diff := cmp.Diff([]string{"DockerHung×3", "Broken×"}, reasons); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	var conds []string
	for _, c := range report.Conditions {
		conds = append(conds, c.Type+"="+c.Status)
	}
	if diff := cmp.Diff([]string{"KernelDeadlock=True", "Switched=True"}, conds); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	wantSources := []SourceStatus{
		{Name: "kmsg", State: SourceRead, Lines: 4, FirstLine: t0.Add(-time.Minute), LastLine: t0.Add(-time.Minute)},
		{Name: "journal", State: SourceNotApplicable, Error: "no journal here: not applicable on this node"},
	}
	if diff := cmp.Diff(wantSources, report.Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
}

// onceStream is a one-shot stream spec: it emits lines, delivers sources,
// logs warn at Warn and returns err.
func onceStream(name string, sources []probes.Source, lines []probes.Line, warn string, err error) probes.StreamSpec {
	return probes.StreamSpec{Name: name, DefaultEnabled: true, New: func(env probes.Env, _ probes.StreamOptions) (probes.Stream, error) {
		return &fakeStream{name: name, run: func(_ context.Context, sink probes.Sink) error {
			if warn != "" {
				env.Logger.With("source", name).WithGroup("dump").Warn(warn, "skipped", 3)
				env.Logger.Info("chatter that only the agent's log wants")
			}
			for _, l := range lines {
				sink.Emit(l)
			}
			return err
		}, sources: func() []probes.Source { return sources }}, nil
	}}
}

func kernelRules(probes.Settings, []string) (Matcher, []probes.ReasonInfo, error) {
	return &fakeMatcher{condition: "KernelDeadlock"}, []probes.ReasonInfo{
		{Reason: "DockerHung", Condition: "KernelDeadlock", Sources: []probes.Source{probes.SourceKernel}},
	}, nil
}

// TestRunOnceTellsNoProblemFromNoLogs: a log-fed condition is False only
// when a source delivering its log was read.
func TestRunOnceTellsNoProblemFromNoLogs(t *testing.T) {
	noKmsg := fmt.Errorf("open /dev/kmsg: no such file or directory: %w", probes.ErrNotApplicable)
	quiet := []probes.Line{{Source: probes.SourceKubelet, Text: "noise", Time: t0}}
	tests := []struct {
		name        string
		streams     []probes.StreamSpec
		wantCond    ConditionStatus
		wantSources []string
	}{
		{
			name: "nothing readable",
			streams: []probes.StreamSpec{
				onceStream("kmsg", nil, nil, "", noKmsg),
				onceStream("journal", nil, nil, "", errors.New("journal directory /var/log/journal has no journal files (*.journal)")),
			},
			wantCond: ConditionStatus{Type: "KernelDeadlock", Status: "Unknown", Reason: ReasonLogsNotRead,
				Message: "no kernel log is being read: kmsg: " + noKmsg.Error() + "; journal: journal directory /var/log/journal has no journal files (*.journal)"},
			wantSources: []string{"kmsg not-applicable []", "journal failed []"},
		},
		{
			name: "the journal read, but not the kernel transport",
			streams: []probes.StreamSpec{
				onceStream("kmsg", nil, nil, "", noKmsg),
				onceStream("journal", []probes.Source{probes.SourceKubelet}, quiet, "", nil),
			},
			wantCond: ConditionStatus{Type: "KernelDeadlock", Status: "Unknown", Reason: ReasonLogsNotRead,
				Message: "no kernel log is being read: kmsg: " + noKmsg.Error() + "; journal: does not read it"},
			wantSources: []string{"kmsg not-applicable []", "journal read [kubelet]"},
		},
		{
			name: "the kernel log read",
			streams: []probes.StreamSpec{
				onceStream("kmsg", []probes.Source{probes.SourceKernel, probes.SourceKmsgUser}, nil, "", nil),
				onceStream("journal", []probes.Source{probes.SourceKubelet}, quiet, "", nil),
			},
			wantCond:    ConditionStatus{Type: "KernelDeadlock", Status: "False", Reason: ReasonNoProblem, Message: "No problem found in the kernel log."},
			wantSources: []string{"kmsg read [kernel kmsg-user]", "journal read [kubelet]"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr syncBuffer
			logger := slog.New(slog.NewTextHandler(&stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			opts := testOptions(t)
			os.Remove(filepath.Join(opts.Host.Root(), bootIDPath)) // the agent would warn; check must not
			cfg, err := ParseConfig(nil, Catalog{Streams: tc.streams})
			if err != nil {
				t.Fatal(err)
			}
			r, err := RunOnce(context.Background(), OnceOptions{Config: cfg, Host: opts.Host, Streams: tc.streams,
				NewMatcher: kernelRules, Clock: testingclock.NewFakeClock(t0), Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]ConditionStatus{tc.wantCond}, r.Conditions); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			var sources []string
			for _, s := range r.Sources {
				sources = append(sources, fmt.Sprintf("%s %s %v", s.Name, s.State, s.Sources))
			}
			if diff := cmp.Diff(tc.wantSources, sources); diff != "" {
				t.Errorf("sources (-want +got):\n%s", diff)
			}
			if stderr.String() != "" {
				t.Errorf("logged in check mode:\n%s", stderr.String())
			}
		})
	}
}

// TestRunOnceKeepsStreamWarningsInTheReport: what a source logs while it is
// read lands in its report entry, not in the run's log.
func TestRunOnceKeepsStreamWarningsInTheReport(t *testing.T) {
	var stderr syncBuffer
	logger := slog.New(slog.NewTextHandler(&stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	streams := []probes.StreamSpec{
		onceStream("kmsg", []probes.Source{probes.SourceKernel}, nil, "skipped lines of the kernel log dump in no known format", nil),
		onceStream("journal", nil, nil, "", nil),
		onceStream("files", nil, nil, "", nil),
	}
	opts := testOptions(t)
	cfg, err := ParseConfig([]byte("apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nsources: {files: {enabled: false}}\n"), Catalog{Streams: streams})
	if err != nil {
		t.Fatal(err)
	}
	r, err := RunOnce(context.Background(), OnceOptions{Config: cfg, Host: opts.Host, Streams: streams, NewMatcher: kernelRules,
		Clock: testingclock.NewFakeClock(t0), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	want := []SourceStatus{
		{Name: "kmsg", State: SourceRead, Sources: []probes.Source{probes.SourceKernel},
			Warnings: []string{"skipped lines of the kernel log dump in no known format: source=kmsg, dump.skipped=3"}},
		{Name: "journal", State: SourceRead},
		{Name: "files", State: SourceDisabled},
	}
	if diff := cmp.Diff(want, r.Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	if stderr.String() != "" {
		t.Errorf("stream logs reached the run's log:\n%s", stderr.String())
	}
}

// TestRunOnceLogsOnlyUnreportedCheckFailures: a failing check that owns a
// condition is in the report (the condition is Unknown with its error); one
// that owns none would be lost without a line in the run's log.
func TestRunOnceLogsOnlyUnreportedCheckFailures(t *testing.T) {
	failing := func(name, condition string) probes.Spec {
		return funcSpec(name, condition, time.Minute, time.Second, func(context.Context) ([]probes.Finding, error) {
			return nil, errors.New(name + " cannot read its input")
		})
	}
	var stderr syncBuffer
	logger := slog.New(slog.NewTextHandler(&stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := testOptions(t, failing("with-condition", "Owned"), failing("events-only", ""))
	r, err := RunOnce(context.Background(), OnceOptions{Config: opts.Config, Host: opts.Host, Checks: opts.Checks,
		Clock: testingclock.NewFakeClock(t0), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	want := []ConditionStatus{{Type: "Owned", Status: "Unknown", Reason: ReasonCheckFailed, Message: "could not check: with-condition: with-condition cannot read its input"}}
	if diff := cmp.Diff(want, r.Conditions); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if got := stderr.String(); strings.Contains(got, "with-condition") || !strings.Contains(got, "events-only cannot read its input") {
		t.Errorf("run log:\n%s", got)
	}
}

// TestRunOnceFoldsLogFindingsIntoCheckFindings: the report lists one
// finding per fault, like the conditions.
func TestRunOnceFoldsLogFindingsIntoCheckFindings(t *testing.T) {
	const pause = "registry.k8s.io/pause:3.8"
	check := funcSpec("sandbox", "SandboxImageMissing", time.Minute, time.Second, func(context.Context) ([]probes.Finding, error) {
		return []probes.Finding{{Check: "sandbox", Condition: "SandboxImageMissing", Reason: "SandboxImageNotPresent",
			Severity: probes.SeverityWarning, Subject: pause, Message: "missing.", Remedy: "pull it"}}, nil
	})
	rules := func(probes.Settings, []string) (Matcher, []probes.ReasonInfo, error) {
		return subjectMatcher{}, []probes.ReasonInfo{{Reason: "SandboxImagePullFailing", Condition: "SandboxImageMissing",
			Sources: []probes.Source{probes.SourceKubelet}}}, nil
	}
	lines := []probes.Line{
		{Source: probes.SourceKubelet, Text: pause, Time: t0},
		{Source: probes.SourceKubelet, Text: "registry.k8s.io/pause:3.10", Time: t0},
	}
	streams := []probes.StreamSpec{onceStream("journal", []probes.Source{probes.SourceKubelet}, lines, "", nil)}
	opts := testOptions(t, check)
	cfg, err := ParseConfig(nil, Catalog{Checks: opts.Checks, Streams: streams})
	if err != nil {
		t.Fatal(err)
	}
	r, err := RunOnce(context.Background(), OnceOptions{Config: cfg, Host: opts.Host, Checks: opts.Checks, Streams: streams,
		NewMatcher: rules, Clock: testingclock.NewFakeClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.Reason+" "+f.Subject)
	}
	want := []string{"SandboxImagePullFailing registry.k8s.io/pause:3.10", "SandboxImageNotPresent " + pause}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// subjectMatcher reports every line as SandboxImagePullFailing about the
// image the line names.
type subjectMatcher struct{}

func (subjectMatcher) Match(l probes.Line) []probes.Finding {
	return []probes.Finding{{Check: "kubelet-log", Condition: "SandboxImageMissing", Reason: "SandboxImagePullFailing",
		Severity: probes.SeverityProblem, Subject: l.Text, Message: "pull of " + l.Text + " failing.", Remedy: "mirror it",
		Time: l.Time, Clear: probes.ClearPolicy{Mode: probes.ClearAfterQuiet}}}
}

func (subjectMatcher) LastMatch(string) (probes.Match, bool) { return probes.Match{}, false }

func TestRunOnceErrors(t *testing.T) {
	sw := &problemSwitch{}
	opts := testOptions(t, sw.spec("switch", "Switched", time.Minute))
	_, err := RunOnce(context.Background(), OnceOptions{Config: opts.Config, Host: opts.Host, Checks: opts.Checks, Only: []string{"swich"}})
	if err == nil || err.Error() != `unknown check "swich" (known: switch)` {
		t.Errorf("unknown check: %v", err)
	}
	_, err = RunOnce(context.Background(), OnceOptions{Config: opts.Config, Host: opts.Host, Checks: opts.Checks,
		NewMatcher: func(probes.Settings, []string) (Matcher, []probes.ReasonInfo, error) {
			return nil, nil, errors.New("rules[0].pattern: missing closing )")
		}})
	if err == nil || !strings.HasPrefix(err.Error(), "log rules: rules[0].pattern") {
		t.Errorf("bad rules: %v", err)
	}
	// Nothing configured at all still produces a report.
	r, err := RunOnce(context.Background(), OnceOptions{Host: opts.Host, Clock: testingclock.NewFakeClock(t0)})
	if err != nil || r.Findings == nil || r.Conditions == nil {
		t.Errorf("empty run: %+v %v", r, err)
	}
}

func TestReloadRebuildsTheMatcher(t *testing.T) {
	var built []string
	opts := testOptions(t)
	opts.ConfigPath = t.TempDir() + "/config.yaml"
	head := fmt.Sprintf("apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nstateDir: %s\n", opts.Config.StateDir)
	write := func(s string) {
		t.Helper()
		if err := writeFile(opts.ConfigPath, head+s); err != nil {
			t.Fatal(err)
		}
	}
	write("rules: [{name: a}]\n")
	opts.Config = nil
	opts.NewMatcher = func(rules probes.Settings, npd []string) (Matcher, []probes.ReasonInfo, error) {
		if strings.Contains(string(rules.Raw), "bad") {
			return nil, nil, &probes.FieldError{Field: "rules[0].pattern", Reason: "missing closing )"}
		}
		built = append(built, string(rules.Raw)+fmt.Sprint(npd))
		return &fakeMatcher{condition: "KernelDeadlock"}, []probes.ReasonInfo{{Reason: "DockerHung", Condition: "KernelDeadlock"}}, nil
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	write("rules: [{name: a}]\nquietWindow: 1m\n") // rules unchanged: keep the matcher (and its LastMatch memory)
	a.reload(ctx)
	write("rules: [{name: b}]\nnpdRuleFiles: [/etc/npd/k.json]\n")
	a.reload(ctx)
	write("rules: [{name: bad}]\n")
	a.reload(ctx)
	write("rules: [{name: b}]\nnpdRuleFiles: [/etc/npd/k.json]\nreasons: {DockerHung: {enabled: false}}\n")
	a.reload(ctx)
	want := []string{`[{"name":"a"}][]`, `[{"name":"b"}][/etc/npd/k.json]`}
	if diff := cmp.Diff(want, built); diff != "" {
		t.Errorf("matcher builds (-want +got):\n%s", diff)
	}
	if _, fed := a.sm.policy.LogConditions["KernelDeadlock"]; a.cfg.QuietWindow != 10*time.Minute || fed {
		t.Errorf("last good config not applied: quiet %s, log conditions %v", a.cfg.QuietWindow, a.sm.policy.LogConditions)
	}
	if got := counterValue(t, a.metrics.configReloads.WithLabelValues("error")); got != 1 {
		t.Errorf("rejected reloads = %v", got)
	}
}
