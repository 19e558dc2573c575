package rules

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/nodetriage/nodetriage/probes"
)

func settings(raw string) probes.Settings {
	return probes.Settings{Path: "logs", Raw: json.RawMessage(raw)}
}

func TestDecodeUserRules(t *testing.T) {
	raw := `{"rules": [
	  {"name": "etcd-slow", "sources": ["kubelet", "containerd"], "pattern": "slow fdatasync took (?P<took>\\S+)",
	   "reason": "EtcdSlowDisk", "severity": "warning", "message": "etcd fdatasync took ${took}", "remedy": "move /var/lib/etcd to a faster disk"},
	  {"name": "gpu-xid", "sources": ["kernel"], "pattern": "NVRM: Xid \\(PCI:(?P<pci>[^)]+)\\): (?P<xid>\\d+)", "kind": "permanent",
	   "condition": "GPUProblem", "reason": "GPUXidError", "severity": "problem", "message": "GPU ${pci} reported Xid ${xid}",
	   "remedy": "drain the node and reset the GPU (nvidia-smi -r)", "subject": "${pci}", "clear": {"quiet": "30m"},
	   "minOccurrences": 2, "window": "5m", "caseInsensitive": true},
	  {"name": "oom-with-memcg", "sources": ["kernel"], "pattern": "Killed process (?P<pid>\\d+)", "reason": "MyOOM",
	   "message": "killed ${pid} in ${memcg:-?}", "remedy": "raise limits", "recall": [{"rule": "oom-kill-summary", "key": "pid", "within": "30s"}]}
	]}`
	got, err := DecodeUserRules(settings(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{
			Name: "etcd-slow", Check: UserRulesCheck, Sources: []probes.Source{probes.SourceKubelet, probes.SourceContainerd},
			Pattern: `slow fdatasync took (?P<took>\S+)`, Reason: "EtcdSlowDisk", Severity: probes.SeverityWarning,
			Message: "etcd fdatasync took ${took}", Remedy: "move /var/lib/etcd to a faster disk",
		},
		{
			Name: "gpu-xid", Check: UserRulesCheck, Sources: []probes.Source{probes.SourceKernel},
			Pattern: `NVRM: Xid \(PCI:(?P<pci>[^)]+)\): (?P<xid>\d+)`, Kind: KindPermanent, Condition: "GPUProblem",
			Reason: "GPUXidError", Severity: probes.SeverityProblem, Message: "GPU ${pci} reported Xid ${xid}",
			Remedy: "drain the node and reset the GPU (nvidia-smi -r)", Subject: "${pci}", Clear: Clear{Quiet: D(30 * time.Minute)},
			MinOccurrences: 2, Window: D(5 * time.Minute), CaseInsensitive: true,
		},
		{
			Name: "oom-with-memcg", Check: UserRulesCheck, Sources: []probes.Source{probes.SourceKernel},
			Pattern: `Killed process (?P<pid>\d+)`, Reason: "MyOOM", Message: "killed ${pid} in ${memcg:-?}", Remedy: "raise limits",
			Recall: []Recall{{Rule: "oom-kill-summary", Key: "pid", Within: D(30 * time.Second)}},
		},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Rule{})); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}

	// The decoded rules load next to the defaults and work.
	e := newTestEngine(t, append(DefaultRules(), got...))
	fs := e.Match(testLine(probes.SourceKernel, "NVRM: xid (pci:0000:3b:00): 79, pid=1", testStart))
	fs = append(fs, e.Match(testLine(probes.SourceKernel, "NVRM: Xid (PCI:0000:3b:00): 79, pid=1", testStart.Add(time.Minute)))...)
	if len(fs) != 1 || fs[0].Check != UserRulesCheck || fs[0].Subject != "0000:3b:00" || fs[0].Condition != "GPUProblem" {
		t.Errorf("user rule findings: %+v", fs)
	}

	// A bare list is accepted too.
	list, err := DecodeUserRules(settings(`[{"name":"x","sources":["kubelet"],"pattern":"x","reason":"X","message":"x","remedy":"y"}]`))
	if err != nil || len(list) != 1 {
		t.Errorf("bare list: %v %v", list, err)
	}
	for _, empty := range []string{"", "null", `{}`, `{"rules": null}`} {
		if rs, err := DecodeUserRules(settings(empty)); err != nil || rs != nil {
			t.Errorf("DecodeUserRules(%q) = %v, %v", empty, rs, err)
		}
	}
}

