package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/probes"
)

// KubeReporterConfig tunes the Kubernetes reporter. A zero field takes its
// default from DefaultKubeReporterConfig.
type KubeReporterConfig struct {
	// BatchInterval: changes are collected for this long, then written in
	// one nodes/status patch, so there is at most one status write per
	// interval however many changes arrive (default 1 s, as NPD's condition
	// manager).
	BatchInterval time.Duration
	// HeartbeatInterval: all of the agent's conditions are rewritten this
	// often with only lastHeartbeatTime changed, so a stale agent is visible
	// (default 5 min, the kubelet's nodeStatusReportFrequency).
	HeartbeatInterval time.Duration
	// EventDedupWindow: an Event with the same key seen again within this
	// window of its last occurrence updates the existing Event's series
	// instead of creating an object (default 10 min).
	EventDedupWindow time.Duration
	// EventBurst and EventRefillInterval are the per-reason token bucket for
	// findings' new Events and series updates: EventBurst at once, then one
	// per EventRefillInterval (default 5, then 2 per minute). It is stricter
	// than client-go's per-object spam filter (burst 25, 1 per 5 min, per
	// object and any reason) because one agent reports many reasons on one
	// Node, and it bounds Event objects per reason to 5 + 2/min however bad
	// a storm gets. Suppressed Events are counted in
	// nodetriage_events_suppressed_total. A condition's transition Events
	// are never suppressed; only their series updates take from a bucket of
	// the same size, one per condition type (kubeEventState.allowSeries).
	EventBurst          int
	EventRefillInterval time.Duration
	// EventBufferSize bounds Events waiting for the API server (default 64);
	// on overflow the oldest finding Event is dropped (a transition Event
	// only when the buffer holds nothing else) and counted in
	// nodetriage_events_dropped_total.
	EventBufferSize int
	// RetryInitialBackoff and RetryMaxBackoff bound the jittered exponential
	// backoff while the API server fails (default 1 s doubling to 1 min).
	RetryInitialBackoff time.Duration
	RetryMaxBackoff     time.Duration
	// RequestTimeout bounds each API request (default 10 s).
	RequestTimeout time.Duration
}

// DefaultKubeReporterConfig returns the documented defaults.
func DefaultKubeReporterConfig() KubeReporterConfig {
	return KubeReporterConfig{
		BatchInterval:       time.Second,
		HeartbeatInterval:   5 * time.Minute,
		EventDedupWindow:    10 * time.Minute,
		EventBurst:          5,
		EventRefillInterval: 30 * time.Second,
		EventBufferSize:     64,
		RetryInitialBackoff: time.Second,
		RetryMaxBackoff:     time.Minute,
		RequestTimeout:      10 * time.Second,
	}
}

// withDefaults fills zero fields from DefaultKubeReporterConfig.
func (c KubeReporterConfig) withDefaults() KubeReporterConfig {
	d := DefaultKubeReporterConfig()
	setDuration := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDuration(&c.BatchInterval, d.BatchInterval)
	setDuration(&c.HeartbeatInterval, d.HeartbeatInterval)
	setDuration(&c.EventDedupWindow, d.EventDedupWindow)
	setDuration(&c.EventRefillInterval, d.EventRefillInterval)
	setDuration(&c.RetryInitialBackoff, d.RetryInitialBackoff)
	setDuration(&c.RetryMaxBackoff, d.RetryMaxBackoff)
	setDuration(&c.RequestTimeout, d.RequestTimeout)
	if c.EventBurst == 0 {
		c.EventBurst = d.EventBurst
	}
	if c.EventBufferSize == 0 {
		c.EventBufferSize = d.EventBufferSize
	}
	return c
}

