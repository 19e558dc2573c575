package rules

import (
	"bufio"
	"os"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/probes"
)

func TestRequiredLiterals(t *testing.T) {
	tests := []struct {
		pattern string
		// want lists literals as text, with folded positions upper-cased
		// ("Container" = case-insensitive c); nil = no requirement.
		want []string
	}{
		{`abc`, []string{"abc"}},
		{`(?i)abc`, []string{"ABC"}},
		{`(?i)kill`, []string{"ILL"}},                     // k also folds to the Kelvin sign
		{`(?i)toomanyrequests`, []string{"TOOMANYREQUE"}}, // s also folds to ſ
		{`[Cc]ontainer`, []string{"Container"}},
		{`[Ss]ervice`, []string{"Service", "service"}}, // s/S fold to ſ: kept exact
		{`foo|bar`, []string{"bar", "foo"}},
		{`foo|.*`, nil},
		{`.*`, nil},
		{`[^x]+`, nil},
		{`colou?r`, []string{"color", "colour"}},
		{`x+yz`, []string{"yz"}},
		{`a{3}b`, []string{"aaab"}},
		{`(?P<n>\d+) blocked for more than (?P<s>\d+) seconds`, []string{" blocked for more than "}},
		{"\ufffdabc", []string{"abc"}},
		{`(ab|cd)(ef|gh)`, []string{"abef", "abgh", "cdef", "cdgh"}},
		{`attempting to reclaim(?: |"? x)`, []string{"attempting to reclaim ", `attempting to reclaim" x`}}, // "…reclaim x" implied by "…reclaim "
		{`[\x{0}-\x{10FFFF}]`, nil},
		{`x[ab]`, []string{"xa", "xb"}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			re, err := syntax.Parse(tc.pattern, syntax.Perl)
			if err != nil {
				t.Fatal(err)
			}
			lits, ok := requiredLiterals(re)
			var got []string
			for _, l := range lits {
				got = append(got, showLiteral(l))
			}
			slices.Sort(got)
			if !ok {
				got = nil
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("literals (-want +got):\n%s", diff)
			}
		})
	}
}

func showLiteral(l literal) string {
	b := []byte(l.text)
	for i := range b {
		if l.fold[i] == '1' {
			b[i] = strings.ToUpper(string(b[i]))[0]
		}
	}
	return string(b)
}

func TestScanner(t *testing.T) {
	lits := []literal{
		{text: "he", fold: "00"},
		{text: "she", fold: "000"},
		{text: "hers", fold: "0000"},
		{text: "container", fold: "100000000"},
		{text: "PLEG", fold: "0000"},
	}
	hits := [][]int32{{0}, {1}, {2}, {3}, {4}}
	s := newScanner(lits, hits)
	tests := []struct {
		text string
		want []int
	}{
		{"", nil},
		{"ushers", []int{0, 1, 2}},
		{"HE SHE", nil},
		{"Container runtime", []int{3}},
		{"container", []int{3}},
		{"cONTAINER", nil},
		{"PLEG is", []int{4}},
		{"pleg is", nil},
		{"xx pleg PLEG", []int{4}},
		{"\xff\x00he\x80", []int{0}},
	}
	for _, tc := range tests {
		cand := make([]uint64, 1)
		s.scan(tc.text, cand)
		var got []int
		for i := 0; i < 64; i++ {
			if cand[0]&(1<<i) != 0 {
				got = append(got, i)
			}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("scan(%q) (-want +got):\n%s", tc.text, diff)
		}
	}
}

// prefilterStressRules adds rules that exercise the case-folding and
// invalid-UTF-8 corners of the prefilter to the default packs.
func prefilterStressRules() []Rule {
	src := []probes.Source{probes.SourceKernel, probes.SourceKubelet}
	mk := func(name, pattern string, ci bool) Rule {
		return Rule{Name: name, Check: UserRulesCheck, Sources: src, Pattern: pattern, CaseInsensitive: ci,
			Reason: "Stress", Message: "stress", Remedy: "none"}
	}
	return []Rule{
		mk("stress-kelvin", `kill (?P<x>\w+) ſtuff`, true),
		mk("stress-replacement", "\ufffdbad", false),
		mk("stress-class", `[Ss]tarted (?P<x>\w+)`, false),
		mk("stress-fold-mixed", `ABC[Dd]ef(?i:ghi)`, false),
		mk("stress-unicode", `(?i)grüße ÄRGER`, false),
		mk("stress-no-literal", `^\d{4}$`, false),
		// Alternations cut into branches, with captures in several
		// branches, bars inside classes, quotes and groups, flags that
		// apply to every branch, and literals checked after the scanner.
		mk("stress-branches", `failed to (?:pull|get) (?P<x>\w+) image|PullImage "(?P<x>[^"|]*pause[^"]*)" failed|\Qa|b\E end`, false),
		mk("stress-branches-fold", `(?i)disk (?P<d>sd[a-z]) error on (?P<x>\w+)|TABLE [[:alpha:]|]+ FULL`, false),
		mk("stress-branches-flag-mid", `first(?i)second|third`, false),
		mk("stress-also", `Killed process (?P<x>\d+) \(.*\) total-vm:\d+kB, UID:\d+`, true),
	}
}

