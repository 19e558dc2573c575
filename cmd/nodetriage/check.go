package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/probes"
)

// Source names whose input the check flags override.
const (
	kmsgSource    = "kmsg"
	journalSource = "journal"
)

func (c *cli) check(args []string) int {
	var (
		configPath, hostRoot, criEndpoint, kmsgFile, journalDir, checkList, output string
		since                                                                      time.Duration
	)
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.StringVar(&configPath, "config", "", "AgentConfig file (default: built-in defaults)")
	fs.StringVar(&hostRoot, "host-root", "/", "host filesystem to inspect: / for this node, or a captured host tree")
	fs.StringVar(&criEndpoint, "cri-endpoint", "", "CRI runtime endpoint (default: discovered under the host root)")
	fs.DurationVar(&since, "since", time.Hour, "how much log history to read")
	fs.StringVar(&kmsgFile, "kmsg-file", "", "read kernel messages from this /dev/kmsg dump instead of /dev/kmsg")
	fs.StringVar(&journalDir, "journal-dir", "", "read the journal from this directory of journal files")
	fs.StringVar(&checkList, "checks", "", "comma-separated checks to run (default: every enabled check)")
	fs.StringVar(&output, "output", "table", "output format: table or json")
	if code, done := c.parse(fs, "check", args); done {
		return code
	}
	if output != "table" && output != "json" {
		return c.usageError("check", fmt.Errorf("--output must be table or json, got %q", output))
	}
	if since <= 0 {
		return c.usageError("check", fmt.Errorf("--since must be positive, got %s", since))
	}
	var only []string
	for _, name := range strings.Split(checkList, ",") {
		if name = strings.TrimSpace(name); name != "" {
			only = append(only, name)
		}
	}
	if checkList != "" && len(only) == 0 {
		return c.usageError("check", fmt.Errorf("--checks lists no check names"))
	}
	node, err := c.nodeName("")
	if err != nil {
		return c.usageError("check", err)
	}
	host, err := hostFS(hostRoot)
	if err != nil {
		return c.usageError("check", err)
	}
	checks, streams := checkSpecs(), streamSpecs()
	cfg, err := agent.LoadConfig(configPath, agent.Catalog{Checks: checks, Streams: streams})
	if err != nil {
		return c.usageError("check", err)
	}
	rt, err := newRuntime(host, criEndpoint)
	if err != nil {
		return c.usageError("check", fmt.Errorf("container runtime: %w", err))
	}
	paths := map[string]string{}
	for _, p := range []struct{ source, flag, value string }{
		{kmsgSource, "kmsg-file", kmsgFile},
		{journalSource, "journal-dir", journalDir},
	} {
		if p.value == "" {
			continue
		}
		if !hasStream(streams, p.source) {
			return c.usageError("check", fmt.Errorf("--%s: this build has no %s log source", p.flag, p.source))
		}
		fi, err := os.Stat(p.value)
		if err != nil {
			return c.usageError("check", fmt.Errorf("--%s: %w", p.flag, err))
		}
		if wantDir := p.flag == "journal-dir"; fi.IsDir() != wantDir {
			return c.usageError("check", fmt.Errorf("--%s %s: want a %s", p.flag, p.value, map[bool]string{true: "directory of journal files", false: "kernel log dump file"}[wantDir]))
		}
		paths[p.source] = p.value
	}
	// Warnings (a check that failed, a log source that could not be read)
	// go to stderr; the report goes to stdout.
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	report, err := agent.RunOnce(c.ctx, agent.OnceOptions{
		Config:      cfg,
		Host:        host,
		NodeName:    node,
		Checks:      checks,
		Streams:     streams,
		NewMatcher:  newMatcher,
		Enrich:      enrich(rt),
		Runtime:     rt,
		Clock:       c.clock,
		Logger:      logger,
		Only:        only,
		Since:       c.clock.Now().Add(-since),
		StreamPaths: paths,
	})
	if err != nil {
		return c.usageError("check", err)
	}
	if output == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // remedies hold "<name>" placeholders
		if err := enc.Encode(report); err != nil {
			return c.usageError("check", fmt.Errorf("write report: %w", err))
		}
	} else {
		writeTable(c.stdout, report, tableWidth)
	}
	for _, f := range report.Findings {
		if f.Severity.Rank() >= probes.SeverityWarning.Rank() {
			return exitProblems
		}
	}
	return exitOK
}

func hasStream(streams []probes.StreamSpec, name string) bool {
	for _, s := range streams {
		if s.Name == name {
			return true
		}
	}
	return false
}
