package agent

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/probes"
)

// Reasons and event actions of the conditions themselves (not of findings).
const (
	// ReasonNoProblem is the reason of a False condition.
	ReasonNoProblem = "NoProblemDetected"
	// ReasonCheckFailed is the reason of a condition that is Unknown because
	// every check owning it failed.
	ReasonCheckFailed = "CheckFailed"
	// ReasonLogsNotRead is the reason of a condition fed only by log rules
	// that is Unknown because no running stream delivers any of the logs
	// its rules read.
	ReasonLogsNotRead = "LogsNotRead"

	actionDetected = "Detected"
	actionCleared  = "Cleared"
	actionUnknown  = "CouldNotCheck"
	actionObserved = "Observed"
)

// Bounds that keep the state machine small under a storm of distinct
// findings.
const (
	// maxLogFindingsPerCondition caps the active log-derived findings of one
	// condition; beyond it the least recently seen one is dropped.
	maxLogFindingsPerCondition = 100
	// maxReasonsInMessage caps the "(+N more: A, B)" reason list.
	maxReasonsInMessage = 5
)

// ConditionStatus is one condition as the CLI and /debug/findings show it.
type ConditionStatus struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Snapshot is the agent's current view: every current finding and the
// status of every condition it reports.
type Snapshot struct {
	Findings   []probes.Finding
	Conditions []ConditionStatus
}

// ConditionPolicy is the part of the configuration the state machine
// applies. It is replaced as a whole on reload.
type ConditionPolicy struct {
	// Checks are the enabled checks by name.
	Checks map[string]CheckPolicy
	// LogConditions are the condition types the enabled log rules can
	// feed, each with the log sources those rules read. A condition whose
	// rules name no source is fed by whatever a running stream delivers.
	LogConditions map[string][]probes.Source
	// Streams are the enabled log streams, in the order their problems are
	// named.
	Streams []string
	// Known lists every condition type the agent could own (enabled or not),
	// so the types nobody owns any more are removed from the Node.
	Known []string
	// Reasons are per-reason overrides.
	Reasons map[string]ReasonOverride
	// QuietWindow is the default clear window of log-derived findings.
	QuietWindow time.Duration
	// EventDedupWindow is how long a periodic check's still-present
	// event-only finding waits before it is emitted again.
	EventDedupWindow time.Duration
}

// CheckPolicy is what the state machine needs to know about one check.
type CheckPolicy struct {
	// Condition is the type the check owns ("" for event-only checks).
	Condition string
	// VisibilityDelay: a problem must be reported continuously this long
	// before it makes the condition True.
	VisibilityDelay time.Duration
}

// ConditionsOptions configures a state machine.
type ConditionsOptions struct {
	Clock clock.PassiveClock
	// Reporter receives the desired conditions and events; nil discards them.
	Reporter Reporter
	Metrics  *Metrics
	Logger   *slog.Logger
	// BootID is the current boot (/proc/sys/kernel/random/boot_id); "" when
	// unknown, in which case no reboot-cleared finding is restored from disk.
	BootID string
	// StatePath is where active log-derived findings persist ("" = nowhere).
	StatePath string
	Policy    ConditionPolicy
}

