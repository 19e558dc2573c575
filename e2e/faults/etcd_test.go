package faults

import (
	"context"
	"testing"
	"time"

	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// TestEtcdRestart: etcd is restarted twice under a running agent, each
// time while the conntrack condition flips. The API server answers errors
// while etcd is down; afterwards the Node shows the agent's latest state.
func TestEtcdRestart(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Start(t)
	const nodeName = "faults-etcd-restart"
	node := watchNode(t, cluster, nodeName)
	root := newHostRoot(t)
	if err := root.SetConntrack(100, 1000, 0); err != nil {
		t.Fatal(err)
	}
	cfg := agentConfig{stateDir: t.TempDir(), checks: map[string]string{"conntrack": "{interval: 1s, timeout: 500ms}"}}
	a := startAgent(t, benchkit.AgentOptions{NodeName: nodeName, Kubeconfig: cluster.KubeconfigPath, HostRoot: root.Dir, Config: cfg.YAML()})
	watchRSS(t, a)
	pid := a.PID()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := node.WaitCondition(ctx, "ConntrackProblem", "False", ""); err != nil {
		t.Fatal(err)
	}
	for _, round := range []struct {
		count  uint64
		status string
		reason string
	}{
		{count: 960, status: "True", reason: "ConntrackTableNearFull"},
		{count: 50, status: "False", reason: "NoProblemDetected"},
	} {
		// Flip the table while etcd is going down and coming back.
		flipped := make(chan error, 1)
		go func() {
			time.Sleep(300 * time.Millisecond)
			flipped <- root.SetConntrack(round.count, 1000, 0)
		}()
		started := time.Now()
		cluster.RestartEtcd(t)
		if err := <-flipped; err != nil {
			t.Fatal(err)
		}
		t.Logf("etcd restarted in %s", time.Since(started).Round(100*time.Millisecond))
		got := requireNodeMatchesAgent(t, node, a, 90*time.Second)
		requireConditions(t, got, map[string][2]string{"ConntrackProblem": {round.status, round.reason}})
	}
	if a.PID() != pid || a.Exited() {
		t.Errorf("the agent restarted or exited during the etcd restarts")
	}
}
