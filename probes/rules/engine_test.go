package rules

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

func userRule(name string, mod func(*Rule)) Rule {
	r := Rule{
		Name:    name,
		Check:   UserRulesCheck,
		Sources: []probes.Source{probes.SourceKubelet},
		Pattern: `boom (?P<what>\w+)`,
		Reason:  "Boom",
		Message: "boom ${what}",
		Remedy:  "stop it",
	}
	if mod != nil {
		mod(&r)
	}
	return r
}

func TestMinOccurrencesWindow(t *testing.T) {
	rule := userRule("loop", func(r *Rule) {
		r.Kind = KindPermanent
		r.Condition = "LoopCondition"
		r.Subject = "${what}"
		r.MinOccurrences = 3
		r.Window = D(10 * time.Minute)
	})
	type feed struct {
		at   time.Duration
		what string
		want bool
	}
	tests := []struct {
		name  string
		feeds []feed
	}{
		{"three within the window fire, and keep firing", []feed{
			{0, "a", false}, {4 * time.Minute, "a", false}, {9 * time.Minute, "a", true}, {10 * time.Minute, "a", true},
		}},
		{"spread wider than the window never fires", []feed{
			{0, "a", false}, {6 * time.Minute, "a", false}, {12 * time.Minute, "a", false}, {18 * time.Minute, "a", false}, {24 * time.Minute, "a", false},
		}},
		{"the window's edge is inclusive", []feed{
			{0, "a", false}, {5 * time.Minute, "a", false}, {10 * time.Minute, "a", true},
		}},
		{"subjects count separately", []feed{
			{0, "a", false}, {time.Minute, "b", false}, {2 * time.Minute, "a", false}, {3 * time.Minute, "b", false}, {4 * time.Minute, "a", true}, {5 * time.Minute, "b", true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, []Rule{rule})
			for i, f := range tc.feeds {
				got := e.Match(testLine(probes.SourceKubelet, "boom "+f.what, testStart.Add(f.at)))
				if (len(got) == 1) != f.want {
					t.Fatalf("feed %d (%v, %s): %d findings, want fire=%v", i, f.at, f.what, len(got), f.want)
				}
				if f.want {
					if got[0].Subject != f.what || got[0].Evidence["window"] != "10m0s" || got[0].Evidence["occurrences"] == "" {
						t.Errorf("finding subject %q evidence %v", got[0].Subject, got[0].Evidence)
					}
				}
			}
		})
	}
}

func TestMinOccurrencesSubjectsAreBounded(t *testing.T) {
	rule := userRule("loop", func(r *Rule) {
		r.Subject = "${what}"
		r.MinOccurrences = 2
		r.Window = D(time.Hour)
	})
	e, err := NewEngine([]Rule{rule}, Options{Clock: clocktesting.NewFakePassiveClock(testStart), MaxSubjects: 2})
	if err != nil {
		t.Fatal(err)
	}
	at := testStart
	feed := func(what string) int {
		at = at.Add(time.Second)
		return len(e.Match(testLine(probes.SourceKubelet, "boom "+what, at)))
	}
	feed("a")
	feed("b")
	feed("c") // evicts a, the least recently seen
	if n := len(e.occ[e.rules[0]]); n != 2 {
		t.Fatalf("kept %d subjects, want 2", n)
	}
	if feed("a") != 0 {
		t.Error("a fired although its first occurrence was evicted")
	}
	if feed("c") != 1 {
		t.Error("c did not fire on its second occurrence")
	}
}

func TestRecovery(t *testing.T) {
	e := newTestEngine(t, DefaultRules())
	line := func(s string, at time.Duration) []probes.Finding {
		return e.Match(testLine(probes.SourceKernel, s, testStart.Add(at)))
	}
	if got := line("nfs: server a.example not responding, still trying", 0); len(got) != 1 || got[0].Recovered {
		t.Fatalf("not responding: %+v", got)
	}
	got := line("nfs: server b.example OK", time.Minute)
	want := []want{{
		Check: KernelPack, Reason: "NFSServerNotResponding", Condition: "NFSServerUnreachable", Severity: probes.SeverityProblem,
		Subject: "b.example", Message: "recovered: nfs: server b.example OK", Clear: probes.ClearPolicy{Mode: probes.ClearOnReboot}, Recovered: true,
		Evidence: ev("server", "b.example", "program", "nfs"),
	}}
	if diff := cmp.Diff(want, view(t, testLine(probes.SourceKernel, "x", testStart), got, want)); diff != "" {
		t.Errorf("recovery for another server (-want +got):\n%s", diff)
	}
	got = line("nfs: server a.example OK", 2*time.Minute)
	if len(got) != 1 || !got[0].Recovered || got[0].Subject != "a.example" || got[0].Condition != "NFSServerUnreachable" {
		t.Errorf("recovery: %+v", got)
	}
}

