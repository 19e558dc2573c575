package agent

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

// The tests in this file drive the reporter's scheduling logic through
// sync() with a fake clock and client-go's fake clientset; the behaviour
// against a real API server is in kubereporter_integration_test.go.

var kubeT0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// kubeLogRecorder is a slog.Handler that keeps records for assertions.
type kubeLogRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *kubeLogRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *kubeLogRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}
func (h *kubeLogRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *kubeLogRecorder) WithGroup(string) slog.Handler      { return h }

// count returns how many records at level have a message containing substr.
func (h *kubeLogRecorder) count(level slog.Level, substr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.records {
		if r.Level == level && strings.Contains(r.Message, substr) {
			n++
		}
	}
	return n
}

// matching returns the records at level whose message contains substr.
func (h *kubeLogRecorder) matching(level slog.Level, substr string) []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range h.records {
		if r.Level == level && strings.Contains(r.Message, substr) {
			out = append(out, r)
		}
	}
	return out
}

type kubeFakeReporter struct {
	*KubeReporter
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	reg    *prometheus.Registry
	logs   *kubeLogRecorder
}

func newKubeFakeReporter(t *testing.T, cfg KubeReporterConfig, objects ...runtime.Object) *kubeFakeReporter {
	t.Helper()
	client := fake.NewClientset(objects...)
	clk := clocktesting.NewFakeClock(kubeT0)
	reg := prometheus.NewRegistry()
	logs := &kubeLogRecorder{}
	r := NewKubeReporter(clientsetKubeAPI{client}, "node-a", cfg, clk, slog.New(logs), reg)
	return &kubeFakeReporter{KubeReporter: r, client: client, clock: clk, reg: reg, logs: logs}
}

func kubeTestNode(name string, conds ...corev1.NodeCondition) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
		Status:     corev1.NodeStatus{Conditions: conds},
	}
}

// statusPatches returns the nodes/status patch bodies sent so far.
func (f *kubeFakeReporter) statusPatches() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok && a.GetResource().Resource == "nodes" && a.GetSubresource() == "status" {
			out = append(out, string(p.GetPatch()))
		}
	}
	return out
}

func (f *kubeFakeReporter) verbs(resource string) []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetResource().Resource == resource {
			out = append(out, a.GetVerb())
		}
	}
	return out
}

func (f *kubeFakeReporter) node(t *testing.T) *corev1.Node {
	t.Helper()
	n, err := f.client.CoreV1().Nodes().Get(context.Background(), "node-a", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node: %v", err)
	}
	return n
}

func kubeCondA(status corev1.ConditionStatus, message string, ltt time.Time) Condition {
	return Condition{Type: "KubeletUnhealthy", Status: status, Reason: "KubeletCertificateExpiring", Message: message, LastTransitionTime: ltt}
}

func TestKubeReporterBatchesAStormIntoOneWrite(t *testing.T) {
	f := newKubeFakeReporter(t, KubeReporterConfig{}, kubeTestNode("node-a"))
	ctx := context.Background()

	for i := range 1000 {
		f.SetConditions([]Condition{kubeCondA(corev1.ConditionTrue, []string{"a", "b"}[i%2], kubeT0)}, nil)
	}
	if got := testutil.ToFloat64(f.metrics.pending); got != 1 {
		t.Errorf("pending gauge = %v, want 1", got)
	}
	next := f.sync(ctx)
	if n := len(f.statusPatches()); n != 0 {
		t.Fatalf("%d writes before the batch interval, want 0", n)
	}
	if want := kubeT0.Add(time.Second); !next.Equal(want) {
		t.Errorf("next wake = %v, want %v (one batch interval)", next, want)
	}

	f.clock.Step(time.Second)
	next = f.sync(ctx)
	if n := len(f.statusPatches()); n != 1 {
		t.Fatalf("%d writes after one batch interval, want 1", n)
	}
	if diff := cmp.Diff([]string{"get", "patch"}, f.verbs("nodes")); diff != "" {
		t.Errorf("node API calls (-want +got):\n%s", diff)
	}
	if got := f.node(t).Status.Conditions; len(got) != 1 || got[0].Message != "b" {
		t.Errorf("node conditions = %+v, want the last message b", got)
	}
	if want := kubeT0.Add(time.Second + 5*time.Minute); !next.Equal(want) {
		t.Errorf("next wake = %v, want the heartbeat at %v", next, want)
	}
	if got := testutil.ToFloat64(f.metrics.pending); got != 0 {
		t.Errorf("pending gauge = %v after the write, want 0", got)
	}

	// Same state again: no API call at all (the PATCH response is the
	// server state; no GET per write).
	f.client.ClearActions()
	f.SetConditions([]Condition{kubeCondA(corev1.ConditionTrue, "b", kubeT0)}, nil)
	f.clock.Step(time.Second)
	f.sync(ctx)
	if got := f.client.Actions(); len(got) != 0 {
		t.Errorf("API calls after an unchanged SetConditions: %v, want none", got)
	}
}

