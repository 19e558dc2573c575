package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Event writing is hand-written rather than client-go's tools/events
// broadcaster because that one does not fit an agent that must survive API
// outages and run 1,000 times in one process: it starts goroutines per
// broadcaster and keys series on the event's content (not on our
// Finding key), gives up on an Event after 12 failed attempts without
// counting the loss, writes series counts only every 30 minutes, and has no
// per-reason limit. Here Emit only records under the reporter's mutex and
// Run's goroutine delivers in order with the reporter's backoff.

const (
	// KubeReportingController and the reportingInstance prefix identify the
	// agent's Events (`kubectl get events -o wide` shows them as the source).
	KubeReportingController     = "nodetriage.io/agent"
	kubeReportingInstancePrefix = "nodetriage-"
	// kubeEventNamespace: Events about cluster-scoped objects (Nodes) live in
	// "default", like the kubelet's.
	kubeEventNamespace = metav1.NamespaceDefault
	// API validation limits for events.k8s.io/v1 (k8s.io/kubernetes
	// pkg/apis/core/validation/events.go).
	kubeEventNoteLimit     = 1024
	kubeEventFieldLimit    = 128 // reason, action, reportingInstance
	kubeEventNameNodeLimit = 200 // room for ".<hex>" within the 253-char name limit
	// kubeMaxEventSeries bounds the dedup records per reporter. With the
	// per-reason limit a reporter creates at most EventBurst + 2/min Events
	// per reason, so this is reached only by a very large set of reasons.
	kubeMaxEventSeries = 512
	// kubeMaxReasonLimiters bounds the per-reason token buckets; full (idle)
	// buckets are pruned first, as they are the same as new ones.
	kubeMaxReasonLimiters = 256
	// kubeDefaultEventAction is used when the caller gives none (the API
	// requires one).
	kubeDefaultEventAction = "Observed"
)

// kubeEventRecord is one Event object (created or still to be created) and its
// series, keyed by Event.Key.
type kubeEventRecord struct {
	key  string
	ev   Event // the first occurrence: what the object shows
	name string
	// created: the object exists on the server under name.
	created bool
	// count is occurrences so far; writtenCount what the server shows.
	count        int32
	writtenCount int32
	lastObserved time.Time // Event.Time of the last occurrence
	lastSeen     time.Time // clock time of the last occurrence, for the window
	queued       bool
	// dirty: the series changed but no token was free to write it yet.
	dirty bool
	// unresolved: an initial transition (Transition.Initial) waiting for
	// the Node's start-up conditions, which decide whether it is written
	// and as what. It is not in the series map until then.
	unresolved bool
}

// kubeEventState is the reporter's Event side, guarded by KubeReporter.mu.
type kubeEventState struct {
	cfg    KubeReporterConfig
	queue  []*kubeEventRecord
	series map[string]*kubeEventRecord
	// limiters are the findings' token buckets, by reason;
	// transitionLimiters bound the series updates of transition Events, by
	// condition type (see allowSeries).
	limiters           map[string]*rate.Limiter
	transitionLimiters map[string]*rate.Limiter
	dirty              int
	lastName           int64
	// inflight is the record being written; overflow never drops it.
	inflight *kubeEventRecord

	retryAt  time.Time
	backoff  wait.Backoff
	failing  bool
	dropping bool
	// droppingTransitions: the buffer overflowed with nothing but
	// transition Events in it (logged once until the queue drains).
	droppingTransitions bool
}

func (s *kubeEventState) init(cfg KubeReporterConfig) {
	s.cfg = cfg
	s.series = map[string]*kubeEventRecord{}
	s.limiters = map[string]*rate.Limiter{}
	s.transitionLimiters = map[string]*rate.Limiter{}
}

// nextWake is when Run should look at Events again.
func (s *kubeEventState) nextWake(now time.Time) (time.Time, bool) {
	switch {
	case len(s.queue) > 0:
		return kubeLaterOf(now, s.retryAt), true
	case s.dirty > 0:
		return kubeLaterOf(now.Add(s.cfg.EventRefillInterval), s.retryAt), true
	}
	return time.Time{}, false
}

// allow takes a token from reason's bucket, for a finding's new Event.
func (s *kubeEventState) allow(reason string, now time.Time) bool {
	return s.take(s.limiters, reason, now)
}

