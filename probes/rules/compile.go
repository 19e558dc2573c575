package rules

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/nodetriage/nodetriage/probes"
)

// compiledRule is a validated rule with its regexps and templates.
type compiledRule struct {
	Rule
	idx      int
	re       *regexp.Regexp
	names    []string
	exclude  *regexp.Regexp
	recovery *regexp.Regexp
	recNames []string
	message  template
	remedy   template
	subject  template
	// recoverySubject is Subject expanded with the recovery line's captures.
	clear  probes.ClearPolicy // Mode and Quiet; BootID is filled per line
	recall []compiledRecall
}

type compiledRecall struct {
	Recall
	from   *compiledRule
	within time.Duration
}

// ruleError is a validation error about one field of one rule. DecodeUserRules
// turns it into a probes.FieldError ("rules[3].pattern"), NewEngine into
// `rule "name": pattern: …`.
type ruleError struct {
	field string
	msg   string
}

func (e *ruleError) Error() string { return e.field + ": " + e.msg }

func fieldErr(field, format string, args ...any) *ruleError {
	return &ruleError{field: field, msg: fmt.Sprintf(format, args...)}
}

const defaultRecallWithin = time.Minute

// compileRule validates one rule on its own (cross-rule checks — duplicate
// names, recall targets — happen in linkRules).
func compileRule(r Rule) (*compiledRule, error) {
	if r.Name == "" {
		return nil, fieldErr("name", "must not be empty")
	}
	if r.Kind == "" {
		r.Kind = KindTemporary
	}
	if r.Check == "" {
		r.Check = UserRulesCheck
	}
	switch r.Kind {
	case KindTemporary, KindPermanent, KindFact, KindContext:
	default:
		return nil, fieldErr("kind", "unknown kind %q (want temporary, permanent, fact or context)", r.Kind)
	}
	if len(r.Sources) == 0 {
		return nil, fieldErr("sources", "must list at least one source")
	}
	for i, s := range r.Sources {
		if !knownSource(s) {
			return nil, fieldErr(fmt.Sprintf("sources[%d]", i), "unknown source %q (want one of %v)", s, ruleSources)
		}
		if slices.Contains(r.Sources[:i], s) {
			return nil, fieldErr(fmt.Sprintf("sources[%d]", i), "source %q listed twice", s)
		}
	}
	if r.Severity == "" {
		r.Severity = probes.SeverityWarning
	}
	switch r.Severity {
	case probes.SeverityInfo, probes.SeverityWarning, probes.SeverityProblem:
	default:
		return nil, fieldErr("severity", "unknown severity %q (want info, warning or problem)", r.Severity)
	}
	if r.Kind != KindContext || r.Reason != "" {
		if err := checkCamelCase(r.Reason); err != nil {
			return nil, fieldErr("reason", "%v", err)
		}
	}
	c := &compiledRule{Rule: r}
	var err error
	if c.re, err = compilePattern(r.Pattern, r.CaseInsensitive); err != nil {
		return nil, fieldErr("pattern", "%v", err)
	}
	c.names = c.re.SubexpNames()
	if r.Exclude != "" {
		if c.exclude, err = compilePattern(r.Exclude, r.CaseInsensitive); err != nil {
			return nil, fieldErr("exclude", "%v", err)
		}
	}

	switch r.Kind {
	case KindPermanent:
		if r.Condition == "" {
			return nil, fieldErr("condition", "a permanent rule must name the condition it sets")
		}
		if err := checkCamelCase(r.Condition); err != nil {
			return nil, fieldErr("condition", "%v", err)
		}
		if reservedConditions[r.Condition] {
			return nil, fieldErr("condition", "%q is reserved (cluster autoscalers replace nodes on it); choose another type", r.Condition)
		}
		if r.Severity == probes.SeverityInfo {
			return nil, fieldErr("severity", "info never raises a condition; use warning or problem for a permanent rule")
		}
	default:
		if r.Condition != "" {
			return nil, fieldErr("condition", "only permanent rules set a condition (kind is %s)", r.Kind)
		}
		if !r.Clear.isZero() {
			return nil, fieldErr("clear", "only permanent rules have a clear policy (kind is %s)", r.Kind)
		}
	}
	if r.Kind == KindTemporary || r.Kind == KindPermanent {
		if r.Message == "" && r.npd == nil {
			return nil, fieldErr("message", "must not be empty")
		}
		if r.Remedy == "" {
			return nil, fieldErr("remedy", "must not be empty: say what fixes it")
		}
	}
	if r.ContextKey != "" && r.Kind != KindContext {
		return nil, fieldErr("contextKey", "only context rules remember captures (kind is %s)", r.Kind)
	}
	if r.MinOccurrences < 0 || r.MinOccurrences > maxMinOccurrences {
		return nil, fieldErr("minOccurrences", "must be between 0 and %d, got %d", maxMinOccurrences, r.MinOccurrences)
	}
	if r.MinOccurrences > 1 && r.Window.Duration <= 0 {
		return nil, fieldErr("window", "must be set when minOccurrences is above 1")
	}
	if r.MinOccurrences > 1 && (r.Kind == KindFact || r.Kind == KindContext) {
		return nil, fieldErr("minOccurrences", "only temporary and permanent rules count occurrences")
	}

	known := captureSet(c.names)
	for i, rc := range r.Recall {
		if rc.Rule == "" {
			return nil, fieldErr(fmt.Sprintf("recall[%d].rule", i), "must name a context rule")
		}
		if rc.Key != "" && !known[rc.Key] {
			return nil, fieldErr(fmt.Sprintf("recall[%d].key", i), "%q is not a named group of the pattern", rc.Key)
		}
	}
	if r.ContextKey != "" && !known[r.ContextKey] {
		return nil, fieldErr("contextKey", "%q is not a named group of the pattern", r.ContextKey)
	}

	if c.message, err = parseTemplate(r.Message); err != nil {
		return nil, fieldErr("message", "%v", err)
	}
	if c.remedy, err = parseTemplate(r.Remedy); err != nil {
		return nil, fieldErr("remedy", "%v", err)
	}
	if c.subject, err = parseTemplate(r.Subject); err != nil {
		return nil, fieldErr("subject", "%v", err)
	}

	if r.Clear.Recovery != "" {
		if c.recovery, err = compilePattern(r.Clear.Recovery, r.CaseInsensitive); err != nil {
			return nil, fieldErr("clear.recovery", "%v", err)
		}
		c.recNames = c.recovery.SubexpNames()
		recKnown := captureSet(c.recNames)
		for _, n := range c.subject.names() {
			if !recKnown[n] {
				return nil, fieldErr("clear.recovery", "the subject uses ${%s} but the recovery pattern has no such named group", n)
			}
		}
	}
	c.clear = clearPolicy(r)
	return c, nil
}

