package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/journal"
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
	fs.StringVar(&kmsgFile, "kmsg-file", "", "read kernel messages from this /dev/kmsg, dmesg or journalctl -k dump instead of /dev/kmsg (the journal then skips its kernel entries)")
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
	if kmsgFile != "" {
		if err := skipJournalKernelEntries(cfg); err != nil {
			return c.usageError("check", err)
		}
	}
	// The report, what each log source read included, goes to stdout;
	// stderr is for what went wrong with the run itself (a check that owns
	// no condition and failed).
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: dropTime}))
	report, err := agent.RunOnce(c.ctx, agent.OnceOptions{
		Config:      cfg,
		Host:        host,
		NodeName:    node,
		Checks:      checks,
		Streams:     streams,
		NewMatcher:  newMatcher(logger),
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
		writeTable(c.stdout, report, terminalWidth(c.getenv("COLUMNS")))
	}
	for _, f := range report.Findings {
		if f.Severity.Rank() >= probes.SeverityWarning.Rank() {
			return exitProblems
		}
	}
	return exitOK
}

// skipJournalKernelEntries sets the journal's kernelTransport to never: with
// --kmsg-file the kernel log comes from the dump, and a journal holding the
// same kernel lines (journald stores them as _TRANSPORT=kernel) would count
// each one twice.
func skipJournalKernelEntries(cfg *agent.Config) error {
	sc, ok := cfg.Sources[journalSource]
	if !ok {
		return nil
	}
	fields := map[string]json.RawMessage{}
	if raw := bytes.TrimSpace(sc.Settings.Raw); len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &fields); err != nil {
			return &probes.FieldError{Field: sc.Settings.Path, Reason: "must be a mapping of settings"}
		}
	}
	fields["kernelTransport"] = json.RawMessage(strconv.Quote(journal.KernelNever))
	raw, err := json.Marshal(fields)
	if err != nil {
		return fmt.Errorf("%s: %w", sc.Settings.Path, err)
	}
	sc.Settings.Raw = raw
	cfg.Sources[journalSource] = sc
	return nil
}

// dropTime leaves the time out of check's stderr lines: they belong to this
// run, which the operator just started.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func hasStream(streams []probes.StreamSpec, name string) bool {
	for _, s := range streams {
		if s.Name == name {
			return true
		}
	}
	return false
}
