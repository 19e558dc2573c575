package rules

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetriage/nodetriage/probes"
)

// Kind says what a rule does when its pattern matches.
type Kind string

const (
	// KindTemporary reports an event-only finding (no condition).
	KindTemporary Kind = "temporary"
	// KindPermanent reports a finding that sets the rule's Condition until the
	// rule's clear policy removes it.
	KindPermanent Kind = "permanent"
	// KindFact reports nothing; the line is kept for probes.LogRecall
	// (Engine.LastMatch), e.g. kube-proxy's version line.
	KindFact Kind = "fact"
	// KindContext reports nothing; its captures are remembered (bounded) for a
	// later rule on the same source that names it in Recall, e.g. the OOM
	// killer's "oom-kill:…task_memcg=…,pid=…" summary that precedes the
	// "Killed process" line.
	KindContext Kind = "context"
)

// Rule is one log pattern and what it means. It decodes from the AgentConfig
// (JSON, converted from YAML):
//
//	rules:
//	- name: etcd-slow-fsync
//	  sources: [kubelet]
//	  pattern: 'slow fdatasync took (?P<took>\S+)'
//	  reason: EtcdSlowDisk
//	  severity: warning
//	  kind: temporary
//	  message: 'etcd fdatasync took ${took}'
//	  remedy: 'move /var/lib/etcd to a faster disk'
type Rule struct {
	// Name identifies the rule; unique within an engine.
	Name string `json:"name"`
	// Check is the finding's Check: the rule pack ("kernel-log", …,
	// "user-rules", "npd:<file>"). Set by the pack, DecodeUserRules or
	// ParseNPD; empty means "user-rules".
	Check string `json:"-"`
	// Sources are the log sources the rule reads.
	Sources []probes.Source `json:"sources"`
	// Pattern is an RE2 regular expression, searched anywhere in the line.
	// Named groups ((?P<name>…)) become captures: template values and
	// evidence. Several groups may share a name (alternatives); the first one
	// that took part in the match wins. Cost: the engine runs a rule's regexp
	// only on lines that contain a fixed text every match must contain (one
	// scan per line finds them for all rules). A pattern without such a text
	// of at least 3 bytes — `^\S+$`, `[0-9]{5}`, or an alternative that has
	// none (`timeout|^E\d+`) — runs on every line of its sources; the agent
	// accepts it but logs a warning naming the rule when it loads the rules.
	// Spell out the words of the message you look for.
	Pattern string `json:"pattern"`
	// CaseInsensitive matches the pattern (and Exclude, Recovery) ignoring
	// case, for texts that changed case across versions.
	CaseInsensitive bool `json:"caseInsensitive,omitempty"`
	// Exclude drops a matching line when it also matches this RE2 pattern
	// (RE2 has no negative look-ahead), e.g. ENOSPC from inotify.
	Exclude string `json:"exclude,omitempty"`
	// Kind is temporary (default), permanent, fact or context.
	Kind Kind `json:"kind,omitempty"`
	// Reason is the CamelCase reason of the findings (and the LastMatch key).
	Reason string `json:"reason"`
	// Condition is the NodeCondition a permanent rule sets.
	Condition string `json:"condition,omitempty"`
	// Severity is info, warning (default) or problem.
	Severity probes.Severity `json:"severity,omitempty"`
	// Summary is one line on what the reason means (probes.ReasonInfo).
	Summary string `json:"summary,omitempty"`
	// Message is the finding's message template: ${name} expands a capture,
	// ${name:-text} falls back to text when the capture is empty.
	Message string `json:"message,omitempty"`
	// Remedy is the concrete fix, also a template.
	Remedy string `json:"remedy,omitempty"`
	// Subject is the template naming what the finding is about (a device, an
	// NFS server, an image); empty means the node.
	Subject string `json:"subject,omitempty"`
	// Clear says how a permanent rule's condition goes away.
	Clear Clear `json:"clear,omitzero"`
	// MinOccurrences reports only once this many matches for the same subject
	// fall within Window (e.g. 5 restarts in 20m). 0 or 1 reports every match.
	MinOccurrences int `json:"minOccurrences,omitempty"`
	// Window is the span MinOccurrences counts over.
	Window metav1.Duration `json:"window,omitzero"`
	// ContextKey (kind context) is the capture that later rules look the
	// remembered captures up by, e.g. "pid"; empty remembers only the latest.
	ContextKey string `json:"contextKey,omitempty"`
	// Recall merges captures remembered by context rules into this rule's
	// captures, first match wins per capture name.
	Recall []Recall `json:"recall,omitempty"`

	// npd is set for rules imported from node-problem-detector files: their
	// matching semantics differ (see npd.go).
	npd *npdRule
}

// Clear is a permanent rule's clear policy. With nothing set, kernel-log
// rules clear on reboot (probes.ClearOnReboot) and other sources after the
// agent's default quiet window.
type Clear struct {
	// Quiet clears the condition after this long without a repeat.
	Quiet metav1.Duration `json:"quiet,omitzero"`
	// Recovery is an RE2 pattern on the same sources whose match clears the
	// finding with the same Condition, Reason and Subject (the Subject template
	// is expanded with the recovery line's captures), e.g. `server (?P<server>\S+) OK`.
	// It costs like a pattern: without a fixed text of 3 or more bytes it runs
	// on every line, and the agent warns at load.
	Recovery string `json:"recovery,omitempty"`
	// OnReboot clears the condition only when the boot ID changes, also with
	// a Recovery pattern or on non-kernel sources.
	OnReboot bool `json:"onReboot,omitempty"`
}

// Recall names a context rule whose remembered captures a rule merges in.
type Recall struct {
	// Rule is the name of a kind context rule.
	Rule string `json:"rule"`
	// Key is this rule's capture whose value is looked up among the context
	// rule's ContextKey values; empty takes the context rule's latest line.
	Key string `json:"key,omitempty"`
	// Within bounds how old (by line time) remembered context may be;
	// default 1m.
	Within metav1.Duration `json:"within,omitzero"`
	// Required drops the match when nothing is recalled.
	Required bool `json:"required,omitempty"`
}

// D is a shorthand for building rule durations in code. Rule durations are
// metav1.Duration, as in every other settings section: a Go duration string
// ("20m") in configuration.
func D(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }

// ruleSources are the sources rules may read. SourceKmsgUser is deliberately
// absent: user-space writes to /dev/kmsg must never fire kernel rules.
var ruleSources = []probes.Source{
	probes.SourceKernel,
	probes.SourceKubelet,
	probes.SourceContainerd,
	probes.SourceCRIO,
	probes.SourceDockerd,
	probes.SourceKubeProxy,
	probes.SourceSystemd,
}

func knownSource(s probes.Source) bool {
	for _, k := range ruleSources {
		if k == s {
			return true
		}
	}
	return false
}

// reservedConditions are condition types autoscalers act on (they replace
// nodes); nodetriage never writes them (DESIGN §1).
var reservedConditions = map[string]bool{
	"KernelReady":              true,
	"NetworkingReady":          true,
	"StorageReady":             true,
	"ContainerRuntimeReady":    true,
	"AcceleratedHardwareReady": true,
}
