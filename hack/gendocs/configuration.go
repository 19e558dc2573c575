package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/probes"
)

// sourceDoc is what configuration.md shows for one log source.
type sourceDoc struct {
	spec probes.StreamSpec
	pkg  *goPackage
	// defaults is the source's DefaultConfig(), shown as JSON.
	defaults any
}

// writeConfiguration renders docs/configuration.md: the AgentConfig with
// its defaults, every check with its interval, timeout and settings, every
// log source, user rules and overrides.
func writeConfiguration(b *strings.Builder, cfg *agent.Config, specs []probes.Spec, checkPkgs []*goPackage, sources []sourceDoc, rulesPkg *goPackage) {
	b.WriteString(generatedHeader("nodetriage configuration reference",
		"agent/defaults.yaml, the check and log source specs and their settings types"))
	b.WriteString("The agent reads one YAML file, `nodetriage run --config FILE` (in the DaemonSet the " +
		"`nodetriage-config` ConfigMap, mounted at `/etc/nodetriage/config.yaml`). It is laid over the " +
		"built-in defaults below, so a file only needs what it changes. Unknown fields are errors that " +
		"name the field. The agent reloads the file when it changes; an invalid edit is rejected and the " +
		"running configuration stays (metric `nodetriage_config_last_reload_success` is 0). " +
		"`nodetriage check --config FILE` validates a file before you apply it.\n\n")
	b.WriteString("Durations are Go durations: `90s`, `10m`, `1h30m`.\n\n")

	b.WriteString("## Built-in defaults\n\n```yaml\n")
	b.WriteString(string(agent.DefaultConfigYAML()))
	b.WriteString("```\n\n")

	b.WriteString("## Top-level fields\n\n| Field | Default | Meaning |\n|---|---|---|\n")
	rc := cfg.Reporting
	for _, row := range [][3]string{
		{"stateDir", cfg.StateDir, "where the journal cursor and the active log-derived findings survive restarts"},
		{"quietWindow", agent.FormatDuration(cfg.QuietWindow), "a log-derived problem clears after this long without a matching line (unless its rule says otherwise)"},
		{"reporting.batchInterval", agent.FormatDuration(rc.BatchInterval), "at most one nodes/status write per interval"},
		{"reporting.heartbeatInterval", agent.FormatDuration(rc.HeartbeatInterval), "lastHeartbeatTime of every condition is refreshed this often"},
		{"reporting.eventDedupWindow", agent.FormatDuration(rc.EventDedupWindow), "a repeat within the window updates one Event series"},
		{"reporting.eventBurstPerReason", fmt.Sprint(rc.EventBurstPerReason), "Events per reason at once"},
		{"reporting.eventsPerMinutePerReason", fmt.Sprint(rc.EventsPerMinutePerReason), "then at most this many per minute"},
		{"checks.<name>", "see below", "per check: enabled, interval, timeout, visibilityDelay, settings"},
		{"sources.<name>", "see below", "per log source: enabled, queueSize, settings"},
		{"rules", "[]", "your own log rules, added to the built-in packs"},
		{"npdRuleFiles", "[]", "node-problem-detector system-log-monitor JSON files to import"},
		{"reasons.<Reason>", "{}", "per-reason override: `enabled: false` or `severity: info\\|warning\\|problem`"},
	} {
		fmt.Fprintf(b, "| `%s` | `%s` | %s |\n", row[0], row[1], row[2])
	}

	b.WriteString("\n## Checks\n\n")
	b.WriteString("Every check accepts `enabled`, `interval`, `timeout` (shorter than the interval), " +
		"`visibilityDelay` (a problem must persist this long before its condition turns True, default `0s`) " +
		"and `settings` (the check's own, below).\n\n")
	b.WriteString("| Check | Condition | Enabled | Interval | Timeout |\n|---|---|---|---|---|\n")
	for _, s := range specs {
		cc := cfg.Checks[s.Name]
		fmt.Fprintf(b, "| [`%s`](#%s) | %s | %v | %s | %s |\n", s.Name, s.Name, codeOrEvents(s.Condition),
			cc.Enabled, agent.FormatDuration(cc.Interval), agent.FormatDuration(cc.Timeout))
	}
	b.WriteString("\n")
	for _, s := range specs {
		fmt.Fprintf(b, "### %s\n\n", s.Name)
		for _, pkg := range checkPkgs {
			if doc, ok := pkg.specDocs()[s.Name]; ok {
				b.WriteString(markdown(doc, 4) + "\n\n")
			}
			if _, fields := pkg.settingsStruct("checks." + s.Name + ".settings"); len(fields) > 0 {
				fmt.Fprintf(b, "Settings (`checks.%s.settings`):\n\n", s.Name)
				writeFields(b, fields)
			}
		}
	}

	b.WriteString("## Log sources\n\n| Source | Enabled | Queue size |\n|---|---|---|\n")
	for _, src := range sources {
		sc := cfg.Sources[src.spec.Name]
		fmt.Fprintf(b, "| [`%s`](#source-%s) | %v | %d |\n", src.spec.Name, src.spec.Name, sc.Enabled, sc.QueueSize)
	}
	b.WriteString("\n`queueSize` bounds the lines waiting between a source and the rule engine; when it is full, " +
		"lines are dropped and counted in `nodetriage_log_lines_dropped_total`.\n\n")
	for _, src := range sources {
		fmt.Fprintf(b, "### Source %s\n\n", src.spec.Name)
		b.WriteString(markdown(src.pkg.doc, 4) + "\n\n")
		if fields := src.pkg.structFields("Config"); len(fields) > 0 {
			fmt.Fprintf(b, "Settings (`sources.%s.settings`):\n\n", src.spec.Name)
			writeFields(b, fields)
		}
		if js, err := json.MarshalIndent(src.defaults, "", "  "); err == nil {
			fmt.Fprintf(b, "Defaults:\n\n```json\n%s\n```\n\n", js)
		}
	}

	b.WriteString("## Rules\n\n")
	b.WriteString("`rules:` adds your own log rules to the built-in packs ([reference.md](reference.md#log-rule-packs)).\n\n")
	if doc := rulesPkg.tdocs["Rule"]; doc != "" {
		b.WriteString(markdown(doc, 3) + "\n\n")
	}
	writeFields(b, rulesPkg.structFields("Rule"))
	if fields := rulesPkg.structFields("Clear"); len(fields) > 0 {
		b.WriteString("`clear:`\n\n")
		writeFields(b, fields)
	}
	b.WriteString("## npdRuleFiles\n\n" +
		"Paths (as the agent sees them, e.g. a ConfigMap mounted into the pod) of node-problem-detector " +
		"system-log-monitor JSON files. Their rules run beside the built-in ones; see " +
		"[npd-migration.md](npd-migration.md).\n\n")
	b.WriteString("## reasons\n\n" +
		"Per-reason overrides, keyed by reason ([reference.md](reference.md#reasons) lists them all): " +
		"`enabled: false` drops the reason everywhere, `severity: info|warning|problem` replaces its " +
		"severity (`info` never makes a condition True). A reason nothing can emit is an error.\n\n" +
		"```yaml\nreasons:\n  KubeletCertificateExpiring: {enabled: false}\n  ConntrackTableNearFull: {severity: problem}\n```\n")
}

func writeFields(b *strings.Builder, fields []settingsField) {
	b.WriteString("| Field | Type | Meaning |\n|---|---|---|\n")
	for _, f := range fields {
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", f.JSON, cell(f.Type), cell(f.Doc))
	}
	b.WriteString("\n")
}

func codeOrEvents(condition string) string {
	if condition == "" {
		return "Events only"
	}
	return "`" + condition + "`"
}