// Conditions is the condition state machine. Checks report their full
// result each run, log consumers report findings as they match, streams
// report whether they run and which log sources they deliver; Conditions
// derives each condition's status with problem polarity (True = problem),
// hands the reporter a new desired state only when something changed, and
// emits one Event per status change.
//
// Rules, in order:
//   - Owners: a check owns its Spec.Condition; the log rules own the
//     conditions their reasons name while a stream is enabled. A type with
//     no enabled owner, or whose checks are all not applicable and which no
//     log rule feeds, is removed from the Node.
//   - True: at least one active warning/problem finding past its visibility
//     delay. The top finding (highest severity, then the most recently
//     started, then by key) gives the reason and the message. A log
//     finding about the same fault as an active check finding (same
//     condition and subject, and the same reason when the subject is the
//     node) is folded into it: one fault, one finding, the check's.
//   - The logs count as read for a condition while at least one running
//     stream delivers (probes.SourceReporter) one of the sources its rules
//     read; "no problem in the logs" is never claimed otherwise.
//   - Unknown: nothing active, and every applicable owning check failed on
//     its last run; or, for a condition fed only by log rules (no owning
//     check applies), its logs are not read, with each stream's reason.
//   - False: owners reported and nothing is active. The message names the
//     checks and the logs that found nothing, and says which logs were not
//     read when a check keeps the condition False without them.
//   - Until some owner has reported, the type is not handed over at all,
//     and False or Unknown also wait for every applicable owning check's
//     first run, so a restart does not flap the Node to False before the
//     checks ran (the log sources report as soon as they start). A
//     condition only the logs decide also waits until every stream has said
//     what it delivers (SetStreamSources), unless a log finding already
//     makes it True or a running stream already reads its logs.
//
// Clearing: a periodic check's finding clears on the first run without it
// (or when the run fails: the check can no longer vouch for it). A
// log-derived finding clears when its quiet window passes without a repeat,
// when a recovery finding with the same condition, reason and subject
// arrives, or, for kernel conditions, when the boot ID changes. A repeat of
// an active log finding keeps the text it was first seen with, so a storm of
// lines differing only in a pid does not rewrite the Node.
//
// Events: each status change emits one (Detected, Cleared, CouldNotCheck).
// Across a restart the change is judged against what the Node showed
// before: each condition's first status is marked Transition.Initial, and
// the KubeReporter drops it when the Node already had that status (no
// duplicate Detected for a fault that outlived the agent) and turns a first
// False into the Cleared Event of a fault that went away while the agent
// was down.
// Event-only findings become Events: from a log line on every occurrence
// (the reporter folds repeats with the same key into one series and
// rate-limits per reason); from a periodic check on first sight and then
// once per EventDedupWindow while it stays present, so a still-present fault
// keeps a live Event without an API write on every run.
//
// It starts no goroutines: the agent calls Evaluate when NextDeadline
// passes and Flush when Wake says the persisted state is dirty.
type Conditions struct {
	clock    clock.PassiveClock
	reporter Reporter
	metrics  *Metrics
	logger   *slog.Logger
	bootID   string
	store    *findingStore

	mu     sync.Mutex
	policy ConditionPolicy
	checks map[string]*checkState
	// logs holds active log-derived findings by condition.
	logs    map[string]map[logKey]*trackedFinding
	streams map[string]streamStatus
	views   map[string]*conditionView
	// handed is what the reporter was last given, to hand over only changes.
	handed       map[string]Condition
	handedRemove []string
	handedOnce   bool
	// settled holds the types published or removed since start: their next
	// status is compared with this run's, not with the Node's from before.
	settled map[string]bool
	// resolvesInitial: the reporter reads the Node's conditions from before
	// the start (initialTransitionResolver).
	resolvesInitial bool
	// armed is the deadline the housekeeping loop waits for (zero: none).
	armed time.Time
	dirty bool
	wake  chan struct{}
}

type checkState struct {
	reported      bool
	notApplicable bool
	err           error
	findings      map[string]*trackedFinding
	// eventsSent remembers when each still-present event-only finding was
	// last emitted.
	eventsSent map[string]time.Time
}

type trackedFinding struct {
	f         probes.Finding
	firstSeen time.Time
	lastSeen  time.Time
	// bootID is the boot a reboot-cleared finding belongs to.
	bootID string
}

// logKey is how log-derived findings are deduplicated and how a recovery
// finds what it recovers: the same condition, reason and subject, whichever
// rule pack saw it. A struct key keeps the storm path free of allocations.
type logKey struct {
	condition, reason, subject string
}

type streamStatus struct {
	// ok: running (agent) or read to the end (check command).
	ok            bool
	notApplicable bool
	// err is why the stream is not ok (with notApplicable: why it does not
	// apply).
	err error
	// sources are what a running stream delivers, once sourcesKnown.
	sources      []probes.Source
	sourcesKnown bool
}

type viewState int

const (
	viewPending viewState = iota
	viewRemoved
	viewPublished
)

type conditionView struct {
	state              viewState
	status             corev1.ConditionStatus
	reason, message    string
	lastTransitionTime time.Time
	active             int
}

// NewConditions builds a state machine and restores persisted log-derived
// findings from opts.StatePath.
func NewConditions(opts ConditionsOptions) *Conditions {
	c := &Conditions{
		clock:    opts.Clock,
		reporter: opts.Reporter,
		metrics:  opts.Metrics,
		logger:   opts.Logger,
		bootID:   opts.BootID,
		policy:   opts.Policy,
		checks:   map[string]*checkState{},
		logs:     map[string]map[logKey]*trackedFinding{},
		streams:  map[string]streamStatus{},
		views:    map[string]*conditionView{},
		handed:   map[string]Condition{},
		settled:  map[string]bool{},
		wake:     make(chan struct{}, 1),
	}
	if c.reporter == nil {
		c.reporter = nopReporter{}
	}
	_, c.resolvesInitial = c.reporter.(initialTransitionResolver)
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if opts.StatePath != "" {
		c.store = &findingStore{path: opts.StatePath, logger: c.logger, metrics: c.metrics}
		c.restore()
	}
	return c
}

// Configure applies a new policy (config reload) and re-derives every
// condition.
func (c *Conditions) Configure(p ConditionPolicy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.policy = p
	for name := range c.checks {
		if _, ok := p.Checks[name]; !ok {
			delete(c.checks, name)
		}
	}
	for name := range c.streams {
		if !slices.Contains(p.Streams, name) {
			delete(c.streams, name)
		}
	}
	c.refreshAll(c.clock.Now())
	c.signal()
}