func TestRecoveryResetsOccurrences(t *testing.T) {
	rule := userRule("flaky", func(r *Rule) {
		r.Kind = KindPermanent
		r.Condition = "Flaky"
		r.Subject = "${what}"
		r.MinOccurrences = 2
		r.Window = D(time.Hour)
		r.Clear = Clear{Recovery: `healed (?P<what>\w+)`}
	})
	e := newTestEngine(t, []Rule{rule})
	feed := func(s string, at time.Duration) []probes.Finding {
		return e.Match(testLine(probes.SourceKubelet, s, testStart.Add(at)))
	}
	feed("boom x", 0)
	if got := feed("healed x", time.Minute); len(got) != 1 || !got[0].Recovered || got[0].Subject != "x" {
		t.Fatalf("recovery: %+v", got)
	}
	if got := feed("boom x", 2*time.Minute); len(got) != 0 {
		t.Errorf("first occurrence after recovery fired: %+v", got)
	}
	if got := feed("boom x", 3*time.Minute); len(got) != 1 {
		t.Errorf("second occurrence after recovery did not fire")
	}
}

func TestClearPolicies(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Rule)
		want probes.ClearPolicy
	}{
		{"kernel permanent clears on reboot", func(r *Rule) { r.Sources = []probes.Source{probes.SourceKernel} },
			probes.ClearPolicy{Mode: probes.ClearOnReboot, BootID: testBootID}},
		{"kernel permanent with quiet window", func(r *Rule) {
			r.Sources = []probes.Source{probes.SourceKernel}
			r.Clear.Quiet = D(7 * time.Minute)
		}, probes.ClearPolicy{Mode: probes.ClearAfterQuiet, Quiet: 7 * time.Minute}},
		{"kernel permanent with recovery clears after the agent's quiet window", func(r *Rule) {
			r.Sources = []probes.Source{probes.SourceKernel}
			r.Clear.Recovery = "fine"
		}, probes.ClearPolicy{Mode: probes.ClearAfterQuiet}},
		{"kubelet permanent uses the agent's quiet window", nil, probes.ClearPolicy{Mode: probes.ClearAfterQuiet}},
		{"kubelet permanent with its own window", func(r *Rule) { r.Clear.Quiet = D(time.Hour) },
			probes.ClearPolicy{Mode: probes.ClearAfterQuiet, Quiet: time.Hour}},
		{"explicit onReboot on a kubelet rule", func(r *Rule) { r.Clear.OnReboot = true },
			probes.ClearPolicy{Mode: probes.ClearOnReboot, BootID: testBootID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := userRule("p", func(r *Rule) {
				r.Kind = KindPermanent
				r.Condition = "SomethingWrong"
				if tc.mod != nil {
					tc.mod(r)
				}
			})
			e := newTestEngine(t, []Rule{r})
			got := e.Match(testLine(r.Sources[0], "boom now", testStart))
			if len(got) != 1 {
				t.Fatalf("got %d findings", len(got))
			}
			if got[0].Clear != tc.want {
				t.Errorf("Clear = %+v, want %+v", got[0].Clear, tc.want)
			}
		})
	}
	t.Run("temporary findings carry no clear policy", func(t *testing.T) {
		e := newTestEngine(t, []Rule{userRule("t", nil)})
		got := e.Match(testLine(probes.SourceKubelet, "boom now", testStart))
		if len(got) != 1 || got[0].Clear != (probes.ClearPolicy{}) || got[0].Condition != "" {
			t.Errorf("got %+v", got)
		}
	})
}

