package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/nodetriage/nodetriage/probes"
)

// The tests in this file are about condition transition Events in the
// KubeReporter: across an agent restart (the Node's conditions from before
// decide), and against the rate limit and the buffer bound. The restart
// against a real API server is in kubereporter_integration_test.go.

// eventSummaries are Events as "Type Reason Action: Note".
func eventSummaries(events []eventsv1.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type+" "+e.Reason+" "+e.Action+": "+e.Note)
	}
	return out
}

// certPolicy: one check, cert, owns KubeletUnhealthy.
func certPolicy() ConditionPolicy {
	return ConditionPolicy{
		Checks:           map[string]CheckPolicy{"cert": {Condition: "KubeletUnhealthy"}},
		Known:            []string{"KubeletUnhealthy"},
		Reasons:          map[string]ReasonOverride{},
		QuietWindow:      10 * time.Minute,
		EventDedupWindow: 10 * time.Minute,
	}
}

// A restarted agent's first status of a condition is an Event exactly when
// the Node showed another status before the restart. The state machine
// and the reporter run as in the agent; the API is the fake clientset.
func TestKubeReporterInitialTransitions(t *testing.T) {
	before := kubeT0.Add(-time.Hour)
	had := func(status corev1.ConditionStatus, reason string) []corev1.NodeCondition {
		return []corev1.NodeCondition{{Type: "KubeletUnhealthy", Status: status, Reason: reason, Message: "before the restart",
			LastHeartbeatTime: metav1.NewTime(before), LastTransitionTime: metav1.NewTime(before)}}
	}
	expiring := finding("cert", "KubeletUnhealthy", "KubeletCertificateExpiring", probes.SeverityProblem, "")
	tests := []struct {
		name     string
		before   []corev1.NodeCondition
		findings []probes.Finding
		err      error
		want     []string
		// wantTransition is the condition's lastTransitionTime afterwards.
		wantTransition time.Time
	}{
		{
			name:   "still True: no second Detected",
			before: had(corev1.ConditionTrue, "KubeletCertificateExpiring"), findings: []probes.Finding{expiring},
			wantTransition: before,
		},
		{
			name:   "still Unknown: no second CouldNotCheck",
			before: had(corev1.ConditionUnknown, ReasonCheckFailed), err: errors.New("boom"),
			wantTransition: before,
		},
		{
			name:   "True before, False now: Cleared with the reason the Node showed",
			before: had(corev1.ConditionTrue, "KubeletCertificateExpiring"),
			want: []string{"Normal KubeletCertificateExpiring Cleared: " +
				"KubeletUnhealthy is False (was True: KubeletCertificateExpiring). No problem found by cert."},
			wantTransition: kubeT0,
		},
		{
			name:   "Unknown before, False now: Cleared",
			before: had(corev1.ConditionUnknown, ReasonCheckFailed),
			want: []string{"Normal CheckFailed Cleared: " +
				"KubeletUnhealthy is False (was Unknown: CheckFailed). No problem found by cert."},
			wantTransition: kubeT0,
		},
		{
			name:           "no such condition before, False now: nothing to tell",
			wantTransition: kubeT0,
		},
		{
			name:           "still False: nothing to tell",
			before:         had(corev1.ConditionFalse, ReasonNoProblem),
			wantTransition: before,
		},
		{
			name:     "no such condition before, True now: Detected",
			findings: []probes.Finding{expiring},
			want: []string{"Warning KubeletCertificateExpiring Detected: " +
				"KubeletUnhealthy is True: KubeletCertificateExpiring on . Fix: fix "},
			wantTransition: kubeT0,
		},
		{
			name:   "False before, True now: Detected",
			before: had(corev1.ConditionFalse, ReasonNoProblem), findings: []probes.Finding{expiring},
			want: []string{"Warning KubeletCertificateExpiring Detected: " +
				"KubeletUnhealthy is True: KubeletCertificateExpiring on . Fix: fix "},
			wantTransition: kubeT0,
		},
		{
			name:   "True before, Unknown now: CouldNotCheck",
			before: had(corev1.ConditionTrue, "KubeletCertificateExpiring"), err: errors.New("boom"),
			want:           []string{"Warning CheckFailed CouldNotCheck: KubeletUnhealthy is Unknown: could not check: cert: boom"},
			wantTransition: kubeT0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newKubeFakeReporter(t, KubeReporterConfig{}, kubeTestNode("node-a", tt.before...))
			sm := NewConditions(ConditionsOptions{Clock: f.clock, Reporter: f.KubeReporter, BootID: testBoot, Policy: certPolicy()})
			sm.CheckResult("cert", tt.findings, tt.err)
			f.clock.Step(time.Second)
			f.sync(context.Background())

			if diff := cmp.Diff(tt.want, eventSummaries(f.listEvents(t))); diff != "" {
				t.Errorf("Events after the restart (-want +got):\n%s", diff)
			}
			c := kubeFindCondition(f.node(t), "KubeletUnhealthy")
			if c == nil {
				t.Fatal("no KubeletUnhealthy condition on the Node")
			}
			if !c.LastTransitionTime.Time.Equal(tt.wantTransition) {
				t.Errorf("lastTransitionTime = %v, want %v", c.LastTransitionTime.Time, tt.wantTransition)
			}
		})
	}
}

