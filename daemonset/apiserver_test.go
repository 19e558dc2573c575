package daemonset

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// applyOnce applies the base manifests to the shared API server once (the
// Namespace, ServiceAccount, RBAC and admission policies the tests use).
var applyOnce sync.Once

func applyBase(t *testing.T, c *kubetest.Cluster) {
	t.Helper()
	var err error
	applyOnce.Do(func() { err = kubectl(t, c, "apply", "--server-side", "-k", ".") })
	if err != nil {
		t.Fatal(err)
	}
}

// kubectl runs the kubectl of the API server's release (hack/build-kube.sh)
// against the cluster.
func kubectl(t testing.TB, c *kubetest.Cluster, args ...string) error {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(kubetest.KubectlPath(t), append([]string{"--kubeconfig", c.KubeconfigPath}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

// TestServerSideDryRun: the real API server accepts every kustomization
// (schema validation, the admission policies compile, Pod Security admits
// the pod template in the nodetriage namespace). The Prometheus Operator's
// CRDs are stood in by minimal ones (testdata/monitoring-crds.yaml).
func TestServerSideDryRun(t *testing.T) {
	c := kubetest.Shared(t)
	applyBase(t, c)
	if err := kubectl(t, c, "apply", "--server-side", "-f", "testdata/monitoring-crds.yaml"); err != nil {
		t.Fatal(err)
	}
	if err := kubectl(t, c, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com"); err != nil {
		t.Fatal(err)
	}
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			if err := kubectl(t, c, "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-k", dir); err != nil {
				t.Error(err)
			}
		})
	}
}

// nodeScope is the setup of the admission policy tests: two Nodes, an
// agent pod on the first, and clients for a pod-bound and an unbound token
// of the agent's ServiceAccount.
type nodeScope struct {
	admin          kubernetes.Interface
	own, other     string
	bound, unbound kubernetes.Interface
	// boundAPI is the agent's own client (agent.NewKubeAPI) for the bound token.
	boundAPI agent.KubeAPI
}

func setUpNodeScope(t *testing.T, prefix string) *nodeScope {
	t.Helper()
	c := kubetest.Shared(t)
	applyBase(t, c)
	ctx := context.Background()
	s := &nodeScope{admin: c.Client, own: prefix + "-a", other: prefix + "-b"}
	for _, name := range []string{s.own, s.other} {
		c.CreateNode(t, name)
		// What a kubelet would have written.
		patch := `{"status":{"capacity":{"cpu":"2","memory":"4Gi","pods":"110"},` +
			`"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status",` +
			`"lastHeartbeatTime":"2026-01-01T00:00:00Z","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`
		if _, err := c.Client.CoreV1().Nodes().PatchStatus(ctx, name, []byte(patch)); err != nil {
			t.Fatalf("kubelet-like status for %s: %v", name, err)
		}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-on-" + s.own, Namespace: "nodetriage"},
		Spec: corev1.PodSpec{
			ServiceAccountName: "nodetriage",
			NodeName:           s.own,
			Containers:         []corev1.Container{{Name: "agent", Image: "localhost/nodetriage:dev"}},
		},
	}
	pod, err := c.Client.CoreV1().Pods("nodetriage").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create the agent pod: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Pods("nodetriage").Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	})
	expiry := int64(3600)
	tr, err := c.Client.CoreV1().ServiceAccounts("nodetriage").CreateToken(ctx, "nodetriage", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: &expiry,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token bound to the agent pod: %v", err)
	}
	if s.bound, err = kubernetes.NewForConfig(c.ConfigForToken(tr.Status.Token)); err != nil {
		t.Fatal(err)
	}
	if s.boundAPI, err = agent.NewKubeAPI(c.ConfigForToken(tr.Status.Token)); err != nil {
		t.Fatal(err)
	}
	// The API server must really put the node into the token's user.
	review, err := c.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: tr.Status.Token},
	}, metav1.CreateOptions{})
	if err != nil || !review.Status.Authenticated {
		t.Fatalf("token review: %v %+v", err, review.Status)
	}
	if claim := review.Status.User.Extra["authentication.kubernetes.io/node-name"]; len(claim) != 1 || claim[0] != s.own {
		t.Fatalf("the pod-bound token's user has node claim %v, want [%s]; extra: %v", claim, s.own, review.Status.User.Extra)
	}
	if s.unbound, err = kubernetes.NewForConfig(c.ServiceAccountConfig(t, "nodetriage", "nodetriage")); err != nil {
		t.Fatal(err)
	}
	waitForPolicy(t, s)
	return s
}