// FuzzPrefilter: for any line on any source, Match with the prefilter finds
// exactly what Match finds when every rule's regexp runs on every line.
func FuzzPrefilter(f *testing.F) {
	rules := append(DefaultRules(), prefilterStressRules()...)
	fast, err := NewEngine(rules, Options{Logger: discardLogger})
	if err != nil {
		f.Fatal(err)
	}
	slow, err := NewEngine(rules, Options{noPrefilter: true, Logger: discardLogger})
	if err != nil {
		f.Fatal(err)
	}
	for _, tc := range allPackCases() {
		f.Add(uint8(slices.Index(ruleSources, tc.source)), tc.line)
	}
	if vf, err := os.Open("testdata/npd/npd-vectors.tsv"); err == nil {
		sc := bufio.NewScanner(vf)
		for sc.Scan() {
			if cols := strings.Split(sc.Text(), "\t"); len(cols) == 4 {
				f.Add(uint8(0), cols[1])
			}
		}
		vf.Close()
	}
	f.Add(uint8(0), "KILL bob \u017ftuff")
	f.Add(uint8(0), `PullImage "registry.k8s.io/pause:3.9" failed`)
	f.Add(uint8(0), `PullImage "registry.k8s.io/app:1" failed to pull bob image`)
	f.Add(uint8(0), "xx a|b end TABLE ab|c FULL")
	f.Add(uint8(1), "DISK SDB ERROR ON Node1 first Second THIRD")
	f.Add(uint8(0), "killed PROCESS 12 (java) TOTAL-VM:3kB, uid:0")
	f.Add(uint8(0), "kill bob STUFF")
	f.Add(uint8(1), "\xffbad")
	f.Add(uint8(1), "abcdefGHI")
	f.Add(uint8(0), "GRÜSSE ärger")
	var at time.Duration
	f.Fuzz(func(t *testing.T, src uint8, text string) {
		at += time.Second
		line := probes.Line{Source: ruleSources[int(src)%len(ruleSources)], Text: text, Time: testStart.Add(at), BootID: "b"}
		got, want := fast.Match(line), slow.Match(line)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Match(%q on %s) with prefilter differs (-without +with):\n%s", text, line.Source, diff)
		}
	})
}

func TestTopLevelBranches(t *testing.T) {
	tests := []struct {
		pattern string
		want    []string
	}{
		{`abc`, nil},
		{`a|b`, []string{`a`, `b`}},
		{`(?:a|b)c`, nil},
		{`a(b|c)|d`, []string{`a(b|c)`, `d`}},
		{`[|]x|y`, []string{`[|]x`, `y`}},
		{`[]|]x|y`, []string{`[]|]x`, `y`}},
		{`[^]|]x|y`, []string{`[^]|]x`, `y`}},
		{`[[:alpha:]|]x|y`, []string{`[[:alpha:]|]x`, `y`}},
		{`a\|b|c`, []string{`a\|b`, `c`}},
		{`\Qa|b\E|c`, []string{`\Qa|b\E`, `c`}},
		{`\Qa|b`, nil},
		{`(?i)a|b`, []string{`(?i)a`, `(?i)b`}},
		{`(?i:a)|b`, []string{`(?i:a)`, `b`}},
		{`(?P<x>a|b)|c`, []string{`(?P<x>a|b)`, `c`}},
		{`a(?i)b|c`, nil}, // (?i) reaches across the bar
		{`[a|b`, nil},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, topLevelBranches(tc.pattern)); diff != "" {
			t.Errorf("topLevelBranches(%q) (-want +got):\n%s", tc.pattern, diff)
		}
	}
}

// TestBranchMatchers: an alternation is tried branch by branch, each
// admitted by its own literals and checked for its other required literals
// before its regexp runs; a line that two branches match fires the rule
// once, with the whole pattern's captures.
func TestBranchMatchers(t *testing.T) {
	e := newTestEngine(t, DefaultRules())
	idx := e.sources[probes.SourceContainerd]
	var branches []*matcher
	for _, m := range idx.matchers {
		if m.rule.Name == "containerd-sandbox-image-pull-failing" {
			branches = append(branches, m)
		}
	}
	if len(branches) < 2 {
		t.Fatalf("containerd-sandbox-image-pull-failing has %d matchers, want one per top-level branch", len(branches))
	}
	var pull *matcher
	for _, m := range branches {
		if m.group != branches[0].group || m.re != branches[0].re {
			t.Errorf("branch %q: group %d and whole pattern must be the first branch's", m.test, m.group)
		}
		if strings.HasPrefix(m.test.String(), "PullImage") {
			pull = m
		}
	}
	if pull == nil {
		t.Fatal("no branch for PullImage … failed")
	}
	// Admitted by "PullImage ", which every pull request logs; the
	// required ` failed` rules out the plain request without the regexp.
	var also []string
	for _, set := range pull.also {
		for _, l := range set {
			also = append(also, l.text)
		}
	}
	if !slices.Contains(also, `" failed`) {
		t.Errorf("PullImage branch also needs %q, want `\" failed` among them", also)
	}

	stress := newTestEngine(t, prefilterStressRules())
	got := stress.Match(testLine(probes.SourceKernel, `failed to pull bob image and PullImage "registry.k8s.io/pause:3.9" failed`, testStart))
	if len(got) != 1 {
		t.Fatalf("a line two branches match: %d findings, want 1: %+v", len(got), got)
	}
	if x := got[0].Evidence["x"]; x != "bob" {
		t.Errorf("capture x = %q, want the whole pattern's leftmost match %q", x, "bob")
	}
}