func TestDecodeUserRulesErrors(t *testing.T) {
	rule := func(extra string) string {
		return `{"name":"r","sources":["kubelet"],"pattern":"boom","reason":"Boom","message":"m","remedy":"fix"` + extra + `}`
	}
	ok := rule("")
	tests := []struct {
		name, raw, field, reason string
	}{
		{"bad regexp names the index", `{"rules":[` + ok + `,` + ok[:len(ok)-1] + `,"name":"b"}` + `,` + rule(`,"name":"c"`) + `,` + `{"name":"d","sources":["kubelet"],"pattern":"(","reason":"D","message":"m","remedy":"r"}]}`,
			"logs.rules[3].pattern", "error parsing regexp: missing closing ): `(`"},
		{"unknown field", `{"rules":[` + rule(`,"patern":"x"`) + `]}`, "logs.rules[0].patern", "unknown field"},
		{"unknown section field", `{"rulez":[]}`, "logs", "unknown field"},
		{"wrong type", `{"rules":[` + rule(`,"minOccurrences":"five"`) + `]}`, "logs.rules[0].minOccurrences", "cannot use JSON string as int"},
		{"bad duration", `{"rules":[` + rule(`,"minOccurrences":2,"window":"five minutes"`) + `]}`, "logs.rules[0].window", `not a duration (like "90s" or "10m"): "five minutes"`},
		{"bad quiet", `{"rules":[` + rule(`,"kind":"permanent","condition":"C","clear":{"quiet":5}`) + `]}`, "logs.rules[0].clear.quiet", "cannot use JSON number as string"},
		{"bad within", `{"rules":[` + rule(`,"recall":[{"rule":"oom-kill-summary","within":"-1s"}]`) + `]}`, "logs.rules[0].recall[0].within", "must not be negative, got -1s"},
		{"rules not a list", `{"rules":{"name":"x"}}`, "logs.rules", "want a list of rules: cannot use JSON object as []json.RawMessage"},
		{"unknown source", `{"rules":[` + rule(`,"sources":["sshd"]`) + `]}`, "logs.rules[0].sources[0]", `unknown source "sshd" (want one of [kernel kubelet containerd crio dockerd kube-proxy systemd])`},
		{"duplicate name", `{"rules":[` + ok + `,` + ok + `]}`, "logs.rules[1].name", `duplicate rule name "r" (also rule 0)`},
		{"default rule name", `{"rules":[` + rule(`,"name":"oom-killing"`) + `]}`, "logs.rules[0].name", `"oom-killing" is already a default rule's name`},
		{"missing remedy", `{"rules":[` + rule(`,"remedy":""`) + `]}`, "logs.rules[0].remedy", "must not be empty: say what fixes it"},
		{"template", `{"rules":[` + rule(`,"message":"${nope}"`) + `]}`, "logs.rules[0].message", "${nope} is not a named group of the pattern or of a recalled context rule"},
		{"recall unknown", `{"rules":[` + rule(`,"recall":[{"rule":"nope"}]`) + `]}`, "logs.rules[0].recall[0].rule", `no rule named "nope"`},
		{"bare list index", `[` + rule(`,"severity":"urgent"`) + `]`, "logs[0].severity", `unknown severity "urgent" (want info, warning or problem)`},
		{"reserved condition", `{"rules":[` + rule(`,"kind":"permanent","condition":"StorageReady"`) + `]}`, "logs.rules[0].condition", `"StorageReady" is reserved (cluster autoscalers replace nodes on it); choose another type`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeUserRules(settings(tc.raw))
			var fe *probes.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a FieldError", err, err)
			}
			if diff := cmp.Diff(probes.FieldError{Field: tc.field, Reason: tc.reason}, *fe); diff != "" {
				t.Errorf("FieldError (-want +got):\n%s", diff)
			}
		})
	}
}
