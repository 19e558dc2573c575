package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// TestAgentRestart stops the binary and starts it again with the
// container-runtime check disabled: the conditions whose status did not
// change keep their lastTransitionTime (they are read back, not reset), and
// the disabled check's condition is removed from the Node. A condition
// still True after the restart is no new Event; a fault repaired while the
// agent was down is exactly one Cleared Event after the next start.
func TestAgentRestart(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Shared(t)
	const node = "e2e-restart"
	cluster.CreateNode(t, node)
	root := newHostRoot(t)
	root.installKubeletCert(node, time.Now().Add(12*time.Hour))
	// One state dir for both runs, as the DaemonSet's hostPath is.
	stateDir := t.TempDir()
	args := binaryArgs{kubeconfig: cluster.KubeconfigPath, node: node, hostRoot: root.dir, config: agentConfigWithState(t, stateDir, certChecks, "")}

	first := startBinary(t, args)
	first.waitReady()
	// The fixture has no container runtime socket: the container-runtime
	// check reports it unreachable.
	waitNode(t, cluster.Client, node, "both faults reported", allOf(
		hasCondition(condKubeletUnhealthy, corev1.ConditionTrue, reasonCertExpiring),
		hasCondition(condRuntimeUnhealthy, corev1.ConditionTrue, reasonRuntimeUnreachable),
	))
	waitWritten(t, first)
	before := waitNode(t, cluster.Client, node, "the state the first agent wrote", func(*corev1.Node) error { return nil })
	detected := eventMatch{Type: corev1.EventTypeWarning, Reason: reasonCertExpiring, Action: "Detected"}
	waitEvent(t, cluster.Client, node, detected)
	first.stop()

	// Restart in a later second, so a reset lastTransitionTime would show.
	var latest time.Time
	for _, c := range before.Status.Conditions {
		if c.LastTransitionTime.After(latest) {
			latest = c.LastTransitionTime.Time
		}
	}
	waitUntil(latest.Add(time.Second))
	args.config = agentConfigWithState(t, stateDir, map[string]string{
		"kubelet-cert":      certChecks["kubelet-cert"],
		"container-runtime": "{enabled: false}",
	}, "")
	second := startBinary(t, args)
	second.waitReady()
	after := waitNode(t, cluster.Client, node, "the disabled check's condition removed", lacksCondition(condRuntimeUnhealthy))
	waitWritten(t, second)
	after = waitNode(t, cluster.Client, node, "the state the second agent wrote", func(*corev1.Node) error { return nil })

	var want []corev1.NodeCondition
	for _, c := range before.Status.Conditions {
		if string(c.Type) != condRuntimeUnhealthy {
			want = append(want, c)
		}
	}
	opts := []cmp.Option{
		cmpopts.IgnoreFields(corev1.NodeCondition{}, "LastHeartbeatTime"),
		cmpopts.SortSlices(func(a, b corev1.NodeCondition) bool { return a.Type < b.Type }),
	}
	if diff := cmp.Diff(want, after.Status.Conditions, opts...); diff != "" {
		t.Errorf("conditions across the restart, lastHeartbeatTime aside (-before +after):\n%s", diff)
	}
	// The certificate still expires: no second Detected. The agent writes
	// such an Event with (or before) its first status write; give it a
	// moment more.
	time.Sleep(2 * time.Second)
	if n := countEvents(t, cluster.Client, node, detected); n != 1 {
		t.Errorf("%d Detected Events for %s after a restart with the fault still present, want the first run's 1", n, reasonCertExpiring)
	}
	second.stop()

	// Repaired while no agent runs: the next start clears the condition,
	// with a new lastTransitionTime, and says so in one Cleared Event.
	was := findCondition(after, condKubeletUnhealthy)
	waitUntil(was.LastTransitionTime.Add(time.Second))
	root.installKubeletCert(node, time.Now().Add(365*24*time.Hour))
	third := startBinary(t, args)
	third.waitReady()
	cleared := findCondition(waitNode(t, cluster.Client, node, "KubeletUnhealthy cleared after the restart",
		hasCondition(condKubeletUnhealthy, corev1.ConditionFalse, reasonNoProblem)), condKubeletUnhealthy)
	if !cleared.LastTransitionTime.After(was.LastTransitionTime.Time) {
		t.Errorf("lastTransitionTime %v after the repair, want later than the True one %v", cleared.LastTransitionTime, was.LastTransitionTime)
	}
	clearedEvent := eventMatch{Type: corev1.EventTypeNormal, Reason: reasonCertExpiring, Action: "Cleared",
		NoteContains: []string{condKubeletUnhealthy + " is False (was True: " + reasonCertExpiring + ")"}}
	waitEvent(t, cluster.Client, node, clearedEvent)
	waitWritten(t, third)
	time.Sleep(2 * time.Second)
	if n := countEvents(t, cluster.Client, node, clearedEvent); n != 1 {
		t.Errorf("%d Cleared Events for %s, want 1", n, reasonCertExpiring)
	}
	if n := countEvents(t, cluster.Client, node, detected); n != 1 {
		t.Errorf("%d Detected Events for %s after the repair, want still 1", n, reasonCertExpiring)
	}
}

// countEvents counts the agent's Events regarding the Node that match m,
// with their series: a repeat folded into one Event still counts.
func countEvents(t *testing.T, client kubernetes.Interface, node string, m eventMatch) int {
	t.Helper()
	events, err := nodeEvents(client, node)
	if err != nil {
		t.Fatalf("list events of node %s: %v", node, err)
	}
	n := 0
	for _, e := range events {
		if !m.matches(e) || e.ReportingController != reportingController {
			continue
		}
		n++
		if e.Series != nil {
			n += int(e.Series.Count) - 1
		}
	}
	return n
}

// waitWritten waits until the agent has no condition change waiting for the
// API server.
func waitWritten(t *testing.T, b *runningBinary) {
	t.Helper()
	waitFor(t, "nodetriage_reporter_pending 0", apiDeadline, func() error {
		m, err := b.metrics()
		if err != nil {
			return err
		}
		if v, ok := m.value("nodetriage_reporter_pending"); !ok || v != 0 {
			return fmt.Errorf("nodetriage_reporter_pending = %v (present %v)", v, ok)
		}
		if v, _ := m.value("nodetriage_api_writes_total", "kind", "status", "result", "success"); v < 1 {
			return fmt.Errorf("no status write yet")
		}
		return nil
	})
}
