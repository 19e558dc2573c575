package agent

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/probes"
)

func testCatalog() Catalog {
	return Catalog{
		Checks: []probes.Spec{
			{Name: "kubelet-cert", Condition: "KubeletUnhealthy", Interval: time.Minute, Timeout: 20 * time.Second, DefaultEnabled: true,
				Reasons: []probes.ReasonInfo{{Reason: "KubeletCertificateExpiring", Condition: "KubeletUnhealthy"}},
				New:     func(probes.Env) (probes.Check, error) { return nil, nil }},
			{Name: "slow-check", Condition: "Slow", Interval: time.Hour, Timeout: time.Minute, DefaultEnabled: false,
				New: func(probes.Env) (probes.Check, error) { return nil, nil }},
		},
		Streams: []probes.StreamSpec{
			{Name: "kmsg", DefaultEnabled: true},
			{Name: "files", DefaultEnabled: false},
		},
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg, err := ParseConfig(nil, testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		StateDir:    "/var/lib/nodetriage",
		QuietWindow: 10 * time.Minute,
		Reporting: ReportingConfig{
			BatchInterval: time.Second, HeartbeatInterval: 5 * time.Minute, EventDedupWindow: 10 * time.Minute,
			EventBurstPerReason: 5, EventsPerMinutePerReason: 2,
		},
		Checks: map[string]CheckConfig{
			"kubelet-cert": {Enabled: true, Interval: time.Minute, Timeout: 20 * time.Second,
				Settings: probes.Settings{Path: "checks.kubelet-cert.settings"}},
			"slow-check": {Enabled: false, Interval: time.Hour, Timeout: time.Minute,
				Settings: probes.Settings{Path: "checks.slow-check.settings"}},
		},
		Sources: map[string]SourceConfig{
			"kmsg":  {Enabled: true, QueueSize: 4096, Settings: probes.Settings{Path: "sources.kmsg.settings"}},
			"files": {Enabled: false, QueueSize: 4096, Settings: probes.Settings{Path: "sources.files.settings"}},
		},
		Rules:        probes.Settings{Path: "rules", Raw: json.RawMessage(`[]`)},
		NPDRuleFiles: []string{},
		Reasons:      map[string]ReasonOverride{},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	// The documented defaults file is itself a valid config.
	if _, err := ParseConfig(DefaultConfigYAML(), testCatalog()); err != nil {
		t.Errorf("defaults.yaml as a user config: %v", err)
	}
}

func TestConfigOverlay(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
apiVersion: nodetriage.io/v1alpha1
kind: AgentConfig
quietWindow: 30m
reporting:
  batchInterval: 2s
checks:
  kubelet-cert:
    interval: 5m
    visibilityDelay: 90s
    settings: {warningBefore: 72h}
  slow-check:
    enabled: true
sources:
  kmsg: {queueSize: 100, settings: {lookback: 5m}}
rules:
  - name: my-rule
npdRuleFiles: [/etc/npd/kernel-monitor.json]
reasons:
  KubeletCertificateExpiring: {severity: Warning}
`), testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QuietWindow != 30*time.Minute || cfg.Reporting.BatchInterval != 2*time.Second || cfg.Reporting.HeartbeatInterval != 5*time.Minute {
		t.Errorf("top-level overlay: quiet %s, batch %s, heartbeat %s", cfg.QuietWindow, cfg.Reporting.BatchInterval, cfg.Reporting.HeartbeatInterval)
	}
	kc := cfg.Checks["kubelet-cert"]
	if !kc.Enabled || kc.Interval != 5*time.Minute || kc.Timeout != 20*time.Second || kc.VisibilityDelay != 90*time.Second {
		t.Errorf("kubelet-cert = %+v", kc)
	}
	if string(kc.Settings.Raw) != `{"warningBefore":"72h"}` {
		t.Errorf("kubelet-cert settings = %s", kc.Settings.Raw)
	}
	if !cfg.Checks["slow-check"].Enabled {
		t.Error("slow-check not enabled")
	}
	if k := cfg.Sources["kmsg"]; k.QueueSize != 100 || !k.Enabled || string(k.Settings.Raw) != `{"lookback":"5m"}` {
		t.Errorf("kmsg = %+v", k)
	}
	if string(cfg.Rules.Raw) != `[{"name":"my-rule"}]` || cfg.Rules.Path != "rules" {
		t.Errorf("rules = %+v", cfg.Rules)
	}
	if diff := cmp.Diff([]string{"/etc/npd/kernel-monitor.json"}, cfg.NPDRuleFiles); diff != "" {
		t.Errorf("npdRuleFiles (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]ReasonOverride{"KubeletCertificateExpiring": {Severity: probes.SeverityWarning}}, cfg.Reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	const head = "apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"timeout not shorter than interval", head + "checks: {kubelet-cert: {timeout: 2m}}",
			"checks.kubelet-cert.timeout: must be shorter than interval (1m), got 2m"},
		{"timeout equals a new interval", head + "checks: {kubelet-cert: {interval: 20s}}",
			"checks.kubelet-cert.timeout: must be shorter than interval (20s), got 20s"},
		{"unknown top-level field", head + "quietWindo: 5m", "quietWindo: unknown field"},
		{"unknown check", head + "checks: {kubelet-certs: {}}", "checks.kubelet-certs: unknown check (known: kubelet-cert, slow-check)"},
		{"unknown field in a check", head + "checks: {kubelet-cert: {intervall: 5m}}", "checks.kubelet-cert.intervall: unknown field"},
		{"bad duration", head + "checks: {kubelet-cert: {interval: 5 minutes}}", `checks.kubelet-cert.interval: not a duration (like "90s" or "10m"): "5 minutes"`},
		{"number for a duration", head + "quietWindow: 600", `quietWindow: cannot use a number here, want a string (durations are strings like "90s")`},
		{"zero quiet window", head + "quietWindow: 0s", "quietWindow: must be longer than 0s"},
		{"negative visibility delay", head + "checks: {kubelet-cert: {visibilityDelay: -1s}}", "checks.kubelet-cert.visibilityDelay: must not be negative, got -1s"},
		{"negative dedup window", head + "reporting: {eventDedupWindow: -1m}", "reporting.eventDedupWindow: must not be negative, got -1m0s"},
		{"bad reporting duration", head + "reporting: {batchInterval: soon}", `reporting.batchInterval: not a duration (like "90s" or "10m"): "soon"`},
		{"unknown reporting field", head + "reporting: {batchIntervall: 1s}", "reporting.batchIntervall: unknown field"},
		{"heartbeat not longer than batch", head + "reporting: {batchInterval: 10m}", "reporting.heartbeatInterval: must be longer than batchInterval (10m), got 5m"},
		{"burst below 1", head + "reporting: {eventBurstPerReason: 0}", "reporting.eventBurstPerReason: must be at least 1, got 0"},
		{"unknown source", head + "sources: {journald: {}}", "sources.journald: unknown log source (known: files, kmsg)"},
		{"queue too large", head + "sources: {kmsg: {queueSize: 100000000}}", "sources.kmsg.queueSize: must be between 1 and 65536, got 100000000"},
		{"queue not a number", head + "sources: {kmsg: {queueSize: big}}", "sources.kmsg.queueSize: cannot use a string here, want a whole number"},
		{"bad severity", head + "reasons: {KubeletCertificateExpiring: {severity: fatal}}", `reasons.KubeletCertificateExpiring.severity: unknown severity "fatal" (want info, warning or problem)`},
		{"unknown reason field", head + "reasons: {KubeletCertificateExpiring: {disabled: true}}", "reasons.KubeletCertificateExpiring.disabled: unknown field"},
		{"wrong apiVersion", "apiVersion: v1\nkind: AgentConfig\n", `apiVersion: must be nodetriage.io/v1alpha1, got "v1"`},
		{"missing kind", "apiVersion: nodetriage.io/v1alpha1\n", `kind: must be AgentConfig, got ""`},
		{"empty npd file", head + "npdRuleFiles: ['']", "npdRuleFiles[0]: must be a file path, got an empty string"},
		{"not a mapping", "- a\n- b\n", "not a YAML mapping (want apiVersion, kind, …)"},
		{"not YAML", head + "checks: {a: [}", "not valid YAML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml), testCatalog())
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error = %q\nwant   %q", err, tc.want)
			}
			var fe *probes.FieldError
			if strings.Contains(tc.want, ": ") && !strings.HasPrefix(tc.want, "not ") && !errors.As(err, &fe) {
				t.Errorf("error %q is not a *probes.FieldError", err)
			}
		})
	}
}

// A key given twice is an error naming it, in one line, not "the last one
// wins".
func TestConfigRejectsDuplicateKeys(t *testing.T) {
	const head = "apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\n"
	tests := []struct {
		name, yaml string
		want       string // "" = valid
	}{
		{"top-level key twice", head + "quietWindow: 1m\nquietWindow: 1m\n",
			`not valid YAML: line 4: key "quietWindow" already set in map`},
		{"key twice in a check", head + "checks:\n  kubelet-cert:\n    interval: 5m\n    interval: 10m\n",
			`not valid YAML: line 6: key "interval" already set in map`},
		{"key twice in a flow mapping", head + "reporting: {batchInterval: 1s, batchInterval: 2s}\n",
			`not valid YAML: line 3: key "batchInterval" already set in map`},
		{"a check twice", head + "checks:\n  kubelet-cert: {interval: 5m}\n  kubelet-cert: {enabled: false}\n",
			`not valid YAML: line 5: key "kubelet-cert" already set in map`},
		{"two duplicates", head + "stateDir: /a\nstateDir: /b\nquietWindow: 1m\nquietWindow: 2m\n",
			`not valid YAML: line 4: key "stateDir" already set in map; line 6: key "quietWindow" already set in map`},
		{"the same key in different mappings", head + "checks:\n  kubelet-cert: {interval: 5m}\n  slow-check: {interval: 5m}\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml), testCatalog())
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigCheckReasons(t *testing.T) {
	cfg, err := ParseConfig([]byte("apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nreasons: {NoSuchReason: {enabled: false}}\n"), testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.CheckReasons([]probes.ReasonInfo{{Reason: "KubeletCertificateExpiring"}})
	if err == nil || err.Error() != "reasons.NoSuchReason: unknown reason: no check or log rule emits it" {
		t.Errorf("err = %v", err)
	}
	if err := cfg.CheckReasons([]probes.ReasonInfo{{Reason: "NoSuchReason"}}); err != nil {
		t.Errorf("known reason rejected: %v", err)
	}
}

func TestLoadConfigNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nstateDir: ''\nquietWindow: 1x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path, testCatalog())
	if err == nil || !strings.HasPrefix(err.Error(), "config "+path+": quietWindow: not a duration") {
		t.Errorf("err = %v", err)
	}
	_, err = LoadConfig(filepath.Join(dir, "missing.yaml"), testCatalog())
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestReportingKubeReporterConfig(t *testing.T) {
	got := ReportingConfig{BatchInterval: 2 * time.Second, HeartbeatInterval: time.Minute, EventDedupWindow: time.Hour,
		EventBurstPerReason: 7, EventsPerMinutePerReason: 4}.KubeReporterConfig()
	want := KubeReporterConfig{BatchInterval: 2 * time.Second, HeartbeatInterval: time.Minute, EventDedupWindow: time.Hour,
		EventBurst: 7, EventRefillInterval: 15 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Zero keeps the reporter's default rather than dividing by it.
	if got := (ReportingConfig{}).KubeReporterConfig(); got != (KubeReporterConfig{}) {
		t.Errorf("zero settings = %+v, want the zero config", got)
	}
}