func TestKubeReporterHeartbeatChangesOnlyHeartbeatTime(t *testing.T) {
	f := newKubeFakeReporter(t, KubeReporterConfig{HeartbeatInterval: time.Minute}, kubeTestNode("node-a"))
	ctx := context.Background()
	f.SetConditions([]Condition{kubeCondA(corev1.ConditionTrue, "m", kubeT0.Add(-time.Hour))}, nil)
	f.clock.Step(time.Second)
	f.sync(ctx)
	before := f.node(t).Status.Conditions[0]

	f.clock.Step(30 * time.Second)
	f.sync(ctx)
	if n := len(f.statusPatches()); n != 1 {
		t.Fatalf("%d writes before the heartbeat is due, want 1", n)
	}
	f.clock.Step(30 * time.Second)
	f.sync(ctx)
	if n := len(f.statusPatches()); n != 2 {
		t.Fatalf("%d writes after the heartbeat interval, want 2", n)
	}
	after := f.node(t).Status.Conditions[0]
	if !after.LastHeartbeatTime.After(before.LastHeartbeatTime.Time) {
		t.Errorf("lastHeartbeatTime %v not after %v", after.LastHeartbeatTime, before.LastHeartbeatTime)
	}
	after.LastHeartbeatTime = before.LastHeartbeatTime
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("heartbeat changed more than lastHeartbeatTime (-before +after):\n%s", diff)
	}
}

