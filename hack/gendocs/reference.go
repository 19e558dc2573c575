package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/rules"
)

// reasonRow is one reason as a periodic check or a log rule reports it.
type reasonRow struct {
	reason, condition string
	severity          probes.Severity
	by                string // check name or rule pack
	summary           string
}

// writeReference renders docs/reference.md: every condition and reason the
// built-in checks and rule packs can report.
func writeReference(b *strings.Builder, specs []probes.Spec, defaultRules []rules.Rule, rulesPkg *goPackage, quiet string) {
	b.WriteString(generatedHeader("nodetriage reference: conditions, reasons and rules",
		"the check specs (hostchecks.Specs(), cri.Specs()) and the default rule packs (rules.DefaultRules())"))
	b.WriteString(`Every condition is a NodeCondition type nodetriage owns; it never writes the kubelet's.
Polarity is **problem = True**: ` + "`True`" + ` means the fault is present (the message says what and how
to fix it), ` + "`False`" + ` means checked and healthy, ` + "`Unknown`" + ` means the agent could not tell (the
message says why). A reason without a condition is reported as an Event on the Node only.
Severity ` + "`info`" + ` never makes a condition True. Per-reason overrides (` + "`reasons:`" + ` in the
AgentConfig) can disable a reason or change its severity; see [configuration.md](configuration.md).

`)
	var rows []reasonRow
	checksOf := map[string][]string{}
	for _, s := range specs {
		for _, r := range s.Reasons {
			rows = append(rows, reasonRow{r.Reason, r.Condition, r.Severity, "check " + s.Name, r.Summary})
			if r.Condition != "" {
				checksOf[r.Condition] = appendUnique(checksOf[r.Condition], "check "+s.Name)
			}
		}
		if s.Condition != "" {
			checksOf[s.Condition] = appendUnique(checksOf[s.Condition], "check "+s.Name)
		}
	}
	for _, r := range defaultRules {
		if r.Kind != rules.KindTemporary && r.Kind != rules.KindPermanent && r.Kind != "" {
			continue
		}
		sev := r.Severity
		if sev == "" {
			sev = probes.SeverityWarning
		}
		rows = append(rows, reasonRow{r.Reason, r.Condition, sev, "rules " + r.Check, r.Summary})
		if r.Condition != "" {
			checksOf[r.Condition] = appendUnique(checksOf[r.Condition], "rules "+r.Check)
		}
	}

	b.WriteString("## Conditions\n\n| Condition | Reported by | Reasons (True) |\n|---|---|---|\n")
	var conditions []string
	for c := range checksOf {
		conditions = append(conditions, c)
	}
	sort.Strings(conditions)
	for _, c := range conditions {
		var reasons []string
		for _, r := range rows {
			if r.condition == c {
				reasons = appendUnique(reasons, "`"+r.reason+"`")
			}
		}
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", c, cell(strings.Join(checksOf[c], ", ")), cell(strings.Join(reasons, ", ")))
	}

	b.WriteString("\n## Reasons\n\n| Reason | Condition | Severity | Reported by | Meaning |\n|---|---|---|---|---|\n")
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].condition != rows[j].condition {
			// Conditions first (alphabetically), Events last.
			if rows[i].condition == "" || rows[j].condition == "" {
				return rows[j].condition == ""
			}
			return rows[i].condition < rows[j].condition
		}
		return rows[i].reason < rows[j].reason
	})
	seen := map[string]bool{}
	for _, r := range rows {
		key := r.reason + "\x00" + r.condition + "\x00" + r.by
		if seen[key] {
			continue
		}
		seen[key] = true
		cond := "Event only"
		if r.condition != "" {
			cond = "`" + r.condition + "`"
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", r.reason, cond, r.severity, cell(r.by), cell(r.summary))
	}

	b.WriteString("\n## Log rule packs\n\n")
	b.WriteString("The built-in rules, by pack. A pack's rules read only the sources named; `kind` is " +
		"`temporary` (an Event per match), `permanent` (sets the condition until it clears), `fact` or " +
		"`context` (remembered for other rules and checks, never reported).\n\n")
	packDocs := rulesPkg.packDocs()
	var packs []string
	for _, r := range defaultRules {
		packs = appendUnique(packs, r.Check)
	}
	for _, pack := range packs {
		fmt.Fprintf(b, "### %s\n\n", pack)
		if doc := packDocs[pack]; doc != "" {
			b.WriteString(markdown(doc, 4) + "\n\n")
		}
		b.WriteString("| Rule | Sources | Kind | Reason | Condition | Severity | Clears |\n|---|---|---|---|---|---|---|\n")
		for _, r := range defaultRules {
			if r.Check != pack {
				continue
			}
			kind := r.Kind
			if kind == "" {
				kind = rules.KindTemporary
			}
			sev := string(r.Severity)
			if sev == "" && (kind == rules.KindTemporary || kind == rules.KindPermanent) {
				sev = string(probes.SeverityWarning)
			}
			var srcs []string
			for _, s := range r.Sources {
				srcs = append(srcs, string(s))
			}
			fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s | %s | %s |\n", r.Name, cell(strings.Join(srcs, ", ")), kind,
				codeOrDash(r.Reason), codeOrDash(r.Condition), cell(sev), cell(clearsText(r, quiet)))
		}
		b.WriteString("\n")
	}
}

// clearsText says when a permanent rule's condition goes away.
func clearsText(r rules.Rule, quiet string) string {
	if r.Kind != rules.KindPermanent {
		return ""
	}
	var parts []string
	if r.Clear.Recovery != "" {
		parts = append(parts, "on a recovery line")
	}
	kernelOnly := len(r.Sources) > 0 && !slices.ContainsFunc(r.Sources, func(s probes.Source) bool { return s != probes.SourceKernel })
	switch {
	case r.Clear.OnReboot || (kernelOnly && r.Clear.Quiet.Duration == 0):
		parts = append(parts, "on reboot")
	case r.Clear.Quiet.Duration > 0:
		parts = append(parts, "after "+agent.FormatDuration(r.Clear.Quiet.Duration)+" without a match")
	default:
		parts = append(parts, "after the quiet window ("+quiet+") without a match")
	}
	return strings.Join(parts, "; ")
}

func codeOrDash(s string) string {
	if s == "" {
		return "—"
	}
	return "`" + s + "`"
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func generatedHeader(title, from string) string {
	return "# " + title + "\n\n" +
		"<!-- Generated by `go run ./hack/gendocs` from " + from + ". Do not edit: a test fails when this file is stale. -->\n\n"
}