// CheckResult records one run of a periodic check: its complete current set
// of findings, or the error that kept it from telling (ErrNotApplicable when
// the check does not apply here). A finding not returned again is cleared.
func (c *Conditions) CheckResult(check string, findings []probes.Finding, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	cs := c.checks[check]
	if cs == nil {
		cs = &checkState{findings: map[string]*trackedFinding{}, eventsSent: map[string]time.Time{}}
		c.checks[check] = cs
	}
	cs.reported = true
	cs.notApplicable = errors.Is(err, probes.ErrNotApplicable)
	cs.err = nil
	if err != nil && !cs.notApplicable {
		cs.err = err
	}
	previous := cs.findings
	cs.findings = map[string]*trackedFinding{}
	present := map[string]bool{}
	if err == nil {
		for _, raw := range findings {
			f, ok := c.effective(raw)
			if !ok {
				continue
			}
			key := f.Key()
			if f.Condition == "" {
				present[key] = true
				if last, sent := cs.eventsSent[key]; !sent || now.Sub(last) >= c.policy.EventDedupWindow {
					cs.eventsSent[key] = now
					c.countFinding(f)
					c.emitTemporary(f, now)
				}
				continue
			}
			tf := &trackedFinding{f: raw, firstSeen: now, lastSeen: now}
			if old, ok := previous[key]; ok {
				tf.firstSeen = old.firstSeen
			} else {
				c.countFinding(f)
				if delay := c.policy.Checks[check].VisibilityDelay; delay > 0 {
					c.maybeWake(now.Add(delay))
				}
			}
			cs.findings[key] = tf
		}
	}
	for key := range cs.eventsSent {
		if !present[key] {
			delete(cs.eventsSent, key)
		}
	}
	c.refreshAll(now)
}

// LogFindings records the findings one log line produced. It is the storm
// path: a repeat of an active finding only moves its last-seen time.
func (c *Conditions) LogFindings(findings []probes.Finding) {
	if len(findings) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	var changed []string
	for _, raw := range findings {
		f, ok := c.effective(raw)
		if !ok {
			continue
		}
		if f.Condition == "" {
			if !f.Recovered {
				c.countFinding(f)
				c.emitTemporary(f, now)
			}
			continue
		}
		key := logKey{f.Condition, f.Reason, f.Subject}
		byKey := c.logs[f.Condition]
		if f.Recovered {
			if _, ok := byKey[key]; ok {
				delete(byKey, key)
				c.markDirty()
				changed = appendUnique(changed, f.Condition)
			}
			continue
		}
		c.countFinding(f)
		seen := now
		if !f.Time.IsZero() && f.Time.Before(now) {
			seen = f.Time
		}
		bootID := ""
		if f.Clear.Mode == probes.ClearOnReboot {
			bootID = f.Clear.BootID
			if bootID == "" {
				bootID = c.bootID
			}
			if c.bootID != "" && bootID != c.bootID {
				continue // a line from an earlier boot (journal replay)
			}
		}
		tf, exists := byKey[key]
		if !exists {
			tf = &trackedFinding{f: raw, firstSeen: seen, lastSeen: seen, bootID: bootID}
			if c.expired(tf, now) {
				continue // replayed history older than its quiet window
			}
			if byKey == nil {
				byKey = map[logKey]*trackedFinding{}
				c.logs[f.Condition] = byKey
			}
			if len(byKey) >= maxLogFindingsPerCondition {
				evictOldest(byKey)
			}
			byKey[key] = tf
			c.maybeWake(c.expiry(tf))
			c.markDirty()
			changed = appendUnique(changed, f.Condition)
			continue
		}
		if seen.After(tf.lastSeen) {
			tf.lastSeen = seen
			c.markDirty()
		}
		// The same fault seen again keeps the text it was first reported
		// with (a repeat's pid or count must not rewrite the Node on every
		// line); only a change of severity replaces it.
		if tf.f.Severity != raw.Severity {
			tf.f = raw
			changed = appendUnique(changed, f.Condition)
		}
	}
	if len(changed) > 0 {
		for _, typ := range changed {
			c.refresh(typ, now)
		}
		c.handOver()
	}
}

// SetStreamStatus records whether a log stream is running (ok), does not
// apply here (err wraps ErrNotApplicable) or failed (err). A stream that
// (re)starts delivers nothing the state machine knows of until
// SetStreamSources says what.
func (c *Conditions) SetStreamStatus(stream string, ok bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := streamStatus{ok: ok && err == nil, notApplicable: errors.Is(err, probes.ErrNotApplicable), err: err}
	if !st.ok {
		st.sourcesKnown = true // a stream that does not run delivers nothing
	}
	old, seen := c.streams[stream]
	if seen && old.ok == st.ok && old.notApplicable == st.notApplicable && errString(old.err) == errString(st.err) {
		return
	}
	c.streams[stream] = st
	c.refreshAll(c.clock.Now())
}

// SetStreamSources records which log sources a running stream delivers
// right now (probes.SourceReporter). It is ignored unless the stream is
// running.
func (c *Conditions) SetStreamSources(stream string, sources []probes.Source) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, seen := c.streams[stream]
	if !seen || !st.ok {
		return
	}
	if st.sourcesKnown && sameSources(st.sources, sources) {
		return
	}
	st.sources, st.sourcesKnown = slices.Clone(sources), true
	c.streams[stream] = st
	c.refreshAll(c.clock.Now())
}

