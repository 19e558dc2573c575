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