// Validate reports the first invalid field (zero means default and is
// valid). Field names are the camelCase config keys.
func (c KubeReporterConfig) Validate() error {
	positive := []struct {
		field string
		value time.Duration
	}{
		{"batchInterval", c.BatchInterval},
		{"heartbeatInterval", c.HeartbeatInterval},
		{"eventDedupWindow", c.EventDedupWindow},
		{"eventRefillInterval", c.EventRefillInterval},
		{"retryInitialBackoff", c.RetryInitialBackoff},
		{"retryMaxBackoff", c.RetryMaxBackoff},
		{"requestTimeout", c.RequestTimeout},
	}
	for _, p := range positive {
		if p.value < 0 {
			return &probes.FieldError{Field: p.field, Reason: fmt.Sprintf("must not be negative, got %s", p.value)}
		}
	}
	if c.EventBurst < 0 {
		return &probes.FieldError{Field: "eventBurst", Reason: fmt.Sprintf("must not be negative, got %d", c.EventBurst)}
	}
	if c.EventBufferSize < 0 {
		return &probes.FieldError{Field: "eventBufferSize", Reason: fmt.Sprintf("must not be negative, got %d", c.EventBufferSize)}
	}
	d := c.withDefaults()
	if d.HeartbeatInterval < d.BatchInterval {
		return &probes.FieldError{Field: "heartbeatInterval", Reason: fmt.Sprintf("must be at least batchInterval (%s), got %s", d.BatchInterval, d.HeartbeatInterval)}
	}
	if d.RetryMaxBackoff < d.RetryInitialBackoff {
		return &probes.FieldError{Field: "retryMaxBackoff", Reason: fmt.Sprintf("must be at least retryInitialBackoff (%s), got %s", d.RetryInitialBackoff, d.RetryMaxBackoff)}
	}
	return nil
}

// kubeletOwnedConditionTypes are the kubelet's own NodeCondition types. The
// reporter never writes or deletes them, whatever it is handed.
var kubeletOwnedConditionTypes = map[string]bool{
	string(corev1.NodeReady):              true,
	string(corev1.NodeMemoryPressure):     true,
	string(corev1.NodeDiskPressure):       true,
	string(corev1.NodePIDPressure):        true,
	string(corev1.NodeNetworkUnavailable): true,
}

// KubeReporter is the agent.Reporter that writes NodeConditions (PATCH
// nodes/status, strategic merge on status.conditions, only the agent's own
// types) and events.k8s.io/v1 Events on the agent's Node.
//
// SetConditions and Emit only record state under a mutex and never block on
// the API server. Run's goroutine (the caller's; the reporter starts none)
// does every API call: at most one status write per BatchInterval, a
// heartbeat every HeartbeatInterval, Events in order, and retries with
// jittered exponential backoff while the API server fails. Because the
// latest desired state is what gets written, a condition that went True and
// back to False while the server was down ends False; the transition Events
// wait in a bounded buffer, where finding Events give way to them.
//
// Across an agent restart, a condition's Event is written exactly when its
// status differs from what the Node showed before: the conditions the first
// GET finds decide each condition's first status since start
// (Transition.Initial).
//
// Cost per reporter: the Run goroutine, one timer, and bounded state (the
// desired conditions, EventBufferSize queued Events, at most
// kubeMaxEventSeries dedup records). Reporters sharing one KubeAPI share its
// HTTP/2 connection and its goroutines.
type KubeReporter struct {
	client   KubeAPI
	nodeName string
	cfg      KubeReporterConfig
	clock    clock.WithTicker
	logger   *slog.Logger
	metrics  kubeReporterMetrics
	// wake nudges Run when new work arrives; capacity 1, sends never block.
	wake chan struct{}

	mu sync.Mutex

	// Desired state, as last handed over by SetConditions.
	desired []Condition
	// removals are types to delete from the Node, kept until the server no
	// longer has them.
	removals map[string]struct{}
	// changeSeq counts SetConditions calls, to tell whether the state changed
	// while a write was in flight.
	changeSeq uint64
	// pendingSince is when the desired state first differed from what was
	// written; zero when in sync.
	pendingSince time.Time
	pendingGauge bool

	// The server's view: all Node conditions by type, from the last GET or
	// PATCH response. serverKnown is false before the first read and after
	// a failed write, which forces a GET before the next write.
	serverKnown bool
	server      map[string]corev1.NodeCondition
	nodeUID     types.UID
	// start is the Node's conditions as the first successful GET found
	// them, before any write of this reporter (startKnown): what the Node
	// showed before the agent started, which decides the initial
	// transitions (resolveInitialLocked). Later reads see the reporter's
	// own writes, so it is taken once.
	start      map[string]corev1.NodeCondition
	startKnown bool

	lastWrite     time.Time // last successful status write
	statusRetryAt time.Time
	statusBackoff wait.Backoff
	statusFailing bool

	warnedKubeletType map[string]bool

	// statusDenied counts status writes refused by admission
	// (nodetriage_api_writes_denied_total{kind="status"}); lastDenial is
	// the last one logged, so a denial is logged once, not on every retry.
	statusDenied prometheus.Counter
	lastDenial   string

	events kubeEventState
}

var (
	_ Reporter                  = (*KubeReporter)(nil)
	_ initialTransitionResolver = (*KubeReporter)(nil)
)

