package rules

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nodetriage/nodetriage/probes"
)

// FuzzDecodeUserRules: the rules section of an AgentConfig either fails
// with one line naming a field under "rules", or yields rules that load
// next to the default packs (what the agent's matcher does with them), and
// the loaded engine matches lines of every source without failing.
func FuzzDecodeUserRules(f *testing.F) {
	for _, seed := range []string{
		`[{"name": "etcd-slow", "sources": ["kubelet"], "pattern": "slow fdatasync took (?P<took>\\S+)", "reason": "EtcdSlowDisk", "message": "etcd fdatasync took ${took}", "remedy": "move /var/lib/etcd to a faster disk"}]`,
		`{"rules": [{"name": "gpu-xid", "sources": ["kernel"], "pattern": "NVRM: Xid \\(PCI:(?P<pci>[^)]+)\\): (?P<xid>\\d+)", "kind": "permanent", "condition": "GPUProblem", "reason": "GPUXidError", "severity": "problem", "message": "GPU ${pci} reported Xid ${xid}", "remedy": "drain the node", "subject": "${pci}", "clear": {"quiet": "30m", "recovery": "NVRM: GPU (?P<pci>\\S+) recovered"}, "minOccurrences": 2, "window": "5m", "caseInsensitive": true}]}`,
		`[{"name": "oom-with-memcg", "sources": ["kernel"], "pattern": "Killed process (?P<pid>\\d+)", "reason": "MyOOM", "message": "killed ${pid} in ${memcg:-?}", "remedy": "raise limits", "recall": [{"rule": "oom-kill-summary", "key": "pid", "within": "30s"}]}]`,
		`[{"name": "fact", "sources": ["kube-proxy"], "pattern": "Version: v(?P<v>\\S+)", "kind": "fact", "reason": "ProxyVersion"}]`,
		`[{"name": "x", "sources": ["kmsg-user"], "pattern": "a", "reason": "A"}]`,
		`[]`,
	} {
		f.Add([]byte(seed))
	}
	lines := []string{"", "slow fdatasync took 2s", "NVRM: Xid (PCI:0000:3b:00): 79, pid=1", "Killed process 1 (x) total-vm:1kB, anon-rss:1kB, file-rss:1kB"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := probes.Settings{Path: "rules", Raw: json.RawMessage(raw)}
		rules, err := DecodeUserRules(s)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") || !strings.HasPrefix(msg, "rules") {
				t.Fatalf("error for %q is not one line naming a field under rules: %q", raw, msg)
			}
			var fe *probes.FieldError
			if errors.As(err, &fe) && !strings.HasPrefix(fe.Field, "rules") {
				t.Fatalf("field %q is not under rules", fe.Field)
			}
			return
		}
		for _, r := range rules {
			if r.Check != UserRulesCheck {
				t.Fatalf("rule %q has check %q", r.Name, r.Check)
			}
		}
		e, err := NewEngine(append(DefaultRules(), rules...), Options{Logger: discardLogger})
		if err != nil {
			t.Fatalf("DecodeUserRules accepted rules the engine rejects: %v\n%s", err, raw)
		}
		for _, src := range ruleSources {
			for _, l := range append(lines, string(raw)) {
				e.Match(probes.Line{Source: src, Text: l})
			}
		}
	})
}
