package agent

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/internal/kubetest"
	"github.com/nodetriage/nodetriage/probes"
)

// These tests run the reporter against a real kube-apiserver and etcd
// (internal/kubetest): the API server's validation, strategic merge patch
// and field selectors are the real ones.

// kubeTestLogWriter sends slog output to t.Log.
type kubeTestLogWriter struct{ t testing.TB }

func (w kubeTestLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type runningKubeReporter struct {
	*KubeReporter
	reg  *prometheus.Registry
	stop func()
}

// startKubeReporter runs a reporter for node until the test ends (or stop).
func startKubeReporter(t *testing.T, restCfg *rest.Config, node string, cfg KubeReporterConfig) *runningKubeReporter {
	t.Helper()
	client, err := NewKubeAPI(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(kubeTestLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := NewKubeReporter(client, node, cfg, clock.RealClock{}, logger, reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &runningKubeReporter{KubeReporter: r, reg: reg, stop: stop}
}

// waitKubeNode polls the Node until check passes (nil) or 20 s pass.
func waitKubeNode(t *testing.T, client kubernetes.Interface, name string, check func(*corev1.Node) error) *corev1.Node {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		node, err := client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			if err = check(node); err == nil {
				return node
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: still %v after 20 s", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func kubeFindCondition(node *corev1.Node, condType string) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if string(node.Status.Conditions[i].Type) == condType {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// kubeHasCondition passes when condType is there with status and message.
func kubeHasCondition(condType string, status corev1.ConditionStatus, message string) func(*corev1.Node) error {
	return func(node *corev1.Node) error {
		c := kubeFindCondition(node, condType)
		if c == nil {
			return fmt.Errorf("no %s condition", condType)
		}
		if c.Status != status || c.Message != message {
			return fmt.Errorf("%s is %s %q, want %s %q", condType, c.Status, c.Message, status, message)
		}
		return nil
	}
}

// kubeNodeEvents lists the events.k8s.io/v1 Events regarding a Node.
func kubeNodeEvents(t *testing.T, client kubernetes.Interface, node string) []eventsv1.Event {
	t.Helper()
	list, err := client.EventsV1().Events(metav1.NamespaceDefault).List(context.Background(), metav1.ListOptions{
		FieldSelector: "regarding.kind=Node,regarding.name=" + node,
	})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	return list.Items
}

// kubeWaitEvents polls until check passes on the Node's Events.
func kubeWaitEvents(t *testing.T, client kubernetes.Interface, node string, check func([]eventsv1.Event) error) []eventsv1.Event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		events := kubeNodeEvents(t, client, node)
		err := check(events)
		if err == nil {
			return events
		}
		if time.Now().After(deadline) {
			t.Fatalf("events of node %s: still %v after 20 s", node, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func kubeEventsWithReason(events []eventsv1.Event, reason string) []eventsv1.Event {
	var out []eventsv1.Event
	for _, e := range events {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// kubeSec is t truncated to the API's second precision for condition times.
func kubeSec(t time.Time) time.Time { return t.Truncate(time.Second) }

// kubeIgnoreHeartbeat compares NodeConditions without lastHeartbeatTime.
var kubeIgnoreHeartbeat = cmpopts.IgnoreFields(corev1.NodeCondition{}, "LastHeartbeatTime")

const kubeCertMessage = "kubelet client certificate /var/lib/kubelet/pki/kubelet-client-current.pem expires in 11h59m (NotAfter 2026-11-22T20:00:00Z). Fix: check the kubelet's certificate rotation (kubectl get csr; journalctl -u kubelet | grep -i certificate)"

// TestKubeReporterIntegration shares one API server between subtests, each
// on its own Node.
func TestKubeReporterIntegration(t *testing.T) {
	c := kubetest.Start(t)
	client := c.Client
	base := kubeSec(time.Now().Add(-time.Hour))

	t.Run("condition, Event and kubectl describe", func(t *testing.T) {
		node := c.CreateNode(t, "appear")
		r := startKubeReporter(t, c.Config, "appear", KubeReporterConfig{})
		r.SetConditions([]Condition{{Type: "KubeletUnhealthy", Status: corev1.ConditionTrue, Reason: "KubeletCertificateExpiring", Message: kubeCertMessage, LastTransitionTime: base}}, nil)
		r.Emit(Event{Key: "cert", Type: corev1.EventTypeWarning, Reason: "KubeletCertificateExpiring", Action: "Detected", Note: kubeCertMessage, Time: base})

		got := waitKubeNode(t, client, "appear", kubeHasCondition("KubeletUnhealthy", corev1.ConditionTrue, kubeCertMessage))
		want := corev1.NodeCondition{Type: "KubeletUnhealthy", Status: corev1.ConditionTrue, Reason: "KubeletCertificateExpiring", Message: kubeCertMessage, LastTransitionTime: metav1.NewTime(base)}
		if diff := cmp.Diff(want, *kubeFindCondition(got, "KubeletUnhealthy"), kubeIgnoreHeartbeat); diff != "" {
			t.Errorf("condition (-want +got):\n%s", diff)
		}
		if hb := kubeFindCondition(got, "KubeletUnhealthy").LastHeartbeatTime; time.Since(hb.Time) > time.Minute {
			t.Errorf("lastHeartbeatTime %v is not recent", hb)
		}

		events := kubeWaitEvents(t, client, "appear", func(ev []eventsv1.Event) error {
			if len(ev) != 1 {
				return fmt.Errorf("%d events, want 1", len(ev))
			}
			return nil
		})
		wantEvent := eventsv1.Event{
			EventTime:           metav1.NewMicroTime(base),
			ReportingController: "nodetriage.io/agent",
			ReportingInstance:   "nodetriage-appear",
			Action:              "Detected",
			Reason:              "KubeletCertificateExpiring",
			Regarding:           corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: "appear", UID: node.UID},
			Note:                kubeCertMessage,
			Type:                corev1.EventTypeWarning,
		}
		if diff := cmp.Diff(wantEvent, events[0], cmpopts.IgnoreFields(eventsv1.Event{}, "ObjectMeta")); diff != "" {
			t.Errorf("event (-want +got):\n%s", diff)
		}

		out, err := exec.Command(kubetest.KubectlPath(t), "--kubeconfig", c.KubeconfigPath, "describe", "node", "appear").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl describe node: %v\n%s", err, out)
		}
		describe := string(out)
		for _, want := range []string{
			"KubeletUnhealthy", "True", "KubeletCertificateExpiring", kubeCertMessage, // the condition row
			"Warning  KubeletCertificateExpiring", "nodetriage.io/agent", // the Events table
		} {
			if !strings.Contains(describe, want) {
				t.Errorf("kubectl describe node lacks %q:\n%s", want, describe)
			}
		}
	})

	t.Run("lastTransitionTime moves only with the status", func(t *testing.T) {
		c.CreateNode(t, "transition")
		r := startKubeReporter(t, c.Config, "transition", KubeReporterConfig{})
		set := func(status corev1.ConditionStatus, msg string, ltt time.Time) *corev1.NodeCondition {
			r.SetConditions([]Condition{{Type: "KubeletUnhealthy", Status: status, Reason: "R", Message: msg, LastTransitionTime: ltt}}, nil)
			return kubeFindCondition(waitKubeNode(t, client, "transition", kubeHasCondition("KubeletUnhealthy", status, msg)), "KubeletUnhealthy")
		}
		if got := set(corev1.ConditionTrue, "bad", base); !got.LastTransitionTime.Time.Equal(base) {
			t.Errorf("True: lastTransitionTime = %v, want %v", got.LastTransitionTime, base)
		}
		if got := set(corev1.ConditionFalse, "fine", base.Add(time.Minute)); !got.LastTransitionTime.Time.Equal(base.Add(time.Minute)) {
			t.Errorf("False: lastTransitionTime = %v, want the new %v", got.LastTransitionTime, base.Add(time.Minute))
		}
		if got := set(corev1.ConditionFalse, "still fine", base.Add(2*time.Minute)); !got.LastTransitionTime.Time.Equal(base.Add(time.Minute)) {
			t.Errorf("same status, new message: lastTransitionTime = %v, want unchanged %v", got.LastTransitionTime, base.Add(time.Minute))
		}
	})

	t.Run("heartbeat changes only lastHeartbeatTime", func(t *testing.T) {
		c.CreateNode(t, "heartbeat")
		r := startKubeReporter(t, c.Config, "heartbeat", KubeReporterConfig{HeartbeatInterval: 2 * time.Second})
		r.SetConditions([]Condition{{Type: "KubeletUnhealthy", Status: corev1.ConditionTrue, Reason: "R", Message: "m", LastTransitionTime: base}}, nil)
		before := *kubeFindCondition(waitKubeNode(t, client, "heartbeat", kubeHasCondition("KubeletUnhealthy", corev1.ConditionTrue, "m")), "KubeletUnhealthy")
		after := *kubeFindCondition(waitKubeNode(t, client, "heartbeat", func(n *corev1.Node) error {
			if c := kubeFindCondition(n, "KubeletUnhealthy"); c == nil || !c.LastHeartbeatTime.After(before.LastHeartbeatTime.Time) {
				return fmt.Errorf("no heartbeat after %v yet", before.LastHeartbeatTime)
			}
			return nil
		}), "KubeletUnhealthy")
		if diff := cmp.Diff(before, after, kubeIgnoreHeartbeat); diff != "" {
			t.Errorf("heartbeat changed more than lastHeartbeatTime (-before +after):\n%s", diff)
		}
		// The reporter counts a write when the response is back, which may
		// be after the Node already shows it.
		kubeWaitFor(t, func() error {
			if got := testutil.ToFloat64(r.metrics.statusWrites); got < 2 {
				return fmt.Errorf("status writes = %v, want the first write plus a heartbeat", got)
			}
			return nil
		})
	})

	t.Run("kubelet conditions untouched, removal deletes only ours", func(t *testing.T) {
		c.CreateNode(t, "kubelet")
		ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status",
			LastHeartbeatTime: metav1.NewTime(base), LastTransitionTime: metav1.NewTime(base)}
		node, err := client.CoreV1().Nodes().Get(context.Background(), "kubelet", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		node.Status.Conditions = []corev1.NodeCondition{ready}
		if _, err := client.CoreV1().Nodes().UpdateStatus(context.Background(), node, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("set Ready: %v", err)
		}

		r := startKubeReporter(t, c.Config, "kubelet", KubeReporterConfig{})
		ours := []Condition{
			{Type: "KubeletUnhealthy", Status: corev1.ConditionFalse, Reason: "KubeletHealthy", Message: "ok", LastTransitionTime: base},
			{Type: "ContainerLogDiskPressure", Status: corev1.ConditionTrue, Reason: "LogFilesystemNearFull", Message: "/var/log 91% full", LastTransitionTime: base},
			// A buggy caller handing over a kubelet type must not touch it.
			{Type: "Ready", Status: corev1.ConditionFalse, Reason: "Bogus", Message: "must never be written"},
		}
		r.SetConditions(ours, nil)
		got := waitKubeNode(t, client, "kubelet", kubeHasCondition("ContainerLogDiskPressure", corev1.ConditionTrue, "/var/log 91% full"))
		if diff := cmp.Diff(ready, *kubeFindCondition(got, "Ready")); diff != "" {
			t.Errorf("Ready changed (-want +got):\n%s", diff)
		}

		r.SetConditions(ours[:1], []string{"ContainerLogDiskPressure", "Ready"})
		got = waitKubeNode(t, client, "kubelet", func(n *corev1.Node) error {
			if kubeFindCondition(n, "ContainerLogDiskPressure") != nil {
				return fmt.Errorf("ContainerLogDiskPressure still there")
			}
			return nil
		})
		var types []string
		for _, c := range got.Status.Conditions {
			types = append(types, string(c.Type))
		}
		if diff := cmp.Diff([]string{"Ready", "KubeletUnhealthy"}, types, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("condition types after removal (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(ready, *kubeFindCondition(got, "Ready")); diff != "" {
			t.Errorf("Ready changed by the removal (-want +got):\n%s", diff)
		}
	})

	t.Run("a storm of changes is at most one write per batch interval", func(t *testing.T) {
		c.CreateNode(t, "storm")
		counting, writes := kubeCountRequests(c.Config, kubeIsStatusPatch("storm"))
		const batch = time.Second
		r := startKubeReporter(t, counting, "storm", KubeReporterConfig{BatchInterval: batch})
		start := time.Now()
		const calls = 10_000
		for i := range calls {
			msg := []string{"storm message A", "storm message B"}[i%2]
			r.SetConditions([]Condition{{Type: "KubeletUnhealthy", Status: corev1.ConditionTrue, Reason: "Storm", Message: msg, LastTransitionTime: base}}, nil)
			if i%10 == 0 {
				time.Sleep(3 * time.Millisecond) // spread the storm over ~3 s
			}
		}
		stormEnd := time.Since(start)
		waitKubeNode(t, client, "storm", kubeHasCondition("KubeletUnhealthy", corev1.ConditionTrue, "storm message B"))
		time.Sleep(2 * batch) // room for any write still owed
		elapsed := time.Since(start)
		limit := int64(math.Ceil(elapsed.Seconds()/batch.Seconds())) + 1
		n := writes.Load()
		t.Logf("%d SetConditions over %s; %d status writes in %s (limit %d)", calls, stormEnd, n, elapsed, limit)
		if n > limit {
			t.Errorf("%d status writes in %s, want ≤ %d (ceil(elapsed/batch)+1)", n, elapsed, limit)
		}
		if got := int64(testutil.ToFloat64(r.metrics.statusWrites)); got != n {
			t.Errorf("nodetriage_api_writes_total{kind=status,result=success} = %d, but %d PATCHes went out", got, n)
		}
	})

	t.Run("a new reporter reads back existing conditions", func(t *testing.T) {
		c.CreateNode(t, "restart")
		first := startKubeReporter(t, c.Config, "restart", KubeReporterConfig{})
		first.SetConditions([]Condition{
			{Type: "KubeletUnhealthy", Status: corev1.ConditionTrue, Reason: "R", Message: "before restart", LastTransitionTime: base},
			{Type: "ContainerLogDiskPressure", Status: corev1.ConditionFalse, Reason: "Fine", Message: "fine", LastTransitionTime: base},
		}, nil)
		waitKubeNode(t, client, "restart", kubeHasCondition("KubeletUnhealthy", corev1.ConditionTrue, "before restart"))
		first.stop()

		// The restarted agent saw the fault "start" just now; the Node keeps
		// the original transition time because the status did not change.
		second := startKubeReporter(t, c.Config, "restart", KubeReporterConfig{})
		second.SetConditions([]Condition{{Type: "KubeletUnhealthy", Status: corev1.ConditionTrue, Reason: "R", Message: "after restart", LastTransitionTime: time.Now()}}, nil)
		got := waitKubeNode(t, client, "restart", kubeHasCondition("KubeletUnhealthy", corev1.ConditionTrue, "after restart"))
		if ltt := kubeFindCondition(got, "KubeletUnhealthy").LastTransitionTime; !ltt.Time.Equal(base) {
			t.Errorf("lastTransitionTime = %v after restart, want the original %v", ltt, base)
		}
		if kubeFindCondition(got, "ContainerLogDiskPressure") == nil {
			t.Error("a condition the new reporter did not hand over was reset")
		}
	})

	t.Run("Events: duplicates are one series, floods are rate limited", func(t *testing.T) {
		c.CreateNode(t, "events")
		r := startKubeReporter(t, c.Config, "events", KubeReporterConfig{})
		for range 5 {
			r.Emit(Event{Key: "same-fault", Type: corev1.EventTypeWarning, Reason: "Repeating", Action: "Detected", Note: "the same fault again"})
			time.Sleep(20 * time.Millisecond)
		}
		kubeWaitEvents(t, client, "events", func(ev []eventsv1.Event) error {
			rep := kubeEventsWithReason(ev, "Repeating")
			if len(rep) != 1 {
				return fmt.Errorf("%d Repeating events, want 1", len(rep))
			}
			if rep[0].Series == nil || rep[0].Series.Count != 5 {
				return fmt.Errorf("series = %+v, want count 5", rep[0].Series)
			}
			return nil
		})

		for i := range 8 {
			r.Emit(Event{Key: fmt.Sprintf("flood-%d", i), Type: corev1.EventTypeWarning, Reason: "Flooding", Action: "Detected", Note: fmt.Sprintf("fault %d", i)})
		}
		kubeWaitEvents(t, client, "events", func(ev []eventsv1.Event) error {
			if n := len(kubeEventsWithReason(ev, "Flooding")); n != 5 {
				return fmt.Errorf("%d Flooding events, want 5 (burst)", n)
			}
			return nil
		})
		time.Sleep(time.Second)
		if n := len(kubeEventsWithReason(kubeNodeEvents(t, client, "events"), "Flooding")); n != 5 {
			t.Errorf("%d Flooding events after a second, want still 5", n)
		}
		if got := testutil.ToFloat64(r.metrics.suppressed("Flooding")); got != 3 {
			t.Errorf("nodetriage_events_suppressed_total{reason=Flooding} = %v, want 3", got)
		}
	})

	t.Run("an agent restart emits an Event only when the status differs from the Node's", func(t *testing.T) {
		const node = "restart-events"
		c.CreateNode(t, node)
		expiring := probes.Finding{Check: "cert", Condition: "KubeletUnhealthy", Reason: "KubeletCertificateExpiring",
			Severity: probes.SeverityProblem, Message: "expires in 11h.", Remedy: "renew it"}
		// startAgent is one agent run: the state machine and the reporter,
		// with the cert check's first result.
		startAgent := func(findings []probes.Finding) *runningKubeReporter {
			r := startKubeReporter(t, c.Config, node, KubeReporterConfig{})
			sm := NewConditions(ConditionsOptions{Clock: clock.RealClock{}, Reporter: r.KubeReporter, Policy: certPolicy()})
			sm.CheckResult("cert", findings, nil)
			kubeWaitSettled(t, r)
			return r
		}
		summaries := func() []string { return eventSummaries(kubeNodeEvents(t, client, node)) }
		detected := "Warning KubeletCertificateExpiring Detected: KubeletUnhealthy is True: expires in 11h. Fix: renew it"

		first := startAgent([]probes.Finding{expiring})
		if diff := cmp.Diff([]string{detected}, summaries()); diff != "" {
			t.Fatalf("Events of the first run (-want +got):\n%s", diff)
		}
		was := *kubeFindCondition(waitKubeNode(t, client, node, kubeHasCondition("KubeletUnhealthy", corev1.ConditionTrue, "expires in 11h. Fix: renew it")), "KubeletUnhealthy")
		first.stop()

		// The fault is still there after the restart: no second Detected.
		second := startAgent([]probes.Finding{expiring})
		if diff := cmp.Diff([]string{detected}, summaries()); diff != "" {
			t.Errorf("Events after a restart with the fault still present (-want +got):\n%s", diff)
		}
		second.stop()

		// Repaired while the agent was down: one Cleared after the restart,
		// in a later second so that the new lastTransitionTime shows.
		time.Sleep(time.Until(was.LastTransitionTime.Add(time.Second)))
		third := startAgent(nil)
		cleared := "Normal KubeletCertificateExpiring Cleared: KubeletUnhealthy is False (was True: KubeletCertificateExpiring). No problem found by cert."
		if diff := cmp.Diff([]string{detected, cleared}, summaries(), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("Events after a restart with the fault repaired meanwhile (-want +got):\n%s", diff)
		}
		now := kubeFindCondition(waitKubeNode(t, client, node, kubeHasCondition("KubeletUnhealthy", corev1.ConditionFalse, "No problem found by cert.")), "KubeletUnhealthy")
		if !now.LastTransitionTime.After(was.LastTransitionTime.Time) {
			t.Errorf("lastTransitionTime %v after the repair, want later than the True one %v", now.LastTransitionTime, was.LastTransitionTime)
		}
		third.stop()

		// Still False after another restart: nothing to tell.
		startAgent(nil)
		if n := len(summaries()); n != 2 {
			t.Errorf("%d Events after a restart with the condition still False, want still 2: %v", n, summaries())
		}
	})
}

// kubeWaitSettled waits until the reporter has read the Node, written the
// desired conditions and has no Event left to deliver.
func kubeWaitSettled(t *testing.T, r *runningKubeReporter) {
	t.Helper()
	kubeWaitFor(t, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case !r.startKnown:
			return fmt.Errorf("the Node not read yet")
		case r.lastWrite.IsZero() || !r.pendingSince.IsZero():
			return fmt.Errorf("conditions not written yet")
		case len(r.events.queue) > 0 || r.events.inflight != nil:
			return fmt.Errorf("%d Events not delivered yet", len(r.events.queue))
		}
		return nil
	})
}

// kubeCountRequests returns a copy of cfg whose transport counts the requests
// that match, including those that fail to connect.
func kubeCountRequests(cfg *rest.Config, match func(*http.Request) bool) (*rest.Config, *atomic.Int64) {
	var n atomic.Int64
	counted := rest.CopyConfig(cfg)
	counted.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return kubeRoundTripFunc(func(req *http.Request) (*http.Response, error) {
			if match(req) {
				n.Add(1)
			}
			return rt.RoundTrip(req)
		})
	})
	return counted, &n
}

func kubeIsStatusPatch(node string) func(*http.Request) bool {
	return func(req *http.Request) bool {
		return req.Method == http.MethodPatch && strings.HasSuffix(req.URL.Path, "/nodes/"+node+"/status")
	}
}

func kubeIsNodeRequest(node string) func(*http.Request) bool {
	return func(req *http.Request) bool {
		return strings.Contains(req.URL.Path, "/nodes/"+node)
	}
}

type kubeRoundTripFunc func(*http.Request) (*http.Response, error)

func (f kubeRoundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestKubeReporterAPIServerOutage changes conditions while kube-apiserver
// is down: once it is back the Node shows exactly the final state and the
// transition Events arrive.
func TestKubeReporterAPIServerOutage(t *testing.T) {
	c := kubetest.Start(t)
	client := c.Client
	c.CreateNode(t, "outage")
	base := kubeSec(time.Now().Add(-time.Hour))
	counting, nodeRequests := kubeCountRequests(c.Config, kubeIsNodeRequest("outage"))
	r := startKubeReporter(t, counting, "outage", KubeReporterConfig{RetryInitialBackoff: 100 * time.Millisecond, RetryMaxBackoff: time.Second})

	kubelet := Condition{Type: "KubeletUnhealthy", Status: corev1.ConditionFalse, Reason: "KubeletHealthy", Message: "kubelet healthy", LastTransitionTime: base}
	r.SetConditions([]Condition{kubelet}, nil)
	waitKubeNode(t, client, "outage", kubeHasCondition("KubeletUnhealthy", corev1.ConditionFalse, "kubelet healthy"))

	c.StopAPIServer(t)
	requestsBefore := nodeRequests.Load()
	down := kubeSec(time.Now())
	r.SetConditions([]Condition{{Type: "KubeletUnhealthy", Status: corev1.ConditionTrue, Reason: "KubeletCertificateExpiring", Message: "expires in 11h", LastTransitionTime: down}}, nil)
	r.Emit(Event{Key: "kubelet-true", Type: corev1.EventTypeWarning, Reason: "KubeletCertificateExpiring", Action: "Detected", Note: "expires in 11h"})
	time.Sleep(1500 * time.Millisecond) // several failed attempts
	r.SetConditions([]Condition{{Type: "KubeletUnhealthy", Status: corev1.ConditionFalse, Reason: "KubeletHealthy", Message: "certificate renewed", LastTransitionTime: down.Add(time.Second)}}, nil)
	r.Emit(Event{Key: "kubelet-false", Type: corev1.EventTypeNormal, Reason: "KubeletHealthy", Action: "Cleared", Note: "certificate renewed"})
	final := []Condition{
		{Type: "KubeletUnhealthy", Status: corev1.ConditionFalse, Reason: "KubeletHealthy", Message: "certificate renewed", LastTransitionTime: down.Add(time.Second)},
		{Type: "ContainerLogDiskPressure", Status: corev1.ConditionTrue, Reason: "LogFilesystemNearFull", Message: "/var/log 95% full", LastTransitionTime: down.Add(2 * time.Second)},
	}
	r.SetConditions(final, nil)
	r.Emit(Event{Key: "logdisk-true", Type: corev1.EventTypeWarning, Reason: "LogFilesystemNearFull", Action: "Detected", Note: "/var/log 95% full"})
	time.Sleep(500 * time.Millisecond)
	if got := testutil.ToFloat64(r.metrics.pending); got != 1 {
		t.Errorf("nodetriage_reporter_pending = %v while the API server is down, want 1", got)
	}
	// Backoff from 100 ms: about 5 attempts (GET, then PATCH) in 2 s.
	if got := nodeRequests.Load() - requestsBefore; got < 3 || got > 12 {
		t.Errorf("%d Node requests in 2 s while down, want 3…12 (retries with backoff)", got)
	}

	c.StartAPIServer(t)
	got := waitKubeNode(t, client, "outage", kubeHasCondition("ContainerLogDiskPressure", corev1.ConditionTrue, "/var/log 95% full"))
	want := []corev1.NodeCondition{
		// The server never saw True, so False keeps its original transition time.
		{Type: "KubeletUnhealthy", Status: corev1.ConditionFalse, Reason: "KubeletHealthy", Message: "certificate renewed", LastTransitionTime: metav1.NewTime(base)},
		{Type: "ContainerLogDiskPressure", Status: corev1.ConditionTrue, Reason: "LogFilesystemNearFull", Message: "/var/log 95% full", LastTransitionTime: metav1.NewTime(down.Add(2 * time.Second))},
	}
	if diff := cmp.Diff(want, got.Status.Conditions, kubeIgnoreHeartbeat); diff != "" {
		t.Errorf("conditions after the outage (-want +got):\n%s", diff)
	}
	kubeWaitEvents(t, client, "outage", func(ev []eventsv1.Event) error {
		var notes []string
		for _, e := range ev {
			notes = append(notes, e.Note)
		}
		want := []string{"/var/log 95% full", "certificate renewed", "expires in 11h"}
		if diff := cmp.Diff(want, notes, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			return fmt.Errorf("event notes (-want +got):\n%s", diff)
		}
		return nil
	})
	kubeWaitFor(t, func() error {
		if got := testutil.ToFloat64(r.metrics.pending); got != 0 {
			return fmt.Errorf("nodetriage_reporter_pending = %v", got)
		}
		return nil
	})
}

// kubeWaitFor retries f for up to 20 s.
func kubeWaitFor(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v after 20 s", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
