package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/cri"
	"github.com/nodetriage/nodetriage/hostchecks"
	"github.com/nodetriage/nodetriage/internal/fuzzseed"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/journal"
	"github.com/nodetriage/nodetriage/probes/kmsg"
	"github.com/nodetriage/nodetriage/probes/logfile"
)

// fuzzCatalog is the catalogue the shipped binary validates against.
func fuzzCatalog() Catalog {
	return Catalog{
		Checks:  append(hostchecks.Specs(), cri.Specs()...),
		Streams: []probes.StreamSpec{kmsg.Spec(), journal.Spec(), logfile.Spec()},
	}
}

// FuzzParseConfig: an AgentConfig either fails with one line (a FieldError
// naming a field whenever the document is a mapping with the right
// apiVersion and kind) or yields a configuration that keeps the invariants
// the agent relies on and reads back the same when written out in full.
func FuzzParseConfig(f *testing.F) {
	f.Add(DefaultConfigYAML())
	for _, seed := range []string{
		"apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nchecks:\n  kubelet-cert:\n    interval: 1m\n    timeout: 2m\n",
		"apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nreasons:\n  KubeletCertificateExpiring: {enabled: false}\nsources:\n  kmsg: {enabled: false}\n  journal: {enabled: false}\n  files: {enabled: false}\n",
		"apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nstateDir: /var/lib/nodetriage\nquietWindow: 15m\n" +
			"reporting: {batchInterval: 2s, heartbeatInterval: 10m, eventDedupWindow: 30m, eventBurstPerReason: 10, eventsPerMinutePerReason: 6}\n" +
			"checks:\n  conntrack: {interval: 30s, timeout: 5s, visibilityDelay: 1m, settings: {nearFullPercent: 85}}\n  hairpin: {enabled: false}\n" +
			"sources:\n  kmsg: {queueSize: 8192, settings: {lookback: 10m}}\n  journal: {settings: {directories: [/var/log/journal]}}\n" +
			"rules:\n- name: etcd-slow-fsync\n  sources: [kubelet]\n  pattern: 'slow fdatasync took (?P<took>\\S+)'\n  reason: EtcdSlowDisk\n  message: 'etcd fdatasync took ${took}'\n  remedy: 'move /var/lib/etcd to a faster disk'\n" +
			"npdRuleFiles: [/etc/npd/kernel-monitor.json]\nreasons:\n  ConntrackTableNearFull: {severity: problem}\n",
		`{"apiVersion":"nodetriage.io/v1alpha1","kind":"AgentConfig","checks":{"no-such-check":{}}}`,
		"apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nreporting: {batchInterval: 5m}\n",
	} {
		f.Add([]byte(seed))
	}
	cat := fuzzCatalog()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, cat)
		if err != nil {
			fuzzseed.RequireOneLine(t, "parse", data, err)
			var fe *probes.FieldError
			if errors.As(err, &fe) && fe.Field == "" {
				t.Fatalf("field error without a field for %q: %v", data, err)
			}
			return
		}
		checkConfigInvariants(t, cfg, cat)
		again := writeConfig(t, cfg)
		back, err := ParseConfig(again, cat)
		if err != nil {
			t.Fatalf("%q written out as %s does not read back: %v", data, again, err)
		}
		if diff := cmp.Diff(cfg, back, cmp.Comparer(sameSettings)); diff != "" {
			t.Fatalf("%q written out as %s (-first +again):\n%s", data, again, diff)
		}
	})
}