func TestKubeReporterBacksOffAndLogsOnce(t *testing.T) {
	f := newKubeFakeReporter(t, KubeReporterConfig{RetryInitialBackoff: time.Second, RetryMaxBackoff: 4 * time.Second}, kubeTestNode("node-a"))
	ctx := context.Background()
	var failing = true
	f.client.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failing {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	f.SetConditions([]Condition{kubeCondA(corev1.ConditionTrue, "first", kubeT0)}, nil)

	var waits []time.Duration
	for range 5 {
		now := f.clock.Now()
		f.clock.Step(time.Second)
		next := f.sync(ctx)
		waits = append(waits, next.Sub(now.Add(time.Second)))
		f.clock.SetTime(next)
	}
	// 1 s, 2 s, 4 s, then capped at 4 s, each with up to 20 % jitter.
	base := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	for i, w := range waits {
		if w < base[i] || w > base[i]+base[i]/5 {
			t.Errorf("retry %d waited %s, want %s…%s", i, w, base[i], base[i]+base[i]/5)
		}
	}
	if n := f.logs.count(slog.LevelWarn, "cannot write node status"); n != 1 {
		t.Errorf("%d warnings for 5 failures, want 1", n)
	}
	// Every retry re-reads the Node first (a failed write may have changed it).
	if got := strings.Count(strings.Join(f.verbs("nodes"), ","), "get"); got != 5 {
		t.Errorf("%d GETs for 5 attempts, want 5", got)
	}

	failing = false
	f.SetConditions([]Condition{kubeCondA(corev1.ConditionFalse, "latest", kubeT0.Add(time.Minute))}, nil)
	f.clock.Step(5 * time.Second)
	f.sync(ctx)
	if got := f.node(t).Status.Conditions; len(got) != 1 || got[0].Status != corev1.ConditionFalse || got[0].Message != "latest" {
		t.Errorf("after recovery node conditions = %+v, want the latest state", got)
	}
	if n := f.logs.count(slog.LevelInfo, "work again"); n != 1 {
		t.Errorf("%d recovery logs, want 1", n)
	}
	if got := testutil.ToFloat64(f.metrics.pending); got != 0 {
		t.Errorf("pending gauge = %v after recovery, want 0", got)
	}
}

func TestKubeReporterNodeMissingIsAClearError(t *testing.T) {
	f := newKubeFakeReporter(t, KubeReporterConfig{})
	f.SetConditions([]Condition{kubeCondA(corev1.ConditionTrue, "m", kubeT0)}, nil)
	for range 3 {
		f.clock.Step(2 * time.Minute)
		f.sync(context.Background())
	}
	if n := f.logs.count(slog.LevelWarn, "Node not found"); n != 1 {
		t.Errorf("%d 'Node not found' warnings, want 1", n)
	}
	if n := len(f.statusPatches()); n != 0 {
		t.Errorf("%d patches without a Node, want 0", n)
	}

	if _, err := f.client.CoreV1().Nodes().Create(context.Background(), kubeTestNode("node-a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(2 * time.Minute)
	f.sync(context.Background())
	if got := f.node(t).Status.Conditions; len(got) != 1 {
		t.Errorf("after the Node appeared: conditions = %+v, want ours", got)
	}
}

func TestBuildStatusPatch(t *testing.T) {
	serverLTT := metav1.NewTime(kubeT0.Add(-time.Hour))
	server := []corev1.NodeCondition{
		{Type: "KubeletUnhealthy", Status: corev1.ConditionTrue, Reason: "Old", Message: "old", LastTransitionTime: serverLTT},
		{Type: "Gone", Status: corev1.ConditionFalse},
		{Type: "Ready", Status: corev1.ConditionTrue},
	}
	tests := []struct {
		name    string
		desired []Condition
		remove  []string
		want    string // JSON; "" = no write
	}{
		{
			name:    "same status keeps the server's lastTransitionTime",
			desired: []Condition{kubeCondA(corev1.ConditionTrue, "new", kubeT0)},
			want:    `{"status":{"conditions":[{"type":"KubeletUnhealthy","status":"True","lastHeartbeatTime":"2026-11-22T08:00:00Z","lastTransitionTime":"2026-11-22T07:00:00Z","reason":"KubeletCertificateExpiring","message":"new"}]}}`,
		},
		{
			name:    "new status takes the agent's lastTransitionTime",
			desired: []Condition{kubeCondA(corev1.ConditionFalse, "ok", kubeT0.Add(-time.Minute))},
			want:    `{"status":{"conditions":[{"type":"KubeletUnhealthy","status":"False","lastHeartbeatTime":"2026-11-22T08:00:00Z","lastTransitionTime":"2026-11-22T07:59:00Z","reason":"KubeletCertificateExpiring","message":"ok"}]}}`,
		},
		{
			name:    "zero lastTransitionTime becomes now",
			desired: []Condition{{Type: "New", Status: corev1.ConditionFalse, Reason: "Fine", Message: "fine"}},
			want:    `{"status":{"conditions":[{"type":"New","status":"False","lastHeartbeatTime":"2026-11-22T08:00:00Z","lastTransitionTime":"2026-11-22T08:00:00Z","reason":"Fine","message":"fine"}]}}`,
		},
		{
			name:   "removal is a delete directive, only for types the server has, never kubelet's",
			remove: []string{"Gone", "NeverThere", "Ready"},
			want:   `{"status":{"conditions":[{"type":"Gone","$patch":"delete"}]}}`,
		},
		{
			name:    "kubelet types are never written; nothing else means no write",
			desired: []Condition{{Type: "Ready", Status: corev1.ConditionFalse, Reason: "X"}},
			want:    "",
		},
		{
			name:    "duplicate types: the last wins",
			desired: []Condition{{Type: "New", Status: corev1.ConditionTrue, Reason: "First", LastTransitionTime: kubeT0}, {Type: "New", Status: corev1.ConditionTrue, Reason: "Second", LastTransitionTime: kubeT0}},
			want:    `{"status":{"conditions":[{"type":"New","status":"True","lastHeartbeatTime":"2026-11-22T08:00:00Z","lastTransitionTime":"2026-11-22T08:00:00Z","reason":"Second"}]}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newKubeFakeReporter(t, KubeReporterConfig{})
			f.storeNodeLocked(kubeTestNode("node-a", server...))
			f.lastWrite = kubeT0.Add(-time.Second) // no heartbeat due
			f.SetConditions(tt.desired, tt.remove)
			patch, _, write := f.buildStatusPatchLocked(kubeT0)
			if tt.want == "" {
				if write {
					t.Errorf("wrote %s, want no write", patch)
				}
				return
			}
			if !write {
				t.Fatal("no write, want one")
			}
			if diff := cmp.Diff(tt.want, string(patch)); diff != "" {
				t.Errorf("patch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKubeReporterConfigValidate(t *testing.T) {
	tests := []struct {
		name      string
		cfg       KubeReporterConfig
		wantField string // "" = valid
	}{
		{name: "zero takes defaults", cfg: KubeReporterConfig{}},
		{name: "defaults", cfg: DefaultKubeReporterConfig()},
		{name: "negative batch", cfg: KubeReporterConfig{BatchInterval: -time.Second}, wantField: "batchInterval"},
		{name: "negative burst", cfg: KubeReporterConfig{EventBurst: -1}, wantField: "eventBurst"},
		{name: "negative buffer", cfg: KubeReporterConfig{EventBufferSize: -1}, wantField: "eventBufferSize"},
		{name: "heartbeat below batch", cfg: KubeReporterConfig{BatchInterval: time.Minute, HeartbeatInterval: time.Second}, wantField: "heartbeatInterval"},
		{name: "max backoff below initial", cfg: KubeReporterConfig{RetryInitialBackoff: time.Minute, RetryMaxBackoff: time.Second}, wantField: "retryMaxBackoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			var fe *probes.FieldError
			switch {
			case tt.wantField == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantField != "" && (!errors.As(err, &fe) || fe.Field != tt.wantField):
				t.Errorf("Validate() = %v, want a FieldError for %s", err, tt.wantField)
			}
		})
	}
}

func TestKubeReporterEventsDedupAndRateLimit(t *testing.T) {
	f := newKubeFakeReporter(t, KubeReporterConfig{}, kubeTestNode("node-a"))
	ctx := context.Background()

	// Ten repeats of one fault before the first delivery: one Event, count 10.
	for range 10 {
		f.Emit(Event{Key: "dup", Type: corev1.EventTypeWarning, Reason: "Dup", Action: "Detected", Note: "same fault"})
	}
	// Eight different faults of one reason: the bucket lets five through.
	for i := range 8 {
		f.Emit(Event{Key: "flood-" + string(rune('a'+i)), Type: corev1.EventTypeWarning, Reason: "Flood", Action: "Detected", Note: "n"})
	}
	f.sync(ctx)

	events := f.listEvents(t)
	byReason := map[string][]eventsv1.Event{}
	for _, e := range events {
		byReason[e.Reason] = append(byReason[e.Reason], e)
	}
	if n := len(byReason["Dup"]); n != 1 {
		t.Fatalf("%d Dup Events, want 1", n)
	}
	if s := byReason["Dup"][0].Series; s == nil || s.Count != 10 {
		t.Errorf("Dup series = %+v, want count 10", s)
	}
	if n := len(byReason["Flood"]); n != 5 {
		t.Errorf("%d Flood Events, want 5 (the burst)", n)
	}
	if got := testutil.ToFloat64(f.metrics.suppressed("Flood")); got != 3 {
		t.Errorf("suppressed{Flood} = %v, want 3", got)
	}

	// A later repeat updates the series in place.
	f.clock.Step(time.Minute)
	f.Emit(Event{Key: "dup", Type: corev1.EventTypeWarning, Reason: "Dup", Action: "Detected", Note: "same fault"})
	f.sync(ctx)
	dup := f.eventsByReason(t, "Dup")
	if len(dup) != 1 || dup[0].Series == nil || dup[0].Series.Count != 11 {
		t.Errorf("after a later repeat Dup Events = %+v, want one with count 11", dup)
	}

	// Outside the dedup window a repeat is a new Event.
	f.clock.Step(11 * time.Minute)
	f.Emit(Event{Key: "dup", Type: corev1.EventTypeWarning, Reason: "Dup", Action: "Detected", Note: "same fault"})
	f.sync(ctx)
	if n := len(f.eventsByReason(t, "Dup")); n != 2 {
		t.Errorf("%d Dup Events after the window, want 2", n)
	}
}

func TestKubeReporterEventBufferDropsOldest(t *testing.T) {
	f := newKubeFakeReporter(t, KubeReporterConfig{EventBufferSize: 3, EventBurst: 100}, kubeTestNode("node-a"))
	for i := range 5 {
		f.Emit(Event{Key: string(rune('a' + i)), Type: corev1.EventTypeNormal, Reason: "R", Action: "Detected", Note: string(rune('a' + i))})
	}
	if got := testutil.ToFloat64(f.metrics.eventsDropped); got != 2 {
		t.Errorf("dropped = %v, want 2", got)
	}
	f.sync(context.Background())
	var notes []string
	for _, e := range f.listEvents(t) {
		notes = append(notes, e.Note)
	}
	if diff := cmp.Diff([]string{"c", "d", "e"}, notes); diff != "" {
		t.Errorf("delivered notes (-want +got):\n%s", diff)
	}
	if n := f.logs.count(slog.LevelWarn, "event buffer full"); n != 1 {
		t.Errorf("%d buffer-full warnings, want 1", n)
	}
}

func (f *kubeFakeReporter) listEvents(t *testing.T) []eventsv1.Event {
	t.Helper()
	list, err := f.client.EventsV1().Events(kubeEventNamespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The fake tracker lists in map order; names grow with time.
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items
}

func (f *kubeFakeReporter) eventsByReason(t *testing.T, reason string) []eventsv1.Event {
	var out []eventsv1.Event
	for _, e := range f.listEvents(t) {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func TestNewNodeEvent(t *testing.T) {
	long := strings.Repeat("é", 600) // 1200 bytes
	got := newKubeNodeEvent(Event{Type: "", Reason: "R", Note: long, Time: kubeT0}, "n.1", "node-a", "uid-1", nil)
	want := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "n.1", Namespace: "default"},
		EventTime:           metav1.NewMicroTime(kubeT0),
		ReportingController: "nodetriage.io/agent",
		ReportingInstance:   "nodetriage-node-a",
		Action:              "Observed",
		Reason:              "R",
		Regarding:           corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: "node-a", UID: "uid-1"},
		Note:                strings.Repeat("é", 510) + "…",
		Type:                "Normal",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("newKubeNodeEvent (-want +got):\n%s", diff)
	}
	if len(got.Note) > kubeEventNoteLimit {
		t.Errorf("note is %d bytes, limit %d", len(got.Note), kubeEventNoteLimit)
	}
}

func TestTruncateUTF8(t *testing.T) {
	tests := []struct {
		s      string
		limit  int
		marker string
		want   string
	}{
		{s: "short", limit: 10, want: "short"},
		{s: "exactly10!", limit: 10, marker: "…", want: "exactly10!"},
		{s: "abcdefghijk", limit: 10, marker: "…", want: "abcdefg…"},
		{s: "aéééé", limit: 6, want: "aéé"},  // never half a rune
		{s: "日本語テキスト", limit: 8, want: "日本"}, // 3-byte runes
		{s: "abc", limit: 2, marker: "…", want: "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			if got := kubeTruncateUTF8(tt.s, tt.limit, tt.marker); got != tt.want {
				t.Errorf("kubeTruncateUTF8(%q, %d) = %q, want %q", tt.s, tt.limit, got, tt.want)
			}
		})
	}
}

func TestKubeReporterMetricsShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	client := fake.NewClientset()
	clk := clocktesting.NewFakeClock(kubeT0)
	a := NewKubeReporter(clientsetKubeAPI{client}, "a", KubeReporterConfig{}, clk, slog.New(&kubeLogRecorder{}), reg)
	b := NewKubeReporter(clientsetKubeAPI{client}, "b", KubeReporterConfig{}, clk, slog.New(&kubeLogRecorder{}), reg)
	a.SetConditions([]Condition{kubeCondA(corev1.ConditionTrue, "m", kubeT0)}, nil)
	b.SetConditions([]Condition{kubeCondA(corev1.ConditionTrue, "m", kubeT0)}, nil)
	if got := testutil.ToFloat64(a.metrics.pending); got != 2 {
		t.Errorf("shared pending gauge = %v, want 2 (both reporters pending)", got)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range families {
		names = append(names, mf.GetName())
	}
	want := []string{"nodetriage_api_write_duration_seconds", "nodetriage_api_writes_denied_total", "nodetriage_api_writes_total", "nodetriage_events_dropped_total", "nodetriage_reporter_pending"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("gathered families (-want +got):\n%s", diff)
	}
}

// A repeat that arrives while the Event is being created is written as a
// series update right away (a token is free), not after a refill interval.
func TestKubeReporterRepeatDuringCreate(t *testing.T) {
	f := newKubeFakeReporter(t, KubeReporterConfig{}, kubeTestNode("node-a"))
	ev := Event{Key: "k", Type: corev1.EventTypeWarning, Reason: "Repeat", Action: "Detected", Note: "again"}
	repeated := false
	f.client.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		if !repeated {
			repeated = true
			f.Emit(ev)
		}
		return false, nil, nil
	})
	f.Emit(ev)
	f.sync(context.Background())
	if diff := cmp.Diff([]string{"create", "patch"}, f.verbs("events")); diff != "" {
		t.Errorf("event API calls (-want +got):\n%s", diff)
	}
	got := f.eventsByReason(t, "Repeat")
	if len(got) != 1 || got[0].Series == nil || got[0].Series.Count != 2 {
		t.Errorf("Repeat Events = %+v, want one with series count 2 after one sync", got)
	}
}

// When the API server is back, Events kept during the outage go out with the
// first successful status write, not when their own (longer) backoff ends;
// and the other way round.
func TestKubeReporterRecoveryRetriesTheOtherPathAtOnce(t *testing.T) {
	for _, first := range []string{"nodes", "events"} {
		t.Run(first+" recover first", func(t *testing.T) {
			f := newKubeFakeReporter(t, KubeReporterConfig{RetryInitialBackoff: time.Second, RetryMaxBackoff: time.Hour}, kubeTestNode("node-a"))
			ctx := context.Background()
			down := map[string]bool{"nodes": true, "events": true}
			for _, res := range []string{"nodes", "events"} {
				f.client.PrependReactor("*", res, func(k8stesting.Action) (bool, runtime.Object, error) {
					if down[res] {
						return true, nil, errors.New("connection refused")
					}
					return false, nil, nil
				})
			}
			f.SetConditions([]Condition{kubeCondA(corev1.ConditionTrue, "during the outage", kubeT0)}, nil)
			f.Emit(Event{Key: "k", Type: corev1.EventTypeWarning, Reason: "KeptDuringOutage", Action: "Detected", Note: "n"})
			for range 4 {
				f.clock.SetTime(f.sync(ctx))
			}
			if !f.statusFailing || !f.events.failing {
				t.Fatalf("status failing %v, events failing %v; want both", f.statusFailing, f.events.failing)
			}
			// The server is back. The first path's retry is due now, the
			// other's an hour from now.
			down["nodes"], down["events"] = false, false
			now := f.clock.Now()
			f.mu.Lock()
			if first == "nodes" {
				f.statusRetryAt, f.events.retryAt = now, now.Add(time.Hour)
			} else {
				f.events.retryAt, f.statusRetryAt = now, now.Add(time.Hour)
			}
			f.mu.Unlock()
			f.sync(ctx)
			f.sync(ctx) // at the same instant
			if got := f.eventsByReason(t, "KeptDuringOutage"); len(got) != 1 {
				t.Errorf("Events after recovery = %d, want the one kept", len(got))
			}
			if got := f.node(t).Status.Conditions; len(got) != 1 || got[0].Message != "during the outage" {
				t.Errorf("node conditions after recovery = %+v", got)
			}
		})
	}
}