// StreamStatus is one log stream as the state machine sees it.
type StreamStatus struct {
	Name string
	// Running: running (agent) or read to its end (check command).
	Running       bool
	NotApplicable bool
	// Err is why it is not running ("" while it runs or before it reported).
	Err string
	// Sources are what it delivers; nil while unknown.
	Sources      []probes.Source
	SourcesKnown bool
	// Reported is false until the stream has said anything.
	Reported bool
}

// Streams returns the status of every enabled stream, in policy order.
func (c *Conditions) Streams() []StreamStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]StreamStatus, 0, len(c.policy.Streams))
	for _, name := range c.policy.Streams {
		st, seen := c.streams[name]
		out = append(out, StreamStatus{
			Name: name, Running: st.ok, NotApplicable: st.notApplicable, Err: errString(st.err),
			Sources: slices.Clone(st.sources), SourcesKnown: st.sourcesKnown, Reported: seen,
		})
	}
	return out
}

// Evaluate expires log-derived findings whose quiet window passed, lets
// findings past their visibility delay raise their condition, and hands any
// change to the reporter. The agent calls it when NextDeadline passes.
func (c *Conditions) Evaluate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	for _, byKey := range c.logs {
		for key, tf := range byKey {
			if c.expired(tf, now) {
				delete(byKey, key)
				c.markDirty()
			}
		}
	}
	c.armed = time.Time{}
	c.refreshAll(now)
}

// NextDeadline is the earliest time Evaluate has something to do, and
// whether there is one. The caller is expected to wait for it: a later
// change that needs an earlier deadline signals Wake.
func (c *Conditions) NextDeadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, byKey := range c.logs {
		for _, tf := range byKey {
			earlier(c.expiry(tf))
		}
	}
	now := c.clock.Now()
	for name, cs := range c.checks {
		delay := c.policy.Checks[name].VisibilityDelay
		for _, tf := range cs.findings {
			if due := tf.firstSeen.Add(delay); delay > 0 && due.After(now) {
				earlier(due)
			}
		}
	}
	c.armed = next
	return next, !next.IsZero()
}

// Wake is signalled when the deadline moved earlier than the one last
// returned by NextDeadline, or when the persisted state became dirty.
func (c *Conditions) Wake() <-chan struct{} { return c.wake }

// Dirty reports whether persisted state has unsaved changes.
func (c *Conditions) Dirty() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dirty
}

// Flush writes the active log-derived findings to the state file when they
// changed since the last write. One goroutine (the housekeeping loop) calls it. Errors are logged once and counted, never
// returned: an unwritable state dir must not stop detection.
func (c *Conditions) Flush() {
	c.mu.Lock()
	if !c.dirty || c.store == nil {
		c.dirty = false
		c.mu.Unlock()
		return
	}
	records := c.persistedLocked()
	c.dirty = false
	c.mu.Unlock()
	c.store.save(records)
}

// Snapshot returns every current finding and every reported condition,
// sorted for stable output.
func (c *Conditions) Snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s Snapshot
	for _, cs := range c.checks {
		for _, tf := range cs.findings {
			if f, ok := c.effective(tf.f); ok {
				s.Findings = append(s.Findings, f)
			}
		}
	}
	now := c.clock.Now()
	for typ, byKey := range c.logs {
		covering := c.checkFindings(typ, now)
		for _, tf := range byKey {
			if f, ok := c.effective(tf.f); ok && !coveredBy(covering, f) {
				s.Findings = append(s.Findings, f)
			}
		}
	}
	SortFindings(s.Findings)
	for _, typ := range sortedKeys(c.views) {
		v := c.views[typ]
		if v.state != viewPublished {
			continue
		}
		s.Conditions = append(s.Conditions, ConditionStatus{Type: typ, Status: string(v.status), Reason: v.reason, Message: v.message})
	}
	return s
}

// SortFindings orders findings by condition (event-only last), severity
// (worst first), reason and subject.
func SortFindings(fs []probes.Finding) {
	slices.SortStableFunc(fs, func(a, b probes.Finding) int {
		if (a.Condition == "") != (b.Condition == "") {
			if a.Condition == "" {
				return 1
			}
			return -1
		}
		if c := strings.Compare(a.Condition, b.Condition); c != 0 {
			return c
		}
		if c := b.Severity.Rank() - a.Severity.Rank(); c != 0 {
			return c
		}
		if c := strings.Compare(a.Reason, b.Reason); c != 0 {
			return c
		}
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		return strings.Compare(a.Check, b.Check)
	})
}

// effective applies the per-reason overrides; false means the reason is
// disabled.
func (c *Conditions) effective(f probes.Finding) (probes.Finding, bool) {
	return applyOverride(c.policy.Reasons, f)
}

// applyOverride applies a per-reason override; false means the reason is
// disabled.
func applyOverride(overrides map[string]ReasonOverride, f probes.Finding) (probes.Finding, bool) {
	o, ok := overrides[f.Reason]
	if !ok {
		return f, true
	}
	if o.Disabled {
		return f, false
	}
	if o.Severity != "" {
		f.Severity = o.Severity
	}
	return f, true
}

