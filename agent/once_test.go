package agent

import (
	"context"
	"errors"
	"fmt"
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
}

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
	if a.cfg.QuietWindow != 10*time.Minute || a.sm.policy.LogConditions["KernelDeadlock"] {
		t.Errorf("last good config not applied: quiet %s, log conditions %v", a.cfg.QuietWindow, a.sm.policy.LogConditions)
	}
	if got := counterValue(t, a.metrics.configReloads.WithLabelValues("error")); got != 1 {
		t.Errorf("rejected reloads = %v", got)
	}
}