// TestOOMCorrelation pins the bounds of the memcg context: same pid, same
// source, recent, bounded ring.
func TestOOMCorrelation(t *testing.T) {
	const summary = "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=x,mems_allowed=0,oom_memcg=/kubepods/p%d,task_memcg=/kubepods/p%d/c,task=app,pid=%d,uid=0"
	const kill = "Memory cgroup out of memory: Killed process %d (app) total-vm:10kB, anon-rss:5kB, file-rss:0kB, shmem-rss:0kB"
	type step struct {
		src  probes.Source
		text string
		at   time.Duration
	}
	tests := []struct {
		name      string
		entries   int
		steps     []step
		wantMemcg string // of the last (kill) line; "" = no memcg evidence
	}{
		{"same pid", 0, []step{{probes.SourceKernel, fmt.Sprintf(summary, 1, 1, 100), 0}, {probes.SourceKernel, fmt.Sprintf(kill, 100), time.Millisecond}}, "/kubepods/p1/c"},
		{"other pid", 0, []step{{probes.SourceKernel, fmt.Sprintf(summary, 1, 1, 100), 0}, {probes.SourceKernel, fmt.Sprintf(kill, 200), time.Millisecond}}, ""},
		{"too old", 0, []step{{probes.SourceKernel, fmt.Sprintf(summary, 1, 1, 100), 0}, {probes.SourceKernel, fmt.Sprintf(kill, 100), 2 * time.Minute}}, ""},
		{"newest summary for the pid wins", 0, []step{
			{probes.SourceKernel, fmt.Sprintf(summary, 1, 1, 100), 0},
			{probes.SourceKernel, fmt.Sprintf(summary, 2, 2, 100), time.Second},
			{probes.SourceKernel, fmt.Sprintf(kill, 100), 2 * time.Second}}, "/kubepods/p2/c"},
		{"ring is bounded: an evicted summary is not found", 2, []step{
			{probes.SourceKernel, fmt.Sprintf(summary, 1, 1, 100), 0},
			{probes.SourceKernel, fmt.Sprintf(summary, 2, 2, 200), time.Millisecond},
			{probes.SourceKernel, fmt.Sprintf(summary, 3, 3, 300), 2 * time.Millisecond},
			{probes.SourceKernel, fmt.Sprintf(kill, 100), 3 * time.Millisecond}}, ""},
		{"ring keeps the newest entries", 2, []step{
			{probes.SourceKernel, fmt.Sprintf(summary, 1, 1, 100), 0},
			{probes.SourceKernel, fmt.Sprintf(summary, 2, 2, 200), time.Millisecond},
			{probes.SourceKernel, fmt.Sprintf(summary, 3, 3, 300), 2 * time.Millisecond},
			{probes.SourceKernel, fmt.Sprintf(kill, 200), 3 * time.Millisecond}}, "/kubepods/p2/c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEngine(DefaultRules(), Options{ContextEntries: tc.entries})
			if err != nil {
				t.Fatal(err)
			}
			var got []probes.Finding
			for _, s := range tc.steps {
				got = e.Match(testLine(s.src, s.text, testStart.Add(s.at)))
			}
			if len(got) != 1 || got[0].Reason != "OOMKilling" {
				t.Fatalf("kill line gave %+v", got)
			}
			memcg, ok := got[0].Evidence["memcg"]
			if tc.wantMemcg == "" && ok {
				t.Errorf("memcg = %q, want none", memcg)
			}
			if tc.wantMemcg != "" && memcg != tc.wantMemcg {
				t.Errorf("memcg = %q, want %q", memcg, tc.wantMemcg)
			}
			if got[0].Evidence["pid"] == "" || got[0].Evidence["comm"] != "app" {
				t.Errorf("pid/comm evidence: %v", got[0].Evidence)
			}
		})
	}
}