func (c *Conditions) countFinding(f probes.Finding) {
	if c.metrics != nil {
		c.metrics.findings.WithLabelValues(f.Check, f.Reason).Inc()
	}
}

func (c *Conditions) emitTemporary(f probes.Finding, now time.Time) {
	typ := corev1.EventTypeWarning
	if f.Severity.Rank() < probes.SeverityWarning.Rank() {
		typ = corev1.EventTypeNormal
	}
	at := f.Time
	if at.IsZero() {
		at = now
	}
	c.reporter.Emit(Event{Key: f.Key(), Type: typ, Reason: f.Reason, Action: actionObserved, Note: withFix(f), Time: at})
}

// expiry is when a log-derived finding clears by itself (zero: not by time).
func (c *Conditions) expiry(tf *trackedFinding) time.Time {
	if tf.f.Clear.Mode == probes.ClearOnReboot {
		return time.Time{}
	}
	quiet := tf.f.Clear.Quiet
	if quiet <= 0 {
		quiet = c.policy.QuietWindow
	}
	return tf.lastSeen.Add(quiet)
}

func (c *Conditions) expired(tf *trackedFinding, now time.Time) bool {
	if tf.f.Clear.Mode == probes.ClearOnReboot {
		// Without a readable boot ID the agent cannot tell a reboot, so a
		// finding from this run stays until the agent restarts.
		return c.bootID != "" && tf.bootID != c.bootID
	}
	return !now.Before(c.expiry(tf))
}

// maybeWake wakes the housekeeping loop when due comes before what it waits for.
func (c *Conditions) maybeWake(due time.Time) {
	if due.IsZero() || (!c.armed.IsZero() && !due.Before(c.armed)) {
		return
	}
	c.armed = due
	c.signal()
}

func (c *Conditions) markDirty() {
	if c.store == nil || c.dirty {
		return
	}
	c.dirty = true
	c.signal()
}

func (c *Conditions) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// conditionTypes is every type the state machine may have to report on.
func (c *Conditions) conditionTypes() []string {
	types := slices.Clone(c.policy.Known)
	for _, p := range c.policy.Checks {
		if p.Condition != "" {
			types = append(types, p.Condition)
		}
	}
	for typ := range c.policy.LogConditions {
		types = append(types, typ)
	}
	for typ := range c.views {
		types = append(types, typ)
	}
	slices.Sort(types)
	return slices.Compact(types)
}

func (c *Conditions) refreshAll(now time.Time) {
	for _, typ := range c.conditionTypes() {
		c.refresh(typ, now)
	}
	c.handOver()
}

// refresh re-derives one condition and, on a status change, emits its Event.
func (c *Conditions) refresh(typ string, now time.Time) {
	next := c.derive(typ, now)
	v := c.views[typ]
	if v == nil {
		v = &conditionView{}
		c.views[typ] = v
	}
	if next.state == viewPending {
		return // keep whatever was reported before; nothing new to say
	}
	// The first status since start is compared with what the Node showed
	// before (by a reporter that read it); after a publication or a
	// removal, with this run's own previous status.
	initial := !c.settled[typ]
	if initial {
		c.settled[typ] = true
	}
	if next.state == viewRemoved {
		if v.state == viewPublished && c.metrics != nil {
			c.metrics.setCondition(typ, "", 0)
		}
		*v = conditionView{state: viewRemoved}
		return
	}
	wasPublished := v.state == viewPublished
	prevStatus, prevReason := v.status, v.reason
	next.lastTransitionTime = v.lastTransitionTime
	if !wasPublished || prevStatus != next.status {
		next.lastTransitionTime = now
	}
	if wasPublished && prevStatus == next.status && v.reason == next.reason && v.message == next.message && v.active == next.active {
		return
	}
	*v = next
	if c.metrics != nil {
		c.metrics.setCondition(typ, string(next.status), next.active)
	}
	if wasPublished && prevStatus == next.status {
		return
	}
	c.announce(typ, wasPublished, initial, prevStatus, prevReason, next, now)
}

