package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/probes"
)

// tableWidth is the widest terminal the report is laid out for; a narrower
// $COLUMNS narrows it down to minTableWidth.
const (
	tableWidth    = 100
	minTableWidth = 60
)

// maxReasonWidth cuts a (user-made) reason longer than this in the
// conditions table; the finding blocks show it whole.
const maxReasonWidth = 40

// terminalWidth is the layout width for $COLUMNS (empty or bad: tableWidth).
func terminalWidth(columns string) int {
	n, err := strconv.Atoi(columns)
	if err != nil || n <= 0 {
		return tableWidth
	}
	return min(max(n, minTableWidth), tableWidth)
}

// writeTable prints the report for someone reading a terminal at 3 a.m.:
//
//   - a header line: the node, problems and warnings found, conditions by
//     status;
//   - the conditions, one line each (TYPE, STATUS, REASON);
//   - one block per problem or warning finding, worst first: its severity,
//     condition (or Event) and reason, the check that found it, then the
//     message and the fix, wrapped to the width;
//   - the conditions that could not be checked, with why;
//   - the log sources: what each read, or why it did not.
func writeTable(w io.Writer, r agent.Report, width int) {
	writeWrapped(w, "Node "+r.Node+": "+summary(r), width, "", "  ")
	if len(r.Conditions) > 0 {
		fmt.Fprintln(w)
		writeConditions(w, r.Conditions)
	}
	findings, info := actionable(r.Findings)
	for _, g := range sameFix(findings) {
		fmt.Fprintln(w)
		writeFindings(w, g, width)
	}
	if info > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, plural(info, "info finding")+" not shown; --output json lists them.")
	}
	if unknown := unknownByMessage(r.Conditions); len(unknown) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Could not check:")
		for _, u := range unknown {
			writeWrapped(w, strings.Join(u.types, ", ")+": "+u.message, width, "  ", "      ")
		}
	}
	if len(r.Sources) > 0 {
		fmt.Fprintln(w)
		writeSources(w, r.Sources, width)
	}
}

type unknownGroup struct {
	types   []string
	message string
}

// unknownByMessage groups the Unknown conditions that say the same (the
// conditions fed by the kernel log all lack it for the same reason).
func unknownByMessage(conds []agent.ConditionStatus) []unknownGroup {
	var groups []unknownGroup
	for _, c := range conds {
		if c.Status != "Unknown" {
			continue
		}
		i := slices.IndexFunc(groups, func(g unknownGroup) bool { return g.message == c.Message })
		if i < 0 {
			groups = append(groups, unknownGroup{message: c.Message})
			i = len(groups) - 1
		}
		groups[i].types = append(groups[i].types, c.Type)
	}
	return groups
}

