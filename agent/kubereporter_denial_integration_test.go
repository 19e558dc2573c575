package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// TestKubeReporterDeniedByTheShippedPolicy runs the reporter as the agent's
// ServiceAccount on its own Node against a real API server enforcing the
// shipped admission policy (daemonset/base): a condition type from a user
// rule that the policy does not list gets every status write denied; the
// reporter says which type and how to allow it, and writes everything once
// the policy's extraConditionTypes has it.
func TestKubeReporterDeniedByTheShippedPolicy(t *testing.T) {
	c := kubetest.Start(t)
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "nodetriage"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubectl := kubetest.KubectlPath(t)
	for _, f := range []string{"../daemonset/base/rbac.yaml", "../daemonset/base/admission-policy.yaml"} {
		if out, err := exec.Command(kubectl, "--kubeconfig", c.KubeconfigPath, "apply", "--server-side", "-f", f).CombinedOutput(); err != nil {
			t.Fatalf("kubectl apply -f %s: %v\n%s", f, err, out)
		}
	}
	const node = "denied-a"
	c.CreateNode(t, node)
	// The agent's ServiceAccount with the node claim a pod-bound token on
	// this node carries.
	cfg := c.ImpersonateConfig("system:serviceaccount:nodetriage:nodetriage", "system:serviceaccounts", "system:serviceaccounts:nodetriage", "system:authenticated")
	cfg.Impersonate.Extra = map[string][]string{"authentication.kubernetes.io/node-name": {node}}
	agentClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kubeWaitFor(t, func() error { // policies load asynchronously
		// A dry run: admission sees it, nothing is written if it gets through.
		patch := `{"status":{"conditions":[{"type":"Probe","status":"False","reason":"Probe","message":"probe"}]}}`
		_, err := agentClient.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(patch),
			metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}, "status")
		if _, ok := parseAdmissionDenial(err); !ok {
			return fmt.Errorf("a foreign condition type is not denied yet: %v", err)
		}
		return nil
	})

	logs := &kubeLogRecorder{}
	reg := prometheus.NewRegistry()
	agentAPI, err := NewKubeAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := NewKubeReporter(agentAPI, node, KubeReporterConfig{RetryInitialBackoff: 100 * time.Millisecond, RetryMaxBackoff: 500 * time.Millisecond},
		clock.RealClock{}, slog.New(logs), reg)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	r.SetConditions([]Condition{
		{Type: "KernelDeadlock", Status: corev1.ConditionFalse, Reason: ReasonNoProblem, Message: "No problem found in the kernel log.", LastTransitionTime: time.Now()},
		{Type: "XfsShutdown", Status: corev1.ConditionTrue, Reason: "XfsHasShutdown", Message: "XFS (sdb1): Filesystem has been shut down", LastTransitionTime: time.Now()},
	}, nil)

	kubeWaitFor(t, func() error {
		if n := testutil.ToFloat64(r.statusDenied); n < 3 {
			return fmt.Errorf("%v denied writes, want a few retries", n)
		}
		return nil
	})
	recs := logs.matching(slog.LevelError, "admission denies the node status write")
	if len(recs) != 1 {
		t.Fatalf("%d denial log lines, want 1", len(recs))
	}
	attrs := map[string]string{}
	recs[0].Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	})
	t.Logf("logged: %s %v", recs[0].Message, attrs)
	if attrs["types"] != "XfsShutdown" || attrs["by"] != "ValidatingAdmissionPolicy 'nodetriage-node-status' with binding 'nodetriage-node-status'" {
		t.Errorf("denial logged as %v, want types XfsShutdown by the shipped policy", attrs)
	}
	n, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Status.Conditions) != 0 {
		t.Errorf("conditions while denied: %+v, want none", n.Status.Conditions)
	}

	// The fix from docs/install.md: the type goes into extraConditionTypes.
	policies := c.Client.AdmissionregistrationV1().ValidatingAdmissionPolicies()
	kubeWaitFor(t, func() error {
		p, err := policies.Get(ctx, "nodetriage-node-status", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Spec.Variables[1].Name != "extraConditionTypes" {
			t.Fatalf("variables[1] is %q, want extraConditionTypes (the documented patch relies on it)", p.Spec.Variables[1].Name)
		}
		p.Spec.Variables[1].Expression = "['XfsShutdown']"
		_, err = policies.Update(ctx, p, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			return err
		}
		if err != nil {
			t.Fatal(err)
		}
		return nil
	})
	waitKubeNode(t, c.Client, node, kubeHasCondition("XfsShutdown", corev1.ConditionTrue, "XFS (sdb1): Filesystem has been shut down"))
	kubeWaitFor(t, func() error {
		if logs.count(slog.LevelInfo, "node status writes work again") != 1 {
			return fmt.Errorf("no recovery logged yet")
		}
		return nil
	})
}