// announce logs a status change and emits its one Event. A condition's
// first status since start is marked Initial: only a reporter that read the
// Node's previous conditions can tell whether it is a change, so a first
// False is handed to such a reporter only; for any other it has nothing to
// tell.
func (c *Conditions) announce(typ string, wasPublished, initial bool, prevStatus corev1.ConditionStatus, prevReason string, v conditionView, now time.Time) {
	attrs := []any{"condition", typ, "status", v.status, "reason", v.reason, "message", v.message}
	tr := &Transition{Condition: typ, Status: v.status, Message: v.message, Initial: initial}
	var ev Event
	switch v.status {
	case corev1.ConditionTrue:
		c.logger.Warn("condition detected", attrs...)
		ev = Event{Type: corev1.EventTypeWarning, Reason: v.reason, Action: actionDetected, Note: typ + " is True: " + v.message}
	case corev1.ConditionUnknown:
		c.logger.Warn("condition unknown", attrs...)
		ev = Event{Type: corev1.EventTypeWarning, Reason: v.reason, Action: actionUnknown, Note: typ + " is Unknown: " + v.message}
	default:
		if !wasPublished {
			// A first False: healthy since start, or cleared while the
			// agent was down (the reporter tells, below).
			c.logger.Debug("condition healthy", attrs...)
		} else {
			c.logger.Info("condition cleared", attrs...)
		}
		switch {
		case wasPublished:
			c.reporter.Emit(clearedEvent(typ, prevStatus, prevReason, v.message, now))
			return
		case !initial || !c.resolvesInitial:
			return
		}
		// The reporter drops it or makes it the Cleared Event of the
		// Node's previous status (clearedEvent); it is never written as is.
		ev = Event{Type: corev1.EventTypeNormal, Reason: v.reason, Action: actionCleared, Note: typ + " is False: " + v.message}
	}
	ev.Key = conditionEventKey(typ, v.status, ev.Reason)
	ev.Time = now
	ev.Transition = tr
	c.reporter.Emit(ev)
}

// clearedEvent is the Event of a condition turning False after prevStatus
// with prevReason; the KubeReporter builds it too, for a condition that was
// True on the Node before the agent restarted.
func clearedEvent(typ string, prevStatus corev1.ConditionStatus, prevReason, message string, at time.Time) Event {
	return Event{
		Key:        conditionEventKey(typ, corev1.ConditionFalse, prevReason),
		Type:       corev1.EventTypeNormal,
		Reason:     prevReason,
		Action:     actionCleared,
		Note:       typ + " is False (was " + string(prevStatus) + ": " + prevReason + "). " + message,
		Time:       at,
		Transition: &Transition{Condition: typ, Status: corev1.ConditionFalse, Message: message},
	}
}

// conditionEventKey is a transition Event's dedup key: a condition
// flapping between the same statuses repeats the same keys, which the
// reporter folds into series.
func conditionEventKey(typ string, status corev1.ConditionStatus, reason string) string {
	return "condition\x00" + typ + "\x00" + string(status) + "\x00" + reason
}

// derive computes what a condition should say now.
func (c *Conditions) derive(typ string, now time.Time) conditionView {
	var checkOwners []string
	for name, p := range c.policy.Checks {
		if p.Condition == typ {
			checkOwners = append(checkOwners, name)
		}
	}
	slices.Sort(checkOwners)
	wanted, logOwned := c.policy.LogConditions[typ]
	logOwned = logOwned && len(c.policy.Streams) > 0

	if len(checkOwners) == 0 && !logOwned {
		return conditionView{state: viewRemoved}
	}

	var applicable, succeeded, failed []string
	var failures []string
	for _, name := range checkOwners {
		cs := c.checks[name]
		switch {
		case cs == nil || !cs.reported:
			applicable = append(applicable, name)
		case cs.notApplicable:
		case cs.err != nil:
			applicable = append(applicable, name)
			failed = append(failed, name)
			failures = append(failures, name+": "+cs.err.Error())
		default:
			applicable = append(applicable, name)
			succeeded = append(succeeded, name)
		}
	}
	if len(applicable) == 0 && !logOwned {
		return conditionView{state: viewRemoved} // every owner is not applicable
	}
	checksReported := len(succeeded) > 0 || len(failed) > 0
	if !checksReported && !(logOwned && c.anyStreamReported()) {
		// Not even restored findings are shown before an owner speaks: the
		// source they came from may not apply any more.
		return conditionView{state: viewPending}
	}
	if active := c.activeFindings(typ, now); active.count > 0 {
		return conditionView{
			state:   viewPublished,
			status:  corev1.ConditionTrue,
			reason:  active.top.Reason,
			message: active.message(),
			active:  active.count,
		}
	}
	if len(succeeded)+len(failed) < len(applicable) {
		// False or Unknown waits for every owning check's first run: the
		// log sources report as soon as they start, and a co-owned
		// condition published on their word alone would flap (False, then
		// the check's True or Unknown) at every agent start.
		return conditionView{state: viewPending}
	}
	var logs logReading
	if logOwned {
		logs = c.logReading(wanted)
	}
	if checksReported {
		if len(succeeded) == 0 {
			return conditionView{state: viewPublished, status: corev1.ConditionUnknown, reason: ReasonCheckFailed,
				message: "could not check: " + strings.Join(failures, "; ")}
		}
		// Logs a stream has not yet said it reads are not called unread.
		logsNotRead := logOwned && len(logs.reading) == 0 && !logs.pending
		return conditionView{state: viewPublished, status: corev1.ConditionFalse, reason: ReasonNoProblem,
			message: falseMessage(succeeded, logsNotRead, wanted, logs.reading, failures)}
	}
	// Only the logs have spoken.
	if len(logs.reading) > 0 {
		return conditionView{state: viewPublished, status: corev1.ConditionFalse, reason: ReasonNoProblem,
			message: "No problem found in " + logNames(logs.reading) + "."}
	}
	if logs.pending || len(applicable) > 0 {
		return conditionView{state: viewPending} // a stream has to say what it reads, or a check has to run
	}
	return conditionView{state: viewPublished, status: corev1.ConditionUnknown, reason: ReasonLogsNotRead,
		message: noLogRead(wanted) + " is being read: " + strings.Join(logs.whys, "; ")}
}

