package faults

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// apiServerDowntime is how long the API server stays down (issue 7: two
// minutes), longer than the reporter's maximum retry backoff (1 min).
const apiServerDowntime = 2 * time.Minute

// TestAPIServerDown: the API server is stopped for two minutes while the
// conntrack table fills, empties and fills again and the kubelet log
// reports PLEG trouble. The agent keeps detecting, keeps only the latest
// state, and once the API server is back the Node shows exactly that
// state, with the transitions' Events.
func TestAPIServerDown(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Start(t)
	const nodeName = "faults-api-down"
	node := watchNode(t, cluster, nodeName)
	root := newHostRoot(t)
	if err := root.SetConntrack(100, 1000, 0); err != nil {
		t.Fatal(err)
	}
	if err := root.WriteFile("/var/log/kubelet.log", nil); err != nil {
		t.Fatal(err)
	}
	cfg := agentConfig{
		stateDir: t.TempDir(),
		checks:   map[string]string{"conntrack": "{interval: 2s, timeout: 1s}"},
		sources:  map[string]string{"files": "{}"},
	}
	a := startAgent(t, benchkit.AgentOptions{NodeName: nodeName, Kubeconfig: cluster.KubeconfigPath, HostRoot: root.Dir, Config: cfg.YAML()})
	watchRSS(t, a)
	pid := a.PID()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := node.WaitCondition(ctx, "ConntrackProblem", "False", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := node.WaitCondition(ctx, "KubeletUnhealthy", "False", ""); err != nil {
		t.Fatal(err)
	}

	cluster.StopAPIServer(t)
	down := time.Now()
	step := func(at time.Duration, what string, do func() error, want func([]benchkit.Condition) bool) {
		t.Helper()
		time.Sleep(time.Until(down.Add(at)))
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		waitAgent(t, a, 20*time.Second, what, want)
		t.Logf("%s at +%s while the API server is down", what, time.Since(down).Round(time.Second))
	}
	step(10*time.Second, "conntrack table 95% full", func() error { return root.SetConntrack(950, 1000, 0) },
		hasCondition("ConntrackProblem", "True", "ConntrackTableNearFull"))
	time.Sleep(time.Until(down.Add(40 * time.Second)))
	appendUntil(t, root, "/var/log/kubelet.log", plegLine, a, "PLEG unhealthy in kubelet.log", hasCondition("KubeletUnhealthy", "True", "PLEGUnhealthy"))
	t.Logf("PLEG unhealthy in kubelet.log at +%s while the API server is down", time.Since(down).Round(time.Second))
	step(70*time.Second, "conntrack table back to 10%", func() error { return root.SetConntrack(100, 1000, 0) },
		hasCondition("ConntrackProblem", "False", ""))
	step(100*time.Second, "conntrack table 99% full", func() error { return root.SetConntrack(990, 1000, 0) },
		hasCondition("ConntrackProblem", "True", "ConntrackTableNearFull"))
	time.Sleep(time.Until(down.Add(apiServerDowntime)))
	if failed := metricValue(t, a, "nodetriage_api_writes_total", map[string]string{"kind": "status", "result": "error"}); failed == 0 {
		t.Errorf("no failed status write counted while the API server was down")
	}
	cluster.StartAPIServer(t)
	up := time.Now()

	// The reporter retries with a backoff capped at 1 min (+20 % jitter).
	got := requireNodeMatchesAgent(t, node, a, 90*time.Second)
	t.Logf("Node matches the agent %s after the API server came back", time.Since(up).Round(time.Second))
	requireConditions(t, got, map[string][2]string{
		"ConntrackProblem": {"True", "ConntrackTableNearFull"},
		"KubeletUnhealthy": {"True", "PLEGUnhealthy"},
	})
	if c, _ := benchkit.Find(got, "ConntrackProblem"); !containsAll(c.Message, "99% full") {
		t.Errorf("ConntrackProblem message %q does not carry the latest fill level (99%%)", c.Message)
	}
	if a.PID() != pid || a.Exited() {
		t.Errorf("the agent restarted or exited during the outage")
	}

	// The transitions seen during the outage were kept (bounded) and
	// written once the API server was back.
	ectx, ecancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ecancel()
	for _, reason := range []string{"PLEGUnhealthy", "ConntrackTableNearFull"} {
		if err := waitEvent(ectx, cluster, nodeName, reason); err != nil {
			t.Error(err)
		}
	}
}

// waitEvent waits for an events.k8s.io Event with reason about the Node.
func waitEvent(ctx context.Context, c *kubetest.Cluster, nodeName, reason string) error {
	for {
		list, err := c.Client.EventsV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "regarding.name=" + nodeName})
		if err == nil {
			for _, e := range list.Items {
				if e.Reason == reason {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return errorf("no %s Event on node %s: %v", reason, nodeName, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