// resolvesInitialTransitions: the reporter reads the Node before it writes
// anything, so it can tell a condition's first status since start from a
// change (resolveInitialLocked).
func (r *KubeReporter) resolvesInitialTransitions() {}

// NewKubeReporter returns a reporter for nodeName. Zero fields of cfg take
// their defaults; cfg should have passed Validate. Metrics are registered
// on reg (nil: not registered); reporters sharing a registry share the
// metric families, so many reporters can run in one process.
func NewKubeReporter(client KubeAPI, nodeName string, cfg KubeReporterConfig, clk clock.WithTicker, logger *slog.Logger, reg prometheus.Registerer) *KubeReporter {
	cfg = cfg.withDefaults()
	logger = logger.With("node", nodeName)
	r := &KubeReporter{
		client:            client,
		nodeName:          nodeName,
		cfg:               cfg,
		clock:             clk,
		logger:            logger,
		metrics:           newKubeReporterMetrics(reg, logger),
		wake:              make(chan struct{}, 1),
		removals:          map[string]struct{}{},
		server:            map[string]corev1.NodeCondition{},
		warnedKubeletType: map[string]bool{},
	}
	r.statusBackoff = r.newBackoff()
	r.events.init(cfg)
	r.statusDenied = kubeRegisterOrReuse(reg, logger, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nodetriage_api_writes_denied_total",
		Help: "Kubernetes API writes refused by admission (a ValidatingAdmissionPolicy or webhook), by kind; also counted as errors in nodetriage_api_writes_total. A denied status write updates no condition.",
	}, []string{"kind"})).WithLabelValues("status")
	return r
}

func (r *KubeReporter) newBackoff() wait.Backoff {
	return wait.Backoff{
		Duration: r.cfg.RetryInitialBackoff,
		Factor:   2,
		Jitter:   0.2,
		Steps:    math.MaxInt32,
		Cap:      r.cfg.RetryMaxBackoff,
	}
}

// SetConditions records the desired set of the agent's conditions and the
// types to delete. It never blocks on the API server; the write follows
// within BatchInterval (or after the current backoff).
func (r *KubeReporter) SetConditions(conds []Condition, remove []string) {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.desired = append(r.desired[:0], conds...)
	for _, t := range remove {
		r.removals[t] = struct{}{}
	}
	if len(r.removals) > 0 {
		// A type handed over again is wanted after all.
		for i := range r.desired {
			delete(r.removals, r.desired[i].Type)
		}
	}
	r.changeSeq++
	if r.pendingSince.IsZero() && r.needsWriteLocked() {
		r.markPendingLocked(now)
		r.signal()
	}
}

func (r *KubeReporter) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *KubeReporter) markPendingLocked(now time.Time) {
	r.pendingSince = now
	if !r.pendingGauge {
		r.pendingGauge = true
		r.metrics.pending.Inc()
	}
}

func (r *KubeReporter) clearPendingLocked() {
	r.pendingSince = time.Time{}
	if r.pendingGauge {
		r.pendingGauge = false
		r.metrics.pending.Dec()
	}
}

// needsWriteLocked reports whether the Node must be written: never written
// by this reporter, server state unknown, or a desired condition or a
// removal differs from what the server has.
func (r *KubeReporter) needsWriteLocked() bool {
	if len(r.desired) > 0 && r.lastWrite.IsZero() {
		return true
	}
	if !r.serverKnown {
		return len(r.desired) > 0 || len(r.removals) > 0
	}
	for i := range r.desired {
		d := &r.desired[i]
		if kubeletOwnedConditionTypes[d.Type] {
			continue
		}
		s, ok := r.server[d.Type]
		if !ok || string(s.Status) != string(d.Status) || s.Reason != d.Reason || s.Message != d.Message {
			return true
		}
	}
	for t := range r.removals {
		if _, ok := r.server[t]; ok && !kubeletOwnedConditionTypes[t] {
			return true
		}
	}
	return false
}

// Run does all API calls until ctx is done, then returns nil. Pending state
// not yet written when ctx ends is not flushed: the next agent start reads
// the Node back and writes its own state.
func (r *KubeReporter) Run(ctx context.Context) error {
	timer := r.clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		next := r.sync(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var timerC <-chan time.Time
		if !next.IsZero() {
			timer.Stop()
			select {
			case <-timer.C():
			default:
			}
			timer.Reset(max(next.Sub(r.clock.Now()), 0))
			timerC = timer.C()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-timerC:
		}
	}
}

