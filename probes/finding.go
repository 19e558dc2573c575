// Package probes is the contract between nodetriage's detectors and its agent:
// what a check is (Check, Spec), what it reports (Finding), what it may touch
// (Env, FS, Runtime) and how log lines travel (Line, Stream). It also holds the
// log-stream side of the product in its subpackages (kmsg, journal, logfile,
// rules).
//
// Nothing in this package talks to the Kubernetes API or starts goroutines.
package probes

import (
	"fmt"
	"strings"
	"time"
)

// Severity ranks a finding. Warning and problem findings make their condition
// True; info findings are reported (events, /debug/findings, the CLI) but
// never raise a condition.
type Severity string

const (
	SeverityInfo    Severity = "info"
	SeverityWarning Severity = "warning"
	SeverityProblem Severity = "problem"
)

// Rank orders severities: info < warning < problem. Unknown values rank 0.
func (s Severity) Rank() int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityProblem:
		return 3
	}
	return 0
}

// ParseSeverity validates a severity name from configuration.
func ParseSeverity(s string) (Severity, error) {
	switch sev := Severity(strings.ToLower(s)); sev {
	case SeverityInfo, SeverityWarning, SeverityProblem:
		return sev, nil
	}
	return "", fmt.Errorf("unknown severity %q (want info, warning or problem)", s)
}

// Finding is one fact about the node that an operator should know, with the
// fix. Findings with a Condition feed that NodeCondition; findings without one
// are temporary and become Events only.
type Finding struct {
	// Check is the name of the check or log source that produced the finding.
	Check string `json:"check"`
	// Condition is the NodeCondition type this finding sets, or "" for an
	// event-only (temporary) finding.
	Condition string `json:"condition,omitempty"`
	// Reason is CamelCase, e.g. SandboxImageNotPresent.
	Reason   string   `json:"reason"`
	Severity Severity `json:"severity"`
	// Message is one line of facts with numbers.
	Message string `json:"message"`
	// Remedy is the concrete fix, written for whoever runs kubectl describe node.
	Remedy string `json:"remedy"`
	// Evidence holds the key/values behind the message: paths, counts, the log
	// line, timestamps.
	Evidence map[string]string `json:"evidence,omitempty"`
	// Subject names the thing the finding is about (a pod/container, a mount,
	// a bridge) so that repeats about the same thing are deduplicated and
	// different things are not. Empty means "the node".
	Subject string `json:"subject,omitempty"`
	// Time is when the fault was observed (log time for log-derived findings).
	Time time.Time `json:"time,omitzero"`

	// Clear says how a condition set by this finding goes away. The zero value
	// (ClearWhenHealthy) is right for periodic state checks.
	Clear ClearPolicy `json:"-"`
	// Recovered marks a recovery signal (e.g. NFS "server ... OK"): it removes
	// the active finding with the same Condition, Reason and Subject instead of
	// adding one.
	Recovered bool `json:"-"`
}

// Key identifies a finding for deduplication: the same check, reason and
// subject are the same fault seen again.
func (f Finding) Key() string {
	return f.Check + "\x00" + f.Reason + "\x00" + f.Subject
}

// ClearMode selects how an active finding is cleared.
type ClearMode int

const (
	// ClearWhenHealthy: the finding stays active exactly as long as its check
	// keeps reporting it; the first run without it clears it.
	ClearWhenHealthy ClearMode = iota
	// ClearAfterQuiet: log-derived; active until no repeat has been seen for
	// the quiet window (ClearPolicy.Quiet, or the agent's default when zero),
	// or until a matching recovery finding arrives.
	ClearAfterQuiet
	// ClearOnReboot: kernel-log conditions; active until the boot ID changes.
	ClearOnReboot
)

// ClearPolicy is how and when an active finding goes away.
type ClearPolicy struct {
	Mode ClearMode
	// Quiet overrides the agent's default quiet window (ClearAfterQuiet only).
	Quiet time.Duration
	// BootID is the boot the finding was seen in (ClearOnReboot only).
	BootID string
}
