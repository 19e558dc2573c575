package rules

import (
	"fmt"
	"log/slog"
	"math/bits"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/probes"
)

// Options tune an Engine.
type Options struct {
	// Clock stamps findings of lines that carry no time. Default: the real clock.
	Clock clock.PassiveClock
	// MaxSubjects bounds, per rule, how many subjects' occurrence windows are
	// kept (the least recently seen is dropped). Default 256.
	MaxSubjects int
	// ContextEntries bounds, per context rule, how many remembered lines are
	// kept. Default 32.
	ContextEntries int
	// Logger receives one warning per rule that the literal prefilter cannot
	// narrow (see NewEngine). Default: slog.Default(), so the warning is not
	// lost when a caller passes none.
	Logger *slog.Logger

	// noPrefilter runs every rule's regexp on every line (tests only: the
	// reference the prefilter is checked against).
	noPrefilter bool
}

const (
	defaultMaxSubjects    = 256
	defaultContextEntries = 32
)

// Engine matches log lines against rules. Build it with NewEngine; Match is
// safe for concurrent use.
type Engine struct {
	clock          clock.PassiveClock
	rules          []*compiledRule
	sources        map[probes.Source]*sourceIndex
	reasons        []probes.ReasonInfo
	noPrefilter    bool
	maxSubjects    int
	contextEntries int

	mu      sync.Mutex
	last    map[string]probes.Match
	occ     map[*compiledRule]map[string]*occurrences
	context map[*compiledRule]*contextRing
	buffers map[*npdFile]*lineBuffer

	// npdMultiLine are the imported rules that need NPD's line buffer, per
	// file; immutable after NewEngine.
	npdMultiLine map[*npdFile][]*compiledRule
}

// matcher is one regexp the scanner can admit: a rule's pattern, or a
// permanent rule's recovery pattern, or one branch of either when it is an
// alternation (splitAlternation).
type matcher struct {
	rule     *compiledRule
	recovery bool
	// re is the whole pattern, whose captures a match reports; test decides
	// whether the line matches: re itself, or one branch of it.
	re    *regexp.Regexp
	test  *regexp.Regexp
	names []string
	// also are further literal sets test needs (alsoRequired), each checked
	// by a substring search before the regexp runs.
	also [][]literal
	// group is the id of the first matcher of the same pattern: once one
	// branch matched a line, the pattern's other branches are not tried.
	group int32
}

// sourceIndex is everything Match needs for one source; immutable.
type sourceIndex struct {
	matchers []*matcher
	scan     *scanner
	// always are matchers without a literal requirement: tried on every line.
	always []int32
	words  int
	// npdFiles are imported node-problem-detector files on this source whose
	// rules need NPD's multi-line buffer.
	npdFiles []*npdFile
}

// NewEngine validates and indexes rules. Errors name the rule and field:
// duplicate names, bad regexps, unknown sources, missing remedies.
//
// A rule whose pattern (or recovery pattern) yields no literal every match
// must contain, and an imported NPD rule that can match across lines, is
// tried on every line of its sources instead of only on the lines the
// prefilter admits; one whose literals are one or two bytes long is tried on
// almost every line. Such a rule is accepted — it may be exactly what the user
// wants — but NewEngine logs one warning naming it, because on a busy source
// it costs a regexp run per line.
func NewEngine(rules []Rule, opts Options) (*Engine, error) {
	e := &Engine{
		clock:          opts.Clock,
		sources:        map[probes.Source]*sourceIndex{},
		noPrefilter:    opts.noPrefilter,
		maxSubjects:    opts.MaxSubjects,
		contextEntries: opts.ContextEntries,
		last:           map[string]probes.Match{},
		occ:            map[*compiledRule]map[string]*occurrences{},
		context:        map[*compiledRule]*contextRing{},
		buffers:        map[*npdFile]*lineBuffer{},
		npdMultiLine:   map[*npdFile][]*compiledRule{},
	}
	if e.clock == nil {
		e.clock = clock.RealClock{}
	}
	if e.maxSubjects <= 0 {
		e.maxSubjects = defaultMaxSubjects
	}
	if e.contextEntries <= 0 {
		e.contextEntries = defaultContextEntries
	}
	for i, r := range rules {
		c, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("rule %d %q: %w", i, r.Name, err)
		}
		c.idx = i
		e.rules = append(e.rules, c)
	}
	if i, err := linkRules(e.rules); err != nil {
		return nil, fmt.Errorf("rule %d %q: %w", i, e.rules[i].Name, err)
	}
	unfiltered := e.index()
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	for _, u := range unfiltered {
		logger.Warn("log rule runs on every line of its sources: the prefilter cannot narrow it",
			"rule", u.rule.Name, "check", u.rule.Check, "sources", u.rule.Sources, "why", u.why())
	}
	e.reasons = reasonsOf(e.rules)
	return e, nil
}

