package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"

	"github.com/nodetriage/nodetriage/probes"
)

// Importing node-problem-detector (NPD) system-log-monitor files.
//
// What is mirrored from NPD (pkg/systemlogmonitor at 6632ca67):
//
//   - A rule's pattern is compiled as pattern + `\z` (log_buffer.go
//     CompilePattern) and searched, unanchored at the start, in the monitor's
//     buffer: the last bufferSize messages (default 10) joined with "\n",
//     empty slots included. When the compiled pattern can only match inside
//     the newest message — it ends in \z on every branch, cannot match "\n"
//     and has no begin-of-text anchor — searching the newest message alone is
//     exactly equivalent, and that is what the engine does (prefiltered, no
//     allocation). Other patterns (multi-line ones, `^`, `(?m)$`, `a|b`
//     where one branch floats) run against a real bounded buffer.
//   - Messages: kmsg drops empty records and trims spaces; journald trims
//     spaces; filelog takes the last submatch of pluginConfig.message and
//     drops lines containing a skipList entry.
//   - temporary → an Event (severity warning); permanent → the named
//     condition (severity problem), only when the condition is declared in
//     conditions; the message is the matched text, plus
//     "; patternGeneratedMessageSuffix" when set.
//
// What differs, on purpose or by necessity:
//
//   - Conditions clear: kernel ones on reboot, others after the agent's quiet
//     window (NPD never clears a permanent condition).
//   - The matched text of a multi-line match is joined with " | " so the
//     message stays one line.
//   - A filelog line that does not match pluginConfig.message is used whole
//     instead of being dropped: nodetriage feeds kern.log rules from kmsg or
//     the journal, whose lines carry no syslog framing.
//   - lookback, timestamp and timestampFormat are accepted and ignored (the
//     streams bound history and stamp lines themselves).
//   - Only sources nodetriage reads can be imported; "custom" plugin files,
//     journald identifiers other than kernel/kubelet/containerd/crio/dockerd/
//     kube-proxy/systemd, and log files that do not map to one are errors.
//   - A permanent rule naming an undeclared condition is an error (NPD
//     silently never sets it); an empty pattern is an error (NPD would match
//     every line).

// npdConfig is the part of an NPD monitor file nodetriage reads. Unknown
// fields are ignored, as NPD does.
type npdConfig struct {
	Plugin       string          `json:"plugin"`
	PluginConfig json.RawMessage `json:"pluginConfig"`
	LogPath      string          `json:"logPath"`
	Lookback     string          `json:"lookback"`
	BufferSize   int             `json:"bufferSize"`
	Source       string          `json:"source"`
	SkipList     []string        `json:"skipList"`
	Conditions   []struct {
		Type    string `json:"type"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"conditions"`
	Rules []struct {
		Type                          string `json:"type"`
		Condition                     string `json:"condition"`
		Reason                        string `json:"reason"`
		Pattern                       string `json:"pattern"`
		PatternGeneratedMessageSuffix string `json:"patternGeneratedMessageSuffix"`
	} `json:"rules"`
}

// npdFile is what the rules of one imported file share.
type npdFile struct {
	name       string
	plugin     string
	source     probes.Source
	messageRe  *regexp.Regexp
	skipList   []string
	bufferSize int
}

// npdRule marks a rule imported from an NPD file.
type npdRule struct {
	file      *npdFile
	multiLine bool
	suffix    string
}

const (
	npdDefaultBufferSize = 10
	npdMaxBufferSize     = 1000
)

// npdJournalSources maps journald SYSLOG_IDENTIFIERs to sources.
var npdJournalSources = map[string]probes.Source{
	"kernel":     probes.SourceKernel,
	"kubelet":    probes.SourceKubelet,
	"containerd": probes.SourceContainerd,
	"crio":       probes.SourceCRIO,
	"dockerd":    probes.SourceDockerd,
	"docker":     probes.SourceDockerd,
	"kube-proxy": probes.SourceKubeProxy,
	"systemd":    probes.SourceSystemd,
}

// npdFileSources maps log file base names to sources.
var npdFileSources = map[string]probes.Source{
	"kern.log":       probes.SourceKernel,
	"kubelet.log":    probes.SourceKubelet,
	"containerd.log": probes.SourceContainerd,
	"crio.log":       probes.SourceCRIO,
	"docker.log":     probes.SourceDockerd,
	"dockerd.log":    probes.SourceDockerd,
	"kube-proxy.log": probes.SourceKubeProxy,
}

// LoadNPDFile reads and imports a node-problem-detector system-log-monitor
// file from the agent's own filesystem (a ConfigMap mount).
func LoadNPDFile(path string) ([]Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read npd rules file: %w", err)
	}
	return ParseNPD(data, path)
}

