package probes

import (
	"context"
	"errors"
	"time"
)

// ErrNotApplicable means the check does not apply to this host (no bridge, so
// no hairpin check; no nf_conntrack module, so no table check). The agent
// skips it quietly: it is neither a finding nor an error, and it does not make
// a condition Unknown. Wrap it to say why:
//
//	fmt.Errorf("no bridge under /sys/class/net: %w", probes.ErrNotApplicable)
var ErrNotApplicable = errors.New("not applicable on this node")

// Check inspects one aspect of the node. It returns every finding that holds
// right now (an empty slice means "checked and healthy"). An error means "could
// not tell" and is reported as such (a condition owned only by failing checks
// becomes Unknown with the error as its message).
//
// Checks never start goroutines and never call the Kubernetes API; they must
// honour ctx, whose deadline is shorter than their interval.
type Check interface {
	Check(ctx context.Context) ([]Finding, error)
}

// CheckFunc adapts a function to Check.
type CheckFunc func(ctx context.Context) ([]Finding, error)

// Check calls f.
func (f CheckFunc) Check(ctx context.Context) ([]Finding, error) { return f(ctx) }

// Spec describes a check to the agent: what it is called, what condition it
// owns, how often it runs and how to build it. Each package keeps an explicit
// list of its specs (no init() registries).
type Spec struct {
	// Name is the check's stable name, used in config (checks.<name>), metrics
	// and findings, e.g. "log-filesystem".
	Name string
	// Condition is the NodeCondition type the check owns, or "" when it only
	// produces events.
	Condition string
	// Interval is the default run interval.
	Interval time.Duration
	// Timeout is the default per-run deadline; it must be shorter than Interval.
	Timeout time.Duration
	// DefaultEnabled says whether the check runs without explicit config.
	DefaultEnabled bool
	// Reasons declares every reason the check can emit, so documentation and
	// config validation are generated from code and cannot drift.
	Reasons []ReasonInfo
	// New builds the check. It may return an error wrapping ErrNotApplicable.
	New func(env Env) (Check, error)
}

// ReasonInfo documents one reason a check or rule can report.
type ReasonInfo struct {
	Reason string
	// Condition is "" for event-only reasons.
	Condition string
	Severity  Severity
	// Summary is one line: what it means.
	Summary string
	// Sources are the log sources a log rule reads; nil for periodic checks.
	// A condition fed only by log rules is Unknown while none of its
	// sources is being read.
	Sources []Source
}