// sync does whatever is due and returns when to look again (zero: only when
// woken).
func (r *KubeReporter) sync(ctx context.Context) time.Time {
	r.syncStatus(ctx)
	r.syncEvents(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nextWakeLocked(r.clock.Now())
}

func (r *KubeReporter) nextWakeLocked(now time.Time) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	switch {
	case !r.pendingSince.IsZero():
		consider(kubeLaterOf(r.pendingSince.Add(r.cfg.BatchInterval), r.statusRetryAt))
	case len(r.desired) > 0 && !r.lastWrite.IsZero():
		consider(kubeLaterOf(r.lastWrite.Add(r.cfg.HeartbeatInterval), r.statusRetryAt))
	}
	if t, ok := r.events.nextWake(now); ok {
		consider(t)
	}
	return next
}

func kubeLaterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// statusDueLocked: pending changes whose batch window has passed, or a
// heartbeat, and not backing off.
func (r *KubeReporter) statusDueLocked(now time.Time) bool {
	if now.Before(r.statusRetryAt) {
		return false
	}
	if !r.pendingSince.IsZero() {
		return !now.Before(r.pendingSince.Add(r.cfg.BatchInterval))
	}
	return r.heartbeatDueLocked(now)
}

func (r *KubeReporter) heartbeatDueLocked(now time.Time) bool {
	return len(r.desired) > 0 && (r.lastWrite.IsZero() || !now.Before(r.lastWrite.Add(r.cfg.HeartbeatInterval)))
}