// allowSeries takes a token for a series update of rec.
//
// A transition Event never takes from the findings' per-reason buckets: a
// storm of event-only findings with the same reason as a condition (e.g.
// ConntrackTableFull) must not suppress the condition's own Event. Its first
// occurrence is written whatever the rate (Emit): the distinct transition
// Events of a condition are bounded by its statuses and reasons, and a
// condition that flaps repeats the same keys, which the dedup window folds
// into series. The state machine does not bound the flapping itself (a log
// rule's problem and recovery lines can alternate on every line), so the
// series updates of a condition's transitions take tokens from a bucket of
// its own, by condition type: a flapping condition costs EventBurst series
// writes and then one per EventRefillInterval, and the count it defers is
// written later, never lost.
func (s *kubeEventState) allowSeries(rec *kubeEventRecord, now time.Time) bool {
	if tr := rec.ev.Transition; tr != nil {
		return s.take(s.transitionLimiters, tr.Condition, now)
	}
	return s.take(s.limiters, rec.ev.Reason, now)
}

// take takes a token from key's bucket in limiters, bounding the map:
// full (idle) buckets are pruned first, as they are the same as new ones.
func (s *kubeEventState) take(limiters map[string]*rate.Limiter, key string, now time.Time) bool {
	lim, ok := limiters[key]
	if !ok {
		if len(limiters) >= kubeMaxReasonLimiters {
			for k, l := range limiters {
				if l.TokensAt(now) >= float64(s.cfg.EventBurst) {
					delete(limiters, k)
				}
			}
		}
		lim = rate.NewLimiter(rate.Every(s.cfg.EventRefillInterval), s.cfg.EventBurst)
		limiters[key] = lim
	}
	return lim.AllowN(now, 1)
}

