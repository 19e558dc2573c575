package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"

	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// TestHeartbeatChangesOnlyHeartbeatTime runs the in-process agent with a
// 2 s heartbeat and compares the Node across heartbeats: every one of the
// agent's conditions gets a new lastHeartbeatTime, and nothing else about
// the Node changes.
func TestHeartbeatChangesOnlyHeartbeatTime(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Shared(t)
	const node = "e2e-heartbeat"
	cluster.CreateNode(t, node)
	root := newHostRoot(t)
	root.installKubeletCert(node, time.Now().Add(12*time.Hour))
	a := startInProcessAgent(t, cluster.KubeconfigPath, node, root,
		agentConfig(t, certChecks, "reporting:\n  heartbeatInterval: 2s\n"))
	waitFor(t, "every check has run once", apiDeadline, a.agent.Ready)

	first := waitNode(t, cluster.Client, node, "KubeletUnhealthy True",
		hasCondition(condKubeletUnhealthy, corev1.ConditionTrue, reasonCertExpiring))
	// Start from a heartbeat after the first write, so the snapshot holds
	// the settled state of every condition, then compare the next two.
	var latest time.Time
	for _, c := range first.Status.Conditions {
		if c.LastHeartbeatTime.After(latest) {
			latest = c.LastHeartbeatTime.Time
		}
	}
	before := waitNode(t, cluster.Client, node, "a heartbeat after the first write", func(n *corev1.Node) error {
		for _, c := range n.Status.Conditions {
			if !c.LastHeartbeatTime.After(latest) {
				return fmt.Errorf("%s heartbeat still %v", c.Type, c.LastHeartbeatTime)
			}
		}
		return nil
	})
	for i := range 2 {
		after := waitHeartbeat(t, cluster, node, before)
		if len(after.Status.Conditions) < 2 {
			t.Fatalf("heartbeat %d: the Node has %d conditions (%s), want the agent's full set", i+1, len(after.Status.Conditions), conditionSummary(after))
		}
		ignore := []cmp.Option{
			cmpopts.IgnoreFields(corev1.NodeCondition{}, "LastHeartbeatTime"),
			cmpopts.SortSlices(func(a, b corev1.NodeCondition) bool { return a.Type < b.Type }),
		}
		if diff := cmp.Diff(before.Status, after.Status, ignore...); diff != "" {
			t.Errorf("heartbeat %d changed more than lastHeartbeatTime (-before +after):\n%s", i+1, diff)
		}
		if diff := cmp.Diff(before.Spec, after.Spec); diff != "" {
			t.Errorf("heartbeat %d changed the Node's spec (-before +after):\n%s", i+1, diff)
		}
		if diff := cmp.Diff(before.Labels, after.Labels); diff != "" {
			t.Errorf("heartbeat %d changed the Node's labels (-before +after):\n%s", i+1, diff)
		}
		before = after
	}
	t.Logf("compared across heartbeats: %s", conditionSummary(before))
}

// waitHeartbeat waits until every condition on the Node has a
// lastHeartbeatTime later than in prev, and returns the Node.
func waitHeartbeat(t *testing.T, cluster *kubetest.Cluster, node string, prev *corev1.Node) *corev1.Node {
	t.Helper()
	return waitNode(t, cluster.Client, node, "a heartbeat after "+prev.ResourceVersion, func(n *corev1.Node) error {
		if len(n.Status.Conditions) != len(prev.Status.Conditions) {
			return fmt.Errorf("conditions changed from %s to %s", conditionSummary(prev), conditionSummary(n))
		}
		for _, c := range n.Status.Conditions {
			old := findCondition(prev, string(c.Type))
			if old == nil {
				return fmt.Errorf("new condition %s", c.Type)
			}
			if !c.LastHeartbeatTime.After(old.LastHeartbeatTime.Time) {
				return fmt.Errorf("%s heartbeat still %v", c.Type, c.LastHeartbeatTime)
			}
		}
		return nil
	})
}
