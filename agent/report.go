package agent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Condition is the agent's desired state for one of its own NodeCondition
// types. The reporter turns it into a nodes/status patch.
type Condition struct {
	Type   string
	Status corev1.ConditionStatus
	Reason string
	// Message already carries the remedy ("… Fix: …").
	Message string
	// LastTransitionTime is when the agent saw the status change. The reporter
	// keeps the API server's lastTransitionTime instead whenever the status
	// there is already the same.
	LastTransitionTime time.Time
}

// Event is one Kubernetes Event to record on the Node.
type Event struct {
	// Key deduplicates: the same key within the dedup window is one Event
	// (a series), not many. Typically Finding.Key().
	Key string
	// Type is corev1.EventTypeWarning or corev1.EventTypeNormal.
	Type   string
	Reason string
	// Action is what the agent did or saw, e.g. "Detected", "Cleared".
	Action string
	// Note is the message plus remedy; the reporter truncates it to the API limit.
	Note string
	Time time.Time
	// Transition is set when the Event reports a condition's status change
	// (nil for a finding's Event). The reporter never lets a finding's Event
	// crowd one of these out: they do not share the per-reason rate limit,
	// and a full buffer drops them last.
	Transition *Transition
}

// Transition is the condition status change behind an Event.
type Transition struct {
	Condition string
	Status    corev1.ConditionStatus
	// Message is the condition's new message, for a reporter that rewrites
	// an Initial transition (see below) into the Event it really is.
	Message string
	// Initial marks the condition's first status since the agent started.
	// The state machine cannot tell whether it is a change: that depends on
	// what the Node showed before the restart. A reporter that read the Node
	// at start (KubeReporter) decides: the same status as before is no
	// transition and is dropped; True or Unknown before and False now is a
	// "Cleared" Event naming the Node's previous reason. Every other
	// reporter gets only initial True and Unknown transitions, as Events
	// like any other: without the Node's previous state a first False has
	// nothing to tell.
	Initial bool
}

// Reporter publishes the agent's state. The Kubernetes reporter batches
// condition changes, heartbeats, and writes events; tests use a fake.
type Reporter interface {
	// SetConditions hands over the complete desired set of the agent's
	// condition types. Types absent from conds but listed in remove are
	// deleted from the Node (a disabled check leaves no condition behind).
	// It never blocks on the API server.
	SetConditions(conds []Condition, remove []string)
	// Emit queues an Event. It never blocks on the API server.
	Emit(Event)
	// Run writes until ctx is done, retrying with backoff while the API
	// server is unreachable, so the Node ends up showing the latest state.
	Run(ctx context.Context) error
}
