package agent

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nodetriage/nodetriage/probes"
)

// t0 is the fake clocks' start in these tests.
var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// fakeReporter records what the agent hands over.
type fakeReporter struct {
	mu       sync.Mutex
	handOver int
	conds    []Condition
	remove   []string
	events   []Event
}

func (r *fakeReporter) SetConditions(conds []Condition, remove []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handOver++
	r.conds = append([]Condition(nil), conds...)
	r.remove = append([]string(nil), remove...)
}

func (r *fakeReporter) Emit(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *fakeReporter) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (r *fakeReporter) state() (int, []Condition, []string, []Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handOver, append([]Condition(nil), r.conds...), append([]string(nil), r.remove...), append([]Event(nil), r.events...)
}

func (r *fakeReporter) condition(typ string) (Condition, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conds {
		if c.Type == typ {
			return c, true
		}
	}
	return Condition{}, false
}

func newTestMetrics(t testing.TB) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, "test", "abc")
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// counterValue reads one labelled series of a collector.
func counterValue(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

// funcSpec is a check spec whose Check is fn.
func funcSpec(name, condition string, interval, timeout time.Duration, fn func(ctx context.Context) ([]probes.Finding, error)) probes.Spec {
	return probes.Spec{
		Name: name, Condition: condition, Interval: interval, Timeout: timeout, DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{{Reason: name + "Failing", Condition: condition, Severity: probes.SeverityProblem}},
		New: func(probes.Env) (probes.Check, error) {
			return probes.CheckFunc(fn), nil
		},
	}
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o644)
}