func TestNewEngineErrors(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		want  string
	}{
		{"duplicate name", []Rule{userRule("a", nil), userRule("a", nil)}, `rule 1 "a": name: duplicate rule name "a" (also rule 0)`},
		{"bad regexp", []Rule{userRule("a", func(r *Rule) { r.Pattern = "boom (" })}, "rule 0 \"a\": pattern: error parsing regexp: missing closing ): `boom (`"},
		{"lookahead", []Rule{userRule("a", func(r *Rule) { r.Pattern = "boom(?=x)" })}, "rule 0 \"a\": pattern: RE2 does not support lookahead `(?=`"},
		{"negative lookahead", []Rule{userRule("a", func(r *Rule) { r.Pattern = "boom(?!x)" })}, "rule 0 \"a\": pattern: RE2 does not support negative lookahead `(?!` (use the exclude pattern)"},
		{"unknown source", []Rule{userRule("a", func(r *Rule) { r.Sources = []probes.Source{"sshd"} })}, `rule 0 "a": sources[0]: unknown source "sshd" (want one of [kernel kubelet containerd crio dockerd kube-proxy systemd])`},
		{"kmsg-user is not a rule source", []Rule{userRule("a", func(r *Rule) { r.Sources = []probes.Source{probes.SourceKmsgUser} })}, `rule 0 "a": sources[0]: unknown source "kmsg-user"`},
		{"no source", []Rule{userRule("a", func(r *Rule) { r.Sources = nil })}, `rule 0 "a": sources: must list at least one source`},
		{"permanent without condition", []Rule{userRule("a", func(r *Rule) { r.Kind = KindPermanent })}, `rule 0 "a": condition: a permanent rule must name the condition it sets`},
		{"reserved condition", []Rule{userRule("a", func(r *Rule) { r.Kind = KindPermanent; r.Condition = "KernelReady" })}, `rule 0 "a": condition: "KernelReady" is reserved`},
		{"info permanent", []Rule{userRule("a", func(r *Rule) { r.Kind = KindPermanent; r.Condition = "X"; r.Severity = probes.SeverityInfo })}, `rule 0 "a": severity: info never raises a condition`},
		{"condition on temporary", []Rule{userRule("a", func(r *Rule) { r.Condition = "X" })}, `rule 0 "a": condition: only permanent rules set a condition (kind is temporary)`},
		{"bad severity", []Rule{userRule("a", func(r *Rule) { r.Severity = "fatal" })}, `rule 0 "a": severity: unknown severity "fatal"`},
		{"bad kind", []Rule{userRule("a", func(r *Rule) { r.Kind = "sometimes" })}, `rule 0 "a": kind: unknown kind "sometimes"`},
		{"reason not CamelCase", []Rule{userRule("a", func(r *Rule) { r.Reason = "boom_boom" })}, `rule 0 "a": reason: "boom_boom" must be CamelCase starting with an upper-case letter`},
		{"no remedy", []Rule{userRule("a", func(r *Rule) { r.Remedy = "" })}, `rule 0 "a": remedy: must not be empty: say what fixes it`},
		{"unknown template name", []Rule{userRule("a", func(r *Rule) { r.Message = "boom ${nope}" })}, `rule 0 "a": message: ${nope} is not a named group of the pattern or of a recalled context rule`},
		{"bad template", []Rule{userRule("a", func(r *Rule) { r.Remedy = "fix ${what" })}, `rule 0 "a": remedy: unterminated ${ at "${what"`},
		{"window missing", []Rule{userRule("a", func(r *Rule) { r.MinOccurrences = 3 })}, `rule 0 "a": window: must be set when minOccurrences is above 1`},
		{"recall unknown rule", []Rule{userRule("a", func(r *Rule) { r.Recall = []Recall{{Rule: "ctx"}} })}, `rule 0 "a": recall[0].rule: no rule named "ctx"`},
		{"recall non-context rule", []Rule{userRule("a", func(r *Rule) { r.Recall = []Recall{{Rule: "b"}} }), userRule("b", nil)}, `rule 0 "a": recall[0].rule: rule "b" is kind temporary, not context`},
		{"recall key not a group", []Rule{userRule("a", func(r *Rule) { r.Recall = []Recall{{Rule: "b", Key: "pid"}} })}, `rule 0 "a": recall[0].key: "pid" is not a named group of the pattern`},
		{"clear on temporary", []Rule{userRule("a", func(r *Rule) { r.Clear.Quiet = D(time.Minute) })}, `rule 0 "a": clear: only permanent rules have a clear policy (kind is temporary)`},
		{"recovery subject needs the group", []Rule{userRule("a", func(r *Rule) {
			r.Kind = KindPermanent
			r.Condition = "X"
			r.Subject = "${what}"
			r.Clear.Recovery = "fine"
		})}, `rule 0 "a": clear.recovery: the subject uses ${what} but the recovery pattern has no such named group`},
		{"bad exclude", []Rule{userRule("a", func(r *Rule) { r.Exclude = "[" })}, "rule 0 \"a\": exclude: error parsing regexp: missing closing ]: `[`"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewEngine(tc.rules, Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error = %v\nwant prefix %s", err, tc.want)
			}
		})
	}
}