// ParseNPD imports a node-problem-detector system-log-monitor JSON file;
// name (its path or base name) names it in errors and in findings' Check
// ("npd:<base name>"). Errors are one line naming the file and the field.
func ParseNPD(data []byte, name string) ([]Rule, error) {
	base := filepath.Base(strings.ReplaceAll(name, `\`, "/"))
	fail := func(field, format string, args ...any) error {
		if field == "" {
			return fmt.Errorf("npd %s: %s", base, fmt.Sprintf(format, args...))
		}
		return fmt.Errorf("npd %s: %s: %s", base, field, fmt.Sprintf(format, args...))
	}

	var head struct {
		Plugin string `json:"plugin"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fail("", "%s", describeNPDJSONError(data, err))
	}
	switch head.Plugin {
	case "kmsg", "journald", "filelog":
	case "":
		return nil, fail("plugin", "missing (want kmsg, journald or filelog)")
	default:
		return nil, fail("plugin", "%q is not a system-log-monitor plugin (want kmsg, journald or filelog)", head.Plugin)
	}
	var cfg npdConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fail("", "%s", describeNPDJSONError(data, err))
	}

	file := &npdFile{name: base, plugin: cfg.Plugin, skipList: cfg.SkipList, bufferSize: cfg.BufferSize}
	switch {
	case cfg.BufferSize < 0 || cfg.BufferSize > npdMaxBufferSize:
		return nil, fail("bufferSize", "must be between 1 and %d, got %d", npdMaxBufferSize, cfg.BufferSize)
	case cfg.BufferSize == 0:
		file.bufferSize = npdDefaultBufferSize
	}
	pluginConfig := map[string]string{}
	if len(bytes.TrimSpace(cfg.PluginConfig)) > 0 && string(bytes.TrimSpace(cfg.PluginConfig)) != "null" {
		if err := json.Unmarshal(cfg.PluginConfig, &pluginConfig); err != nil {
			return nil, fail("pluginConfig", "want an object of strings: %s", describeNPDJSONError(cfg.PluginConfig, err))
		}
	}
	switch cfg.Plugin {
	case "kmsg":
		file.source = probes.SourceKernel
	case "journald":
		id := pluginConfig["source"]
		if id == "" {
			return nil, fail("pluginConfig.source", "missing: journald needs the SYSLOG_IDENTIFIER to read")
		}
		src, ok := npdJournalSources[id]
		if !ok {
			return nil, fail("pluginConfig.source", "journald identifier %q is not one nodetriage reads (want one of %s)", id, strings.Join(sortedKeys(npdJournalSources), ", "))
		}
		file.source = src
	case "filelog":
		logBase := filepath.Base(strings.ReplaceAll(cfg.LogPath, `\`, "/"))
		src, ok := npdFileSources[logBase]
		if !ok {
			return nil, fail("logPath", "%q is not a log nodetriage reads (want a file named one of %s)", cfg.LogPath, strings.Join(sortedKeys(npdFileSources), ", "))
		}
		file.source = src
		msg := pluginConfig["message"]
		if msg == "" {
			return nil, fail("pluginConfig.message", "missing: filelog needs the regexp that extracts the message")
		}
		re, err := regexp.Compile(msg)
		if err != nil {
			return nil, fail("pluginConfig.message", "%v", describeRegexpError(err))
		}
		file.messageRe = re
		if ts := pluginConfig["timestamp"]; ts != "" {
			if _, err := regexp.Compile(ts); err != nil {
				return nil, fail("pluginConfig.timestamp", "%v", describeRegexpError(err))
			}
		}
	}

	declared := map[string]bool{}
	for i, c := range cfg.Conditions {
		field := fmt.Sprintf("conditions[%d].type", i)
		if err := checkCamelCase(c.Type); err != nil {
			return nil, fail(field, "%v", err)
		}
		if reservedConditions[c.Type] {
			return nil, fail(field, "%q is reserved (cluster autoscalers replace nodes on it)", c.Type)
		}
		declared[c.Type] = true
	}

	var out []Rule
	for i, r := range cfg.Rules {
		field := func(f string) string { return fmt.Sprintf("rules[%d].%s", i, f) }
		if err := checkCamelCase(r.Reason); err != nil {
			return nil, fail(field("reason"), "%v", err)
		}
		if r.Pattern == "" {
			return nil, fail(field("pattern"), "must not be empty")
		}
		pattern := r.Pattern + `\z`
		parsed, err := parseSyntax(pattern)
		if err != nil {
			return nil, fail(field("pattern"), "%v", describeRegexpError(err))
		}
		rule := Rule{
			Name:    fmt.Sprintf("npd:%s/rules[%d]", base, i),
			Check:   "npd:" + base,
			Sources: []probes.Source{file.source},
			Pattern: pattern,
			Reason:  r.Reason,
			Remedy:  npdRemedy(file, r.Reason),
			npd: &npdRule{
				file:      file,
				multiLine: !npdSingleLine(parsed),
				suffix:    r.PatternGeneratedMessageSuffix,
			},
		}
		switch r.Type {
		case "temporary":
			rule.Kind = KindTemporary
			rule.Severity = probes.SeverityWarning
		case "permanent":
			if r.Condition == "" {
				return nil, fail(field("condition"), "a permanent rule must name a condition")
			}
			if !declared[r.Condition] {
				return nil, fail(field("condition"), "%q is not declared in conditions (NPD would never set it)", r.Condition)
			}
			rule.Kind = KindPermanent
			rule.Condition = r.Condition
			rule.Severity = probes.SeverityProblem
		default:
			return nil, fail(field("type"), "%q is neither temporary nor permanent", r.Type)
		}
		rule.Summary = fmt.Sprintf("node-problem-detector %s rule from %s: %s", r.Type, base, r.Pattern)
		if _, err := compileRule(rule); err != nil {
			var re *ruleError
			if errors.As(err, &re) {
				return nil, fail(field(re.field), "%s", re.msg)
			}
			return nil, fail(fmt.Sprintf("rules[%d]", i), "%v", err)
		}
		out = append(out, rule)
	}
	return out, nil
}

func npdRemedy(f *npdFile, reason string) string {
	where := "journalctl -t " + f.plugin
	switch f.source {
	case probes.SourceKernel:
		where = "journalctl -k (or dmesg -T)"
	default:
		where = "journalctl -t " + string(f.source)
	}
	return fmt.Sprintf("read the log around this time with %s on the node and apply your runbook for node-problem-detector reason %s (rule from %s)", where, reason, f.name)
}

// describeNPDJSONError gives a JSON error its line number.
func describeNPDJSONError(data []byte, err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line := 1 + bytes.Count(data[:min(int(syn.Offset), len(data))], []byte("\n"))
		return fmt.Sprintf("invalid JSON at line %d: %v", line, syn)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		if typ.Field == "" {
			return fmt.Sprintf("cannot use JSON %s as %s", typ.Value, typ.Type)
		}
		return fmt.Sprintf("%s: cannot use JSON %s as %s", typ.Field, typ.Value, typ.Type)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func sortedKeys(m map[string]probes.Source) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// message turns a raw line into the message NPD would have buffered, or
// ok=false when NPD would have dropped the line.
func (f *npdFile) message(text string) (string, bool) {
	for _, skip := range f.skipList {
		if skip != "" && strings.Contains(text, skip) {
			return "", false
		}
	}
	switch f.plugin {
	case "kmsg":
		if text == "" {
			return "", false
		}
		return strings.TrimSpace(text), true
	case "journald":
		return strings.TrimSpace(text), true
	}
	loc := f.messageRe.FindStringSubmatchIndex(text)
	if loc == nil {
		return text, true
	}
	last := len(loc)/2 - 1
	if loc[2*last] < 0 {
		return "", true
	}
	return text[loc[2*last]:loc[2*last+1]], true
}

// message is an imported rule's finding message: the matched text (lines
// joined with " | "), plus NPD's patternGeneratedMessageSuffix.
func (r *npdRule) message(matched string) string {
	m := strings.ReplaceAll(matched, "\n", " | ")
	if r.suffix != "" {
		m += "; " + r.suffix
	}
	return oneLine(m, maxMessageLen)
}

// npdSingleLine reports whether a compiled NPD pattern (pattern + `\z`) can
// only match within the newest buffered message: every branch ends at the end
// of text, nothing in it can match "\n", and nothing anchors at the start of
// the text (the buffer's start is not the newest message's start).
func npdSingleLine(re *syntax.Regexp) bool {
	return endsAtEnd(re) && !canMatchNewline(re) && !hasOp(re, syntax.OpBeginText)
}

func endsAtEnd(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEndText:
		return true
	case syntax.OpCapture:
		return endsAtEnd(re.Sub[0])
	case syntax.OpConcat:
		return len(re.Sub) > 0 && endsAtEnd(re.Sub[len(re.Sub)-1])
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if !endsAtEnd(s) {
				return false
			}
		}
		return len(re.Sub) > 0
	}
	return false
}

func canMatchNewline(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpAnyChar:
		return true
	case syntax.OpLiteral:
		return slices.Contains(re.Rune, '\n')
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i] <= '\n' && '\n' <= re.Rune[i+1] {
				return true
			}
		}
		return false
	}
	for _, s := range re.Sub {
		if canMatchNewline(s) {
			return true
		}
	}
	return false
}

func hasOp(re *syntax.Regexp, op syntax.Op) bool {
	if re.Op == op {
		return true
	}
	for _, s := range re.Sub {
		if hasOp(s, op) {
			return true
		}
	}
	return false
}

func parseSyntax(pattern string) (*syntax.Regexp, error) {
	return syntax.Parse(pattern, syntax.Perl)
}

// lineBuffer is NPD's log buffer: the last n messages with their lines.
type lineBuffer struct {
	msgs   []string
	lines  []probes.Line
	next   int
	filled int
}

func newLineBuffer(n int) *lineBuffer {
	return &lineBuffer{msgs: make([]string, n), lines: make([]probes.Line, n)}
}

func (b *lineBuffer) push(msg string, line probes.Line) {
	b.msgs[b.next] = msg
	b.lines[b.next] = line
	b.next = (b.next + 1) % len(b.msgs)
	b.filled = min(b.filled+1, len(b.msgs))
}

// ordered returns the buffered messages oldest first, empty slots included.
func (b *lineBuffer) ordered() []string {
	out := make([]string, 0, len(b.msgs))
	out = append(out, b.msgs[b.next:]...)
	return append(out, b.msgs[:b.next]...)
}

// matchNPDBuffer runs an imported file's multi-line rules against its buffer.
func (e *Engine) matchNPDBuffer(f *npdFile, line probes.Line, out []probes.Finding) []probes.Finding {
	msg, ok := f.message(line.Text)
	if !ok {
		return out
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	buf := e.buffers[f]
	if buf == nil {
		buf = newLineBuffer(f.bufferSize)
		e.buffers[f] = buf
	}
	buf.push(msg, line)
	msgs := buf.ordered()
	joined := strings.Join(msgs, "\n")
	for _, c := range e.npdMultiLine[f] {
		loc := c.re.FindStringSubmatchIndex(joined)
		if loc == nil {
			continue
		}
		// The messages the match spans, like NPD's LogBuffer.Match: walk back
		// from the newest until the match start is covered, never into slots
		// not yet filled.
		span := len(joined) - loc[0] - 1
		first, total := len(msgs)-1, 0
		for i := len(msgs) - 1; i >= len(msgs)-buf.filled; i-- {
			first = i
			total += len(msgs[i]) + 1
			if total > span {
				break
			}
		}
		n := len(msgs)
		firstLine := buf.lines[(buf.next+first)%n]
		matched := strings.Join(msgs[first:], "\n")
		at := line
		if !firstLine.Time.IsZero() {
			at.Time = firstLine.Time
		}
		out = e.fire(c, at, matched, extractCaptures(c.names, loc, joined), out)
	}
	return out
}