// waitForPolicy waits until the API server enforces the policies (they are
// loaded asynchronously after creation). The probe is a dry run, which
// admission sees but which changes nothing if it still gets through.
func waitForPolicy(t *testing.T, s *nodeScope) {
	t.Helper()
	waitFor(t, "the admission policy to deny writing another node's status", func() bool {
		err := dryRunConditions(s.bound, s.other, `{"type":"KernelDeadlock","status":"False","reason":"Probe","message":"probe"}`)
		return apierrors.IsForbidden(err) || apierrors.IsInvalid(err)
	})
}

func patchConditions(client kubernetes.Interface, node string, conditions ...string) error {
	patch := `{"status":{"conditions":[` + strings.Join(conditions, ",") + `]}}`
	_, err := client.CoreV1().Nodes().PatchStatus(context.Background(), node, []byte(patch))
	return err
}

func nodeEvent(node string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{GenerateName: "nodetriage-test-", Namespace: "default"},
		EventTime:           metav1.NewMicroTime(time.Now()),
		ReportingController: agent.KubeReportingController,
		ReportingInstance:   "nodetriage-test",
		Action:              "Detected",
		Reason:              "TaskHung",
		Regarding:           corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node},
		Note:                "test",
		Type:                corev1.EventTypeWarning,
	}
}