func TestExcludeAndCaseInsensitive(t *testing.T) {
	e := newTestEngine(t, []Rule{userRule("a", func(r *Rule) {
		r.CaseInsensitive = true
		r.Exclude = `harmless`
	})})
	for _, tc := range []struct {
		line string
		want int
	}{
		{"BOOM Bang", 1},
		{"Boom bang", 1},
		{"boom bang but HARMLESS", 0},
		{"bo om", 0},
	} {
		if got := e.Match(testLine(probes.SourceKubelet, tc.line, testStart)); len(got) != tc.want {
			t.Errorf("%q: %d findings, want %d", tc.line, len(got), tc.want)
		}
	}
}

func TestTemplates(t *testing.T) {
	tests := []struct {
		tmpl     string
		captures map[string]string
		want     string
	}{
		{"plain", nil, "plain"},
		{"${a} and ${b}", map[string]string{"a": "x", "b": "y"}, "x and y"},
		{"${a:-none}", nil, "none"},
		{"${a:-none}", map[string]string{"a": "set"}, "set"},
		{"${a}", map[string]string{"a": "two\nlines\tand\x7f"}, "two lines and "},
		{"line: ${line}", nil, "line: the raw line"},
		{"${line}", map[string]string{"line": "captured"}, "captured"},
		{"${a}", map[string]string{"a": strings.Repeat("é", 600)}, strings.Repeat("é", 510) + "…"},
	}
	for _, tc := range tests {
		tmpl, err := parseTemplate(tc.tmpl)
		if err != nil {
			t.Fatalf("parseTemplate(%q): %v", tc.tmpl, err)
		}
		if got := tmpl.expand(tc.captures, "the raw line"); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.tmpl, got, tc.want)
		}
	}
	for _, bad := range []string{"${", "${}", "${1a}", "${a b}", "${:-x}"} {
		if _, err := parseTemplate(bad); err == nil {
			t.Errorf("parseTemplate(%q) succeeded", bad)
		}
	}
}

func TestEvidenceTruncatesLongLines(t *testing.T) {
	e := newTestEngine(t, []Rule{userRule("a", nil)})
	long := "boom x " + strings.Repeat("ü", 400)
	got := e.Match(probes.Line{Source: probes.SourceKubelet, Text: long, Fields: map[string]string{"_SYSTEMD_UNIT": "kubelet.service"}})
	if len(got) != 1 {
		t.Fatal("no finding")
	}
	ev := got[0].Evidence
	if len(ev["line"]) > maxEvidenceLen || !strings.HasSuffix(ev["line"], "…") || !strings.HasPrefix(ev["line"], "boom x ü") {
		t.Errorf("line evidence %d bytes: %q…", len(ev["line"]), ev["line"][:20])
	}
	if ev["_SYSTEMD_UNIT"] != "kubelet.service" {
		t.Errorf("line fields not kept as evidence: %v", ev)
	}
	if _, ok := ev["time"]; ok {
		t.Errorf("time evidence for a line without time: %q", ev["time"])
	}
	if !got[0].Time.Equal(testStart) {
		t.Errorf("finding time %v, want the clock's %v for a line without time", got[0].Time, testStart)
	}
}

func TestDuplicateGroupNames(t *testing.T) {
	e := newTestEngine(t, []Rule{userRule("a", func(r *Rule) {
		r.Pattern = `left (?P<what>\w+)|right (?P<what>\w+)`
	})})
	for line, want := range map[string]string{"left one": "one", "right two": "two"} {
		got := e.Match(testLine(probes.SourceKubelet, line, testStart))
		if len(got) != 1 || got[0].Message != "boom "+want {
			t.Errorf("%q: %+v", line, got)
		}
	}
}