// initialEvent is the Event the state machine emits for a condition's first
// status since start.
func initialEvent(condition string, status corev1.ConditionStatus, reason, action string) Event {
	return Event{
		Key: conditionEventKey(condition, status, reason), Type: corev1.EventTypeWarning, Reason: reason, Action: action,
		Note:       condition + " is " + string(status),
		Transition: &Transition{Condition: condition, Status: status, Message: "now " + string(status), Initial: true},
	}
}

// Initial transitions wait for the first read of the Node, keep their place
// in the order, and are judged against the conditions that read found even
// when later reads show something else.
func TestKubeReporterInitialTransitionsWaitForTheFirstRead(t *testing.T) {
	f := newKubeFakeReporter(t, KubeReporterConfig{RetryInitialBackoff: time.Second, RetryMaxBackoff: time.Second}, kubeTestNode("node-a",
		corev1.NodeCondition{Type: "KubeletUnhealthy", Status: corev1.ConditionTrue, Reason: "KubeletCertificateExpiring"},
		corev1.NodeCondition{Type: "DiskPressure", Status: corev1.ConditionTrue, Reason: "Full"},
	))
	ctx := context.Background()
	reachable := false
	f.client.PrependReactor("get", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		if !reachable {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	f.Emit(initialEvent("KubeletUnhealthy", corev1.ConditionTrue, "KubeletCertificateExpiring", actionDetected))
	f.Emit(initialEvent("DiskPressure", corev1.ConditionFalse, ReasonNoProblem, actionCleared))
	f.Emit(Event{Key: "later", Type: corev1.EventTypeWarning, Reason: "Full", Action: actionDetected, Note: "DiskPressure is True again",
		Transition: &Transition{Condition: "DiskPressure", Status: corev1.ConditionTrue}})
	f.clock.Step(time.Second)
	f.sync(ctx)
	if got := f.verbs("events"); len(got) != 0 {
		t.Fatalf("Event calls before the Node was read: %v", got)
	}

	reachable = true
	f.clock.Step(2 * time.Second)
	f.sync(ctx)
	want := []string{
		"Normal Full Cleared: DiskPressure is False (was True: Full). now False",
		"Warning Full Detected: DiskPressure is True again",
	}
	if diff := cmp.Diff(want, eventSummaries(f.listEvents(t))); diff != "" {
		t.Errorf("Events after the first read (-want +got):\n%s", diff)
	}

	// Someone else sets a condition type after the start; a read after a
	// failed write sees it. The start-up state stays what the first read
	// found: the Node had no MemoryCgroupLeak before the agent started.
	node := f.node(t)
	node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{Type: "MemoryCgroupLeak", Status: corev1.ConditionTrue, Reason: "Leak"})
	if _, err := f.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.readNode(ctx); err != nil {
		t.Fatal(err)
	}
	f.Emit(initialEvent("MemoryCgroupLeak", corev1.ConditionFalse, ReasonNoProblem, actionCleared))
	f.sync(ctx)
	if n := len(f.listEvents(t)); n != 2 {
		t.Errorf("%d Events after a first False of a type the Node did not have at start, want still 2", n)
	}
}
