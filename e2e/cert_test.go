package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// certChecks makes the kubelet-cert check re-run every 5 s besides on a
// change in its directory, so a missed inotify event cannot stall a test.
var certChecks = map[string]string{"kubelet-cert": "{interval: 5s, timeout: 2s}"}

// expiringCertMessage is the start of the message the agent must put on the
// Node for a client certificate with 12 h left (it rounds down to hours).
func expiringCertMessage(notAfter time.Time) string {
	return fmt.Sprintf("kubelet client certificate %s expires %s (in 11h);", kubeletCertPath, notAfter.UTC().Format(time.RFC3339))
}

// checkExpiringCondition checks what an operator reads on the Node: status,
// reason, the message with the numbers and the remedy after "Fix:".
func checkExpiringCondition(t *testing.T, node *corev1.Node, notAfter time.Time) *corev1.NodeCondition {
	t.Helper()
	c := findCondition(node, condKubeletUnhealthy)
	if c == nil {
		t.Fatalf("no %s condition", condKubeletUnhealthy)
	}
	if c.Status != corev1.ConditionTrue || c.Reason != reasonCertExpiring {
		t.Errorf("%s = %s/%s, want True/%s", condKubeletUnhealthy, c.Status, c.Reason, reasonCertExpiring)
	}
	if want := expiringCertMessage(notAfter); !strings.HasPrefix(c.Message, want) {
		t.Errorf("message = %q, want it to start with %q", c.Message, want)
	}
	_, remedy, ok := strings.Cut(c.Message, " Fix: ")
	if !ok || !strings.Contains(remedy, "kubectl certificate approve") || !strings.Contains(remedy, "rotateCertificates: true") {
		t.Errorf("message %q lacks the remedy (\" Fix: … rotateCertificates: true … kubectl certificate approve …\")", c.Message)
	}
	if c.LastTransitionTime.IsZero() || c.LastHeartbeatTime.IsZero() {
		t.Errorf("condition times not set: transition %v, heartbeat %v", c.LastTransitionTime, c.LastHeartbeatTime)
	}
	return c
}

// checkDescribe checks that kubectl describe node shows the condition row
// and the agent's Warning Event.
func checkDescribe(t *testing.T, kubeconfig, node string, notAfter time.Time) {
	t.Helper()
	describe := kubectlDescribeNode(t, kubeconfig, node)
	var condRow, eventRow string
	for _, line := range strings.Split(describe, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == condKubeletUnhealthy {
			condRow = line
		}
		if len(f) > 1 && f[0] == "Warning" && f[1] == reasonCertExpiring {
			eventRow = line
		}
	}
	for _, want := range []string{" True ", reasonCertExpiring, expiringCertMessage(notAfter), "Fix: "} {
		if !strings.Contains(condRow, want) {
			t.Errorf("kubectl describe node: condition row %q lacks %q\n%s", condRow, want, describe)
		}
	}
	for _, want := range []string{reportingController, condKubeletUnhealthy + " is True: " + expiringCertMessage(notAfter)} {
		if !strings.Contains(eventRow, want) {
			t.Errorf("kubectl describe node: event row %q lacks %q\n%s", eventRow, want, describe)
		}
	}
}

// repairAndCheckCleared installs a fresh certificate and checks that the
// condition goes False with a lastTransitionTime after the True one, and
// that the clearing is an Event.
func repairAndCheckCleared(t *testing.T, client kubernetes.Interface, root *hostRoot, node string, was *corev1.NodeCondition) *corev1.NodeCondition {
	t.Helper()
	// Let the second pass so the new transition time can differ.
	waitUntil(was.LastTransitionTime.Add(time.Second))
	root.installKubeletCert(node, time.Now().Add(365*24*time.Hour))
	cleared := findCondition(waitNode(t, client, node, "KubeletUnhealthy cleared",
		hasCondition(condKubeletUnhealthy, corev1.ConditionFalse, reasonNoProblem)), condKubeletUnhealthy)
	if !cleared.LastTransitionTime.After(was.LastTransitionTime.Time) {
		t.Errorf("lastTransitionTime %v after the repair, want later than the True one %v", cleared.LastTransitionTime, was.LastTransitionTime)
	}
	if strings.Contains(cleared.Message, "Fix:") {
		t.Errorf("False condition still carries a remedy: %q", cleared.Message)
	}
	waitEvent(t, client, node, eventMatch{Type: corev1.EventTypeNormal, Reason: reasonCertExpiring, Action: "Cleared",
		NoteContains: []string{condKubeletUnhealthy + " is False (was True: " + reasonCertExpiring + ")"}})
	return cleared
}

