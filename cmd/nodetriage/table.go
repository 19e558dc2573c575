package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/probes"
)

// tableWidth is the terminal width the table is laid out for.
const tableWidth = 120

// Column caps: TYPE and REASON are CamelCase identifiers, short in practice;
// longer ones are cut with "…" so MESSAGE and FIX keep most of the width.
const (
	maxTypeWidth   = 26
	maxReasonWidth = 28
	columnGap      = "  "
)

type tableRow struct {
	typ, status, severity, reason, message, fix string
}

// writeTable prints the report for a terminal: one row per finding under its
// condition (or one row for a condition without findings), then event-only
// findings, MESSAGE and FIX wrapped to fit width.
func writeTable(w io.Writer, r agent.Report, width int) {
	rows := tableRows(r)
	fmt.Fprintf(w, "Node %s: %s\n\n", r.Node, summary(r))
	if len(rows) == 0 {
		return
	}
	header := tableRow{"TYPE", "STATUS", "SEVERITY", "REASON", "MESSAGE", "FIX"}
	widths := [6]int{len(header.typ), len(header.status), len(header.severity), len(header.reason)}
	for _, row := range rows {
		widths[0] = max(widths[0], min(utf8.RuneCountInString(row.typ), maxTypeWidth))
		widths[1] = max(widths[1], utf8.RuneCountInString(row.status))
		widths[2] = max(widths[2], utf8.RuneCountInString(row.severity))
		widths[3] = max(widths[3], min(utf8.RuneCountInString(row.reason), maxReasonWidth))
	}
	rest := width - widths[0] - widths[1] - widths[2] - widths[3] - 5*len(columnGap)
	rest = max(rest, 40)
	widths[4] = rest * 45 / 100 // remedies run longer than messages
	widths[5] = rest - widths[4]

	writeRow(w, header, widths)
	for i, row := range rows {
		if i > 0 {
			fmt.Fprintln(w)
		}
		writeRow(w, row, widths)
	}
}

func summary(r agent.Report) string {
	problems, unknown := 0, 0
	for _, f := range r.Findings {
		if f.Severity.Rank() >= probes.SeverityWarning.Rank() {
			problems++
		}
	}
	for _, c := range r.Conditions {
		if c.Status == "Unknown" {
			unknown++
		}
	}
	s := fmt.Sprintf("no problem found in %d condition(s)", len(r.Conditions))
	if problems > 0 {
		s = fmt.Sprintf("%d problem(s) found", problems)
	}
	if unknown > 0 {
		s += fmt.Sprintf("; %d condition(s) could not be checked", unknown)
	}
	return s
}

func tableRows(r agent.Report) []tableRow {
	byCondition := map[string][]probes.Finding{}
	var events []probes.Finding
	for _, f := range r.Findings {
		if f.Condition == "" {
			events = append(events, f)
			continue
		}
		byCondition[f.Condition] = append(byCondition[f.Condition], f)
	}
	var rows []tableRow
	shown := map[string]bool{}
	for _, c := range r.Conditions {
		shown[c.Type] = true
		fs := byCondition[c.Type]
		if len(fs) == 0 {
			rows = append(rows, tableRow{c.Type, c.Status, "-", c.Reason, c.Message, "-"})
			continue
		}
		for _, f := range fs {
			rows = append(rows, findingRow(c.Type, c.Status, f))
		}
	}
	// Findings for a condition that is not reported (e.g. a log finding
	// whose quiet window already passed): shown, with no status.
	for _, f := range r.Findings {
		if f.Condition != "" && !shown[f.Condition] {
			rows = append(rows, findingRow(f.Condition, "-", f))
		}
	}
	for _, f := range events {
		rows = append(rows, findingRow("Event", "-", f))
	}
	return rows
}

func findingRow(typ, status string, f probes.Finding) tableRow {
	fix := f.Remedy
	if fix == "" {
		fix = "-"
	}
	return tableRow{typ, status, string(f.Severity), f.Reason, f.Message, fix}
}

func writeRow(w io.Writer, row tableRow, widths [6]int) {
	cells := [6][]string{
		{truncate(row.typ, widths[0])},
		{row.status},
		{row.severity},
		{truncate(row.reason, widths[3])},
		wrap(row.message, widths[4]),
		wrap(row.fix, widths[5]),
	}
	lines := 0
	for _, c := range cells {
		lines = max(lines, len(c))
	}
	for i := range lines {
		var b strings.Builder
		for col, c := range cells {
			text := ""
			if i < len(c) {
				text = c[i]
			}
			if col == len(cells)-1 {
				b.WriteString(text)
				break
			}
			b.WriteString(text)
			b.WriteString(strings.Repeat(" ", widths[col]-utf8.RuneCountInString(text)))
			b.WriteString(columnGap)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// wrap breaks text into lines of at most width runes at spaces; a word
// longer than the width (a path) is split.
func wrap(text string, width int) []string {
	var lines []string
	var line []rune
	for _, word := range strings.Fields(text) {
		rw := []rune(word)
		for len(rw) > width {
			if len(line) > 0 {
				lines = append(lines, string(line))
				line = nil
			}
			lines = append(lines, string(rw[:width]))
			rw = rw[width:]
		}
		switch {
		case len(line) == 0:
			line = rw
		case len(line)+1+len(rw) <= width:
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

func truncate(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}
