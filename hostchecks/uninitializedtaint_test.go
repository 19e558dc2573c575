package hostchecks

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

// TestUninitializedTaintGolden runs the check against each Node fixture under
// testdata/uninitialized-taint (the clock is hostTestNow, 12:00 UTC).
func TestUninitializedTaintGolden(t *testing.T) {
	tests := []struct {
		scenario string
		golden   string
		settings string
	}{
		{scenario: "stuck"},       // tainted, created 40m ago
		{scenario: "young"},       // tainted, created 5m ago
		{scenario: "initialized"}, // no taint left
		{scenario: "other-taint"}, // a taint that is not ours
		{scenario: "young", golden: "young-after-1m", settings: `{"after": "1m"}`},
	}
	for _, tt := range tests {
		golden := tt.golden
		if golden == "" {
			golden = tt.scenario
		}
		t.Run(golden, func(t *testing.T) {
			dir := filepath.Join("testdata", UninitializedTaintCheckName)
			node := hostTestLoadNode(t, filepath.Join(dir, tt.scenario, "node.yaml"))
			c := hostTestNewCheck(t, UninitializedTaintSpec(), hostTestEnv(t, UninitializedTaintCheckName, t.TempDir(), hostTestEnvOptions{node: node, settings: tt.settings}))
			hostTestGolden(t, filepath.Join(dir, golden+".golden.json"), hostTestRun(t.Context(), c))
		})
	}
}

// TestUninitializedTaintFollowsNode moves the clock and the Node: the event
// appears after the limit and stops once the taint is gone.
func TestUninitializedTaintFollowsNode(t *testing.T) {
	node := hostTestLoadNode(t, filepath.Join("testdata", UninitializedTaintCheckName, "young", "node.yaml")) // created 11:55
	clk := clocktesting.NewFakePassiveClock(hostTestNow)
	current := node
	env := hostTestEnv(t, UninitializedTaintCheckName, t.TempDir(), hostTestEnvOptions{clock: clk})
	env.Node = func() *corev1.Node { return current }
	c := hostTestNewCheck(t, UninitializedTaintSpec(), env)

	steps := []struct {
		at        time.Time
		untaint   bool
		wantEvent bool
	}{
		{at: hostTestNow},                                       // 5m old
		{at: hostTestNow.Add(5 * time.Minute)},                  // exactly 10m: not yet
		{at: hostTestNow.Add(6 * time.Minute), wantEvent: true}, // 11m
		{at: hostTestNow.Add(7 * time.Minute), untaint: true},   // the CCM finally ran
	}
	for _, step := range steps {
		clk.SetTime(step.at)
		if step.untaint {
			untainted := current.DeepCopy()
			untainted.Spec.Taints = nil
			current = untainted
		}
		findings, err := c.Check(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := len(findings) == 1; got != step.wantEvent {
			t.Errorf("at %s: findings %+v, want event %v", step.at.Format(time.TimeOnly), findings, step.wantEvent)
		}
		for _, f := range findings {
			if f.Condition != "" || f.Subject != node.Name || f.Reason != ReasonNodeUninitializedTaint {
				t.Errorf("finding %+v: want an event-only %s about %s", f, ReasonNodeUninitializedTaint, node.Name)
			}
		}
	}
}

func TestUninitializedTaintNotApplicableWithoutNode(t *testing.T) {
	env := hostTestEnv(t, UninitializedTaintCheckName, t.TempDir(), hostTestEnvOptions{}) // Node() returns nil
	c := hostTestNewCheck(t, UninitializedTaintSpec(), env)
	if _, err := c.Check(t.Context()); !errors.Is(err, probes.ErrNotApplicable) {
		t.Errorf("nil Node: error %v, want ErrNotApplicable", err)
	}
	env.Node = nil
	c = hostTestNewCheck(t, UninitializedTaintSpec(), env)
	if _, err := c.Check(t.Context()); !errors.Is(err, probes.ErrNotApplicable) {
		t.Errorf("no Node func: error %v, want ErrNotApplicable", err)
	}
}

func TestUninitializedTaintSettingsErrors(t *testing.T) {
	for settings, want := range map[string]string{
		`{"after": "ten minutes"}`: `checks.uninitialized-taint.settings.after: not a duration (like "90s" or "10m"): "ten minutes"`,
		`{"after": "-5m"}`:         "checks.uninitialized-taint.settings.after: must not be negative, got -5m0s",
		`{"after": "0s"}`:          "checks.uninitialized-taint.settings.after: must be a positive duration like 10m, got 0s",
	} {
		_, err := UninitializedTaintSpec().New(hostTestEnv(t, UninitializedTaintCheckName, t.TempDir(), hostTestEnvOptions{settings: settings}))
		if err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %q", settings, err, want)
		}
	}
}