// summary is the header: "1 problem, 2 warnings; 9 conditions: 1 True,
// 6 False, 2 Unknown".
func summary(r agent.Report) string {
	problems, warnings := 0, 0
	for _, f := range r.Findings {
		switch f.Severity {
		case probes.SeverityProblem:
			problems++
		case probes.SeverityWarning:
			warnings++
		}
	}
	found := "no problem found"
	if problems+warnings > 0 {
		found = plural(problems, "problem") + ", " + plural(warnings, "warning")
	}
	byStatus := map[string]int{}
	for _, c := range r.Conditions {
		byStatus[c.Status]++
	}
	return fmt.Sprintf("%s; %s: %d True, %d False, %d Unknown", found, plural(len(r.Conditions), "condition"),
		byStatus["True"], byStatus["False"], byStatus["Unknown"])
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func writeConditions(w io.Writer, conds []agent.ConditionStatus) {
	widths := [2]int{len("TYPE"), len("STATUS")}
	for _, c := range conds {
		widths[0] = max(widths[0], utf8.RuneCountInString(c.Type))
		widths[1] = max(widths[1], utf8.RuneCountInString(c.Status))
	}
	row := func(typ, status, reason string) {
		fmt.Fprintf(w, "%s  %s  %s\n", pad(typ, widths[0]), pad(status, widths[1]), truncate(reason, maxReasonWidth))
	}
	row("TYPE", "STATUS", "REASON")
	for _, c := range conds {
		row(c.Type, c.Status, c.Reason)
	}
}

// actionable returns the problem and warning findings, worst first (then in
// report order), and how many info findings there are.
func actionable(all []probes.Finding) ([]probes.Finding, int) {
	var out []probes.Finding
	info := 0
	for _, f := range all {
		if f.Severity.Rank() >= probes.SeverityWarning.Rank() {
			out = append(out, f)
		} else {
			info++
		}
	}
	slices.SortStableFunc(out, func(a, b probes.Finding) int { return b.Severity.Rank() - a.Severity.Rank() })
	return out, info
}

// maxMessagesPerBlock bounds the messages listed in one block of findings
// sharing a fix (a storm of OOM kills); --output json lists them all.
const maxMessagesPerBlock = 5

// sameFix groups findings that differ only in what they are about (same
// severity, condition, reason, check and remedy), in order of first
// appearance, so a fix is printed once.
func sameFix(findings []probes.Finding) [][]probes.Finding {
	var groups [][]probes.Finding
	for _, f := range findings {
		i := slices.IndexFunc(groups, func(g []probes.Finding) bool {
			h := g[0]
			return h.Severity == f.Severity && h.Condition == f.Condition && h.Reason == f.Reason && h.Check == f.Check && h.Remedy == f.Remedy
		})
		if i < 0 {
			groups = append(groups, nil)
			i = len(groups) - 1
		}
		groups[i] = append(groups[i], f)
	}
	return groups
}

// writeFindings prints one block for findings sharing a fix:
//
//	[problem] KubeletUnhealthy / KubeletCertificateExpiring  (check: kubelet-cert)
//	  kubelet client certificate … expires …
//	  Fix: Turn on client certificate rotation …
//
// Several findings are listed one message each ("- …") under one title.
func writeFindings(w io.Writer, fs []probes.Finding, width int) {
	f := fs[0]
	where := f.Condition
	if where == "" {
		where = "Event"
	}
	origin := "check: " + f.Check
	if len(fs) > 1 {
		origin += ", " + strconv.Itoa(len(fs)) + " findings"
	}
	writeWrapped(w, "["+string(f.Severity)+"] "+where+" / "+f.Reason+"  ("+origin+")", width, "", "  ")
	if len(fs) == 1 {
		writeWrapped(w, f.Message+seen(f), width, "  ", "  ")
	} else {
		for i, g := range fs {
			if i == maxMessagesPerBlock {
				writeWrapped(w, fmt.Sprintf("… and %d more; --output json lists them.", len(fs)-i), width, "  ", "    ")
				break
			}
			writeWrapped(w, g.Message+seen(g), width, "  - ", "    ")
		}
	}
	if f.Remedy != "" {
		writeWrapped(w, "Fix: "+f.Remedy, width, "  ", "       ")
	}
}

// seen says how often a log finding was seen in the run, when more than
// once.
func seen(f probes.Finding) string {
	if n := f.Evidence["occurrences"]; n != "" {
		return " (seen " + n + " times)"
	}
	return ""
}

// writeSources prints the Log sources section: one entry per stream that
// ran, then the disabled ones on one line.
func writeSources(w io.Writer, sources []agent.SourceStatus, width int) {
	fmt.Fprintln(w, "Log sources:")
	nameWidth := 0
	var disabled []string
	for _, s := range sources {
		if s.State == agent.SourceDisabled {
			disabled = append(disabled, s.Name)
			continue
		}
		nameWidth = max(nameWidth, utf8.RuneCountInString(s.Name))
	}
	hang := strings.Repeat(" ", 2+nameWidth+2)
	for _, s := range sources {
		if s.State == agent.SourceDisabled {
			continue
		}
		writeWrapped(w, sourceLine(s), width, "  "+pad(s.Name, nameWidth)+"  ", hang+"  ")
		if s.State != agent.SourceRead && s.State != agent.SourceRunning {
			continue // its error says it all
		}
		for _, warning := range s.Warnings {
			writeWrapped(w, "warning: "+warning, width, hang, hang+"  ")
		}
	}
	if len(disabled) > 0 {
		writeWrapped(w, "disabled in the configuration: "+strings.Join(disabled, ", "), width, "  ", "    ")
	}
}

// sourceLine says what a stream read: "read kernel, kmsg-user: 12 lines,
// 2026-11-22T07:00:00Z to 2026-11-22T08:00:00Z", or why it read nothing.
func sourceLine(s agent.SourceStatus) string {
	switch s.State {
	case agent.SourceNotApplicable:
		return "not read: " + s.Error
	case agent.SourceFailed:
		return "failed: " + s.Error
	case agent.SourceStarting:
		return "starting"
	}
	if len(s.Sources) == 0 {
		return "read nothing: none of the logs it reads is present"
	}
	names := make([]string, len(s.Sources))
	for i, src := range s.Sources {
		names[i] = string(src)
	}
	line := s.State + " " + strings.Join(names, ", ") + ": " + plural(int(s.Lines), "line")
	if !s.FirstLine.IsZero() {
		line += ", " + s.FirstLine.UTC().Format(time.RFC3339)
		if !s.LastLine.Equal(s.FirstLine) {
			line += " to " + s.LastLine.UTC().Format(time.RFC3339)
		}
	}
	return line
}

// writeWrapped prints text wrapped to width: the first line after first,
// the rest after rest. Text that fits on one line is printed as it is.
func writeWrapped(w io.Writer, text string, width int, first, rest string) {
	firstWidth, restWidth := width-utf8.RuneCountInString(first), width-utf8.RuneCountInString(rest)
	if utf8.RuneCountInString(text) <= firstWidth {
		fmt.Fprintln(w, strings.TrimRight(first+text, " "))
		return
	}
	for i, line := range wrap(text, firstWidth, restWidth) {
		indent := rest
		if i == 0 {
			indent = first
		}
		fmt.Fprintln(w, indent+line)
	}
}

// wrap breaks text into lines at spaces, the first at most firstWidth runes
// and the others at most restWidth; a word longer than its line (a path) is
// split.
func wrap(text string, firstWidth, restWidth int) []string {
	var lines []string
	var line []rune
	width := func() int {
		if len(lines) == 0 {
			return max(firstWidth, 20)
		}
		return max(restWidth, 20)
	}
	for _, word := range strings.Fields(text) {
		rw := []rune(word)
		for len(rw) > width() {
			if len(line) > 0 {
				lines = append(lines, string(line))
				line = nil
			}
			n := width()
			lines = append(lines, string(rw[:n]))
			rw = rw[n:]
		}
		switch {
		case len(line) == 0:
			line = rw
		case len(line)+1+len(rw) <= width():
			line = append(append(line, ' '), rw...)
		default:
			lines = append(lines, string(line))
			line = rw
		}
	}
	if len(line) > 0 || len(lines) == 0 {
		lines = append(lines, string(line))
	}
	return lines
}

func pad(s string, width int) string {
	return s + strings.Repeat(" ", max(width-utf8.RuneCountInString(s), 0))
}

func truncate(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}
