package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
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

// A storm of a finding's Events with the same reason as a condition's
// transition uses up that reason's bucket; the transition is written all
// the same, and does not take from the findings' bucket either.
func TestKubeReporterTransitionEventsAreNotRateLimitedByFindings(t *testing.T) {
	f := newKubeFakeReporter(t, KubeReporterConfig{EventBurst: 5}, kubeTestNode("node-a"))
	ctx := context.Background()
	for i := range 10 {
		f.Emit(Event{Key: fmt.Sprintf("flow-%d", i), Type: corev1.EventTypeWarning, Reason: "ConntrackTableFull", Action: actionObserved, Note: "dropped a packet"})
	}
	f.Emit(Event{Key: conditionEventKey("ConntrackProblem", corev1.ConditionTrue, "ConntrackTableFull"), Type: corev1.EventTypeWarning,
		Reason: "ConntrackTableFull", Action: actionDetected, Note: "ConntrackProblem is True: table full",
		Transition: &Transition{Condition: "ConntrackProblem", Status: corev1.ConditionTrue}})
	f.sync(ctx)
	var detected int
	for _, e := range f.eventsByReason(t, "ConntrackTableFull") {
		if e.Action == actionDetected {
			detected++
		}
	}
	if detected != 1 {
		t.Errorf("%d ConntrackProblem Detected Events after a storm of ConntrackTableFull findings, want 1", detected)
	}
	if got := testutil.ToFloat64(f.metrics.suppressed("ConntrackTableFull")); got != 5 {
		t.Errorf("suppressed{ConntrackTableFull} = %v, want 5 (the findings beyond the burst, not the transition)", got)
	}
}

// A condition that flaps (a log rule's problem and recovery lines
// alternating) repeats two Events. Their series updates take tokens from
// the condition's own bucket, not from the findings' bucket of the same
// reason, which a storm has used up: the writes are bounded by the
// condition's burst, and the counts beyond it are written later, never lost.
func TestKubeReporterFlappingConditionSeries(t *testing.T) {
	f := newKubeFakeReporter(t, KubeReporterConfig{EventBurst: 2, EventRefillInterval: 10 * time.Second}, kubeTestNode("node-a"))
	ctx := context.Background()
	detected := Event{Key: conditionEventKey("KubeletUnhealthy", corev1.ConditionTrue, "PLEGUnhealthy"), Type: corev1.EventTypeWarning,
		Reason: "PLEGUnhealthy", Action: actionDetected, Note: "KubeletUnhealthy is True",
		Transition: &Transition{Condition: "KubeletUnhealthy", Status: corev1.ConditionTrue}}
	cleared := clearedEvent("KubeletUnhealthy", corev1.ConditionTrue, "PLEGUnhealthy", "No problem found.", time.Time{})
	f.Emit(detected)
	f.Emit(cleared)
	for i := range 5 {
		f.Emit(Event{Key: fmt.Sprintf("pleg-%d", i), Type: corev1.EventTypeWarning, Reason: "PLEGUnhealthy", Action: actionObserved, Note: "PLEG slow"})
	}
	f.sync(ctx)
	if got := testutil.ToFloat64(f.metrics.suppressed("PLEGUnhealthy")); got != 3 {
		t.Fatalf("suppressed{PLEGUnhealthy} = %v, want 3: the findings' bucket is used up", got)
	}

	f.client.ClearActions()
	for range 20 {
		f.Emit(detected)
		f.Emit(cleared)
		f.sync(ctx)
	}
	if diff := cmp.Diff([]string{"patch", "patch"}, f.verbs("events")); diff != "" {
		t.Errorf("Event writes for 40 flaps (-want +got): want the condition's burst of series updates\n%s", diff)
	}
	for range 3 {
		f.clock.Step(10 * time.Second)
		f.sync(ctx)
	}
	for _, e := range f.listEvents(t) {
		if e.Action == actionObserved {
			continue
		}
		if e.Series == nil || e.Series.Count != 21 {
			t.Errorf("%s %s series = %+v, want count 21 once the bucket refilled", e.Reason, e.Action, e.Series)
		}
	}
}

// transitionTo is a (not initial) transition Event with note.
func transitionTo(note string) Event {
	return Event{Key: note, Type: corev1.EventTypeWarning, Reason: "R", Action: actionDetected, Note: note,
		Transition: &Transition{Condition: "C", Status: corev1.ConditionTrue}}
}

func findingEvent(note string) Event {
	return Event{Key: note, Type: corev1.EventTypeWarning, Reason: "R", Action: actionObserved, Note: note}
}

// When the buffer overflows during an outage, finding Events give way to
// transition Events; a transition is dropped only when the buffer holds
// nothing else, and that is counted and said.
func TestKubeReporterEventBufferKeepsTransitions(t *testing.T) {
	tests := []struct {
		name          string
		emit          []Event
		wantDelivered []string
		wantDropped   float64
		wantWarning   string
	}{
		{
			name:          "findings after a transition: the oldest findings go",
			emit:          []Event{transitionTo("t1"), findingEvent("f1"), findingEvent("f2"), findingEvent("f3"), findingEvent("f4")},
			wantDelivered: []string{"t1", "f3", "f4"},
			wantDropped:   2,
			wantWarning:   "event buffer full",
		},
		{
			name:          "a finding into a buffer of transitions: the finding goes",
			emit:          []Event{transitionTo("t1"), transitionTo("t2"), transitionTo("t3"), findingEvent("f1")},
			wantDelivered: []string{"t1", "t2", "t3"},
			wantDropped:   1,
			wantWarning:   "event buffer full",
		},
		{
			name:          "a transition into a buffer of transitions: the oldest transition goes",
			emit:          []Event{transitionTo("t1"), transitionTo("t2"), transitionTo("t3"), transitionTo("t4")},
			wantDelivered: []string{"t2", "t3", "t4"},
			wantDropped:   1,
			wantWarning:   "holds only condition transitions",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newKubeFakeReporter(t, KubeReporterConfig{EventBufferSize: 3, EventBurst: 100}, kubeTestNode("node-a"))
			for i, ev := range tt.emit {
				ev.Time = kubeT0.Add(time.Duration(i) * time.Second)
				f.Emit(ev)
			}
			f.sync(context.Background())
			var notes []string
			for _, e := range f.listEvents(t) {
				notes = append(notes, e.Note)
			}
			if diff := cmp.Diff(tt.wantDelivered, notes); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			if got := testutil.ToFloat64(f.metrics.eventsDropped); got != tt.wantDropped {
				t.Errorf("nodetriage_events_dropped_total = %v, want %v", got, tt.wantDropped)
			}
			if n := f.logs.count(slog.LevelWarn, tt.wantWarning); n != 1 {
				t.Errorf("%d warnings containing %q, want 1", n, tt.wantWarning)
			}
		})
	}
}