// TestConcurrentMatch feeds several sources from several goroutines (as the
// agent does, one consumer per source) under -race.
func TestConcurrentMatch(t *testing.T) {
	e := newTestEngine(t, DefaultRules())
	lines := map[probes.Source][]string{
		probes.SourceKernel: {
			"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=x,mems_allowed=0,oom_memcg=/k/p,task_memcg=/k/p/c,task=a,pid=7,uid=0",
			"Memory cgroup out of memory: Killed process 7 (a) total-vm:1kB, anon-rss:1kB, file-rss:0kB",
			"nfs: server s not responding, still trying", "nfs: server s OK", "eth0: link up",
		},
		probes.SourceKubelet:   {`"Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active 3m1s ago; threshold is 3m0s"`, "I0102 all good"},
		probes.SourceSystemd:   {"kubelet.service: Scheduled restart job, restart counter is at 1.", "Started Session 1 of user root."},
		probes.SourceKubeProxy: {`"Version info" version="v1.30.0"`},
	}
	var wg sync.WaitGroup
	for src, ls := range lines {
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 300; i++ {
					e.Match(testLine(src, ls[i%len(ls)], testStart.Add(time.Duration(i)*time.Second)))
					e.LastMatch("KubeProxyVersion")
				}
			}()
		}
	}
	wg.Wait()
	if m, ok := e.LastMatch("KubeProxyVersion"); !ok || m.Captures["version"] != "v1.30.0" {
		t.Errorf("LastMatch after concurrent feeding: %+v %v", m, ok)
	}
}

// TestReasonsListSources: a reason reported by several rules reads the union
// of their sources; the agent relies on it to tell "nothing in the logs"
// from "no log read".
func TestReasonsListSources(t *testing.T) {
	rules := []Rule{
		userRule("kubelet-boom", func(r *Rule) {
			r.Kind, r.Condition = KindPermanent, "Boomed"
		}),
		userRule("runtime-boom", func(r *Rule) {
			r.Kind, r.Condition = KindPermanent, "Boomed"
			r.Sources = []probes.Source{probes.SourceContainerd, probes.SourceKubelet, probes.SourceCRIO}
		}),
		userRule("kernel-boom-event", func(r *Rule) {
			r.Sources = []probes.Source{probes.SourceKernel}
		}),
		userRule("fact", func(r *Rule) {
			r.Kind, r.Reason = KindFact, "BoomVersion"
			r.Sources = []probes.Source{probes.SourceKubeProxy}
		}),
	}
	e, err := NewEngine(rules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []probes.ReasonInfo{
		{Reason: "Boom", Condition: "Boomed", Severity: probes.SeverityWarning, Summary: "log rule kubelet-boom matched",
			Sources: []probes.Source{probes.SourceKubelet, probes.SourceContainerd, probes.SourceCRIO}},
		{Reason: "Boom", Severity: probes.SeverityWarning, Summary: "log rule kernel-boom-event matched", Sources: []probes.Source{probes.SourceKernel}},
	}
	got := e.Reasons()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Reasons() (-want +got):\n%s", diff)
	}
	got[0].Sources[0] = probes.SourceSystemd
	if e.Reasons()[0].Sources[0] != probes.SourceKubelet {
		t.Error("Reasons() hands out the engine's own slice")
	}
}