// logReading is what the enabled streams say about the logs one condition's
// rules read.
type logReading struct {
	// reading are the wanted sources some running stream delivers.
	reading []probes.Source
	// pending: a stream has not said yet whether it runs or what it
	// delivers.
	pending bool
	// whys say, per stream, why it delivers none of them.
	whys []string
}

// anyStreamReported says whether an enabled stream has said whether it runs.
func (c *Conditions) anyStreamReported() bool {
	for _, name := range c.policy.Streams {
		if _, seen := c.streams[name]; seen {
			return true
		}
	}
	return false
}

func (c *Conditions) logReading(wanted []probes.Source) logReading {
	var r logReading
	// A handful of sources at most: a slice on the stack keeps this
	// allocation-free on the storm path (every new finding re-derives).
	var buf [8]probes.Source
	delivered := buf[:0]
	for _, name := range c.policy.Streams {
		st, seen := c.streams[name]
		switch {
		case !seen || (st.ok && !st.sourcesKnown):
			r.pending = true
		case !st.ok && st.err != nil:
			r.whys = append(r.whys, name+": "+st.err.Error())
		case !st.ok:
			r.whys = append(r.whys, name+": not running")
		default:
			found := false
			for _, src := range st.sources {
				if len(wanted) == 0 || slices.Contains(wanted, src) {
					found = true
					if !slices.Contains(delivered, src) {
						delivered = append(delivered, src)
					}
				}
			}
			switch {
			case found:
			case len(wanted) == 1:
				r.whys = append(r.whys, name+": does not read it")
			default:
				r.whys = append(r.whys, name+": reads none of them")
			}
		}
	}
	if len(wanted) == 0 {
		r.reading = slices.Sorted(slices.Values(delivered))
		return r
	}
	for _, src := range wanted {
		if slices.Contains(delivered, src) {
			r.reading = append(r.reading, src)
		}
	}
	return r
}

// activeSummary is what a True condition says: how many findings make it
// True, the top one, and how many of each reason there are.
type activeSummary struct {
	count   int
	top     probes.Finding
	topSeen time.Time
	reasons []reasonCount
}

type reasonCount struct {
	reason string
	n      int
}

// activeFindings summarises the findings that make typ True now in one pass,
// without collecting them: under a storm of distinct subjects this runs for
// every new one.
func (c *Conditions) activeFindings(typ string, now time.Time) activeSummary {
	var s activeSummary
	consider := func(tf *trackedFinding) {
		f, ok := c.effective(tf.f)
		if !ok || f.Condition != typ || f.Severity.Rank() < probes.SeverityWarning.Rank() {
			return
		}
		s.count++
		i := slices.IndexFunc(s.reasons, func(rc reasonCount) bool { return rc.reason == f.Reason })
		if i < 0 {
			s.reasons = append(s.reasons, reasonCount{reason: f.Reason})
			i = len(s.reasons) - 1
		}
		s.reasons[i].n++
		if s.count == 1 || f.Severity.Rank() > s.top.Severity.Rank() ||
			(f.Severity == s.top.Severity && (tf.firstSeen.After(s.topSeen) ||
				(tf.firstSeen.Equal(s.topSeen) && f.Key() < s.top.Key()))) {
			s.top, s.topSeen = f, tf.firstSeen
		}
	}
	for name, cs := range c.checks {
		delay := c.policy.Checks[name].VisibilityDelay
		for _, tf := range cs.findings {
			if now.Sub(tf.firstSeen) >= delay {
				consider(tf)
			}
		}
	}
	if byKey := c.logs[typ]; len(byKey) > 0 {
		covering := c.checkFindings(typ, now)
		for _, tf := range byKey {
			if f, ok := c.effective(tf.f); !ok || !coveredBy(covering, f) {
				consider(tf)
			}
		}
	}
	return s
}

// checkFindings are the active check findings that raise typ now (past
// their visibility delay, warning or worse): the ones a log finding about
// the same fault folds into. Nil, without allocating, when there are none.
func (c *Conditions) checkFindings(typ string, now time.Time) []probes.Finding {
	var out []probes.Finding
	for name, cs := range c.checks {
		delay := c.policy.Checks[name].VisibilityDelay
		for _, tf := range cs.findings {
			if now.Sub(tf.firstSeen) < delay {
				continue
			}
			if f, ok := c.effective(tf.f); ok && f.Condition == typ && f.Severity.Rank() >= probes.SeverityWarning.Rank() {
				out = append(out, f)
			}
		}
	}
	return out
}