// Emit queues an Event on the Node. A repeat of the same Key within
// EventDedupWindow of its last occurrence is counted into the existing
// Event's series; a finding's new Event beyond its reason's token bucket is
// dropped and counted in nodetriage_events_suppressed_total (a transition
// Event never is, see allowSeries). An initial transition is written only
// if the Node's conditions from before the start say it is one
// (resolveInitialLocked). It never blocks on the API server.
func (r *KubeReporter) Emit(ev Event) {
	now := r.clock.Now()
	if ev.Time.IsZero() {
		ev.Time = now
	}
	if ev.Key == "" {
		ev.Key = ev.Reason + "\x00" + ev.Note
	}
	if ev.Reason == "" {
		r.logger.Warn("dropping an Event without a reason", "key", ev.Key, "note", ev.Note)
		r.metrics.eventsDropped.Inc()
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.events
	unresolved := ev.Transition != nil && ev.Transition.Initial
	if unresolved && r.startKnown {
		var keep bool
		if ev, keep = r.resolveInitialLocked(ev); !keep {
			return
		}
		unresolved = false
	}
	if rec, ok := s.series[ev.Key]; ok && !unresolved {
		if now.Sub(rec.lastSeen) < r.cfg.EventDedupWindow && (rec.created || rec.queued) {
			rec.count++
			rec.lastSeen = now
			rec.lastObserved = ev.Time
			if rec.created {
				r.scheduleSeriesLocked(rec, now)
			}
			return
		}
		r.forgetSeriesLocked(rec)
	}
	if ev.Transition == nil && !s.allow(ev.Reason, now) {
		r.metrics.suppressed(ev.Reason).Inc()
		return
	}
	rec := &kubeEventRecord{
		key:          ev.Key,
		ev:           ev,
		name:         r.eventNameLocked(now),
		count:        1,
		lastObserved: ev.Time,
		lastSeen:     now,
		unresolved:   unresolved,
	}
	if !unresolved {
		r.trackSeriesLocked(rec, now)
	}
	r.enqueueEventLocked(rec)
}

// trackSeriesLocked makes rec the record later repeats of its key count
// into, unless the series map is full of live records or another record
// holds the key.
func (r *KubeReporter) trackSeriesLocked(rec *kubeEventRecord, now time.Time) {
	s := &r.events
	if _, taken := s.series[rec.key]; taken {
		return
	}
	if len(s.series) >= kubeMaxEventSeries {
		r.pruneSeriesLocked(now)
	}
	if len(s.series) < kubeMaxEventSeries {
		s.series[rec.key] = rec
	}
}

// resolveInitialLocked decides an initial transition (Transition.Initial)
// from the Node's conditions as the first read found them, before any
// write of this reporter: a status the Node already had is no transition
// (dropped); False after True or Unknown is the Cleared Event of that
// status and reason; a first False of a type the Node did not have has
// nothing to tell (dropped); anything else is written as it is.
func (r *KubeReporter) resolveInitialLocked(ev Event) (Event, bool) {
	tr := ev.Transition
	was, had := r.start[tr.Condition]
	switch {
	case had && was.Status == tr.Status:
		r.logger.Debug("condition unchanged since before the start; no Event", "condition", tr.Condition, "status", tr.Status)
		return Event{}, false
	case tr.Status != corev1.ConditionFalse:
		return ev, true
	case had && (was.Status == corev1.ConditionTrue || was.Status == corev1.ConditionUnknown):
		reason := was.Reason
		if reason == "" {
			reason = ev.Reason // the API requires one
		}
		r.logger.Info("condition cleared while the agent was not running", "condition", tr.Condition, "was", was.Status, "reason", reason)
		return clearedEvent(tr.Condition, was.Status, reason, tr.Message, ev.Time), true
	}
	return Event{}, false
}

// resolveQueuedLocked decides the initial transitions queued before the
// Node's start-up conditions were known, in place, so they keep their
// place in the delivery order.
func (r *KubeReporter) resolveQueuedLocked(now time.Time) {
	s := &r.events
	for _, rec := range slices.Clone(s.queue) {
		if !rec.unresolved {
			continue
		}
		rec.unresolved = false
		ev, keep := r.resolveInitialLocked(rec.ev)
		if !keep {
			r.removeQueuedLocked(rec)
			continue
		}
		rec.ev, rec.key = ev, ev.Key
		r.trackSeriesLocked(rec, now)
	}
}

// eventNameLocked returns a unique, deterministic object name, so a create
// retried after a lost response meets AlreadyExists instead of duplicating.
func (r *KubeReporter) eventNameLocked(now time.Time) string {
	n := now.UnixNano()
	if n <= r.events.lastName {
		n = r.events.lastName + 1
	}
	r.events.lastName = n
	node := r.nodeName
	if len(node) > kubeEventNameNodeLimit {
		node = strings.TrimRight(node[:kubeEventNameNodeLimit], ".-")
	}
	return fmt.Sprintf("%s.%x", node, n)
}

// enqueueEventLocked appends rec to the delivery queue. When the buffer is
// full, the oldest finding Event gives way; a transition Event is dropped
// only when the buffer holds nothing else (overflowVictimLocked).
func (r *KubeReporter) enqueueEventLocked(rec *kubeEventRecord) {
	s := &r.events
	if len(s.queue) >= r.cfg.EventBufferSize {
		victim := r.overflowVictimLocked(rec)
		switch victim {
		case nil:
			// Only the record being written is queued, and it leaves the
			// queue when its write ends: rec waits one over the bound
			// rather than a transition being lost.
		case rec:
			r.dropEventLocked(rec)
			return
		default:
			r.removeQueuedLocked(victim)
			r.dropEventLocked(victim)
		}
	}
	rec.queued = true
	s.queue = append(s.queue, rec)
	r.signal()
}

// overflowVictimLocked picks what a full buffer gives up to take rec: the
// oldest queued finding Event; else rec itself if it is a finding's; else
// the oldest queued transition. The record being written is never picked;
// nil when nothing else could be.
func (r *KubeReporter) overflowVictimLocked(rec *kubeEventRecord) *kubeEventRecord {
	s := &r.events
	var oldestTransition *kubeEventRecord
	for _, q := range s.queue {
		switch {
		case q == s.inflight:
		case q.ev.Transition == nil:
			return q
		case oldestTransition == nil:
			oldestTransition = q
		}
	}
	if rec.ev.Transition == nil {
		return rec
	}
	return oldestTransition
}

// dropEventLocked gives up a record the full buffer has no room for. A
// series update loses nothing: the count stays and is written later. A new
// Event is lost and counted in nodetriage_events_dropped_total.
func (r *KubeReporter) dropEventLocked(rec *kubeEventRecord) {
	s := &r.events
	if rec.created {
		if !rec.dirty {
			rec.dirty = true
			s.dirty++
		}
		return
	}
	r.forgetSeriesLocked(rec)
	r.metrics.eventsDropped.Inc()
	if tr := rec.ev.Transition; tr != nil {
		if !s.droppingTransitions {
			s.droppingTransitions = true
			r.logger.Warn("event buffer holds only condition transitions while the API server is unreachable; dropping the oldest",
				"buffer", r.cfg.EventBufferSize, "condition", tr.Condition, "reason", rec.ev.Reason, "action", rec.ev.Action)
		}
		return
	}
	if !s.dropping {
		s.dropping = true
		r.logger.Warn("event buffer full while the API server is unreachable; dropping the oldest Events", "buffer", r.cfg.EventBufferSize)
	}
}

// scheduleSeriesLocked queues a series update for a created Event if its
// reason has a token, else marks it dirty for a later sweep; the count is
// kept either way, so a deferred update loses nothing.
func (r *KubeReporter) scheduleSeriesLocked(rec *kubeEventRecord, now time.Time) {
	s := &r.events
	if rec.queued {
		return
	}
	if s.allowSeries(rec, now) {
		if rec.dirty {
			rec.dirty = false
			s.dirty--
		}
		r.enqueueEventLocked(rec)
		return
	}
	if !rec.dirty {
		rec.dirty = true
		s.dirty++
	}
}

func (r *KubeReporter) forgetSeriesLocked(rec *kubeEventRecord) {
	if r.events.series[rec.key] == rec {
		delete(r.events.series, rec.key)
	}
	if rec.dirty {
		rec.dirty = false
		r.events.dirty--
	}
}

// pruneSeriesLocked forgets records outside the dedup window with nothing
// left to write.
func (r *KubeReporter) pruneSeriesLocked(now time.Time) {
	for _, rec := range r.events.series {
		if !rec.queued && !rec.dirty && now.Sub(rec.lastSeen) >= r.cfg.EventDedupWindow {
			delete(r.events.series, rec.key)
		}
	}
}

// syncEvents delivers the queue in order, after re-queuing dirty series
// whose bucket has a token again. The Node is read first if it has not
// been yet: its UID, so that `kubectl describe node` (which matches on UID)
// shows the Events, and its start-up conditions, which decide the initial
// transitions.
func (r *KubeReporter) syncEvents(ctx context.Context) {
	now := r.clock.Now()
	r.mu.Lock()
	s := &r.events
	if now.Before(s.retryAt) {
		r.mu.Unlock()
		return
	}
	if s.dirty > 0 {
		for _, rec := range s.series {
			if rec.dirty {
				r.scheduleSeriesLocked(rec, now)
			}
		}
	}
	if len(s.queue) == 0 {
		r.mu.Unlock()
		return
	}
	needRead := !r.startKnown
	r.mu.Unlock()
	if needRead {
		if err := r.readNode(ctx); err != nil {
			r.eventsFailed(ctx, now, "read Node", err)
			return
		}
	}
	for ctx.Err() == nil {
		r.mu.Lock()
		if len(s.queue) == 0 {
			s.dropping, s.droppingTransitions = false, false
			r.mu.Unlock()
			return
		}
		rec := s.queue[0]
		s.inflight = rec
		write := r.eventWriteLocked(rec)
		r.mu.Unlock()

		err := write.do(ctx, r)

		r.mu.Lock()
		s.inflight = nil
		r.removeQueuedLocked(rec)
		switch {
		case err == nil:
			rec.created = true
			rec.writtenCount = write.count
			if rec.count > rec.writtenCount {
				// Repeats arrived during the write.
				r.scheduleSeriesLocked(rec, now)
			}
			s.backoff = r.newBackoff()
			s.retryAt = time.Time{}
			if s.failing {
				s.failing = false
				r.logger.Info("event writes work again")
				// The API server answers again: the status write need not
				// wait out its backoff either.
				if r.statusFailing {
					r.statusRetryAt = time.Time{}
					r.statusBackoff = r.newBackoff()
				}
			}
			r.mu.Unlock()
		case write.series && apierrors.IsNotFound(err):
			// The Event expired (kube-apiserver --event-ttl, 1 h by default)
			// while its series went on: create a new object with the count.
			rec.created = false
			rec.name = r.eventNameLocked(now)
			r.enqueueEventLocked(rec)
			r.mu.Unlock()
		case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
			// Retrying cannot help; drop it rather than block the queue.
			r.forgetSeriesLocked(rec)
			r.metrics.eventsDropped.Inc()
			r.mu.Unlock()
			r.logger.Warn("API server rejected an Event; dropped", "reason", rec.ev.Reason, "err", err)
		default:
			// Put it back at the head and back off.
			rec.queued = true
			s.queue = append([]*kubeEventRecord{rec}, s.queue...)
			r.mu.Unlock()
			r.eventsFailed(ctx, now, "write Event", err)
			return
		}
	}
}

func (r *KubeReporter) removeQueuedLocked(rec *kubeEventRecord) {
	s := &r.events
	for i, q := range s.queue {
		if q == rec {
			copy(s.queue[i:], s.queue[i+1:])
			s.queue[len(s.queue)-1] = nil
			s.queue = s.queue[:len(s.queue)-1]
			break
		}
	}
	rec.queued = false
}

// retryNowLocked makes failing Event writes due now with a fresh backoff.
// Only called on the status path's recovery, so a persistent Event error
// (RBAC, admission) is retried once more per outage, not hammered.
func (s *kubeEventState) retryNowLocked(r *KubeReporter) {
	if !s.failing {
		return
	}
	s.retryAt = time.Time{}
	s.backoff = r.newBackoff()
}

func (r *KubeReporter) eventsFailed(ctx context.Context, now time.Time, op string, err error) {
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.events
	if s.backoff.Duration == 0 {
		s.backoff = r.newBackoff()
	}
	retryIn := s.backoff.Step()
	s.retryAt = now.Add(retryIn)
	if s.failing {
		r.logger.Debug("event writes still failing", "op", op, "err", err, "retryIn", retryIn)
		return
	}
	s.failing = true
	r.logger.Warn("cannot write Events; keeping them (bounded) and retrying with backoff", "op", op, "err", err, "retryIn", retryIn, "queued", len(s.queue))
}

// kubeEventWrite is one API call for a record, prepared under the lock.
type kubeEventWrite struct {
	series bool
	count  int32
	name   string
	create *eventsv1.Event
	patch  []byte
}

func (r *KubeReporter) eventWriteLocked(rec *kubeEventRecord) kubeEventWrite {
	w := kubeEventWrite{series: rec.created, count: rec.count, name: rec.name}
	var series *eventsv1.EventSeries
	if rec.count > 1 {
		series = &eventsv1.EventSeries{Count: rec.count, LastObservedTime: metav1.NewMicroTime(rec.lastObserved)}
	}
	if rec.created {
		// Only the series may change on an existing Event.
		w.patch, _ = json.Marshal(map[string]*eventsv1.EventSeries{"series": series})
		return w
	}
	w.create = newKubeNodeEvent(rec.ev, rec.name, r.nodeName, r.nodeUID, series)
	return w
}

func (w kubeEventWrite) do(ctx context.Context, r *KubeReporter) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	start := time.Now()
	var err error
	if w.series {
		_, err = r.client.PatchEvent(ctx, kubeEventNamespace, w.name, w.patch)
	} else {
		_, err = r.client.CreateEvent(ctx, w.create)
		if apierrors.IsAlreadyExists(err) {
			// An earlier attempt got through but its response was lost.
			err = nil
		}
	}
	r.metrics.eventDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		r.metrics.eventErrors.Inc()
		return err
	}
	r.metrics.eventWrites.Inc()
	return nil
}

