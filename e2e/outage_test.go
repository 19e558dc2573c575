package e2e

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// TestAPIServerOutage stops the API server while the node's state changes
// under the in-process agent — the expiring certificate is renewed
// (KubeletUnhealthy True → False) and the kubelet starts failing to create
// cgroups (MemoryCgroupLeak → True) — and starts it again: the Node ends
// with the true state, with no stale condition and no transition lost.
func TestAPIServerOutage(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Start(t) // private: this test stops its API server
	const node = "e2e-outage"
	cluster.CreateNode(t, node)
	root := newHostRoot(t)
	root.installKubeletCert(node, time.Now().Add(12*time.Hour))
	a := startInProcessAgent(t, cluster.KubeconfigPath, node, root, agentConfig(t, certChecks, ""))
	waitFor(t, "every check has run once", apiDeadline, a.agent.Ready)

	before := waitNode(t, cluster.Client, node, "KubeletUnhealthy True",
		hasCondition(condKubeletUnhealthy, corev1.ConditionTrue, reasonCertExpiring))
	wasUnhealthy := findCondition(before, condKubeletUnhealthy)
	waitTailing(t, root, a.metrics)

	cluster.StopAPIServer(t)
	waitUntil(wasUnhealthy.LastTransitionTime.Add(time.Second))
	root.installKubeletCert(node, time.Now().Add(365*24*time.Hour))
	root.appendFile(kubeletLogPath, klogLine(time.Now(), 'E', 4242, "pod_workers.go:1301",
		`"Error syncing pod, skipping" err="failed to ensure that the pod: 6f1c2d3e cgroups exist and are correctly applied: failed to create container for [kubepods besteffort pod6f1c2d3e] : mkdir /sys/fs/cgroup/memory/kubepods/besteffort/pod6f1c2d3e: cannot allocate memory" pod="default/web-0"`))
	// The agent keeps detecting while the API server is away…
	waitFor(t, "the agent sees both changes", apiDeadline, func() error {
		return wantStatuses(a.agent.Report(), map[string]string{
			condKubeletUnhealthy: "False/" + reasonNoProblem,
			condMemoryCgroupLeak: "True/" + reasonCgroupCreate,
		})
	})
	// …and has tried to write them and failed.
	waitFor(t, "a failed status write", apiDeadline, func() error {
		m, err := a.metrics()
		if err != nil {
			return err
		}
		if v, _ := m.value("nodetriage_api_writes_total", "kind", "status", "result", "error"); v < 1 {
			return fmt.Errorf("nodetriage_api_writes_total{kind=status,result=error} = %v", v)
		}
		return nil
	})

	cluster.StartAPIServer(t)
	after := waitNode(t, cluster.Client, node, "the true state after the outage", allOf(
		hasCondition(condKubeletUnhealthy, corev1.ConditionFalse, reasonNoProblem),
		hasCondition(condMemoryCgroupLeak, corev1.ConditionTrue, reasonCgroupCreate),
	))
	if ltt := findCondition(after, condKubeletUnhealthy).LastTransitionTime; !ltt.After(wasUnhealthy.LastTransitionTime.Time) {
		t.Errorf("KubeletUnhealthy lastTransitionTime %v, want later than the True one %v", ltt, wasUnhealthy.LastTransitionTime)
	}
	// Every condition on the Node says what the agent says now.
	if err := wantStatuses(a.agent.Report(), nodeStatuses(after)); err != nil {
		t.Errorf("Node and agent disagree after the outage: %v", err)
	}
	// Both transitions that happened during the outage got their Event.
	waitEvent(t, cluster.Client, node, eventMatch{Type: corev1.EventTypeNormal, Reason: reasonCertExpiring, Action: "Cleared"})
	waitEvent(t, cluster.Client, node, eventMatch{Type: corev1.EventTypeWarning, Reason: reasonCgroupCreate, Action: "Detected",
		NoteContains: []string{condMemoryCgroupLeak + " is True: ", "cannot allocate memory", " Fix: "}})
}

// nodeStatuses is "Status/Reason" per condition type on the Node.
func nodeStatuses(node *corev1.Node) map[string]string {
	out := map[string]string{}
	for _, c := range node.Status.Conditions {
		out[string(c.Type)] = string(c.Status) + "/" + c.Reason
	}
	return out
}

// wantStatuses checks the agent's report against "Status/Reason" per type.
func wantStatuses(r agent.Report, want map[string]string) error {
	got := map[string]string{}
	for _, c := range r.Conditions {
		got[c.Type] = c.Status + "/" + c.Reason
	}
	for typ, w := range want {
		if got[typ] != w {
			return fmt.Errorf("%s is %q, want %q", typ, got[typ], w)
		}
	}
	return nil
}