// coveredBy says whether a log-derived finding is the same fault as one of
// the check findings: a check and a log rule reporting on the same subject
// of one condition (or, for the node itself, with the same reason) see one
// fault two ways, and the check's finding, which describes the current
// state, speaks for both.
func coveredBy(checkFindings []probes.Finding, logFinding probes.Finding) bool {
	for _, cf := range checkFindings {
		if SameFault(cf, logFinding) {
			return true
		}
	}
	return false
}

// SameFault says whether two findings describe one fault: the same
// condition and subject, and the same reason when the subject is the node.
func SameFault(a, b probes.Finding) bool {
	return a.Condition != "" && a.Condition == b.Condition && a.Subject == b.Subject &&
		(a.Subject != "" || a.Reason == b.Reason)
}

// message is the top finding with its fix, and "(+N more: A, B)" naming the
// reasons of the others.
func (s activeSummary) message() string {
	msg := withFix(s.top)
	if s.count < 2 {
		return msg
	}
	var others []string
	for _, rc := range s.reasons {
		if rc.reason != s.top.Reason || rc.n > 1 {
			others = append(others, rc.reason)
		}
	}
	slices.Sort(others)
	if len(others) > maxReasonsInMessage {
		others = append(others[:maxReasonsInMessage], "…")
	}
	return msg + " (+" + strconv.Itoa(s.count-1) + " more: " + strings.Join(others, ", ") + ")"
}

// falseMessage says which checks and which logs found nothing, which logs
// were not read, and which owning checks could not tell (when others could).
func falseMessage(checks []string, logsNotRead bool, wanted, reading []probes.Source, failures []string) string {
	msg := "No problem found by " + strings.Join(checks, ", ")
	switch {
	case len(reading) > 0:
		msg += " or in " + logNames(reading) + "."
	case logsNotRead:
		names := logNames(wanted)
		if len(wanted) == 0 {
			names = "the node's logs"
		}
		verb := " is"
		if len(wanted) != 1 {
			verb = " are"
		}
		msg += "; " + names + verb + " not being read."
	default:
		msg += "."
	}
	if len(failures) > 0 {
		msg += " Could not check: " + strings.Join(failures, "; ") + "."
	}
	return msg
}

// logNames names sources as logs: "the kernel log", "the kubelet and
// systemd logs".
func logNames(srcs []probes.Source) string {
	if len(srcs) == 1 {
		return "the " + string(srcs[0]) + " log"
	}
	return "the " + joinSources(srcs, "and") + " logs"
}

// noLogRead names the logs that are not read: "no kernel log", "no kubelet
// or systemd log".
func noLogRead(srcs []probes.Source) string {
	if len(srcs) == 0 {
		return "no log"
	}
	return "no " + joinSources(srcs, "or") + " log"
}

func joinSources(srcs []probes.Source, conj string) string {
	names := make([]string, len(srcs))
	for i, s := range srcs {
		names[i] = string(s)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " " + conj + " " + names[len(names)-1]
}

func sameSources(a, b []probes.Source) bool {
	if len(a) != len(b) {
		return false
	}
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}

// withFix is a finding's message followed by its remedy.
func withFix(f probes.Finding) string {
	if f.Remedy == "" {
		return f.Message
	}
	return f.Message + " Fix: " + f.Remedy
}

// handOver gives the reporter the complete desired state when it differs
// from what it was last given.
func (c *Conditions) handOver() {
	var conds []Condition
	var remove []string
	changed := !c.handedOnce
	for _, typ := range sortedKeys(c.views) {
		v := c.views[typ]
		switch v.state {
		case viewPublished:
			cond := Condition{Type: typ, Status: v.status, Reason: v.reason, Message: v.message, LastTransitionTime: v.lastTransitionTime}
			if old, ok := c.handed[typ]; !ok || old != cond {
				changed = true
			}
			conds = append(conds, cond)
		case viewRemoved:
			remove = append(remove, typ)
		}
	}
	if len(conds) != len(c.handed) || !slices.Equal(remove, c.handedRemove) {
		changed = true
	}
	if !changed || (len(conds) == 0 && len(remove) == 0) {
		return
	}
	clear(c.handed)
	for _, cond := range conds {
		c.handed[cond.Type] = cond
	}
	c.handedRemove = remove
	c.handedOnce = true
	c.reporter.SetConditions(conds, remove)
}

func evictOldest(byKey map[logKey]*trackedFinding) {
	var oldestKey logKey
	var oldest *trackedFinding
	for k, tf := range byKey {
		if oldest == nil || tf.lastSeen.Before(oldest.lastSeen) {
			oldestKey, oldest = k, tf
		}
	}
	delete(byKey, oldestKey)
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// initialTransitionResolver is a reporter that knows the Node's conditions
// from before the agent started, and so decides whether a condition's first
// status since start (Transition.Initial) is a change.
type initialTransitionResolver interface {
	resolvesInitialTransitions()
}

// nopReporter is the reporter of a standalone agent: state is kept for
// metrics, /debug/findings and logs only.
type nopReporter struct{}

func (nopReporter) SetConditions([]Condition, []string) {}
func (nopReporter) Emit(Event)                          {}
func (nopReporter) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