// TestDefaultReasonsHaveSources: every default reason names what it reads.
func TestDefaultReasonsHaveSources(t *testing.T) {
	e, err := NewEngine(DefaultRules(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range e.Reasons() {
		if len(r.Sources) == 0 {
			t.Errorf("reason %s/%s has no sources", r.Reason, r.Condition)
		}
		if r.Condition == "KernelDeadlock" && !slices.Equal(r.Sources, []probes.Source{probes.SourceKernel}) {
			t.Errorf("KernelDeadlock reason %s reads %v, want only the kernel log", r.Reason, r.Sources)
		}
	}
}

// TestUnfilteredRuleWarning checks the one warning NewEngine logs per rule
// the literal prefilter cannot narrow — user rules from the AgentConfig and
// imported NPD rules alike — and that such rules still load and match.
func TestUnfilteredRuleWarning(t *testing.T) {
	user, err := DecodeUserRules(settings(`{"rules": [
	  {"name": "upper-only", "sources": ["kubelet", "containerd"], "pattern": "\\d{5,} restarts|^[[:upper:]]+$",
	   "reason": "Shouting", "message": "shouting", "remedy": "lower the volume"},
	  {"name": "gpu-lost", "sources": ["kernel"], "pattern": "NVRM: GPU (?P<pci>\\S+) has fallen off the bus", "kind": "permanent",
	   "condition": "GPUProblem", "reason": "GPULost", "severity": "problem", "message": "GPU ${pci} is gone", "remedy": "reboot",
	   "clear": {"recovery": "^[0-9a-f]{4}:[0-9a-f]{2}$"}},
	  {"name": "etcd-slow", "sources": ["kubelet"], "pattern": "slow fdatasync took (?P<took>\\S+)",
	   "reason": "EtcdSlowDisk", "message": "etcd fdatasync took ${took}", "remedy": "move /var/lib/etcd to a faster disk"},
	  {"name": "huge-line", "sources": ["kube-proxy"], "pattern": "^.{1000,}$", "reason": "HugeLine", "message": "a huge line", "remedy": "log less"}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	npd, err := ParseNPD([]byte(`{"plugin": "journald", "pluginConfig": {"source": "kubelet"}, "bufferSize": 4,
	  "conditions": [{"type": "KubeletStuck", "reason": "Fine", "message": "ok"}],
	  "rules": [
	    {"type": "temporary", "reason": "AnyNumber", "pattern": "[0-9]+"},
	    {"type": "permanent", "condition": "KubeletStuck", "reason": "TwoLines", "pattern": "sync failed\\nretrying"},
	    {"type": "temporary", "reason": "Fine", "pattern": "PLEG is not healthy.*"}
	  ]}`), "kubelet-extra.json")
	if err != nil {
		t.Fatal(err)
	}
	type warning struct {
		Level, Msg, Rule, Check, Why string
		Sources                      []string
	}
	var log strings.Builder
	e, err := NewEngine(append(append(DefaultRules(), user...), npd...), Options{
		Clock:  clocktesting.NewFakePassiveClock(testStart),
		Logger: slog.New(slog.NewJSONHandler(&log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []warning
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var w warning
		if err := json.Unmarshal([]byte(l), &w); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		got = append(got, w)
	}
	const msg = "log rule runs on every line of its sources: the prefilter cannot narrow it"
	want := []warning{
		{Level: "WARN", Msg: msg, Rule: "upper-only", Check: UserRulesCheck, Sources: []string{"kubelet", "containerd"},
			Why: "its pattern has no literal text of 3 or more bytes that every match must contain"},
		{Level: "WARN", Msg: msg, Rule: "gpu-lost", Check: UserRulesCheck, Sources: []string{"kernel"},
			Why: "its recovery pattern has no literal text of 3 or more bytes that every match must contain"},
		{Level: "WARN", Msg: msg, Rule: "huge-line", Check: UserRulesCheck, Sources: []string{"kube-proxy"},
			Why: "its pattern has no literal text of 3 or more bytes that every match must contain"},
		{Level: "WARN", Msg: msg, Rule: "npd:kubelet-extra.json/rules[0]", Check: "npd:kubelet-extra.json", Sources: []string{"kubelet"},
			Why: "its pattern has no literal text of 3 or more bytes that every match must contain"},
		{Level: "WARN", Msg: msg, Rule: "npd:kubelet-extra.json/rules[1]", Check: "npd:kubelet-extra.json", Sources: []string{"kubelet"},
			Why: "its NPD pattern can match across lines, so it is searched in the last 4 messages on every line"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	// huge-line has no literal at all (upper-only and gpu-lost only short
	// ones): it is the one matcher run on every kube-proxy line.
	if idx := e.sources[probes.SourceKubeProxy]; len(idx.always) != 1 || idx.matchers[idx.always[0]].rule.Name != "huge-line" {
		t.Errorf("kube-proxy matchers without a literal: %v, want huge-line's", idx.always)
	}

	// Warned about, not rejected: the rules match.
	fs := e.Match(testLine(probes.SourceContainerd, "STOP", testStart))
	if len(fs) != 1 || fs[0].Reason != "Shouting" {
		t.Errorf("upper-only on %q: %+v, want one Shouting finding", "STOP", fs)
	}
	fs = e.Match(testLine(probes.SourceKubeProxy, strings.Repeat("x", 1000), testStart))
	if len(fs) != 1 || fs[0].Reason != "HugeLine" {
		t.Errorf("huge-line on a 1000-byte line: %+v, want one HugeLine finding", fs)
	}
	fs = e.Match(testLine(probes.SourceKubelet, "synced pod 42", testStart))
	if len(fs) != 1 || fs[0].Reason != "AnyNumber" {
		t.Errorf("NPD [0-9]+ on a kubelet line: %+v, want one AnyNumber finding", fs)
	}

	// The default packs alone load without a warning.
	log.Reset()
	if _, err := NewEngine(DefaultRules(), Options{Logger: slog.New(slog.NewJSONHandler(&log, nil))}); err != nil {
		t.Fatal(err)
	}
	if log.Len() != 0 {
		t.Errorf("default packs logged at load:\n%s", log.String())
	}
}
