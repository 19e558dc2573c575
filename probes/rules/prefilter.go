package rules

import (
	"regexp/syntax"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// literal is a substring every match of some pattern must contain. Text holds
// the bytes to look for; positions where fold[i] is true may appear in either
// ASCII case in the line (they come from a case-insensitive pattern and are
// stored lower-case); the other positions must match exactly.
type literal struct {
	text string
	fold string // one byte per text byte: '1' = case-insensitive position
}

func (l literal) key() string { return l.text + "\x00" + l.fold }

func (l literal) concat(r literal) literal {
	return literal{text: l.text + r.text, fold: l.fold + r.fold}
}

// Limits keep the literal analysis small; past them it gives up precision,
// never correctness (a weaker requirement only means more regex runs).
const (
	maxExactSet  = 16
	maxExactLen  = 128
	minUsefulLit = 1
)

// litInfo describes what a regexp node can match.
//
//   - exact != nil: the node matches exactly one of these strings (nil means
//     unknown or infinite; an empty, non-nil set means it matches nothing).
//   - req: every match contains at least one of these strings; reqAny means
//     no requirement is known.
//   - also: further OR-sets every match satisfies too (the requirements of a
//     concatenation that req is not), for the check after the scanner.
type litInfo struct {
	exact  []literal
	req    []literal
	reqAny bool
	also   [][]literal
}

// requiredLiterals returns an OR-set of literals at least one of which every
// match of re must contain, or ok=false when no such set is known (the rule
// must then be tried on every line).
func requiredLiterals(re *syntax.Regexp) (lits []literal, ok bool) {
	lits, ok, _ = requirements(re)
	return lits, ok
}

// requirements is requiredLiterals and alsoRequired from one analysis of
// re: the scanner's OR-set (ok=false: none) and the further sets checked
// after it admits the pattern.
func requirements(re *syntax.Regexp) (lits []literal, ok bool, also [][]literal) {
	info := analyze(re.Simplify())
	set, any := info.requirement()
	if any {
		return nil, false, nil
	}
	lits = pruneImplied(dedupeLiterals(set))
	return lits, true, alsoRequired(info.also, lits)
}

// Limits on the extra requirements checked after the scanner admits a
// pattern: only short lists of selective literals are worth a substring
// search per admitted line.
const (
	maxAlsoSets    = 4
	maxAlsoSetSize = 4
	minAlsoLit     = 4
)

// alsoRequired picks, from a pattern's further requirements (litInfo.also),
// the OR-sets of literals besides the scanner's (requiredLiterals) that
// every match must also contain and are worth checking: a pattern
// like `PullImage "[^"]*pause[^"]*" failed` is admitted by its longest
// literal and then needs `" failed` too, which a substring search rules out
// far cheaper than the regexp. Only selective sets are kept (at most
// maxAlsoSets of at most maxAlsoSetSize literals of minAlsoLit bytes or
// more, the most selective first).
func alsoRequired(sets [][]literal, scanned []literal) [][]literal {
	var out [][]literal
	seen := map[string]bool{setKey(scanned): true}
	for _, set := range sets {
		set = pruneImplied(dedupeLiterals(set))
		if len(set) == 0 || len(set) > maxAlsoSetSize || minLen(set) < minAlsoLit {
			continue
		}
		if k := setKey(set); !seen[k] {
			seen[k] = true
			out = append(out, set)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return minLen(out[i]) > minLen(out[j]) })
	if len(out) > maxAlsoSets {
		out = out[:maxAlsoSets]
	}
	return out
}

func setKey(set []literal) string {
	keys := make([]string, len(set))
	for i, l := range set {
		keys[i] = l.key()
	}
	sort.Strings(keys)
	return strings.Join(keys, "\x01")
}

// in reports whether l occurs in text, its fold positions in either ASCII
// case.
func (l literal) in(text string) bool {
	if !strings.Contains(l.fold, "1") {
		return strings.Contains(text, l.text)
	}
	for start := 0; start+len(l.text) <= len(text); start++ {
		if l.matchesAt(text, start) {
			return true
		}
	}
	return false
}

func (l literal) matchesAt(text string, start int) bool {
	for i := 0; i < len(l.text); i++ {
		c := text[start+i]
		if l.fold[i] == '1' {
			c = foldByte(c)
		}
		if c != l.text[i] {
			return false
		}
	}
	return true
}

// anyIn reports whether one of set occurs in text.
func anyIn(set []literal, text string) bool {
	for _, l := range set {
		if l.in(text) {
			return true
		}
	}
	return false
}

// pruneImplied drops literals of an OR-set that cannot be found without a
// shorter member of the set being found too (they only cost scanner states).
func pruneImplied(set []literal) []literal {
	out := set[:0:0]
	for i, l := range set {
		implied := false
		for j, s := range set {
			if i != j && len(s.text) < len(l.text) && contains(l, s) {
				implied = true
				break
			}
		}
		if !implied {
			out = append(out, l)
		}
	}
	return out
}

// contains reports whether every occurrence of long in a line is also an
// occurrence of short: short appears inside long, and wherever short must
// match exactly, long does too.
func contains(long, short literal) bool {
	for off := 0; off+len(short.text) <= len(long.text); off++ {
		ok := true
		for k := 0; k < len(short.text) && ok; k++ {
			lc, sc := long.text[off+k], short.text[k]
			switch {
			case short.fold[k] == '1':
				ok = foldByte(lc) == sc
			default:
				ok = long.fold[off+k] == '0' && lc == sc
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (i litInfo) requirement() ([]literal, bool) {
	if i.exact != nil {
		return i.exact, hasEmpty(i.exact)
	}
	return i.req, i.reqAny
}

func hasEmpty(set []literal) bool {
	for _, l := range set {
		if len(l.text) < minUsefulLit {
			return true
		}
	}
	return false
}

var unconstrained = litInfo{reqAny: true}

func exactOf(lits ...literal) litInfo { return litInfo{exact: lits} }

func analyze(re *syntax.Regexp) litInfo {
	switch re.Op {
	case syntax.OpNoMatch:
		return litInfo{exact: []literal{}}
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine,
		syntax.OpBeginText, syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return exactOf(literal{})
	case syntax.OpLiteral:
		return literalInfo(re.Rune, re.Flags&syntax.FoldCase != 0)
	case syntax.OpCharClass:
		return charClassInfo(re.Rune)
	case syntax.OpCapture:
		return analyze(re.Sub[0])
	case syntax.OpConcat:
		subs := make([]litInfo, len(re.Sub))
		for i, s := range re.Sub {
			subs[i] = analyze(s)
		}
		return concatInfo(subs)
	case syntax.OpAlternate:
		subs := make([]litInfo, len(re.Sub))
		for i, s := range re.Sub {
			subs[i] = analyze(s)
		}
		return alternateInfo(subs)
	case syntax.OpQuest:
		sub := analyze(re.Sub[0])
		if sub.exact != nil && len(sub.exact) < maxExactSet {
			return exactOf(append(append([]literal{}, sub.exact...), literal{})...)
		}
		return unconstrained
	case syntax.OpStar:
		return unconstrained
	case syntax.OpPlus:
		return requireOnly(analyze(re.Sub[0]))
	case syntax.OpRepeat:
		if re.Min == 0 {
			return unconstrained
		}
		return requireOnly(analyze(re.Sub[0]))
	}
	// OpAnyChar, OpAnyCharNotNL and anything new: no knowledge.
	return unconstrained
}

// requireOnly keeps what a node requires but forgets its exact strings (for
// x+ and x{n,m}: at least one x is present, but the whole is not exact).
func requireOnly(i litInfo) litInfo {
	set, any := i.requirement()
	if any {
		return litInfo{reqAny: true, also: i.also}
	}
	return litInfo{req: set, also: i.also}
}

// literalInfo splits a literal at runes the line scanner cannot match
// byte-for-byte: U+FFFD (the regexp engine also matches it against invalid
// UTF-8 bytes) and, under case folding, runes whose fold orbit leaves ASCII
// (k/K also fold to the Kelvin sign U+212A, s/S to ſ U+017F).
func literalInfo(runes []rune, fold bool) litInfo {
	var pieces []litInfo
	var cur literal
	flush := func() {
		pieces = append(pieces, exactOf(cur))
		cur = literal{}
	}
	for _, r := range runes {
		if r == utf8.RuneError {
			flush()
			pieces = append(pieces, unconstrained)
			continue
		}
		if !fold || !hasCase(r) {
			var buf [utf8.UTFMax]byte
			n := utf8.EncodeRune(buf[:], r)
			cur.text += string(buf[:n])
			cur.fold += strings.Repeat("0", n)
			continue
		}
		if asciiFoldOnly(r) {
			cur.text += string(rune(unicode.ToLower(r)))
			cur.fold += "1"
			continue
		}
		flush()
		pieces = append(pieces, unconstrained)
	}
	flush()
	if len(pieces) == 1 {
		return pieces[0]
	}
	return concatInfo(pieces)
}

// hasCase reports whether r has other case forms.
func hasCase(r rune) bool { return unicode.SimpleFold(r) != r }

// asciiFoldOnly reports whether every rune r folds to is an ASCII letter.
func asciiFoldOnly(r rune) bool {
	if r >= utf8.RuneSelf {
		return false
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// charClassInfo turns small classes ([Ss], [0-3], the fold pair of one ASCII
// letter) into exact sets; larger ones carry no literal information.
func charClassInfo(ranges []rune) litInfo {
	var runes []rune
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if hi-lo >= maxExactSet || len(runes) > maxExactSet {
			return unconstrained
		}
		for r := lo; r <= hi; r++ {
			runes = append(runes, r)
		}
	}
	if len(runes) > maxExactSet || len(runes) == 0 {
		if len(runes) == 0 {
			return litInfo{exact: []literal{}}
		}
		return unconstrained
	}
	// A class that is exactly one ASCII letter's fold orbit is one
	// case-insensitive position.
	if len(runes) == 2 && asciiFoldOnly(runes[0]) && unicode.SimpleFold(runes[0]) == runes[1] {
		return exactOf(literal{text: string(unicode.ToLower(runes[0])), fold: "1"})
	}
	var set []literal
	for _, r := range runes {
		if r == utf8.RuneError {
			return unconstrained
		}
		s := string(r)
		set = append(set, literal{text: s, fold: strings.Repeat("0", len(s))})
	}
	return exactOf(set...)
}

func concatInfo(subs []litInfo) litInfo {
	var candidates [][]literal
	var also [][]literal
	cur := []literal{{}}
	allExact := true
	flushCur := func() {
		if !hasEmpty(cur) {
			candidates = append(candidates, cur)
		}
		cur = []literal{{}}
	}
	for _, s := range subs {
		also = append(also, s.also...)
		if s.exact != nil && len(cur)*len(s.exact) <= maxExactSet && maxLen(cur)+maxLen(s.exact) <= maxExactLen {
			cur = cross(cur, s.exact)
			continue
		}
		allExact = false
		flushCur()
		if s.exact != nil {
			cur = append([]literal{}, s.exact...)
			if len(cur) == 0 { // the node matches nothing, so neither does the concat
				return litInfo{exact: []literal{}}
			}
			continue
		}
		if !s.reqAny {
			candidates = append(candidates, s.req)
		}
	}
	if allExact {
		return exactOf(cur...)
	}
	flushCur()
	if len(candidates) == 0 {
		return litInfo{reqAny: true, also: also}
	}
	best := bestSet(candidates)
	for i, c := range candidates {
		if i != best {
			also = append(also, c)
		}
	}
	return litInfo{req: candidates[best], also: also}
}

func alternateInfo(subs []litInfo) litInfo {
	allExact := true
	var union []literal
	for _, s := range subs {
		if s.exact == nil {
			allExact = false
			break
		}
		union = append(union, s.exact...)
	}
	if allExact && len(union) <= maxExactSet {
		return exactOf(dedupeLiterals(union)...)
	}
	var req []literal
	for _, s := range subs {
		set, any := s.requirement()
		if any {
			return unconstrained
		}
		req = append(req, set...)
	}
	return litInfo{req: dedupeLiterals(req)}
}

func cross(a, b []literal) []literal {
	out := make([]literal, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x.concat(y))
		}
	}
	return dedupeLiterals(out)
}

func maxLen(set []literal) int {
	n := 0
	for _, l := range set {
		n = max(n, len(l.text))
	}
	return n
}

func minLen(set []literal) int {
	n := -1
	for _, l := range set {
		if n < 0 || len(l.text) < n {
			n = len(l.text)
		}
	}
	return n
}

// bestSet picks the most selective requirement, the index in sets: the
// longest shortest literal, then the fewest literals.
func bestSet(sets [][]literal) int {
	best := 0
	for i, s := range sets[1:] {
		if ml, bl := minLen(s), minLen(sets[best]); ml > bl || (ml == bl && len(s) < len(sets[best])) {
			best = i + 1
		}
	}
	return best
}

func dedupeLiterals(set []literal) []literal {
	seen := make(map[string]bool, len(set))
	out := set[:0:0]
	for _, l := range set {
		if !seen[l.key()] {
			seen[l.key()] = true
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}
