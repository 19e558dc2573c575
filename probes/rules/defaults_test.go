package rules

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/probes"
)

func allPackCases() []packCase {
	return append(append([]packCase{}, kernelCases...), serviceCases...)
}

func TestDefaultPacks(t *testing.T) {
	for _, tc := range allPackCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, DefaultRules())
			at := testStart
			for _, b := range tc.before {
				if got := e.Match(testLine(tc.source, b, at)); len(got) != 0 {
					t.Fatalf("earlier line %q produced %d findings, want none: %+v", b, len(got), got)
				}
				at = at.Add(time.Millisecond)
			}
			repeat := max(tc.repeat, 1)
			var got []probes.Finding
			var line probes.Line
			for i := range repeat {
				line = testLine(tc.source, tc.line, at)
				got = e.Match(line)
				if i < repeat-1 && len(got) != 0 {
					t.Fatalf("feed %d of %d produced %d findings, want none before the last", i+1, repeat, len(got))
				}
				at = at.Add(time.Minute)
			}
			for _, f := range got {
				if !f.Time.Equal(line.Time) {
					t.Errorf("finding %s time = %v, want the line's %v", f.Reason, f.Time, line.Time)
				}
			}
			if diff := cmp.Diff(tc.want, view(t, line, got, tc.want)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDefaultRulesCoverage holds every default rule to at least three
// positive lines in the tables above, and every rule to a remedy, a summary
// and a literal prefilter.
func TestDefaultRulesCoverage(t *testing.T) {
	e := newTestEngine(t, DefaultRules())
	positives := map[string]int{}
	for _, tc := range allPackCases() {
		lines := append(append([]string{}, tc.before...), tc.line)
		for _, c := range e.rules {
			if !containsSource(c.Sources, tc.source) {
				continue
			}
			for _, l := range lines {
				if !c.re.MatchString(l) {
					continue
				}
				switch c.Kind {
				case KindContext, KindFact:
					positives[c.Name]++
				default:
					for _, w := range tc.want {
						if w.Reason == c.Reason && w.Condition == c.Condition && l == tc.line {
							positives[c.Name]++
							break
						}
					}
				}
			}
		}
	}
	for _, c := range e.rules {
		t.Run(c.Name, func(t *testing.T) {
			if n := positives[c.Name]; n < 3 && c.Name != "kube-proxy-version" {
				t.Errorf("rule has %d positive test lines, want at least 3", n)
			}
			if c.Kind == KindTemporary || c.Kind == KindPermanent {
				if c.Summary == "" || c.Remedy == "" {
					t.Errorf("rule lacks a summary or remedy")
				}
			}
			lits, ok := matcherLiterals(c.re)
			if !ok {
				t.Fatalf("rule has no literal prefilter: every line would run its regexp")
			}
			for _, l := range lits {
				if len(l.text) < 4 {
					t.Errorf("prefilter literal %q is too short to be selective", l.text)
				}
			}
		})
	}
}

// TestDefaultRulesNearMisses holds every default rule to at least one near
// miss of its own: a case naming the rule in nearMissOf. Its line resembles
// the rule's signal — it shares, ignoring case, at least 8 bytes (or the
// whole of a shorter literal) with one of the literals the rule's prefilter
// looks for — and must not match the rule: on a source the rule reads, the
// pattern does not match, the exclude pattern does, or the context a required
// recall needs is missing. A kernel rule's near miss may also be its text
// written to /dev/kmsg from user space (signals.md §7.1: test scripts do
// that), which no kernel rule reads. TestDefaultPacks checks what the line
// fires instead, if anything.
func TestDefaultRulesNearMisses(t *testing.T) {
	e := newTestEngine(t, DefaultRules())
	byName := map[string]*compiledRule{}
	for _, c := range e.rules {
		byName[c.Name] = c
	}
	nearMisses := map[string]int{}
	for _, tc := range allPackCases() {
		for _, name := range tc.nearMissOf {
			c := byName[name]
			if c == nil {
				t.Errorf("case %q: nearMissOf names %q, not a default rule", tc.name, name)
				continue
			}
			lits, _ := matcherLiterals(c.re)
			if !resembles(lits, tc.line) {
				t.Errorf("case %q is no near miss of %s: it shares no 8 bytes with its literals %s", tc.name, name, showLiterals(c.re))
				continue
			}
			switch {
			case containsSource(c.Sources, tc.source):
				matched := c.re.MatchString(tc.line) && (c.exclude == nil || !c.exclude.MatchString(tc.line))
				fired := slices.ContainsFunc(tc.want, func(w want) bool {
					return w.Check == c.Check && w.Reason == c.Reason && w.Condition == c.Condition
				})
				if fired || (matched && !requiresRecall(c)) {
					t.Errorf("case %q is no near miss of %s: the rule matches it", tc.name, name)
					continue
				}
			case tc.source == probes.SourceKmsgUser && containsSource(c.Sources, probes.SourceKernel):
			default:
				t.Errorf("case %q is no near miss of %s: the rule does not read %s", tc.name, name, tc.source)
				continue
			}
			nearMisses[name]++
		}
	}
	for _, c := range e.rules {
		t.Run(c.Name, func(t *testing.T) {
			if nearMisses[c.Name] == 0 {
				t.Errorf("no near miss of its own: add a benign line that resembles its signal (literals %s) but must not match, with nearMissOf %q", showLiterals(c.re), c.Name)
			}
		})
	}
}

// resembles reports whether line shares, ignoring case, 8 bytes (or a whole
// shorter literal) with one of lits.
func resembles(lits []literal, line string) bool {
	line = strings.ToLower(line)
	for _, l := range lits {
		text := strings.ToLower(l.text)
		n := min(8, len(text))
		for i := 0; i+n <= len(text); i++ {
			if strings.Contains(line, text[i:i+n]) {
				return true
			}
		}
	}
	return false
}

func requiresRecall(c *compiledRule) bool {
	return slices.ContainsFunc(c.Recall, func(r Recall) bool { return r.Required })
}

func showLiterals(re *regexp.Regexp) string {
	lits, _ := matcherLiterals(re)
	var out []string
	for _, l := range lits {
		out = append(out, strconv.Quote(showLiteral(l)))
	}
	return strings.Join(out, ", ")
}

func containsSource(list []probes.Source, s probes.Source) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestKubeProxyVersionFact checks the fact rule through LogRecall for every
// era's start-up line.
func TestKubeProxyVersionFact(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"structured klog", `I1122 07:40:01.123456       1 server.go:484] "Version info" version="v1.31.2"`, "v1.31.2"},
		{"printf era", `I0102 03:04:05.678901       1 server.go:548] Version: v1.18.3`, "v1.18.3"},
		{"json logging", `{"ts":1700000000000.1,"caller":"app/server.go:484","msg":"Version info","v":0,"version":{"major":"1","minor":"29","gitVersion":"v1.29.4-eks-036c24b","gitCommit":"9c3b","gitTreeState":"clean","buildDate":"2024-04-30T23:53:00Z","goVersion":"go1.21.9","compiler":"gc","platform":"linux/amd64"}}`, "v1.29.4-eks-036c24b"},
		{"k3s suffix", `I0102 03:04:05.678901       1 server.go:484] "Version info" version="v1.28.3+k3s1"`, "v1.28.3+k3s1"},
		{"bare message (journal, no klog header)", `Version: v1.27.16`, "v1.27.16"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, DefaultRules())
			if _, ok := e.LastMatch("KubeProxyVersion"); ok {
				t.Fatal("LastMatch before any line reports a match")
			}
			line := testLine(probes.SourceKubeProxy, tc.line, testStart)
			if got := e.Match(line); len(got) != 0 {
				t.Fatalf("fact rule produced findings: %+v", got)
			}
			m, ok := e.LastMatch("KubeProxyVersion")
			if !ok {
				t.Fatal("LastMatch(KubeProxyVersion) found nothing")
			}
			if m.Captures["version"] != tc.want || m.Line.Text != tc.line || m.Reason != "KubeProxyVersion" {
				t.Errorf("LastMatch = %q from %q, want version %q", m.Captures["version"], m.Line.Text, tc.want)
			}
		})
	}
	t.Run("near misses", func(t *testing.T) {
		e := newTestEngine(t, DefaultRules())
		for _, l := range []string{
			`I0102 03:04:05.678901       1 server.go:489] "Golang settings" GOGC="" GOMAXPROCS="" GOTRACEBACK=""`,
			`I0102 03:04:05.678901       1 server_linux.go:1] "kube-proxy running in single-stack mode" ipFamily="IPv4"`,
			`I0102 03:04:05.678901       1 flags.go:64] FLAG: --version="false"`,
		} {
			e.Match(testLine(probes.SourceKubeProxy, l, testStart))
		}
		if m, ok := e.LastMatch("KubeProxyVersion"); ok {
			t.Errorf("near misses recorded version %q", m.Captures["version"])
		}
	})
	t.Run("latest wins and captures are a copy", func(t *testing.T) {
		e := newTestEngine(t, DefaultRules())
		e.Match(testLine(probes.SourceKubeProxy, `I0102 server.go:1] "Version info" version="v1.30.1"`, testStart))
		e.Match(testLine(probes.SourceKubeProxy, `I0102 server.go:1] "Version info" version="v1.32.0"`, testStart.Add(time.Hour)))
		m, _ := e.LastMatch("KubeProxyVersion")
		m.Captures["version"] = "mutated"
		m2, _ := e.LastMatch("KubeProxyVersion")
		if m2.Captures["version"] != "v1.32.0" {
			t.Errorf("version = %q, want v1.32.0", m2.Captures["version"])
		}
	})
}