// newKubeNodeEvent builds the events.k8s.io/v1 object for an Event on the Node,
// fitting fields to the API's limits.
func newKubeNodeEvent(ev Event, name, nodeName string, nodeUID types.UID, series *eventsv1.EventSeries) *eventsv1.Event {
	action := ev.Action
	if action == "" {
		action = kubeDefaultEventAction
	}
	eventType := ev.Type
	if eventType == "" {
		eventType = corev1.EventTypeNormal
	}
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: name, Namespace: kubeEventNamespace},
		EventTime:           metav1.NewMicroTime(ev.Time),
		Series:              series,
		ReportingController: KubeReportingController,
		ReportingInstance:   kubeTruncateUTF8(kubeReportingInstancePrefix+nodeName, kubeEventFieldLimit, ""),
		Action:              kubeTruncateUTF8(action, kubeEventFieldLimit, ""),
		Reason:              kubeTruncateUTF8(ev.Reason, kubeEventFieldLimit, ""),
		Regarding: corev1.ObjectReference{
			Kind:       "Node",
			APIVersion: "v1",
			Name:       nodeName,
			UID:        nodeUID,
		},
		Note: kubeTruncateUTF8(ev.Note, kubeEventNoteLimit, "…"),
		Type: eventType,
	}
}

// kubeTruncateUTF8 cuts s to at most limit bytes without splitting a UTF-8
// sequence, ending with marker when it cut.
func kubeTruncateUTF8(s string, limit int, marker string) string {
	if len(s) <= limit {
		return s
	}
	cut := limit - len(marker)
	if cut < 0 {
		cut, marker = limit, ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + marker
}