// minSelectiveLiteral is the shortest literal that narrows a rule to fewer
// lines than "almost all": one or two bytes (a digit, ":", "E") are in nearly
// every log line.
const minSelectiveLiteral = 3

// unfilteredRule is a rule the prefilter cannot narrow, and why.
type unfilteredRule struct {
	rule      *compiledRule
	pattern   bool // Pattern yields no literal
	recovery  bool // Clear.Recovery yields no literal
	multiLine int  // > 0: an NPD rule searched in this many buffered messages
}

func (u *unfilteredRule) why() string {
	var parts []string
	if u.pattern {
		parts = append(parts, "its pattern has no literal text of 3 or more bytes that every match must contain")
	}
	if u.recovery {
		parts = append(parts, "its recovery pattern has no literal text of 3 or more bytes that every match must contain")
	}
	if u.multiLine > 0 {
		parts = append(parts, fmt.Sprintf("its NPD pattern can match across lines, so it is searched in the last %d messages on every line", u.multiLine))
	}
	return strings.Join(parts, "; ")
}

// index builds the per-source prefilters and returns, in rule order, the
// rules they cannot narrow.
func (e *Engine) index() []*unfilteredRule {
	type pending struct {
		matchers []*matcher
		lits     []literal
		hits     [][]int32
		litIDs   map[string]int
		always   []int32
		npd      []*npdFile
	}
	bySource := map[probes.Source]*pending{}
	var unfiltered []*unfilteredRule
	note := func(c *compiledRule) *unfilteredRule {
		if n := len(unfiltered); n > 0 && unfiltered[n-1].rule == c {
			return unfiltered[n-1]
		}
		u := &unfilteredRule{rule: c}
		unfiltered = append(unfiltered, u)
		return u
	}
	get := func(s probes.Source) *pending {
		p := bySource[s]
		if p == nil {
			p = &pending{litIDs: map[string]int{}}
			bySource[s] = p
		}
		return p
	}
	add := func(s probes.Source, m *matcher) {
		p := get(s)
		id := int32(len(p.matchers))
		p.matchers = append(p.matchers, m)
		lits, ok, also := matcherRequirements(m.test)
		if !ok || (len(lits) > 0 && minLen(lits) < minSelectiveLiteral) {
			if m.recovery {
				note(m.rule).recovery = true
			} else {
				note(m.rule).pattern = true
			}
		}
		if !ok {
			p.always = append(p.always, id)
			return
		}
		m.also = also
		for _, l := range lits {
			k := l.key()
			lid, seen := p.litIDs[k]
			if !seen {
				lid = len(p.lits)
				p.litIDs[k] = lid
				p.lits = append(p.lits, l)
				p.hits = append(p.hits, nil)
			}
			p.hits[lid] = append(p.hits[lid], id)
		}
	}
	// addPattern adds one matcher per branch of re (or one for re).
	addPattern := func(s probes.Source, c *compiledRule, recovery bool, re *regexp.Regexp, names []string) {
		group := int32(len(get(s).matchers))
		tests := []*regexp.Regexp{re}
		if !e.noPrefilter { // the reference runs each pattern whole
			tests = splitAlternation(re)
		}
		for _, test := range tests {
			add(s, &matcher{rule: c, recovery: recovery, re: re, test: test, names: names, group: group})
		}
	}
	for _, c := range e.rules {
		for _, s := range c.Sources {
			if c.npd != nil && c.npd.multiLine {
				note(c).multiLine = c.npd.file.bufferSize
				p := get(s)
				if !slices.Contains(p.npd, c.npd.file) {
					p.npd = append(p.npd, c.npd.file)
				}
				if !slices.Contains(e.npdMultiLine[c.npd.file], c) {
					e.npdMultiLine[c.npd.file] = append(e.npdMultiLine[c.npd.file], c)
				}
				continue
			}
			addPattern(s, c, false, c.re, c.names)
			if c.recovery != nil {
				addPattern(s, c, true, c.recovery, c.recNames)
			}
		}
	}
	for s, p := range bySource {
		e.sources[s] = &sourceIndex{
			matchers: p.matchers,
			scan:     newScanner(p.lits, p.hits),
			always:   p.always,
			words:    (len(p.matchers) + 63) / 64,
			npdFiles: p.npd,
		}
	}
	return unfiltered
}

