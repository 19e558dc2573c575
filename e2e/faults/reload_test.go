package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// configMapDir is a directory laid out the way the kubelet writes a
// ConfigMap volume (pkg/volume/util/atomic_writer.go): the file is a
// symlink through ..data, which points at a timestamped directory, and an
// update writes a new directory and swaps ..data with a rename.
type configMapDir struct {
	dir     string
	current string
	n       int
}

func newConfigMapDir(t *testing.T, content string) *configMapDir {
	t.Helper()
	c := &configMapDir{dir: t.TempDir()}
	c.update(t, content)
	if err := os.Symlink(filepath.Join("..data", "config.yaml"), filepath.Join(c.dir, "config.yaml")); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *configMapDir) path() string { return filepath.Join(c.dir, "config.yaml") }

func (c *configMapDir) update(t *testing.T, content string) {
	t.Helper()
	c.n++
	ts := fmt.Sprintf("..2026_11_22_08_11_%02d.%09d", c.n%60, c.n)
	if err := os.Mkdir(filepath.Join(c.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, ts, "config.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if c.current != "" {
		if err := os.RemoveAll(filepath.Join(c.dir, c.current)); err != nil {
			t.Fatal(err)
		}
	}
	c.current = ts
}

// TestConfigReloads: 100 ConfigMap-style updates in a row, every third one
// invalid in a different way. Valid ones move the conntrack near-full
// threshold across the table's fill level (85 %), so the condition shows
// which configuration runs; after an invalid one it must not change, the
// reload is counted as an error and nodetriage_config_last_reload_success
// is 0.
func TestConfigReloads(t *testing.T) {
	t.Parallel()
	const reloads = 100
	cluster := kubetest.Shared(t)
	const nodeName = "faults-config-reloads"
	node := watchNode(t, cluster, nodeName)
	root := newHostRoot(t)
	if err := root.SetConntrack(850, 1000, 0); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	valid := func(i int, threshold int) string {
		cfg := agentConfig{stateDir: stateDir, checks: map[string]string{
			"conntrack": fmt.Sprintf("{interval: 1s, timeout: 500ms, settings: {nearFullPercent: %d}}", threshold),
		}}
		return fmt.Sprintf("# reload %d\n%s", i, cfg.YAML())
	}
	invalid := []string{
		"apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nchecks:\n  conntrack: {settings: {nearFullPercent: 150}}\n",
		"apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nchecks: {conntrack: {interval: soon}}\n",
		"apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nchecks: {conntrak: {}}\n",
		"apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nreporting: {batchInterval: 10m, heartbeatInterval: 5m}\n",
		"{ this is : not [ yaml\n",
		"apiVersion: nodetriage.io/v1beta9\nkind: AgentConfig\n",
		"apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nchecks: {conntrack: {interval: 1s, timeout: 2s}}\n",
	}
	cm := newConfigMapDir(t, valid(0, 80))
	a := startAgent(t, benchkit.AgentOptions{NodeName: nodeName, Kubeconfig: cluster.KubeconfigPath, HostRoot: root.Dir, ConfigPath: cm.path()})
	watchRSS(t, a)
	waitAgent(t, a, 30*time.Second, "ConntrackProblem True at threshold 80", hasCondition("ConntrackProblem", "True", "ConntrackTableNearFull"))

	wantStatus := "True"
	var wantSuccess, wantError float64
	counts := func() (float64, float64) {
		return metricValue(t, a, "nodetriage_config_reload_total", map[string]string{"result": "success"}),
			metricValue(t, a, "nodetriage_config_reload_total", map[string]string{"result": "error"})
	}
	for i := 1; i <= reloads; i++ {
		if i%3 == 0 {
			cm.update(t, fmt.Sprintf("# reload %d\n%s", i, invalid[(i/3)%len(invalid)]))
			wantError++
		} else {
			threshold := 90
			wantStatus = "False"
			if i%2 == 0 {
				threshold, wantStatus = 80, "True"
			}
			cm.update(t, valid(i, threshold))
			wantSuccess++
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			success, errs := counts()
			if success == wantSuccess && errs == wantError {
				break
			}
			if success > wantSuccess || errs > wantError || time.Now().After(deadline) {
				t.Fatalf("reload %d: nodetriage_config_reload_total success %v error %v, want %v and %v", i, success, errs, wantSuccess, wantError)
			}
			time.Sleep(50 * time.Millisecond)
		}
		lastOK := metricValue(t, a, "nodetriage_config_last_reload_success", nil)
		if want := float64(map[bool]int{true: 0, false: 1}[i%3 == 0]); lastOK != want {
			t.Fatalf("reload %d: nodetriage_config_last_reload_success %v, want %v", i, lastOK, want)
		}
		// The running configuration decides the condition; an invalid file
		// leaves it as it was, also once the check has run again.
		what := fmt.Sprintf("ConntrackProblem %s after reload %d", wantStatus, i)
		waitAgent(t, a, 15*time.Second, what, hasCondition("ConntrackProblem", wantStatus, ""))
		if i%3 == 0 {
			time.Sleep(1500 * time.Millisecond)
			waitAgent(t, a, 0, what+" (a check interval later)", hasCondition("ConntrackProblem", wantStatus, ""))
		}
	}
	got := requireNodeMatchesAgent(t, node, a, 30*time.Second)
	requireConditions(t, got, map[string][2]string{"ConntrackProblem": {wantStatus, map[string]string{"True": "ConntrackTableNearFull", "False": "NoProblemDetected"}[wantStatus]}})
	t.Logf("%d reloads: %v accepted, %v rejected", reloads, wantSuccess, wantError)
}
