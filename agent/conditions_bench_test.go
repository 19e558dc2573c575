package agent

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

// countingReporter counts hand-overs and events, nothing else, so the
// benchmark measures the state machine.
type countingReporter struct {
	handOvers, events atomic.Int64
}

func (r *countingReporter) SetConditions([]Condition, []string) { r.handOvers.Add(1) }
func (r *countingReporter) Emit(Event)                          { r.events.Add(1) }
func (r *countingReporter) Run(context.Context) error           { return nil }

// BenchmarkStateMachineStorm feeds a storm of 10,000 findings per simulated
// second for one condition (ConntrackProblem/ConntrackTableFull, as a
// flooded conntrack table produces) into the state machine, one op per
// finding. It reports hand-overs to the reporter per simulated batch
// interval (1s): the reporter writes at most once per batch anyway, and the
// state machine must not hand over what did not change.
//
//   - identical: the same line again and again (same key, same text)
//   - changing-message: same key, a message that differs each time (a pid)
//   - distinct-subjects: 1,000 different subjects (netns) cycling
func BenchmarkStateMachineStorm(b *testing.B) {
	const perSecond = 10000
	for _, tc := range []struct {
		name string
		make func(i int) probes.Finding
	}{
		{"identical", func(int) probes.Finding { return stormFinding("", "nf_conntrack: table full, dropping packet.") }},
		{"changing-message", func(i int) probes.Finding {
			return stormFinding("", "nf_conntrack: table full, dropping packet (pid "+strconv.Itoa(i)+").")
		}},
		{"distinct-subjects", func(i int) probes.Finding {
			return stormFinding("netns-"+strconv.Itoa(i%1000), "nf_conntrack: table full, dropping packet.")
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			clk := testingclock.NewFakeClock(t0)
			rep := &countingReporter{}
			m, _ := newTestMetrics(b)
			sm := NewConditions(ConditionsOptions{Clock: clk, Reporter: rep, Metrics: m, BootID: testBoot, Policy: ConditionPolicy{
				LogConditions: map[string][]probes.Source{"ConntrackProblem": {probes.SourceKernel}}, Streams: []string{"kmsg"},
				Reasons: map[string]ReasonOverride{}, QuietWindow: 10 * time.Minute,
			}})
			sm.SetStreamStatus("kmsg", true, nil)
			sm.SetStreamSources("kmsg", []probes.Source{probes.SourceKernel})
			findings := make([][]probes.Finding, 4096)
			for i := range findings {
				findings[i] = []probes.Finding{tc.make(i)}
			}
			start := rep.handOvers.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i%perSecond == 0 && i > 0 {
					sm.Evaluate() // the housekeeping loop's periodic look
				}
				clk.Step(time.Second / perSecond)
				sm.LogFindings(findings[i%len(findings)])
			}
			b.StopTimer()
			seconds := float64(b.N) / perSecond
			b.ReportMetric(float64(rep.handOvers.Load()-start)/max(seconds, 1), "handovers/batch")
		})
	}
}

func stormFinding(subject, message string) probes.Finding {
	return probes.Finding{
		Check: "kernel-log", Condition: "ConntrackProblem", Reason: "ConntrackTableFull", Severity: probes.SeverityProblem,
		Message: message, Remedy: "raise net.netfilter.nf_conntrack_max", Subject: subject,
		Evidence: map[string]string{"line": "nf_conntrack: nf_conntrack: table full, dropping packet"},
		Clear:    probes.ClearPolicy{Mode: probes.ClearAfterQuiet},
	}
}