const maxMinOccurrences = 1000

func (c Clear) isZero() bool { return c == Clear{} }

// clearPolicy decides how a permanent rule's condition goes away: an explicit
// onReboot or quiet window wins; kernel rules without a recovery pattern clear
// on reboot (a kernel fault is not undone by silence); everything else clears
// after the quiet window (zero: the agent's default).
func clearPolicy(r Rule) probes.ClearPolicy {
	if r.Kind != KindPermanent {
		return probes.ClearPolicy{}
	}
	switch {
	case r.Clear.OnReboot:
		return probes.ClearPolicy{Mode: probes.ClearOnReboot}
	case r.Clear.Quiet.Duration > 0:
		return probes.ClearPolicy{Mode: probes.ClearAfterQuiet, Quiet: r.Clear.Quiet.Duration}
	case r.Clear.Recovery == "" && slices.Contains(r.Sources, probes.SourceKernel):
		return probes.ClearPolicy{Mode: probes.ClearOnReboot}
	}
	return probes.ClearPolicy{Mode: probes.ClearAfterQuiet}
}

func compilePattern(p string, caseInsensitive bool) (*regexp.Regexp, error) {
	if p == "" {
		return nil, errors.New("must not be empty")
	}
	if caseInsensitive {
		p = "(?i)" + p
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, describeRegexpError(err)
	}
	return re, nil
}