func (r *KubeReporter) syncStatus(ctx context.Context) {
	now := r.clock.Now()
	r.mu.Lock()
	if !r.statusDueLocked(now) {
		r.mu.Unlock()
		return
	}
	needRead := !r.serverKnown
	r.mu.Unlock()

	if needRead {
		if err := r.readNode(ctx); err != nil {
			r.statusFailed(ctx, now, "read Node", err, nil)
			return
		}
	}

	r.mu.Lock()
	patch, seq, write := r.buildStatusPatchLocked(now)
	if !write {
		r.clearPendingLocked()
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()

	node, err := r.patchStatus(ctx, patch)
	if err != nil {
		r.statusFailed(ctx, now, "patch Node status", err, patch)
		return
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.storeNodeLocked(node)
	r.lastWrite = now
	r.statusRetryAt = time.Time{}
	r.statusBackoff = r.newBackoff()
	r.lastDenial = ""
	if r.statusFailing {
		r.statusFailing = false
		r.logger.Info("node status writes work again")
		// The API server answers again: write the Events kept meanwhile
		// now, not when their own backoff (up to RetryMaxBackoff) ends.
		r.events.retryNowLocked(r)
	}
	if r.changeSeq == seq {
		r.clearPendingLocked()
	} else {
		// Changed while the write was in flight: look again one batch
		// interval after this write started.
		r.markPendingLocked(now)
	}
}

func (r *KubeReporter) patchStatus(ctx context.Context, patch []byte) (*corev1.Node, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	start := time.Now()
	node, err := r.client.PatchNodeStatus(ctx, r.nodeName, patch)
	r.metrics.statusDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		r.metrics.statusErrors.Inc()
		return nil, err
	}
	r.metrics.statusWrites.Inc()
	return node, nil
}

// readNode GETs the Node to learn the server's conditions and the UID. The
// first successful read also keeps the conditions as the start-up state:
// both write paths read before their first write, so no write of this
// reporter precedes it.
func (r *KubeReporter) readNode(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	node, err := r.client.GetNode(ctx, r.nodeName)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.storeNodeLocked(node)
	if !r.startKnown {
		r.start = maps.Clone(r.server)
		r.startKnown = true
		r.resolveQueuedLocked(r.clock.Now())
	}
	return nil
}

func (r *KubeReporter) storeNodeLocked(node *corev1.Node) {
	clear(r.server)
	for _, c := range node.Status.Conditions {
		r.server[string(c.Type)] = c
	}
	r.serverKnown = true
	r.nodeUID = node.UID
}

// statusFailed schedules a retry with backoff and logs on the transition
// to failing only, or on a new admission denial of patch (the failed
// write's body; nil for a read).
func (r *KubeReporter) statusFailed(ctx context.Context, now time.Time, op string, err error, patch []byte) {
	if ctx.Err() != nil {
		return // shutting down
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.serverKnown = false
	retryIn := r.statusBackoff.Step()
	r.statusRetryAt = now.Add(retryIn)
	if r.pendingSince.IsZero() {
		// A failed heartbeat is owed too.
		r.markPendingLocked(now)
	}
	if denial, ok := parseAdmissionDenial(err); ok && patch != nil {
		r.statusDenied.Inc()
		r.statusFailing = true
		r.logDenialLocked(denial, patch, retryIn)
		return
	}
	if r.statusFailing {
		r.logger.Debug("node status write still failing", "op", op, "err", err, "retryIn", retryIn)
		return
	}
	r.statusFailing = true
	if apierrors.IsNotFound(err) {
		r.logger.Warn("Node not found; conditions are kept and written once the kubelet has registered it", "op", op, "err", err, "retryIn", retryIn)
		return
	}
	r.logger.Warn("cannot write node status; keeping the latest state and retrying with backoff", "op", op, "err", err, "retryIn", retryIn)
}

// kubeStatusPatch is the strategic merge patch body for nodes/status.
type kubeStatusPatch struct {
	Status kubeStatusPatchBody `json:"status"`
}

type kubeStatusPatchBody struct {
	Conditions []any `json:"conditions"`
}

// kubeConditionDelete is the strategic-merge directive removing one list
// element by its merge key (type).
type kubeConditionDelete struct {
	Type  string `json:"type"`
	Patch string `json:"$patch"`
}

// buildStatusPatchLocked returns the patch writing every desired condition
// (with lastHeartbeatTime now) and deleting the pending removals the server
// still has, or write=false when the server is in sync and no heartbeat is
// due. seq is the changeSeq the patch reflects.
func (r *KubeReporter) buildStatusPatchLocked(now time.Time) (patch []byte, seq uint64, write bool) {
	seq = r.changeSeq
	for t := range r.removals {
		if _, ok := r.server[t]; !ok {
			delete(r.removals, t)
		}
	}
	if !r.heartbeatDueLocked(now) && !r.needsWriteLocked() {
		return nil, seq, false
	}
	patchBody := kubeStatusPatch{Status: kubeStatusPatchBody{Conditions: []any{}}}
	seen := make(map[string]int, len(r.desired))
	for _, d := range r.desired {
		if kubeletOwnedConditionTypes[d.Type] {
			r.warnKubeletTypeLocked(d.Type)
			continue
		}
		cond := kubeDesiredNodeCondition(d, r.server, now)
		if i, dup := seen[d.Type]; dup {
			patchBody.Status.Conditions[i] = cond // the last one wins
			continue
		}
		seen[d.Type] = len(patchBody.Status.Conditions)
		patchBody.Status.Conditions = append(patchBody.Status.Conditions, cond)
	}
	for t := range r.removals {
		if kubeletOwnedConditionTypes[t] {
			r.warnKubeletTypeLocked(t)
			continue
		}
		patchBody.Status.Conditions = append(patchBody.Status.Conditions, kubeConditionDelete{Type: t, Patch: "delete"})
	}
	if len(patchBody.Status.Conditions) == 0 {
		return nil, seq, false
	}
	data, err := json.Marshal(patchBody)
	if err != nil {
		// Only plain strings and times: cannot fail.
		r.logger.Error("encode node status patch", "err", err)
		return nil, seq, false
	}
	return data, seq, true
}

// kubeDesiredNodeCondition turns the agent's desired condition into the API
// form. lastTransitionTime stays the server's whenever the server already
// shows the same status, so restarts and heartbeats never move it.
func kubeDesiredNodeCondition(d Condition, server map[string]corev1.NodeCondition, now time.Time) corev1.NodeCondition {
	transition := d.LastTransitionTime
	if s, ok := server[d.Type]; ok && s.Status == d.Status {
		transition = s.LastTransitionTime.Time
	} else if transition.IsZero() {
		transition = now
	}
	return corev1.NodeCondition{
		Type:               corev1.NodeConditionType(d.Type),
		Status:             d.Status,
		LastHeartbeatTime:  metav1.NewTime(now),
		LastTransitionTime: metav1.NewTime(transition),
		Reason:             d.Reason,
		Message:            d.Message,
	}
}

func (r *KubeReporter) warnKubeletTypeLocked(t string) {
	if r.warnedKubeletType[t] {
		return
	}
	r.warnedKubeletType[t] = true
	r.logger.Warn("refusing to write a kubelet-owned condition type", "type", t)
}

// admissionDenial is a write the API server's admission refused: a
// ValidatingAdmissionPolicy or a validating webhook. It rejects the whole
// nodes/status patch, so no condition is updated until its cause is fixed.
type admissionDenial struct {
	// by names what denied it, e.g. "ValidatingAdmissionPolicy
	// 'nodetriage-node-status' with binding 'nodetriage-node-status'".
	by string
	// message is the policy's or webhook's own message.
	message string
	// allowed are the condition types the policy's message says it allows
	// (nodetriage's policy lists them); nil when it does not list any.
	allowed []string
}

// Where the API server's admission errors say what denied the request
// (k8s.io/apiserver's validating policy and webhook plugins).
const (
	policyDenialMarker  = "ValidatingAdmissionPolicy '"
	policyDeniedRequest = " denied request: "
	webhookDenialMarker = "admission webhook \""
	webhookDeniedTheReq = " denied the request: "
)

// allowedTypesPattern finds the list in nodetriage-node-status's message:
// "nodetriage may only write its own condition types (A, B, …); this
// request changes, adds or removes another condition".
var allowedTypesPattern = regexp.MustCompile(`may only write its own condition types \(([^)]*)\)`)

// parseAdmissionDenial recognises a 403 or 422 from admission. An RBAC
// refusal (also 403) is not one: it names no policy or webhook.
func parseAdmissionDenial(err error) (admissionDenial, bool) {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)) {
		return admissionDenial{}, false
	}
	msg := status.Status().Message
	var d admissionDenial
	switch {
	case strings.Contains(msg, policyDenialMarker):
		rest := msg[strings.Index(msg, policyDenialMarker):]
		by, message, ok := strings.Cut(rest, policyDeniedRequest)
		if !ok {
			return admissionDenial{}, false
		}
		d = admissionDenial{by: by, message: message}
	case strings.Contains(msg, webhookDenialMarker):
		rest := msg[strings.Index(msg, webhookDenialMarker):]
		by, message, ok := strings.Cut(rest, webhookDeniedTheReq)
		if !ok {
			return admissionDenial{}, false
		}
		d = admissionDenial{by: by, message: message}
	default:
		return admissionDenial{}, false
	}
	if m := allowedTypesPattern.FindStringSubmatch(d.message); m != nil {
		for _, t := range strings.Split(m[1], ",") {
			if t = strings.TrimSpace(t); t != "" {
				d.allowed = append(d.allowed, t)
			}
		}
	}
	return d, true
}