// TestNodeScopingPolicy runs the per-node write scoping against the real API
// server: the agent's pod-bound token may change its own Node's own
// conditions, nothing else.
func TestNodeScopingPolicy(t *testing.T) {
	s := setUpNodeScope(t, "scope")
	ctx := context.Background()
	own := `{"type":"KernelDeadlock","status":"True","reason":"TaskHung","message":"task containerd blocked for more than 120 seconds"}`
	tests := []struct {
		name string
		do   func() error
		// wantDenied is "" when the request must succeed, else a part of
		// the expected denial message.
		wantDenied string
	}{
		{"own condition on own node", func() error { return patchConditions(s.bound, s.own, own) }, ""},
		{"delete own condition", func() error {
			return patchConditions(s.bound, s.own, `{"type":"KernelDeadlock","$patch":"delete"}`)
		}, ""},
		{"own condition on another node", func() error { return patchConditions(s.bound, s.other, own) },
			"the token is bound to Node scope-a, not scope-b"},
		{"kubelet's Ready", func() error {
			return patchConditions(s.bound, s.own, `{"type":"Ready","status":"False","reason":"Forged","message":"forged"}`)
		}, "may only write its own condition types"},
		{"delete Ready", func() error { return patchConditions(s.bound, s.own, `{"type":"Ready","$patch":"delete"}`) },
			"may only write its own condition types"},
		{"a new foreign condition", func() error {
			return patchConditions(s.bound, s.own, `{"type":"NetworkUnavailable","status":"True","reason":"Forged","message":"forged"}`)
		}, "may only write its own condition types"},
		{"condition type of an imported NPD file", func() error {
			return patchConditions(s.bound, s.own, `{"type":"XfsShutdown","status":"True","reason":"XfsHasShutdown","message":"XFS shut down"}`)
		}, "may only write its own condition types"},
		{"other status field", func() error {
			_, err := s.bound.CoreV1().Nodes().PatchStatus(ctx, s.own, []byte(`{"status":{"capacity":{"cpu":"64"}}}`))
			return err
		}, "no other status field"},
		{"labels through the status subresource", func() error {
			_, err := s.bound.CoreV1().Nodes().Patch(ctx, s.own, types.StrategicMergePatchType,
				[]byte(`{"metadata":{"labels":{"forged":"true"}}}`), metav1.PatchOptions{}, "status")
			return err
		}, "may not change a Node's spec, labels"},
		{"unbound token", func() error { return patchConditions(s.unbound, s.own, own) }, "this token names no node"},
		{"event about own node", func() error {
			_, err := s.bound.EventsV1().Events("default").Create(ctx, nodeEvent(s.own), metav1.CreateOptions{})
			return err
		}, ""},
		{"event about another node", func() error {
			_, err := s.bound.EventsV1().Events("default").Create(ctx, nodeEvent(s.other), metav1.CreateOptions{})
			return err
		}, "Events about the Node its pod runs on (scope-a)"},
		{"event with an unbound token", func() error {
			_, err := s.unbound.EventsV1().Events("default").Create(ctx, nodeEvent(s.own), metav1.CreateOptions{})
			return err
		}, "this token names no node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			switch {
			case tt.wantDenied == "" && err != nil:
				t.Fatalf("denied: %v", err)
			case tt.wantDenied != "" && err == nil:
				t.Fatal("allowed, want denied")
			case tt.wantDenied != "" && (!apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.wantDenied)):
				t.Fatalf("error = %v, want a denial containing %q", err, tt.wantDenied)
			}
		})
	}

	// The denied requests changed nothing.
	for _, name := range []string{s.own, s.other} {
		node, err := s.admin.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if node.Labels["forged"] != "" || node.Status.Capacity.Cpu().String() != "2" {
			t.Errorf("node %s: labels %v, capacity cpu %s: a denied request got through", name, node.Labels, node.Status.Capacity.Cpu())
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
				t.Errorf("node %s: Ready is %s", name, c.Status)
			}
			if name == s.other && c.Type == "KernelDeadlock" {
				t.Errorf("node %s got the other agent's condition", name)
			}
		}
	}

	// RBAC: reading any Node is allowed (the agent reads only its own),
	// writing the Node object itself is not.
	if _, err := s.bound.CoreV1().Nodes().Get(ctx, s.own, metav1.GetOptions{}); err != nil {
		t.Errorf("get own node: %v", err)
	}
	_, err := s.bound.CoreV1().Nodes().Patch(ctx, s.own, types.MergePatchType, []byte(`{"metadata":{"labels":{"forged":"true"}}}`), metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("patching the Node object: %v, want forbidden by RBAC", err)
	}
	if _, err := s.bound.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing nodes: %v, want forbidden by RBAC", err)
	}
}