// TestReasons checks that Reasons lists each default reason once per
// condition, with conditions only on permanent rules and nothing for facts.
func TestReasons(t *testing.T) {
	e := newTestEngine(t, DefaultRules())
	got := map[string]probes.ReasonInfo{}
	for _, r := range e.Reasons() {
		k := r.Reason + "/" + r.Condition
		if _, dup := got[k]; dup {
			t.Errorf("reason %s listed twice", k)
		}
		got[k] = r
		if r.Summary == "" {
			t.Errorf("reason %s has no summary", k)
		}
	}
	wantKeys := []string{
		"OOMKilling/", "TaskHung/", "DockerHung/KernelDeadlock", "ContainerdHung/KernelDeadlock", "KubeletHung/KernelDeadlock",
		"RuncHung/KernelDeadlock", "CrioHung/KernelDeadlock", "SoftLockup/", "KernelOops/", "UnregisterNetDevice/", "Ext4Error/",
		"Ext4Warning/", "FilesystemIsReadOnly/ReadonlyFilesystem", "XfsShutdown/ReadonlyFilesystem", "IOError/",
		"NFSServerNotResponding/NFSServerUnreachable", "ConntrackTableFull/ConntrackProblem", "ConntrackTableFull/", "KmemAllocationFailed/",
		"PLEGUnhealthy/KubeletUnhealthy", "ContainerRuntimeDown/", "NetworkPluginNotReady/", "KubeletCertificateRotationFailed/",
		"NodeLeaseRenewFailed/", "ImagePullFailed/", "ImagePullRateLimited/", "CgroupCreateFailing/MemoryCgroupLeak", "CgroupCreateFailed/",
		"EvictionThresholdMet/", "SandboxImagePullFailing/SandboxImageMissing", "DiskFull/", "OCIRuntimeCreateFailed/",
		"ConntrackBinaryMissing/ConntrackProblem", "KubeletRestartLoop/KubeletUnhealthy", "ContainerdRestartLoop/KubeletUnhealthy",
	}
	var missing []string
	for _, k := range wantKeys {
		if _, ok := got[k]; !ok {
			missing = append(missing, k)
		}
		delete(got, k)
	}
	if len(missing) > 0 || len(got) > 0 {
		var extra []string
		for k := range got {
			extra = append(extra, k)
		}
		t.Errorf("Reasons() missing %v, unexpected %v", missing, extra)
	}
	for _, r := range e.Reasons() {
		if r.Reason == "KubeProxyVersion" {
			t.Error("fact reason KubeProxyVersion listed")
		}
		if strings.HasPrefix(r.Condition, "Kernel") && r.Condition != "KernelDeadlock" {
			t.Errorf("condition %s looks like NPD's", r.Condition)
		}
	}
}
