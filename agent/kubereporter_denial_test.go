package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

// shippedConditionTypes is the list the shipped nodetriage-node-status
// policy allows (daemonset/base/admission-policy.yaml), as its denial
// message prints it.
const shippedConditionTypes = "ConntrackProblem, ContainerLogDiskPressure, ContainerNetworkNotReady, ContainerRuntimeUnhealthy, " +
	"HairpinMisconfigured, KernelDeadlock, KubeletUnhealthy, MemoryCgroupLeak, NFSServerUnreachable, ReadonlyFilesystem, SandboxImageMissing"

// policyDenial is the error the API server returns when a
// ValidatingAdmissionPolicy denies a request: the shape of
// k8s.io/apiserver's validating policy plugin (admission.NewForbidden, then
// the validation's reason and its HTTP code, the message as a cause).
func policyDenial(node string, reason metav1.StatusReason, code int32, message string) error {
	cause := "ValidatingAdmissionPolicy 'nodetriage-node-status' with binding 'nodetriage-node-status' denied request: " + message
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: code, Reason: reason,
		Message: `nodes "` + node + `" is forbidden: ` + cause,
		Details: &metav1.StatusDetails{Name: node, Kind: "nodes", Causes: []metav1.StatusCause{{Message: cause}}},
	}}
}

// ownTypesDenial is the shipped policy refusing a condition type it does
// not list.
func ownTypesDenial(node string) error {
	return policyDenial(node, metav1.StatusReasonForbidden, http.StatusForbidden,
		"nodetriage may only write its own condition types ("+shippedConditionTypes+"); this request changes, adds or removes another condition")
}

