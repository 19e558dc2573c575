package faults

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/cri"
	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
	"github.com/nodetriage/nodetriage/hostchecks"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// Bounds on the agent's memory in every test. The idle agent has about
// 29 MiB resident: 9 MiB private (heap, stacks) and 20 MiB of its own
// executable mapped from the page cache (docs/benchmarks.md); the tests'
// journal files add their mapped pages. A leak grows the private part, so
// that bound is the tight one.
const (
	maxAgentRSSMiB  = 80
	maxAgentAnonMiB = 40
)

// plegLine is a kubelet log line the PLEGUnhealthy rule matches (kubelet
// 1.29's structured form), stamped now: the file tailer takes the klog
// time, and a line older than the quiet window would clear at once.
func plegLine() string {
	now := time.Now()
	return fmt.Sprintf(`I%s    2291 kubelet.go:2412] "Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active 3m5.123s ago; threshold is 3m0s"`,
		now.Format("0102 15:04:05.000000"))
}

// agentConfig builds an AgentConfig in which every check and log source is
// off unless listed, so a test's Node shows only what the test drives.
type agentConfig struct {
	stateDir string
	// checks maps a check name to its YAML flow mapping, e.g.
	// "{interval: 2s, timeout: 1s}".
	checks map[string]string
	// sources maps a log source name to its YAML flow mapping.
	sources map[string]string
	// extra is appended as is (quietWindow:, reporting:, reasons:).
	extra string
}

func (c agentConfig) YAML() string {
	var b strings.Builder
	b.WriteString("apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\n")
	fmt.Fprintf(&b, "stateDir: %s\n", c.stateDir)
	b.WriteString("checks:\n")
	for _, name := range allCheckNames() {
		if body, ok := c.checks[name]; ok {
			fmt.Fprintf(&b, "  %s: %s\n", name, body)
			continue
		}
		fmt.Fprintf(&b, "  %s: {enabled: false}\n", name)
	}
	b.WriteString("sources:\n")
	for _, name := range []string{"kmsg", "journal", "files"} {
		if body, ok := c.sources[name]; ok {
			fmt.Fprintf(&b, "  %s: %s\n", name, body)
			continue
		}
		fmt.Fprintf(&b, "  %s: {enabled: false}\n", name)
	}
	b.WriteString(c.extra)
	return b.String()
}