// maxBranches bounds how many branches splitAlternation makes of one
// pattern.
const maxBranches = 16

// splitAlternation returns the branches of a pattern whose top level is an
// alternation, compiled on their own, or just re. Each branch gets its own
// prefilter literals, so a line is only tried against the branches whose
// literals it contains; and a branch usually starts with a literal, which
// Go's regexp finds with a substring search, where the whole alternation has
// no common prefix and is tried at every position of the line (5 µs for
// containerd's sandbox-image pattern on a plain PullImage line, 70 ns for
// the branch that could match it). A line matches re exactly when it
// matches one of the branches.
//
// The branches are cut from the pattern's source (topLevelBranches) rather
// than printed from its parsed form: syntax.Regexp.String walks every rune
// of a negated class like [^"], which made building the default engine 20
// times slower.
func splitAlternation(re *regexp.Regexp) []*regexp.Regexp {
	sources := topLevelBranches(re.String())
	if len(sources) < 2 || len(sources) > maxBranches {
		return []*regexp.Regexp{re}
	}
	branches := make([]*regexp.Regexp, 0, len(sources))
	for _, src := range sources {
		b, err := regexp.Compile(src)
		if err != nil {
			return []*regexp.Regexp{re}
		}
		branches = append(branches, b)
	}
	return branches
}

// topLevelBranches cuts pattern at the alternation bars outside any group,
// class or \Q…\E quote. A leading flag group such as (?i) applies to every
// branch and is copied to each; a flag group anywhere else at the top level
// would apply across bars, so such a pattern is not cut (nil).
func topLevelBranches(pattern string) []string {
	var prefix string
	if strings.HasPrefix(pattern, "(?") {
		if end := strings.IndexByte(pattern, ')'); end > 0 && !strings.ContainsAny(pattern[2:end], ":<P'") {
			prefix, pattern = pattern[:end+1], pattern[end+1:]
		}
	}
	var branches []string
	depth, start := 0, 0
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			if strings.HasPrefix(pattern[i:], `\Q`) {
				end := strings.Index(pattern[i:], `\E`)
				if end < 0 {
					i = len(pattern)
					continue
				}
				i += end + 1
				continue
			}
			i++ // the escaped byte (multi-byte escapes hold no bar)
		case '[':
			i = classEnd(pattern, i)
			if i < 0 {
				return nil
			}
		case '(':
			if depth == 0 && strings.HasPrefix(pattern[i:], "(?") {
				if end := strings.IndexByte(pattern[i:], ')'); end > 0 && !strings.ContainsAny(pattern[i+2:i+end], ":<P'") {
					return nil // a flag group that reaches across the bars
				}
			}
			depth++
		case ')':
			depth--
		case '|':
			if depth == 0 {
				branches = append(branches, prefix+pattern[start:i])
				start = i + 1
			}
		}
	}
	if branches == nil {
		return nil
	}
	return append(branches, prefix+pattern[start:])
}

// classEnd returns the index of the ] closing the character class that
// opens at pattern[open], or -1.
func classEnd(pattern string, open int) int {
	i := open + 1
	if i < len(pattern) && pattern[i] == '^' {
		i++
	}
	if i < len(pattern) && pattern[i] == ']' {
		i++ // a leading ] is a member
	}
	for ; i < len(pattern); i++ {
		switch {
		case pattern[i] == '\\':
			i++
		case strings.HasPrefix(pattern[i:], "[:"):
			if end := strings.Index(pattern[i:], ":]"); end > 0 {
				i += end + 1
			}
		case pattern[i] == ']':
			return i
		}
	}
	return -1
}

// matcherLiterals is requiredLiterals for a compiled regexp.
func matcherLiterals(re *regexp.Regexp) ([]literal, bool) {
	lits, ok, _ := matcherRequirements(re)
	return lits, ok
}

// matcherRequirements is requirements for a compiled regexp.
func matcherRequirements(re *regexp.Regexp) (lits []literal, ok bool, also [][]literal) {
	parsed, err := parseSyntax(re.String())
	if err != nil {
		return nil, false, nil
	}
	return requirements(parsed)
}