func TestParseAdmissionDenial(t *testing.T) {
	allowed := strings.Split(shippedConditionTypes, ", ")
	tests := []struct {
		name string
		err  error
		want admissionDenial
		ok   bool
	}{
		{"own types", ownTypesDenial("node-a"), admissionDenial{
			by:      "ValidatingAdmissionPolicy 'nodetriage-node-status' with binding 'nodetriage-node-status'",
			message: "nodetriage may only write its own condition types (" + shippedConditionTypes + "); this request changes, adds or removes another condition",
			allowed: allowed,
		}, true},
		{"another node (422 without a reason)", policyDenial("node-a", metav1.StatusReasonInvalid, http.StatusUnprocessableEntity,
			"nodetriage may only write the status of the Node its pod runs on: the token is bound to Node node-b, not node-a"), admissionDenial{
			by:      "ValidatingAdmissionPolicy 'nodetriage-node-status' with binding 'nodetriage-node-status'",
			message: "nodetriage may only write the status of the Node its pod runs on: the token is bound to Node node-b, not node-a",
		}, true},
		{"webhook", &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
			Message: `admission webhook "nodes.example.com" denied the request: nodes are frozen`}}, admissionDenial{
			by: `admission webhook "nodes.example.com"`, message: "nodes are frozen",
		}, true},
		{"RBAC", apierrors.NewForbidden(corev1.Resource("nodes"), "node-a",
			errors.New(`User "system:serviceaccount:nodetriage:nodetriage" cannot patch resource "nodes/status" in API group "" at the cluster scope`)), admissionDenial{}, false},
		{"unreachable", errors.New("dial tcp 10.0.0.1:443: connect: connection refused"), admissionDenial{}, false},
		{"conflict", apierrors.NewConflict(corev1.Resource("nodes"), "node-a", errors.New("the object has been modified")), admissionDenial{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseAdmissionDenial(tt.err)
			if ok != tt.ok {
				t.Fatalf("recognised = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(admissionDenial{})); diff != "" {
				t.Errorf("denial (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKubeReporterExplainsADeniedStatusWrite: a user rule's condition type
// the policy does not list makes the API server deny the whole patch. The
// reporter logs one line naming that type and the fix, counts every
// denial, keeps retrying with backoff, and writes everything once the
// policy allows the type.
func TestKubeReporterExplainsADeniedStatusWrite(t *testing.T) {
	f := newKubeFakeReporter(t, KubeReporterConfig{RetryInitialBackoff: time.Second, RetryMaxBackoff: 4 * time.Second}, kubeTestNode("node-a"))
	ctx := context.Background()
	denying := true
	f.client.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		if denying {
			return true, nil, ownTypesDenial("node-a")
		}
		return false, nil, nil
	})
	f.SetConditions([]Condition{
		kubeCondA(corev1.ConditionTrue, "PLEG is not healthy", kubeT0),
		{Type: "XfsShutdown", Status: corev1.ConditionTrue, Reason: "XfsHasShutdown", Message: "XFS shut down", LastTransitionTime: kubeT0},
		{Type: "CperHardwareErrorFatal", Status: corev1.ConditionFalse, Reason: "NoProblem", Message: "fine", LastTransitionTime: kubeT0},
	}, []string{"KernelDeadlock"})

	var waits []time.Duration
	for range 4 {
		f.clock.Step(time.Second)
		now := f.clock.Now()
		next := f.sync(ctx)
		waits = append(waits, next.Sub(now))
		f.clock.SetTime(next)
	}
	for i, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		if w := waits[i]; w < base || w > base+base/5 {
			t.Errorf("retry %d after %s, want %s…%s (backoff)", i, w, base, base+base/5)
		}
	}
	if got := testutil.ToFloat64(f.statusDenied); got != 4 {
		t.Errorf("nodetriage_api_writes_denied_total{kind=status} = %v, want 4", got)
	}
	recs := f.logs.matching(slog.LevelError, "admission denies the node status write")
	if len(recs) != 1 {
		t.Fatalf("%d denial log lines for 4 denials, want 1", len(recs))
	}
	attrs := map[string]string{}
	recs[0].Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	})
	if want := "XfsShutdown, CperHardwareErrorFatal"; attrs["types"] != want {
		t.Errorf("types = %q, want %q (the ones the policy does not list, not KubeletUnhealthy or the removed KernelDeadlock)", attrs["types"], want)
	}
	if want := "add XfsShutdown, CperHardwareErrorFatal to the extraConditionTypes parameter of the nodetriage-node-status ValidatingAdmissionPolicy (" + installDocConditionTypes + "), or remove the rules that set them"; attrs["fix"] != want {
		t.Errorf("fix = %q, want %q", attrs["fix"], want)
	}
	if n := f.logs.count(slog.LevelWarn, "cannot write node status"); n != 0 {
		t.Errorf("a denial was also logged as an unreachable API server")
	}
	if got := f.node(t).Status.Conditions; len(got) != 0 {
		t.Errorf("node conditions while denied = %+v, want none written", got)
	}

	denying = false // the user added the types to extraConditionTypes
	f.clock.Step(5 * time.Second)
	f.sync(ctx)
	if got := f.node(t).Status.Conditions; len(got) != 3 {
		t.Errorf("after the policy allowed the types: %d conditions, want 3", len(got))
	}
	if n := f.logs.count(slog.LevelInfo, "work again"); n != 1 {
		t.Errorf("%d recovery logs, want 1", n)
	}
}

// TestKubeReporterLogsOtherDenialsWithThePolicysWords: a denial that lists
// no condition types (the token's node claim) is logged with the policy's
// own message.
func TestKubeReporterLogsOtherDenialsWithThePolicysWords(t *testing.T) {
	f := newKubeFakeReporter(t, KubeReporterConfig{}, kubeTestNode("node-a"))
	why := "nodetriage may only write the status of the Node its pod runs on, and this token names no node: use the pod-bound service account token"
	f.client.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, policyDenial("node-a", metav1.StatusReasonForbidden, http.StatusForbidden, why)
	})
	f.SetConditions([]Condition{kubeCondA(corev1.ConditionTrue, "m", kubeT0)}, nil)
	f.clock.Step(time.Second)
	f.sync(context.Background())
	recs := f.logs.matching(slog.LevelError, "admission denies the node status write")
	if len(recs) != 1 {
		t.Fatalf("%d denial log lines, want 1", len(recs))
	}
	var got string
	recs[0].Attrs(func(a slog.Attr) bool {
		if a.Key == "why" {
			got = a.Value.String()
		}
		return true
	})
	if got != why {
		t.Errorf("why = %q, want the policy's message %q", got, why)
	}
}