// TestAgentReporterUnderPolicy runs the agent's real Kubernetes reporter
// with the pod-bound token: its status patches and Events pass the policy
// for its own Node, and nothing reaches another Node.
func TestAgentReporterUnderPolicy(t *testing.T) {
	s := setUpNodeScope(t, "reporter")
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.DiscardHandler)
	cfg := agent.KubeReporterConfig{BatchInterval: 100 * time.Millisecond, RetryInitialBackoff: 100 * time.Millisecond}
	ownReporter := agent.NewKubeReporter(s.boundAPI, s.own, cfg, clock.RealClock{}, logger, prometheus.NewRegistry())
	// The same token trying to report for the other node.
	otherReporter := agent.NewKubeReporter(s.boundAPI, s.other, cfg, clock.RealClock{}, logger, prometheus.NewRegistry())
	var wg sync.WaitGroup
	for _, r := range []*agent.KubeReporter{ownReporter, otherReporter} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = r.Run(ctx)
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	cond := agent.Condition{
		Type: "ContainerNetworkNotReady", Status: corev1.ConditionTrue, Reason: "NetworkPluginNotReady",
		Message: "Container runtime network is not ready Fix: check the CNI plugin", LastTransitionTime: time.Now(),
	}
	ev := agent.Event{Key: "reporter-test", Type: corev1.EventTypeWarning, Reason: "NetworkPluginNotReady", Action: "Detected", Note: "reporter test", Time: time.Now()}
	for _, r := range []*agent.KubeReporter{ownReporter, otherReporter} {
		r.SetConditions([]agent.Condition{cond}, nil)
		r.Emit(ev)
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		node, err := s.admin.CoreV1().Nodes().Get(ctx, s.own, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if hasCondition(node, cond.Type, cond.Message) && countEvents(t, s.admin, s.own) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's reporter did not write its own Node's condition and Event within 30s; conditions %+v", node.Status.Conditions)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The other reporter has been retrying all along.
	time.Sleep(2 * time.Second)
	other, err := s.admin.CoreV1().Nodes().Get(ctx, s.other, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hasCondition(other, cond.Type, cond.Message) {
		t.Error("a reporter with the token of an agent on another node wrote this node's condition")
	}
	if n := countEvents(t, s.admin, s.other); n > 0 {
		t.Errorf("%d Events about %s were written with the token of an agent on another node", n, s.other)
	}
}

func hasCondition(node *corev1.Node, condType, message string) bool {
	for _, c := range node.Status.Conditions {
		if string(c.Type) == condType && c.Message == message {
			return true
		}
	}
	return false
}

func countEvents(t *testing.T, client kubernetes.Interface, node string) int {
	t.Helper()
	list, err := client.EventsV1().Events("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	n := 0
	for _, e := range list.Items {
		if e.Regarding.Kind == "Node" && e.Regarding.Name == node && e.ReportingController == agent.KubeReportingController {
			n++
		}
	}
	return n
}

// TestExtraConditionTypes applies the patch docs/install.md documents for
// the condition types of imported NPD files (testdata/extra-conditions): the
// agent may then write XfsShutdown, and still not the kubelet's Ready.
func TestExtraConditionTypes(t *testing.T) {
	s := setUpNodeScope(t, "extra")
	c := kubetest.Shared(t)
	xfs := `{"type":"XfsShutdown","status":"True","reason":"XfsHasShutdown","message":"XFS (sdb): Corruption of on-disk metadata detected. Shutting down filesystem"}`
	// The probe differs from what is stored, so that it is a change for the
	// policy to judge.
	xfsProbe := `{"type":"XfsShutdown","status":"False","reason":"Probe","message":"probe"}`
	if err := kubectl(t, c, "apply", "--server-side", "-k", "testdata/extra-conditions"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Back to the base policy for the tests that follow.
		if err := kubectl(t, c, "apply", "--server-side", "-k", "."); err != nil {
			t.Error(err)
		}
		waitFor(t, "the base policy to deny XfsShutdown again", func() bool {
			return dryRunConditions(s.bound, s.own, xfsProbe) != nil
		})
	})
	waitFor(t, "the extended policy to allow XfsShutdown", func() bool {
		return dryRunConditions(s.bound, s.own, xfsProbe) == nil
	})
	if err := patchConditions(s.bound, s.own, xfs); err != nil {
		t.Errorf("XfsShutdown with the extended policy: %v", err)
	}
	err := patchConditions(s.bound, s.own, `{"type":"Ready","status":"False","reason":"Forged","message":"forged"}`)
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
		t.Errorf("Ready with the extended policy: %v, want denied", err)
	}
	if err := patchConditions(s.bound, s.other, xfs); err == nil {
		t.Error("XfsShutdown on another node was allowed")
	}
}

// dryRunConditions sends a status patch as a dry run: admission decides,
// nothing is stored.
func dryRunConditions(client kubernetes.Interface, node string, conditions ...string) error {
	patch := `{"status":{"conditions":[` + strings.Join(conditions, ",") + `]}}`
	_, err := client.CoreV1().Nodes().Patch(context.Background(), node, types.StrategicMergePatchType, []byte(patch),
		metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}, "status")
	return err
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 60s waiting for %s", what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