// describeRegexpError names the Perl features RE2 lacks, which is what NPD
// and hand-written rules most often trip over.
func describeRegexpError(err error) error {
	var se *syntax.Error
	if errors.As(err, &se) && strings.ContainsFunc(se.Expr, unicode.IsControl) {
		// regexp prints the expression raw; a newline in a pattern from a
		// JSON file would split the error over lines.
		return fmt.Errorf("error parsing regexp: %s: %q", se.Code, se.Expr)
	}
	if errors.As(err, &se) && (se.Code == syntax.ErrInvalidPerlOp || se.Code == syntax.ErrInvalidNamedCapture) {
		switch {
		case strings.HasPrefix(se.Expr, "(?="):
			return fmt.Errorf("RE2 does not support lookahead `(?=`")
		case strings.HasPrefix(se.Expr, "(?!"):
			return fmt.Errorf("RE2 does not support negative lookahead `(?!` (use the exclude pattern)")
		case strings.HasPrefix(se.Expr, "(?<="), strings.HasPrefix(se.Expr, "(?<!"):
			return fmt.Errorf("RE2 does not support lookbehind `%s`", se.Expr[:4])
		}
	}
	return err
}

func captureSet(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		if n != "" {
			m[n] = true
		}
	}
	return m
}

func checkCamelCase(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if s[0] < 'A' || s[0] > 'Z' {
		return fmt.Errorf("%q must be CamelCase starting with an upper-case letter", s)
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return fmt.Errorf("%q must be CamelCase letters and digits only", s)
		}
	}
	return nil
}

// linkRules checks what spans rules: unique names and recall targets, and
// that every template reference can be filled. It returns the index of the
// rule at fault with the error.
func linkRules(rules []*compiledRule) (int, error) {
	byName := make(map[string]*compiledRule, len(rules))
	for i, c := range rules {
		if prev, ok := byName[c.Name]; ok {
			return i, fieldErr("name", "duplicate rule name %q (also rule %d)", c.Name, prev.idx)
		}
		byName[c.Name] = c
	}
	for i, c := range rules {
		c.recall = c.recall[:0]
		available := captureSet(c.names)
		available[lineRef] = true
		for j, rc := range c.Recall {
			from, ok := byName[rc.Rule]
			if !ok {
				return i, fieldErr(fmt.Sprintf("recall[%d].rule", j), "no rule named %q", rc.Rule)
			}
			if from.Kind != KindContext {
				return i, fieldErr(fmt.Sprintf("recall[%d].rule", j), "rule %q is kind %s, not context", rc.Rule, from.Kind)
			}
			if !shareSource(c.Sources, from.Sources) {
				return i, fieldErr(fmt.Sprintf("recall[%d].rule", j), "rule %q reads none of this rule's sources", rc.Rule)
			}
			if rc.Key != "" && from.ContextKey == "" {
				return i, fieldErr(fmt.Sprintf("recall[%d].key", j), "rule %q has no contextKey to look %q up by", rc.Rule, rc.Key)
			}
			within := rc.Within.Duration
			if within == 0 {
				within = defaultRecallWithin
			}
			c.recall = append(c.recall, compiledRecall{Recall: rc, from: from, within: within})
			for n := range captureSet(from.names) {
				available[n] = true
			}
		}
		for _, t := range []struct {
			field string
			tmpl  template
		}{{"message", c.message}, {"remedy", c.remedy}, {"subject", c.subject}} {
			for _, n := range t.tmpl.names() {
				if !available[n] {
					return i, fieldErr(t.field, "${%s} is not a named group of the pattern or of a recalled context rule", n)
				}
			}
		}
	}
	return -1, nil
}

func shareSource(a, b []probes.Source) bool {
	for _, s := range a {
		if slices.Contains(b, s) {
			return true
		}
	}
	return false
}