// patchConditionTypes lists the condition types a status patch writes or
// deletes, in patch order.
func patchConditionTypes(patch []byte) []string {
	var body struct {
		Status struct {
			Conditions []struct {
				Type string `json:"type"`
			} `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal(patch, &body); err != nil {
		return nil // built by buildStatusPatchLocked: cannot happen
	}
	types := make([]string, 0, len(body.Status.Conditions))
	for _, c := range body.Status.Conditions {
		types = append(types, c.Type)
	}
	return types
}

// installDocConditionTypes is where the fix for a denied condition type is
// documented.
const installDocConditionTypes = `docs/install.md, "Conditions of your own rules or imported NPD files"`

// logDenialLocked logs an admission denial of a status patch in one line,
// once per distinct denial: which condition types in the patch the policy
// does not allow and how to allow them, or else what denied it and why.
func (r *KubeReporter) logDenialLocked(d admissionDenial, patch []byte, retryIn time.Duration) {
	key := d.by + "\x00" + d.message
	if key == r.lastDenial {
		r.logger.Debug("node status write still denied by admission", "by", d.by, "retryIn", retryIn)
		return
	}
	r.lastDenial = key
	var notAllowed []string
	if d.allowed != nil {
		for _, t := range patchConditionTypes(patch) {
			if !slices.Contains(d.allowed, t) && !slices.Contains(notAllowed, t) {
				notAllowed = append(notAllowed, t)
			}
		}
	}
	if len(notAllowed) > 0 {
		r.logger.Error("admission denies the node status write: condition types not in the policy's list, so no condition of this node is updated",
			"types", strings.Join(notAllowed, ", "), "by", d.by,
			"fix", "add "+strings.Join(notAllowed, ", ")+" to the extraConditionTypes parameter of the nodetriage-node-status ValidatingAdmissionPolicy ("+installDocConditionTypes+"), or remove the rules that set them",
			"retryIn", retryIn)
		return
	}
	r.logger.Error("admission denies the node status write, so no condition of this node is updated",
		"by", d.by, "why", d.message, "retryIn", retryIn)
}