// TestCertExpiringInProcess runs the in-process agent on a host whose
// kubelet client certificate expires in 12 h: the condition, its remedy and
// the Event reach the API server and kubectl describe node; a fresh
// certificate clears it.
func TestCertExpiringInProcess(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Shared(t)
	const node = "e2e-inprocess-cert"
	cluster.CreateNode(t, node)
	root := newHostRoot(t)
	notAfter := time.Now().Add(12 * time.Hour).Truncate(time.Second)
	root.installKubeletCert(node, notAfter)
	startInProcessAgent(t, cluster.KubeconfigPath, node, root, agentConfig(t, certChecks, ""))

	got := waitNode(t, cluster.Client, node, "KubeletUnhealthy True",
		hasCondition(condKubeletUnhealthy, corev1.ConditionTrue, reasonCertExpiring))
	was := checkExpiringCondition(t, got, notAfter)
	ev := waitEvent(t, cluster.Client, node, eventMatch{Type: corev1.EventTypeWarning, Reason: reasonCertExpiring, Action: "Detected",
		NoteContains: []string{condKubeletUnhealthy + " is True: " + expiringCertMessage(notAfter), " Fix: "}})
	if ev.Regarding.Kind != "Node" || ev.Regarding.UID != got.UID {
		t.Errorf("event regards %s %s (uid %s), want Node %s (uid %s)", ev.Regarding.Kind, ev.Regarding.Name, ev.Regarding.UID, node, got.UID)
	}
	checkDescribe(t, cluster.KubeconfigPath, node, notAfter)

	repairAndCheckCleared(t, cluster.Client, root, node, was)
}

// TestCertExpiringBinary is the same through the built binary, plus its
// /metrics: nodetriage_condition_status follows the fault there and back.
func TestCertExpiringBinary(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Shared(t)
	const node = "e2e-binary-cert"
	cluster.CreateNode(t, node)
	root := newHostRoot(t)
	notAfter := time.Now().Add(12 * time.Hour).Truncate(time.Second)
	root.installKubeletCert(node, notAfter)
	b := startBinary(t, binaryArgs{kubeconfig: cluster.KubeconfigPath, node: node, hostRoot: root.dir, config: agentConfig(t, certChecks, "")})

	got := waitNode(t, cluster.Client, node, "KubeletUnhealthy True",
		hasCondition(condKubeletUnhealthy, corev1.ConditionTrue, reasonCertExpiring))
	was := checkExpiringCondition(t, got, notAfter)
	waitEvent(t, cluster.Client, node, eventMatch{Type: corev1.EventTypeWarning, Reason: reasonCertExpiring, Action: "Detected",
		NoteContains: []string{condKubeletUnhealthy + " is True: " + expiringCertMessage(notAfter), " Fix: "}})
	checkDescribe(t, cluster.KubeconfigPath, node, notAfter)
	waitConditionGauge(t, b, condKubeletUnhealthy, "True=1 False=0 Unknown=0")

	repairAndCheckCleared(t, cluster.Client, root, node, was)
	waitConditionGauge(t, b, condKubeletUnhealthy, "True=0 False=1 Unknown=0")
	m, err := b.metrics()
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := m.value("nodetriage_api_writes_total", "kind", "status", "result", "success"); v < 2 {
		t.Errorf("nodetriage_api_writes_total{kind=status,result=success} = %v, want at least the True and the False write", v)
	}
}

// waitConditionGauge scrapes the binary's /metrics until the condition's
// one-hot gauge reads want.
func waitConditionGauge(t *testing.T, b *runningBinary, condition, want string) {
	t.Helper()
	waitFor(t, "nodetriage_condition_status{condition="+condition+"} "+want, apiDeadline, func() error {
		m, err := b.metrics()
		if err != nil {
			return err
		}
		if got := m.conditionGauge(condition); got != want {
			return fmt.Errorf("gauge is %s", got)
		}
		return nil
	})
}
