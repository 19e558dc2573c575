package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// Deadlines are generous: the machine is a loaded 2-core VM shared with
// other builds, and a test only waits this long when it is failing anyway.
const (
	apiDeadline  = 90 * time.Second
	pollInterval = 200 * time.Millisecond
)

// Condition types and reasons the tests look for, as the product writes
// them.
const (
	condKubeletUnhealthy     = "KubeletUnhealthy"
	condKernelDeadlock       = "KernelDeadlock"
	condMemoryCgroupLeak     = "MemoryCgroupLeak"
	condRuntimeUnhealthy     = "ContainerRuntimeUnhealthy"
	reasonCertExpiring       = "KubeletCertificateExpiring"
	reasonPLEG               = "PLEGUnhealthy"
	reasonRestartLoop        = "KubeletRestartLoop"
	reasonCgroupCreate       = "CgroupCreateFailing"
	reasonRuntimeUnreachable = "RuntimeUnreachable"
	condSandboxImageMissing  = "SandboxImageMissing"
	reasonSandboxPullFailing = "SandboxImagePullFailing"
	reasonOCICreateFailed    = "OCIRuntimeCreateFailed"
	reasonNoProblem          = "NoProblemDetected"
	reportingController      = "nodetriage.io/agent"
)

// waitFor polls cond every pollInterval until it returns nil, failing the
// test with the last error after deadline.
func waitFor(t testing.TB, what string, deadline time.Duration, cond func() error) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: still not so after %s: %v", what, deadline, err)
		}
		time.Sleep(pollInterval)
	}
}

// waitNode polls the Node until check passes and returns it.
func waitNode(t testing.TB, client kubernetes.Interface, name, what string, check func(*corev1.Node) error) *corev1.Node {
	t.Helper()
	var node *corev1.Node
	waitFor(t, "node "+name+": "+what, apiDeadline, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := check(n); err != nil {
			return err
		}
		node = n
		return nil
	})
	return node
}

func findCondition(node *corev1.Node, condType string) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if string(node.Status.Conditions[i].Type) == condType {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// hasCondition passes when the Node has condType with status and reason.
func hasCondition(condType string, status corev1.ConditionStatus, reason string) func(*corev1.Node) error {
	return func(node *corev1.Node) error {
		c := findCondition(node, condType)
		if c == nil {
			return fmt.Errorf("no %s condition (has %s)", condType, conditionSummary(node))
		}
		if c.Status != status || c.Reason != reason {
			return fmt.Errorf("%s is %s/%s %q, want %s/%s", condType, c.Status, c.Reason, c.Message, status, reason)
		}
		return nil
	}
}

// lacksCondition passes when the Node has no condType at all.
func lacksCondition(condType string) func(*corev1.Node) error {
	return func(node *corev1.Node) error {
		if c := findCondition(node, condType); c != nil {
			return fmt.Errorf("%s is still there: %s/%s", condType, c.Status, c.Reason)
		}
		return nil
	}
}

// allOf passes when every check passes.
func allOf(checks ...func(*corev1.Node) error) func(*corev1.Node) error {
	return func(node *corev1.Node) error {
		var errs []error
		for _, c := range checks {
			if err := c(node); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}

func conditionSummary(node *corev1.Node) string {
	var parts []string
	for _, c := range node.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// nodeEvents lists the events.k8s.io/v1 Events regarding the Node.
func nodeEvents(client kubernetes.Interface, node string) ([]eventsv1.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := client.EventsV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{
		FieldSelector: "regarding.kind=Node,regarding.name=" + node,
	})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// eventMatch selects Events by their fields; empty fields match anything.
type eventMatch struct {
	Type, Reason, Action string
	// NoteContains are substrings the note must hold.
	NoteContains []string
}

func (m eventMatch) matches(e eventsv1.Event) bool {
	if (m.Type != "" && e.Type != m.Type) || (m.Reason != "" && e.Reason != m.Reason) || (m.Action != "" && e.Action != m.Action) {
		return false
	}
	for _, s := range m.NoteContains {
		if !strings.Contains(e.Note, s) {
			return false
		}
	}
	return true
}

// waitEvent waits for an Event regarding the Node that matches m, written
// by the agent, and returns it.
func waitEvent(t testing.TB, client kubernetes.Interface, node string, m eventMatch) eventsv1.Event {
	t.Helper()
	var found eventsv1.Event
	waitFor(t, fmt.Sprintf("event %+v on node %s", m, node), apiDeadline, func() error {
		events, err := nodeEvents(client, node)
		if err != nil {
			return err
		}
		var seen []string
		for _, e := range events {
			if m.matches(e) && e.ReportingController == reportingController && e.Regarding.Name == node {
				found = e
				return nil
			}
			seen = append(seen, e.Type+"/"+e.Reason+"/"+e.Action)
		}
		return fmt.Errorf("events: %v", seen)
	})
	return found
}

// kubectlDescribeNode runs kubectl describe node, the operator's view, with
// the kubectl of the API server's release (hack/build-kube.sh).
func kubectlDescribeNode(t testing.TB, kubeconfig, node string) string {
	t.Helper()
	out, err := exec.Command(kubetest.KubectlPath(t), "--kubeconfig", kubeconfig, "describe", "node", node).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl describe node %s: %v\n%s", node, err, out)
	}
	return string(out)
}

// waitUntil sleeps until the wall clock has passed at. Condition times have
// one-second precision on the API, so a test that wants a new
// lastTransitionTime to differ from the old one lets the second pass first.
func waitUntil(at time.Time) {
	if d := time.Until(at); d > 0 {
		time.Sleep(d)
	}
}
