// Package rules turns log lines into findings. It holds the rule engine the
// agent feeds from its log streams (kmsg, journal, log files), the default rule
// packs (kernel, kubelet, containerd, CRI-O, kube-proxy, systemd), the decoder
// for user rules from the AgentConfig, and an importer for node-problem-detector
// system-log-monitor JSON files.
//
// A rule is a source, an RE2 pattern, a reason and what to do on a match:
// emit an Event (kind temporary), set a NodeCondition (kind permanent), only
// remember the line for checks that ask (kind fact, read through
// probes.LogRecall), or remember captures for a later line (kind context, e.g.
// the OOM killer's memcg summary line that precedes "Killed process").
//
// The hot path is Engine.Match. Every pattern is reduced at load time to the
// literal substrings any match must contain (regexp/syntax), and one
// Aho–Corasick pass over the line finds which rules can possibly match, so a
// line that matches nothing never runs a regular expression and allocates
// nothing. Match is safe for concurrent use: the index is immutable after
// NewEngine, and the little state rules keep (occurrence windows, remembered
// context, last matches, node-problem-detector line buffers) is bounded and
// guarded by one mutex that non-matching lines never take.
package rules