func allCheckNames() []string {
	var names []string
	for _, s := range append(hostchecks.Specs(), cri.Specs()...) {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names
}

// newHostRoot makes a fixture host root in a temp dir.
func newHostRoot(t *testing.T) *benchkit.HostRoot {
	t.Helper()
	h, err := benchkit.NewHostRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// startAgent runs the agent binary; it is stopped at cleanup, and its log
// is printed when the test failed.
func startAgent(t *testing.T, o benchkit.AgentOptions) *benchkit.Agent {
	t.Helper()
	o.Binary = agentBinary
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a, err := benchkit.StartAgent(ctx, o)
	if err != nil {
		t.Fatalf("start agent: %v", err)
	}
	t.Cleanup(func() {
		if _, err := a.Stop(10 * time.Second); err != nil {
			t.Errorf("stop agent: %v", err)
		}
		if t.Failed() {
			t.Logf("end of the agent log %s:\n%s", a.LogPath, a.LogTail(80))
		}
	})
	return a
}

// rssMonitor samples the agent's memory every half second until cleanup
// and then fails the test if it ever passed the bounds.
type rssMonitor struct {
	mu      sync.Mutex
	maxRSS  uint64
	maxAnon uint64
	stop    chan struct{}
	done    chan struct{}
}

func watchRSS(t *testing.T, a *benchkit.Agent) *rssMonitor {
	t.Helper()
	m := &rssMonitor{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			if s, err := a.Proc(); err == nil {
				m.mu.Lock()
				m.maxRSS = max(m.maxRSS, s.RSSBytes)
				m.maxAnon = max(m.maxAnon, s.AnonBytes)
				m.mu.Unlock()
			}
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		close(m.stop)
		<-m.done
		m.mu.Lock()
		rss, anon := benchkit.MiB(m.maxRSS), benchkit.MiB(m.maxAnon)
		m.mu.Unlock()
		if rss > maxAgentRSSMiB || anon > maxAgentAnonMiB {
			t.Errorf("agent memory reached RSS %.1f MiB (bound %d), private %.1f MiB (bound %d)", rss, maxAgentRSSMiB, anon, maxAgentAnonMiB)
			return
		}
		t.Logf("agent memory max: RSS %.1f MiB, private %.1f MiB", rss, anon)
	})
	return m
}

// watchNode creates the Node and follows it until cleanup.
func watchNode(t *testing.T, c *kubetest.Cluster, name string) *benchkit.NodeWatcher {
	t.Helper()
	c.CreateNode(t, name)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return benchkit.WatchNode(ctx, c.Client, name)
}

// waitAgent polls the agent's own view (/debug/findings) until ok holds.
func waitAgent(t *testing.T, a *benchkit.Agent, timeout time.Duration, what string, ok func([]benchkit.Condition) bool) []benchkit.Condition {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last []benchkit.Condition
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := a.Report(ctx)
		cancel()
		if err == nil {
			last = benchkit.ReportConditions(r)
			if ok(last) {
				return last
			}
		}
		if a.Exited() {
			t.Fatalf("agent exited while waiting for %s", what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not reach %s within %s (last error %v); its conditions:\n%s", what, timeout, err, benchkit.FormatConditions(last))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// hasCondition is a predicate for waitAgent and NodeWatcher.WaitFor.
func hasCondition(typ, status, reason string) func([]benchkit.Condition) bool {
	return func(cs []benchkit.Condition) bool {
		c, ok := benchkit.Find(cs, typ)
		return ok && c.Status == status && (reason == "" || c.Reason == reason)
	}
}

// requireNodeMatchesAgent waits until the Node's conditions in the API
// server equal the agent's own view, twice in a row, and returns them.
func requireNodeMatchesAgent(t *testing.T, w *benchkit.NodeWatcher, a *benchkit.Agent, timeout time.Duration) []benchkit.Condition {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastNode, lastAgent []benchkit.Condition
	matches := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := a.Report(ctx)
		cancel()
		if err == nil {
			lastAgent = benchkit.ReportConditions(r)
			if n, _ := w.Node(); n != nil {
				lastNode = benchkit.NodeConditions(n)
			}
			if len(lastAgent) > 0 && cmp.Equal(lastAgent, lastNode) {
				matches++
				if matches == 2 {
					return lastNode
				}
			} else {
				matches = 0
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Node conditions do not match the agent's after %s (-agent +node):\n%s", timeout, cmp.Diff(lastAgent, lastNode))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// requireConditions checks the truth a test injected: each listed
// condition with its status and reason.
func requireConditions(t *testing.T, got []benchkit.Condition, want map[string][2]string) {
	t.Helper()
	for typ, sr := range want {
		c, ok := benchkit.Find(got, typ)
		if !ok || c.Status != sr[0] || c.Reason != sr[1] {
			t.Errorf("%s = %+v, want status %s reason %s; all:\n%s", typ, c, sr[0], sr[1], benchkit.FormatConditions(got))
		}
	}
}

// metricValue scrapes the agent once.
func metricValue(t *testing.T, a *benchkit.Agent, name string, labels map[string]string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := a.Metrics(ctx)
	if err != nil {
		t.Fatalf("scrape agent: %v", err)
	}
	return m.Value(name, labels)
}

func containsAll(s string, subs ...string) bool {
	return !slices.ContainsFunc(subs, func(sub string) bool { return !strings.Contains(s, sub) })
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// appendUntil appends line to a host log file every second until the
// agent's view satisfies ok: a file the tailer has not opened yet is read
// from its end, so a line written before that is (rightly) never seen.
func appendUntil(t *testing.T, root *benchkit.HostRoot, hostPath string, line func() string, a *benchkit.Agent, what string, ok func([]benchkit.Condition) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := root.AppendFile(hostPath, []byte(line()+"\n")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := contextTimeout(5 * time.Second)
		r, err := a.Report(ctx)
		cancel()
		for i := 0; err == nil && i < 10 && !ok(benchkit.ReportConditions(r)); i++ {
			time.Sleep(100 * time.Millisecond)
			ctx, cancel := contextTimeout(5 * time.Second)
			r, err = a.Report(ctx)
			cancel()
		}
		if err == nil && ok(benchkit.ReportConditions(r)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not reach %s within 30s of appending to %s (err %v)", what, hostPath, err)
		}
	}
}