func checkConfigInvariants(t *testing.T, cfg *Config, cat Catalog) {
	t.Helper()
	if cfg.StateDir == "" || cfg.QuietWindow <= 0 {
		t.Fatalf("stateDir %q, quietWindow %v", cfg.StateDir, cfg.QuietWindow)
	}
	r := cfg.Reporting
	if r.BatchInterval <= 0 || r.HeartbeatInterval <= r.BatchInterval || r.EventDedupWindow < 0 || r.EventBurstPerReason < 1 || r.EventsPerMinutePerReason < 1 {
		t.Fatalf("reporting %+v", r)
	}
	if len(cfg.Checks) != len(cat.Checks) || len(cfg.Sources) != len(cat.Streams) {
		t.Fatalf("%d checks and %d sources configured, the catalogue has %d and %d", len(cfg.Checks), len(cfg.Sources), len(cat.Checks), len(cat.Streams))
	}
	for name, c := range cfg.Checks {
		if c.Interval <= 0 || c.Timeout <= 0 || c.Timeout >= c.Interval || c.VisibilityDelay < 0 {
			t.Fatalf("check %s: %+v", name, c)
		}
		if c.Settings.Path != "checks."+name+".settings" {
			t.Fatalf("check %s: settings path %q", name, c.Settings.Path)
		}
	}
	for name, s := range cfg.Sources {
		if s.QueueSize < 1 || s.QueueSize > maxQueueSize {
			t.Fatalf("source %s: queue size %d", name, s.QueueSize)
		}
	}
	for name, o := range cfg.Reasons {
		if o.Severity != "" && o.Severity.Rank() == 0 {
			t.Fatalf("reason %s: severity %q", name, o.Severity)
		}
	}
}

// writeConfig writes every value of cfg out as an AgentConfig (JSON, which
// is YAML).
func writeConfig(t *testing.T, cfg *Config) []byte {
	t.Helper()
	raw := func(s probes.Settings) json.RawMessage {
		if len(bytes.TrimSpace(s.Raw)) == 0 {
			return nil
		}
		return s.Raw
	}
	checks := map[string]any{}
	for name, c := range cfg.Checks {
		checks[name] = map[string]any{
			"enabled": c.Enabled, "interval": c.Interval.String(), "timeout": c.Timeout.String(),
			"visibilityDelay": c.VisibilityDelay.String(), "settings": raw(c.Settings),
		}
	}
	sources := map[string]any{}
	for name, s := range cfg.Sources {
		sources[name] = map[string]any{"enabled": s.Enabled, "queueSize": s.QueueSize, "settings": raw(s.Settings)}
	}
	reasons := map[string]any{}
	for name, o := range cfg.Reasons {
		r := map[string]any{"enabled": !o.Disabled}
		if o.Severity != "" {
			r["severity"] = string(o.Severity)
		}
		reasons[name] = r
	}
	doc := map[string]any{
		"apiVersion":  ConfigAPIVersion,
		"kind":        ConfigKind,
		"stateDir":    cfg.StateDir,
		"quietWindow": cfg.QuietWindow.String(),
		"reporting": map[string]any{
			"batchInterval":            cfg.Reporting.BatchInterval.String(),
			"heartbeatInterval":        cfg.Reporting.HeartbeatInterval.String(),
			"eventDedupWindow":         cfg.Reporting.EventDedupWindow.String(),
			"eventBurstPerReason":      cfg.Reporting.EventBurstPerReason,
			"eventsPerMinutePerReason": cfg.Reporting.EventsPerMinutePerReason,
		},
		"checks":       checks,
		"sources":      sources,
		"rules":        raw(cfg.Rules),
		"npdRuleFiles": cfg.NPDRuleFiles,
		"reasons":      reasons,
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("write config: %v", err)
	}
	return out
}

// sameSettings compares settings sections by path and by JSON value, not
// by spelling.
func sameSettings(a, b probes.Settings) bool {
	if a.Path != b.Path {
		return false
	}
	decode := func(raw json.RawMessage) (any, bool) {
		if len(bytes.TrimSpace(raw)) == 0 {
			return nil, true
		}
		var v any
		return v, json.Unmarshal(raw, &v) == nil
	}
	va, okA := decode(a.Raw)
	vb, okB := decode(b.Raw)
	return okA && okB && reflect.DeepEqual(va, vb)
}