// Match returns the findings a line produces (nil for most lines). A line no
// rule can match costs one scan of its bytes and allocates nothing.
func (e *Engine) Match(line probes.Line) []probes.Finding {
	idx := e.sources[line.Source]
	if idx == nil {
		return nil
	}
	var out []probes.Finding
	if len(idx.matchers) > 0 {
		// Up to 512 matchers per source the candidate set lives on the
		// stack; only a larger (user-made) rule set allocates.
		var stack [8]uint64
		var cand []uint64
		if idx.words <= len(stack) {
			cand = stack[:idx.words]
		} else {
			cand = make([]uint64, idx.words)
		}
		if e.noPrefilter {
			for i := range idx.matchers {
				cand[i>>6] |= 1 << (uint(i) & 63)
			}
		} else {
			idx.scan.scan(line.Text, cand)
			for _, id := range idx.always {
				cand[id>>6] |= 1 << (uint(id) & 63)
			}
		}
		matchedGroup := int32(-1)
		for w, word := range cand {
			for word != 0 {
				b := bits.TrailingZeros64(word)
				word &= word - 1
				m := idx.matchers[w*64+b]
				if m.group == matchedGroup {
					continue // another branch of this pattern matched
				}
				var matched bool
				if out, matched = e.try(m, line, out); matched {
					matchedGroup = m.group
				}
			}
		}
	}
	for _, f := range idx.npdFiles {
		out = e.matchNPDBuffer(f, line, out)
	}
	return out
}

// try runs one admitted matcher on the line; matched says whether its
// pattern matched (whether or not that made a finding).
func (e *Engine) try(m *matcher, line probes.Line, out []probes.Finding) (_ []probes.Finding, matched bool) {
	text := line.Text
	if m.rule.npd != nil {
		var ok bool
		if text, ok = m.rule.npd.file.message(text); !ok {
			return out, false
		}
	}
	if !e.noPrefilter {
		for _, set := range m.also {
			if !anyIn(set, text) {
				return out, false
			}
		}
	}
	if !m.test.MatchString(text) {
		return out, false
	}
	captures := extractCaptures(m.names, m.re.FindStringSubmatchIndex(text), text)
	if m.recovery {
		return append(out, e.recovered(m.rule, line, captures)), true
	}
	if m.rule.exclude != nil && m.rule.exclude.MatchString(text) {
		return out, true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fire(m.rule, line, text, captures, out), true
}

// fire records a rule match and returns its finding, if any. e.mu is held.
func (e *Engine) fire(c *compiledRule, line probes.Line, matched string, captures map[string]string, out []probes.Finding) []probes.Finding {
	at := line.Time
	if at.IsZero() {
		at = e.clock.Now()
	}
	for _, rc := range c.recall {
		found := e.recallContext(rc, line.Source, at, captures)
		if !found && rc.Required {
			return out
		}
	}
	if c.Kind == KindContext {
		e.remember(c, line.Source, at, captures)
		return out
	}
	if c.Reason != "" {
		e.last[c.Reason] = probes.Match{Reason: c.Reason, Line: line, Captures: copyMap(captures)}
	}
	if c.Kind == KindFact {
		return out
	}
	subject := c.subject.expand(captures, matched)
	count := 1
	if c.MinOccurrences > 1 {
		var reached bool
		count, reached = e.occur(c, subject, at)
		if !reached {
			return out
		}
	}
	return append(out, e.finding(c, line, matched, at, subject, captures, count))
}

func (e *Engine) finding(c *compiledRule, line probes.Line, matched string, at time.Time, subject string, captures map[string]string, count int) probes.Finding {
	f := probes.Finding{
		Check:    c.Check,
		Reason:   c.Reason,
		Severity: c.Severity,
		Message:  c.message.expand(captures, matched),
		Remedy:   c.remedy.expand(captures, matched),
		Evidence: evidence(line, matched, captures),
		Subject:  subject,
		Time:     at,
	}
	if c.npd != nil {
		f.Message = c.npd.message(matched)
		if !c.npd.multiLine {
			f.Evidence["line"] = truncate(line.Text, maxEvidenceLen)
		}
	}
	if c.Kind == KindPermanent {
		f.Condition = c.Condition
		f.Clear = c.clear
		if f.Clear.Mode == probes.ClearOnReboot {
			f.Clear.BootID = line.BootID
		}
	}
	if c.MinOccurrences > 1 {
		f.Evidence["occurrences"] = fmt.Sprint(count)
		f.Evidence["window"] = c.Window.Duration.String()
	}
	return f
}

// recovered builds the finding that clears a permanent rule's condition.
func (e *Engine) recovered(c *compiledRule, line probes.Line, captures map[string]string) probes.Finding {
	at := line.Time
	if at.IsZero() {
		at = e.clock.Now()
	}
	subject := c.subject.expand(captures, line.Text)
	e.mu.Lock()
	if subjects := e.occ[c]; subjects != nil {
		delete(subjects, subject)
	}
	e.mu.Unlock()
	return probes.Finding{
		Check:     c.Check,
		Condition: c.Condition,
		Reason:    c.Reason,
		Severity:  c.Severity,
		Message:   oneLine("recovered: "+line.Text, maxMessageLen),
		Remedy:    "none needed: the log reports recovery",
		Evidence:  evidence(line, line.Text, captures),
		Subject:   subject,
		Time:      at,
		Clear:     c.clear,
		Recovered: true,
	}
}

// evidence holds the raw line, where it came from and the captures.
func evidence(line probes.Line, matched string, captures map[string]string) map[string]string {
	ev := make(map[string]string, len(captures)+len(line.Fields)+4)
	for k, v := range line.Fields {
		ev[k] = truncate(v, maxEvidenceLen)
	}
	for k, v := range captures {
		ev[k] = truncate(v, maxEvidenceLen)
	}
	ev["line"] = truncate(matched, maxEvidenceLen)
	ev["source"] = string(line.Source)
	if line.Origin != "" {
		ev["origin"] = line.Origin
	}
	if !line.Time.IsZero() {
		ev["time"] = line.Time.UTC().Format(time.RFC3339Nano)
	}
	return ev
}

// extractCaptures maps group names to matched text. Several groups may share
// a name (alternatives): the first group that took part in the match wins.
func extractCaptures(names []string, loc []int, text string) map[string]string {
	var m map[string]string
	for i, n := range names {
		if n == "" || 2*i+1 >= len(loc) || loc[2*i] < 0 {
			continue
		}
		if m == nil {
			m = make(map[string]string, len(names))
		}
		if _, set := m[n]; !set {
			m[n] = text[loc[2*i]:loc[2*i+1]]
		}
	}
	if m == nil {
		m = map[string]string{}
	}
	return m
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// LastMatch returns the latest line a rule with this reason matched. It
// implements probes.LogRecall.
func (e *Engine) LastMatch(reason string) (probes.Match, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.last[reason]
	if !ok {
		return probes.Match{}, false
	}
	m.Captures = copyMap(m.Captures)
	return m, true
}

var _ probes.LogRecall = (*Engine)(nil)

// Reasons lists every reason the loaded rules can report (fact and context
// rules report none), once per reason and condition, in rule order. Sources
// is the union of the sources of every rule reporting that reason and
// condition, in the order the rules name them: the agent keeps a condition
// fed only by these rules Unknown while none of them is being read.
func (e *Engine) Reasons() []probes.ReasonInfo {
	out := make([]probes.ReasonInfo, len(e.reasons))
	for i, r := range e.reasons {
		r.Sources = slices.Clone(r.Sources)
		out[i] = r
	}
	return out
}

func reasonsOf(rules []*compiledRule) []probes.ReasonInfo {
	var out []probes.ReasonInfo
	index := map[string]int{}
	for _, c := range rules {
		if c.Kind != KindTemporary && c.Kind != KindPermanent {
			continue
		}
		k := c.Reason + "\x00" + c.Condition
		if i, seen := index[k]; seen {
			for _, s := range c.Sources {
				if !slices.Contains(out[i].Sources, s) {
					out[i].Sources = append(out[i].Sources, s)
				}
			}
			continue
		}
		index[k] = len(out)
		summary := c.Summary
		if summary == "" {
			summary = fmt.Sprintf("log rule %s matched", c.Name)
		}
		var sources []probes.Source
		for _, s := range c.Sources {
			if !slices.Contains(sources, s) {
				sources = append(sources, s)
			}
		}
		out = append(out, probes.ReasonInfo{Reason: c.Reason, Condition: c.Condition, Severity: c.Severity, Summary: summary, Sources: sources})
	}
	return out
}
