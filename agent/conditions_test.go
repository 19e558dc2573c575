package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

const testBoot = "boot-1"

type smHarness struct {
	sm       *Conditions
	clock    *testingclock.FakeClock
	reporter *fakeReporter
	metrics  *Metrics
}

// basePolicy: check "cert" owns KubeletUnhealthy, check "disk" owns
// DiskPressure, the log rules feed KubeletUnhealthy from the kubelet log and
// KernelDeadlock from the kernel log; one stream "logs" can deliver both.
func basePolicy() ConditionPolicy {
	return ConditionPolicy{
		Checks: map[string]CheckPolicy{
			"cert": {Condition: "KubeletUnhealthy"},
			"disk": {Condition: "DiskPressure"},
		},
		LogConditions: map[string][]probes.Source{
			"KubeletUnhealthy": {probes.SourceKubelet},
			"KernelDeadlock":   {probes.SourceKernel},
		},
		Streams:          []string{"logs"},
		Known:            []string{"DiskPressure", "KernelDeadlock", "KubeletUnhealthy", "Retired"},
		Reasons:          map[string]ReasonOverride{},
		QuietWindow:      10 * time.Minute,
		EventDedupWindow: 10 * time.Minute,
	}
}

func newHarness(t testing.TB, p ConditionPolicy, statePath string) *smHarness {
	t.Helper()
	h := &smHarness{clock: testingclock.NewFakeClock(t0), reporter: &fakeReporter{}}
	h.metrics, _ = newTestMetrics(t)
	h.sm = NewConditions(ConditionsOptions{
		Clock: h.clock, Reporter: h.reporter, Metrics: h.metrics, BootID: testBoot,
		StatePath: statePath, Policy: p,
	})
	return h
}

// logsRun reports the stream "logs" running and delivering the kernel and
// kubelet logs.
func (h *smHarness) logsRun() {
	h.sm.SetStreamStatus("logs", true, nil)
	h.sm.SetStreamSources("logs", []probes.Source{probes.SourceKernel, probes.SourceKubelet})
}

func (h *smHarness) cond(t testing.TB, typ string) Condition {
	t.Helper()
	c, ok := h.reporter.condition(typ)
	if !ok {
		_, conds, remove, _ := h.reporter.state()
		t.Fatalf("condition %s not handed over; conds %+v, remove %v", typ, conds, remove)
	}
	return c
}

func (h *smHarness) events() []Event {
	_, _, _, ev := h.reporter.state()
	return ev
}

func finding(check, condition, reason string, sev probes.Severity, subject string) probes.Finding {
	return probes.Finding{
		Check: check, Condition: condition, Reason: reason, Severity: sev, Subject: subject,
		Message: reason + " on " + subject + ".", Remedy: "fix " + subject,
	}
}

func logFinding(condition, reason, subject string, mode probes.ClearMode) probes.Finding {
	f := finding("kernel-log", condition, reason, probes.SeverityProblem, subject)
	f.Clear = probes.ClearPolicy{Mode: mode}
	if mode == probes.ClearOnReboot {
		f.Clear.BootID = testBoot
	}
	return f
}

type condSummary struct {
	Status  corev1.ConditionStatus
	Reason  string
	Message string
}

func summarize(c Condition) condSummary { return condSummary{c.Status, c.Reason, c.Message} }

func TestConditionsNotHandedOverBeforeAnOwnerReports(t *testing.T) {
	h := newHarness(t, basePolicy(), "")
	h.sm.Evaluate()
	n, conds, remove, _ := h.reporter.state()
	// Only the type nobody owns any more may be removed right away.
	if len(conds) != 0 || !cmp.Equal(remove, []string{"Retired"}) || n != 1 {
		t.Fatalf("before any report: %d hand-overs, conds %+v, remove %v", n, conds, remove)
	}
	h.sm.CheckResult("disk", nil, nil)
	if _, ok := h.reporter.condition("KubeletUnhealthy"); ok {
		t.Error("KubeletUnhealthy handed over before cert or a stream reported")
	}
	if got := summarize(h.cond(t, "DiskPressure")); got != (condSummary{"False", ReasonNoProblem, "No problem found by disk."}) {
		t.Errorf("DiskPressure = %+v", got)
	}
}

// A condition the logs co-own waits for its checks' first run before it
// says False or Unknown: a stream reports as soon as it starts, and
// publishing on its word alone flapped the Node (False, then the check's
// verdict) at every agent start. A finding is news at once.
func TestConditionsCoOwnedWaitsForItsChecks(t *testing.T) {
	h := newHarness(t, basePolicy(), "")
	h.logsRun()
	if c, ok := h.reporter.condition("KubeletUnhealthy"); ok {
		t.Errorf("KubeletUnhealthy handed over as %+v on the stream's word, before cert ran", summarize(c))
	}
	if got := h.cond(t, "KernelDeadlock"); got.Status != corev1.ConditionFalse {
		t.Errorf("log-only KernelDeadlock = %+v, want False once its stream runs", summarize(got))
	}
	h.sm.CheckResult("cert", nil, errors.New("permission denied"))
	if got := h.cond(t, "KubeletUnhealthy"); got.Status != corev1.ConditionUnknown {
		t.Errorf("after cert failed: KubeletUnhealthy = %+v, want Unknown", summarize(got))
	}

	h = newHarness(t, basePolicy(), "")
	h.logsRun()
	h.sm.LogFindings([]probes.Finding{logFinding("KubeletUnhealthy", "PLEGUnhealthy", "", probes.ClearAfterQuiet)})
	if got := h.cond(t, "KubeletUnhealthy"); got.Status != corev1.ConditionTrue || got.Reason != "PLEGUnhealthy" {
		t.Errorf("log finding before cert ran: KubeletUnhealthy = %+v, want True/PLEGUnhealthy", summarize(got))
	}
}

func TestConditionsTrueFalseUnknown(t *testing.T) {
	certErr := errors.New("read /var/lib/kubelet/pki/kubelet-client-current.pem: permission denied")
	tests := []struct {
		name   string
		report func(h *smHarness)
		want   condSummary
	}{
		{
			name: "one problem",
			report: func(h *smHarness) {
				h.sm.CheckResult("cert", []probes.Finding{finding("cert", "KubeletUnhealthy", "CertExpiring", probes.SeverityWarning, "client")}, nil)
			},
			want: condSummary{"True", "CertExpiring", "CertExpiring on client. Fix: fix client"},
		},
		{
			name: "highest severity wins, the others are listed",
			report: func(h *smHarness) {
				h.sm.CheckResult("cert", []probes.Finding{
					finding("cert", "KubeletUnhealthy", "CertExpiring", probes.SeverityWarning, "client"),
					finding("cert", "KubeletUnhealthy", "CertExpired", probes.SeverityProblem, "server"),
					finding("cert", "KubeletUnhealthy", "CertExpiring", probes.SeverityWarning, "other"),
				}, nil)
			},
			want: condSummary{"True", "CertExpired", "CertExpired on server. Fix: fix server (+2 more: CertExpiring)"},
		},
		{
			name: "same severity: the most recently started wins",
			report: func(h *smHarness) {
				h.sm.CheckResult("cert", []probes.Finding{finding("cert", "KubeletUnhealthy", "CertExpiring", probes.SeverityProblem, "client")}, nil)
				h.clock.Step(time.Second)
				h.logsRun()
				h.sm.LogFindings([]probes.Finding{logFinding("KubeletUnhealthy", "PLEGUnhealthy", "", probes.ClearAfterQuiet)})
			},
			want: condSummary{"True", "PLEGUnhealthy", "PLEGUnhealthy on . Fix: fix  (+1 more: CertExpiring)"},
		},
		{
			name: "info never raises",
			report: func(h *smHarness) {
				h.sm.CheckResult("cert", []probes.Finding{finding("cert", "KubeletUnhealthy", "CertFine", probes.SeverityInfo, "client")}, nil)
			},
			want: condSummary{"False", ReasonNoProblem, "No problem found by cert."},
		},
		{
			name: "every owning check failed",
			report: func(h *smHarness) {
				h.sm.CheckResult("cert", nil, certErr)
			},
			want: condSummary{"Unknown", ReasonCheckFailed, "could not check: cert: " + certErr.Error()},
		},
		{
			name: "a failed check while a stream runs is still Unknown",
			report: func(h *smHarness) {
				h.logsRun()
				h.sm.CheckResult("cert", nil, certErr)
			},
			want: condSummary{"Unknown", ReasonCheckFailed, "could not check: cert: " + certErr.Error()},
		},
		{
			name: "not applicable check, logs running",
			report: func(h *smHarness) {
				h.sm.CheckResult("cert", nil, fmt.Errorf("no cert: %w", probes.ErrNotApplicable))
				h.logsRun()
			},
			want: condSummary{"False", ReasonNoProblem, "No problem found in the kubelet log."},
		},
		{
			name: "check healthy and logs running",
			report: func(h *smHarness) {
				h.sm.CheckResult("cert", nil, nil)
				h.logsRun()
			},
			want: condSummary{"False", ReasonNoProblem, "No problem found by cert or in the kubelet log."},
		},
		{
			name: "check healthy, the logs not read",
			report: func(h *smHarness) {
				h.sm.CheckResult("cert", nil, nil)
				h.sm.SetStreamStatus("logs", false, errors.New("open /dev/kmsg: permission denied"))
			},
			want: condSummary{"False", ReasonNoProblem, "No problem found by cert; the kubelet log is not being read."},
		},
		{
			name: "check healthy, the stream runs without the kubelet log",
			report: func(h *smHarness) {
				h.sm.CheckResult("cert", nil, nil)
				h.sm.SetStreamStatus("logs", true, nil)
				h.sm.SetStreamSources("logs", []probes.Source{probes.SourceKernel})
			},
			want: condSummary{"False", ReasonNoProblem, "No problem found by cert; the kubelet log is not being read."},
		},
		{
			name: "check healthy, the stream has not said what it reads",
			report: func(h *smHarness) {
				h.sm.CheckResult("cert", nil, nil)
				h.sm.SetStreamStatus("logs", true, nil)
			},
			want: condSummary{"False", ReasonNoProblem, "No problem found by cert."},
		},
		{
			name: "log-only condition with its stream failing",
			report: func(h *smHarness) {
				h.sm.CheckResult("cert", nil, fmt.Errorf("no cert: %w", probes.ErrNotApplicable))
				h.sm.SetStreamStatus("logs", false, errors.New("open /dev/kmsg: permission denied"))
			},
			want: condSummary{"Unknown", ReasonLogsNotRead, "no kubelet log is being read: logs: open /dev/kmsg: permission denied"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, basePolicy(), "")
			tc.report(h)
			if diff := cmp.Diff(tc.want, summarize(h.cond(t, "KubeletUnhealthy"))); diff != "" {
				t.Errorf("KubeletUnhealthy (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConditionsPartialFailureStaysFalse(t *testing.T) {
	p := basePolicy()
	p.Checks["cert2"] = CheckPolicy{Condition: "DiskPressure"}
	h := newHarness(t, p, "")
	h.sm.CheckResult("disk", nil, nil)
	h.sm.CheckResult("cert2", nil, errors.New("boom"))
	want := condSummary{"False", ReasonNoProblem, "No problem found by disk. Could not check: cert2: boom."}
	if diff := cmp.Diff(want, summarize(h.cond(t, "DiskPressure"))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestConditionsRemoval(t *testing.T) {
	t.Run("every owner not applicable", func(t *testing.T) {
		p := basePolicy()
		h := newHarness(t, p, "")
		h.sm.CheckResult("disk", nil, nil)
		h.sm.CheckResult("disk", nil, fmt.Errorf("no /var/log: %w", probes.ErrNotApplicable))
		_, conds, remove, _ := h.reporter.state()
		if _, ok := h.reporter.condition("DiskPressure"); ok || !contains(remove, "DiskPressure") {
			t.Errorf("DiskPressure not removed: conds %+v remove %v", conds, remove)
		}
		if testutil.CollectAndCount(h.metrics.conditionStatus) != 0 {
			t.Error("a removed condition keeps its status series")
		}
	})
	t.Run("log-only condition without enabled streams", func(t *testing.T) {
		p := basePolicy()
		p.Streams = nil
		h := newHarness(t, p, "")
		h.sm.Evaluate()
		_, _, remove, _ := h.reporter.state()
		if !contains(remove, "KernelDeadlock") {
			t.Errorf("KernelDeadlock not removed: %v", remove)
		}
	})
	t.Run("check disabled on reload", func(t *testing.T) {
		h := newHarness(t, basePolicy(), "")
		h.sm.CheckResult("disk", []probes.Finding{finding("disk", "DiskPressure", "Full", probes.SeverityProblem, "/var")}, nil)
		p := basePolicy()
		delete(p.Checks, "disk")
		h.sm.Configure(p)
		_, _, remove, _ := h.reporter.state()
		if _, ok := h.reporter.condition("DiskPressure"); ok || !contains(remove, "DiskPressure") {
			t.Errorf("disabled check's condition stays: remove %v", remove)
		}
		if snap := h.sm.Snapshot(); len(snap.Findings) != 0 {
			t.Errorf("disabled check's findings stay: %+v", snap.Findings)
		}
	})
	t.Run("reason disabled: its log condition loses its owner", func(t *testing.T) {
		p := basePolicy()
		p.LogConditions = map[string][]probes.Source{} // the agent leaves out conditions fed only by disabled reasons
		h := newHarness(t, p, "")
		h.logsRun()
		_, _, remove, _ := h.reporter.state()
		if !contains(remove, "KernelDeadlock") {
			t.Errorf("KernelDeadlock not removed: %v", remove)
		}
	})
}

func TestConditionsPeriodicClearAndEvents(t *testing.T) {
	h := newHarness(t, basePolicy(), "")
	problem := finding("disk", "DiskPressure", "Full", probes.SeverityProblem, "/var")
	h.sm.CheckResult("disk", nil, nil)
	first := h.cond(t, "DiskPressure")
	if first.Status != corev1.ConditionFalse || !first.LastTransitionTime.Equal(t0) {
		t.Fatalf("first = %+v", first)
	}
	if ev := h.events(); len(ev) != 0 {
		t.Fatalf("a first False emitted events: %+v", ev)
	}

	h.clock.Step(time.Minute)
	h.sm.CheckResult("disk", []probes.Finding{problem}, nil)
	raised := h.cond(t, "DiskPressure")
	if raised.Status != corev1.ConditionTrue || !raised.LastTransitionTime.Equal(t0.Add(time.Minute)) {
		t.Fatalf("raised = %+v", raised)
	}
	h.clock.Step(time.Minute)
	h.sm.CheckResult("disk", []probes.Finding{problem}, nil) // same again
	if again := h.cond(t, "DiskPressure"); again != raised {
		t.Errorf("an unchanged problem changed the condition: %+v", again)
	}

	h.clock.Step(time.Minute)
	h.sm.CheckResult("disk", nil, nil) // gone: clears at once
	cleared := h.cond(t, "DiskPressure")
	if cleared.Status != corev1.ConditionFalse || !cleared.LastTransitionTime.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("cleared = %+v", cleared)
	}
	want := []Event{
		{Key: "condition\x00DiskPressure\x00True\x00Full", Type: "Warning", Reason: "Full", Action: "Detected",
			Note: "DiskPressure is True: Full on /var. Fix: fix /var", Time: t0.Add(time.Minute),
			Transition: &Transition{Condition: "DiskPressure", Status: "True", Message: "Full on /var. Fix: fix /var"}},
		{Key: "condition\x00DiskPressure\x00False\x00Full", Type: "Normal", Reason: "Full", Action: "Cleared",
			Note: "DiskPressure is False (was True: Full). No problem found by disk.", Time: t0.Add(3 * time.Minute),
			Transition: &Transition{Condition: "DiskPressure", Status: "False", Message: "No problem found by disk."}},
	}
	if diff := cmp.Diff(want, h.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestConditionsHandOverOnlyOnChange(t *testing.T) {
	h := newHarness(t, basePolicy(), "")
	h.sm.CheckResult("disk", nil, nil)
	h.sm.CheckResult("cert", nil, nil)
	h.logsRun()
	before, _, _, _ := h.reporter.state()
	for range 10 {
		h.clock.Step(time.Minute)
		h.sm.CheckResult("disk", nil, nil)
		h.sm.CheckResult("cert", nil, nil)
		h.logsRun()
		h.sm.Evaluate()
	}
	after, _, _, _ := h.reporter.state()
	if after != before {
		t.Errorf("identical repeats caused %d hand-overs", after-before)
	}
	h.sm.LogFindings([]probes.Finding{logFinding("KernelDeadlock", "TaskHung", "containerd", probes.ClearOnReboot)})
	for range 100 {
		h.sm.LogFindings([]probes.Finding{logFinding("KernelDeadlock", "TaskHung", "containerd", probes.ClearOnReboot)})
	}
	if n, _, _, _ := h.reporter.state(); n != after+1 {
		t.Errorf("101 identical log findings caused %d hand-overs, want 1", n-after)
	}
}

func TestConditionsPeriodicTemporaryEvents(t *testing.T) {
	h := newHarness(t, basePolicy(), "")
	oom := probes.Finding{Check: "disk", Reason: "LogRotated", Severity: probes.SeverityInfo, Message: "rotated.", Remedy: "nothing"}
	warn := probes.Finding{Check: "disk", Reason: "BigLog", Severity: probes.SeverityWarning, Message: "big.", Remedy: "truncate", Subject: "a.log"}
	h.sm.CheckResult("disk", []probes.Finding{oom, warn}, nil)
	h.clock.Step(5 * time.Minute)
	h.sm.CheckResult("disk", []probes.Finding{oom, warn}, nil) // still present: not again yet
	h.clock.Step(5 * time.Minute)
	h.sm.CheckResult("disk", []probes.Finding{warn}, nil) // dedup window passed for warn; oom gone
	h.clock.Step(time.Minute)
	h.sm.CheckResult("disk", []probes.Finding{oom}, nil) // oom back: first sight again
	want := []Event{
		{Key: oom.Key(), Type: "Normal", Reason: "LogRotated", Action: "Observed", Note: "rotated. Fix: nothing", Time: t0},
		{Key: warn.Key(), Type: "Warning", Reason: "BigLog", Action: "Observed", Note: "big. Fix: truncate", Time: t0},
		{Key: warn.Key(), Type: "Warning", Reason: "BigLog", Action: "Observed", Note: "big. Fix: truncate", Time: t0.Add(10 * time.Minute)},
		{Key: oom.Key(), Type: "Normal", Reason: "LogRotated", Action: "Observed", Note: "rotated. Fix: nothing", Time: t0.Add(11 * time.Minute)},
	}
	if diff := cmp.Diff(want, h.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestConditionsLogTemporaryEvents(t *testing.T) {
	h := newHarness(t, basePolicy(), "")
	oom := probes.Finding{Check: "kernel-log", Reason: "OOMKilling", Severity: probes.SeverityWarning, Message: "Killed process 42 (java).", Remedy: "raise the limit", Time: t0.Add(-time.Second)}
	h.sm.LogFindings([]probes.Finding{oom})
	h.sm.LogFindings([]probes.Finding{oom})
	ev := h.events()
	if len(ev) != 2 || ev[0].Type != "Warning" || ev[0].Time != oom.Time || ev[0].Note != "Killed process 42 (java). Fix: raise the limit" {
		t.Errorf("each log occurrence is an event (the reporter deduplicates): %+v", ev)
	}
	if got := counterValue(t, h.metrics.findings.WithLabelValues("kernel-log", "OOMKilling")); got != 2 {
		t.Errorf("findings_total = %v, want 2", got)
	}
}

func TestConditionsQuietWindow(t *testing.T) {
	h := newHarness(t, basePolicy(), "")
	h.logsRun()
	h.sm.CheckResult("cert", nil, nil)
	pleg := logFinding("KubeletUnhealthy", "PLEGUnhealthy", "", probes.ClearAfterQuiet)
	h.sm.LogFindings([]probes.Finding{pleg})
	if h.cond(t, "KubeletUnhealthy").Status != corev1.ConditionTrue {
		t.Fatal("not True")
	}
	if d, ok := h.sm.NextDeadline(); !ok || !d.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("deadline = %v %v, want t0+10m", d, ok)
	}
	h.clock.Step(6 * time.Minute)
	h.sm.LogFindings([]probes.Finding{pleg}) // repeat: the window restarts
	h.clock.Step(6 * time.Minute)
	h.sm.Evaluate()
	if h.cond(t, "KubeletUnhealthy").Status != corev1.ConditionTrue {
		t.Fatal("cleared before the quiet window after the repeat")
	}
	h.clock.Step(4 * time.Minute)
	h.sm.Evaluate()
	if c := h.cond(t, "KubeletUnhealthy"); c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Equal(t0.Add(16*time.Minute)) {
		t.Fatalf("after the quiet window: %+v", c)
	}

	// A rule's own window overrides the default.
	short := pleg
	short.Clear.Quiet = time.Minute
	h.sm.LogFindings([]probes.Finding{short})
	h.clock.Step(61 * time.Second)
	h.sm.Evaluate()
	if c := h.cond(t, "KubeletUnhealthy"); c.Status != corev1.ConditionFalse {
		t.Fatalf("per-rule quiet window ignored: %+v", c)
	}

	// A replayed line older than its window never raises the condition.
	old := pleg
	old.Time = h.clock.Now().Add(-time.Hour)
	h.sm.LogFindings([]probes.Finding{old})
	if c := h.cond(t, "KubeletUnhealthy"); c.Status != corev1.ConditionFalse {
		t.Fatalf("an hour-old line raised the condition: %+v", c)
	}
}

func TestConditionsRecovery(t *testing.T) {
	h := newHarness(t, basePolicy(), "")
	h.logsRun()
	nfs := logFinding("KernelDeadlock", "NFSNotResponding", "server-a", probes.ClearAfterQuiet)
	other := logFinding("KernelDeadlock", "NFSNotResponding", "server-b", probes.ClearAfterQuiet)
	h.sm.LogFindings([]probes.Finding{nfs, other})
	recovered := nfs
	recovered.Check = "npd:kernel-monitor" // another pack may see the recovery
	recovered.Recovered = true
	h.sm.LogFindings([]probes.Finding{recovered})
	c := h.cond(t, "KernelDeadlock")
	if c.Status != corev1.ConditionTrue || !strings.Contains(c.Message, "server-b") || strings.Contains(c.Message, "+1 more") {
		t.Fatalf("after recovering server-a: %+v", c)
	}
	recovered.Subject = "server-b"
	h.sm.LogFindings([]probes.Finding{recovered})
	if c := h.cond(t, "KernelDeadlock"); c.Status != corev1.ConditionFalse {
		t.Fatalf("after recovering both: %+v", c)
	}
}

func TestConditionsClearOnReboot(t *testing.T) {
	h := newHarness(t, basePolicy(), "")
	h.logsRun()
	hung := logFinding("KernelDeadlock", "DockerHung", "dockerd", probes.ClearOnReboot)
	h.sm.LogFindings([]probes.Finding{hung})
	h.clock.Step(30 * 24 * time.Hour)
	h.sm.Evaluate()
	if c := h.cond(t, "KernelDeadlock"); c.Status != corev1.ConditionTrue {
		t.Fatalf("a reboot-cleared finding expired by time: %+v", c)
	}
	if _, ok := h.sm.NextDeadline(); ok {
		t.Error("a reboot-cleared finding set a deadline")
	}

	// A journal replay of the previous boot raises nothing.
	h2 := newHarness(t, basePolicy(), "")
	h2.logsRun()
	prev := hung
	prev.Clear.BootID = "boot-0"
	h2.sm.LogFindings([]probes.Finding{prev})
	if c := h2.cond(t, "KernelDeadlock"); c.Status != corev1.ConditionFalse {
		t.Fatalf("previous boot's line raised the condition: %+v", c)
	}
	// No boot ID on the line: it is from this boot.
	noBoot := hung
	noBoot.Clear.BootID = ""
	h2.sm.LogFindings([]probes.Finding{noBoot})
	if c := h2.cond(t, "KernelDeadlock"); c.Status != corev1.ConditionTrue {
		t.Fatalf("line without a boot ID ignored: %+v", c)
	}
}

func TestConditionsVisibilityDelay(t *testing.T) {
	p := basePolicy()
	p.Checks["disk"] = CheckPolicy{Condition: "DiskPressure", VisibilityDelay: 3 * time.Minute}
	h := newHarness(t, p, "")
	full := finding("disk", "DiskPressure", "Full", probes.SeverityProblem, "/var")
	h.sm.CheckResult("disk", []probes.Finding{full}, nil)
	if c := h.cond(t, "DiskPressure"); c.Status != corev1.ConditionFalse {
		t.Fatalf("True before the delay: %+v", c)
	}
	if d, ok := h.sm.NextDeadline(); !ok || !d.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("deadline = %v %v", d, ok)
	}
	h.clock.Step(2 * time.Minute)
	h.sm.CheckResult("disk", nil, nil) // gone: the delay starts over
	h.clock.Step(time.Minute)
	h.sm.CheckResult("disk", []probes.Finding{full}, nil)
	h.clock.Step(2 * time.Minute)
	h.sm.Evaluate()
	if c := h.cond(t, "DiskPressure"); c.Status != corev1.ConditionFalse {
		t.Fatalf("True although not continuously present for 3m: %+v", c)
	}
	h.clock.Step(time.Minute)
	h.sm.Evaluate() // no new run needed: the deadline alone turns it True
	if c := h.cond(t, "DiskPressure"); c.Status != corev1.ConditionTrue || !c.LastTransitionTime.Equal(t0.Add(6*time.Minute)) {
		t.Fatalf("not True after 3m continuously: %+v", c)
	}
}

func TestConditionsReasonOverrides(t *testing.T) {
	p := basePolicy()
	p.Reasons = map[string]ReasonOverride{
		"Noisy":   {Disabled: true},
		"Soft":    {Severity: probes.SeverityInfo},
		"Serious": {Severity: probes.SeverityProblem},
	}
	h := newHarness(t, p, "")
	h.sm.CheckResult("disk", []probes.Finding{
		finding("disk", "DiskPressure", "Noisy", probes.SeverityProblem, "a"),
		finding("disk", "DiskPressure", "Soft", probes.SeverityProblem, "b"),
	}, nil)
	if c := h.cond(t, "DiskPressure"); c.Status != corev1.ConditionFalse {
		t.Fatalf("disabled/info-overridden findings raised the condition: %+v", c)
	}
	h.sm.CheckResult("disk", []probes.Finding{
		finding("disk", "DiskPressure", "Loud", probes.SeverityProblem, "c"),
		finding("disk", "DiskPressure", "Serious", probes.SeverityWarning, "d"),
	}, nil)
	if c := h.cond(t, "DiskPressure"); c.Reason != "Loud" {
		// Loud (problem) and Serious (problem via override): same severity and
		// start, the key breaks the tie.
		t.Fatalf("reason = %s", c.Reason)
	}
	h.logsRun()
	h.sm.LogFindings([]probes.Finding{{Check: "kernel-log", Reason: "Noisy", Severity: probes.SeverityWarning, Message: "x"}})
	for _, e := range h.events() {
		if e.Reason == "Noisy" {
			t.Errorf("disabled reason emitted an event: %+v", e)
		}
	}
	for _, f := range h.sm.Snapshot().Findings {
		if f.Reason == "Noisy" {
			t.Errorf("disabled reason in the snapshot: %+v", f)
		}
		if f.Reason == "Serious" && f.Severity != probes.SeverityProblem {
			t.Errorf("override not applied in the snapshot: %+v", f)
		}
	}
}

func TestConditionsMetricsOneHot(t *testing.T) {
	h := newHarness(t, basePolicy(), "")
	status := func(s string) float64 {
		return testutil.ToFloat64(h.metrics.conditionStatus.WithLabelValues("DiskPressure", s))
	}
	h.sm.CheckResult("disk", []probes.Finding{finding("disk", "DiskPressure", "Full", probes.SeverityProblem, "/var")}, nil)
	if status("True") != 1 || status("False") != 0 || status("Unknown") != 0 {
		t.Errorf("True: %v %v %v", status("True"), status("False"), status("Unknown"))
	}
	if got := testutil.ToFloat64(h.metrics.activeFindings.WithLabelValues("DiskPressure")); got != 1 {
		t.Errorf("active findings = %v", got)
	}
	h.sm.CheckResult("disk", nil, nil)
	if status("True") != 0 || status("False") != 1 {
		t.Errorf("back to False: True=%v False=%v", status("True"), status("False"))
	}
	h.sm.CheckResult("disk", nil, errors.New("x"))
	if status("Unknown") != 1 || status("False") != 0 {
		t.Errorf("Unknown: %v", status("Unknown"))
	}
}

func TestConditionsPersistence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, StateFileName)
	h := newHarness(t, basePolicy(), path)
	h.logsRun()
	h.sm.LogFindings([]probes.Finding{
		logFinding("KernelDeadlock", "DockerHung", "dockerd", probes.ClearOnReboot),
		logFinding("KubeletUnhealthy", "PLEGUnhealthy", "", probes.ClearAfterQuiet),
	})
	if !h.sm.Dirty() {
		t.Fatal("not dirty after new log findings")
	}
	select {
	case <-h.sm.Wake():
	default:
		t.Fatal("no wake after the state became dirty")
	}
	h.sm.Flush()
	if h.sm.Dirty() {
		t.Fatal("dirty after Flush")
	}

	restart := func(boot string, at time.Time) *Conditions {
		clk := testingclock.NewFakeClock(at)
		m, _ := newTestMetrics(t)
		return NewConditions(ConditionsOptions{Clock: clk, Metrics: m, BootID: boot, StatePath: path, Policy: basePolicy()})
	}
	reasons := func(c *Conditions) []string {
		var out []string
		for _, f := range c.Snapshot().Findings {
			out = append(out, f.Reason)
		}
		return out
	}
	if got := reasons(restart(testBoot, t0.Add(5*time.Minute))); !cmp.Equal(got, []string{"DockerHung", "PLEGUnhealthy"}) {
		t.Errorf("same boot, within the quiet window: %v", got)
	}
	if got := reasons(restart(testBoot, t0.Add(11*time.Minute))); !cmp.Equal(got, []string{"DockerHung"}) {
		t.Errorf("same boot, after the quiet window: %v", got)
	}
	if got := reasons(restart("boot-2", t0.Add(5*time.Minute))); !cmp.Equal(got, []string{"PLEGUnhealthy"}) {
		t.Errorf("after a reboot: %v", got)
	}
	if got := reasons(restart("", t0.Add(5*time.Minute))); !cmp.Equal(got, []string{"PLEGUnhealthy"}) {
		t.Errorf("unknown boot: %v", got)
	}

	// The restored condition is not handed over before an owner reports,
	// then comes back True.
	r := &fakeReporter{}
	m, _ := newTestMetrics(t)
	c := NewConditions(ConditionsOptions{Clock: testingclock.NewFakeClock(t0.Add(time.Minute)), Reporter: r, Metrics: m, BootID: testBoot, StatePath: path, Policy: basePolicy()})
	c.Evaluate()
	if _, ok := r.condition("KernelDeadlock"); ok {
		t.Error("restored condition handed over before its stream ran")
	}
	c.SetStreamStatus("logs", true, nil)
	if cond, ok := r.condition("KernelDeadlock"); !ok || cond.Status != corev1.ConditionTrue {
		t.Errorf("restored KernelDeadlock = %+v, %v", cond, ok)
	}
}

func TestConditionsUnwritableStateDir(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, basePolicy(), filepath.Join(blocker, "state", StateFileName)) // a file where a dir should be
	h.logsRun()
	for i := range 3 {
		h.sm.LogFindings([]probes.Finding{logFinding("KernelDeadlock", "DockerHung", fmt.Sprint(i), probes.ClearOnReboot)})
		h.sm.Flush()
	}
	if got := testutil.ToFloat64(h.metrics.stateWriteErrors); got != 3 {
		t.Errorf("state_write_errors_total = %v, want 3", got)
	}
	if c := h.cond(t, "KernelDeadlock"); c.Status != corev1.ConditionTrue {
		t.Errorf("detection stopped: %+v", c)
	}
}

func TestConditionsCorruptStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFileName)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, basePolicy(), path)
	if n := len(h.sm.Snapshot().Findings); n != 0 {
		t.Errorf("restored %d findings from a corrupt file", n)
	}
}

func TestConditionsBoundedLogFindings(t *testing.T) {
	h := newHarness(t, basePolicy(), "")
	h.logsRun()
	for i := range 3 * maxLogFindingsPerCondition {
		h.clock.Step(time.Millisecond)
		h.sm.LogFindings([]probes.Finding{logFinding("KernelDeadlock", "TaskHung", fmt.Sprint("task-", i), probes.ClearOnReboot)})
	}
	if n := len(h.sm.Snapshot().Findings); n != maxLogFindingsPerCondition {
		t.Errorf("%d active findings, want the cap %d", n, maxLogFindingsPerCondition)
	}
	msg := h.cond(t, "KernelDeadlock").Message
	if !strings.HasSuffix(msg, fmt.Sprintf("(+%d more: TaskHung)", maxLogFindingsPerCondition-1)) || !strings.Contains(msg, fmt.Sprint("task-", 3*maxLogFindingsPerCondition-1)) {
		t.Errorf("message = %q", msg)
	}
}

func TestSnapshot(t *testing.T) {
	h := newHarness(t, basePolicy(), "")
	h.sm.CheckResult("disk", []probes.Finding{finding("disk", "DiskPressure", "Full", probes.SeverityProblem, "/var")}, nil)
	h.sm.CheckResult("cert", nil, errors.New("denied"))
	snap := h.sm.Snapshot()
	want := Snapshot{
		Findings: []probes.Finding{finding("disk", "DiskPressure", "Full", probes.SeverityProblem, "/var")},
		Conditions: []ConditionStatus{
			{Type: "DiskPressure", Status: "True", Reason: "Full", Message: "Full on /var. Fix: fix /var"},
			{Type: "KubeletUnhealthy", Status: "Unknown", Reason: ReasonCheckFailed, Message: "could not check: cert: denied"},
		},
	}
	if diff := cmp.Diff(want, snap); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// twoStreams: KernelDeadlock is fed by the kernel log, KubeletUnhealthy by
// the kubelet and systemd logs; streams kmsg and journal are enabled.
func twoStreams() ConditionPolicy {
	p := basePolicy()
	p.Checks = map[string]CheckPolicy{}
	p.LogConditions = map[string][]probes.Source{
		"KernelDeadlock":   {probes.SourceKernel},
		"KubeletUnhealthy": {probes.SourceKubelet, probes.SourceSystemd},
	}
	p.Streams = []string{"kmsg", "journal"}
	return p
}

var (
	errNoKmsg    = fmt.Errorf("open /dev/kmsg: no such file or directory: %w", probes.ErrNotApplicable)
	errNoJournal = fmt.Errorf("no journal directory on this host (/var/log/journal, /run/log/journal): %w", probes.ErrNotApplicable)
)

func TestConditionsLogOnlyNeedsItsLogsRead(t *testing.T) {
	services := []probes.Source{probes.SourceKubelet, probes.SourceContainerd, probes.SourceSystemd}
	tests := []struct {
		name    string
		report  func(sm *Conditions)
		kernel  *condSummary // nil: not handed over
		kubelet *condSummary
	}{
		{
			name: "nothing can be read (check --host-root on an empty directory)",
			report: func(sm *Conditions) {
				sm.SetStreamStatus("kmsg", false, errNoKmsg)
				sm.SetStreamStatus("journal", false, errNoJournal)
			},
			kernel: &condSummary{"Unknown", ReasonLogsNotRead, "no kernel log is being read: kmsg: " + errNoKmsg.Error() + "; journal: " + errNoJournal.Error()},
			kubelet: &condSummary{"Unknown", ReasonLogsNotRead, "no kubelet or systemd log is being read: kmsg: " + errNoKmsg.Error() +
				"; journal: " + errNoJournal.Error()},
		},
		{
			name: "kmsg reads the kernel, the journal the services",
			report: func(sm *Conditions) {
				sm.SetStreamStatus("kmsg", true, nil)
				sm.SetStreamSources("kmsg", []probes.Source{probes.SourceKernel, probes.SourceKmsgUser})
				sm.SetStreamStatus("journal", true, nil)
				sm.SetStreamSources("journal", services)
			},
			kernel:  &condSummary{"False", ReasonNoProblem, "No problem found in the kernel log."},
			kubelet: &condSummary{"False", ReasonNoProblem, "No problem found in the kubelet and systemd logs."},
		},
		{
			name: "the journal runs without the kernel transport and kmsg is unreadable",
			report: func(sm *Conditions) {
				sm.SetStreamStatus("kmsg", false, errNoKmsg)
				sm.SetStreamStatus("journal", true, nil)
				sm.SetStreamSources("journal", services)
			},
			kernel:  &condSummary{"Unknown", ReasonLogsNotRead, "no kernel log is being read: kmsg: " + errNoKmsg.Error() + "; journal: does not read it"},
			kubelet: &condSummary{"False", ReasonNoProblem, "No problem found in the kubelet and systemd logs."},
		},
		{
			name: "one of the sources is enough",
			report: func(sm *Conditions) {
				sm.SetStreamStatus("kmsg", false, errNoKmsg)
				sm.SetStreamStatus("journal", true, nil)
				sm.SetStreamSources("journal", []probes.Source{probes.SourceSystemd})
			},
			kernel:  &condSummary{"Unknown", ReasonLogsNotRead, "no kernel log is being read: kmsg: " + errNoKmsg.Error() + "; journal: does not read it"},
			kubelet: &condSummary{"False", ReasonNoProblem, "No problem found in the systemd log."},
		},
		{
			name: "a running stream with none of them",
			report: func(sm *Conditions) {
				sm.SetStreamStatus("kmsg", true, nil)
				sm.SetStreamSources("kmsg", []probes.Source{probes.SourceKernel})
				sm.SetStreamStatus("journal", false, errors.New("journal directory /var/log/journal has no journal files (*.journal)"))
			},
			kernel: &condSummary{"False", ReasonNoProblem, "No problem found in the kernel log."},
			kubelet: &condSummary{"Unknown", ReasonLogsNotRead, "no kubelet or systemd log is being read: kmsg: reads none of them; " +
				"journal: journal directory /var/log/journal has no journal files (*.journal)"},
		},
		{
			name: "a stream that has not said what it reads holds back Unknown",
			report: func(sm *Conditions) {
				sm.SetStreamStatus("kmsg", false, errNoKmsg)
				sm.SetStreamStatus("journal", true, nil)
			},
		},
		{
			name: "a stream that has not reported at all holds back Unknown, not False",
			report: func(sm *Conditions) {
				sm.SetStreamStatus("kmsg", true, nil)
				sm.SetStreamSources("kmsg", []probes.Source{probes.SourceKernel})
			},
			kernel: &condSummary{"False", ReasonNoProblem, "No problem found in the kernel log."},
		},
		{
			name: "sources from a stream that does not run are ignored",
			report: func(sm *Conditions) {
				sm.SetStreamStatus("kmsg", false, errNoKmsg)
				sm.SetStreamSources("kmsg", []probes.Source{probes.SourceKernel})
				sm.SetStreamStatus("journal", false, errNoJournal)
			},
			kernel: &condSummary{"Unknown", ReasonLogsNotRead, "no kernel log is being read: kmsg: " + errNoKmsg.Error() + "; journal: " + errNoJournal.Error()},
			kubelet: &condSummary{"Unknown", ReasonLogsNotRead, "no kubelet or systemd log is being read: kmsg: " + errNoKmsg.Error() +
				"; journal: " + errNoJournal.Error()},
		},
		{
			name: "an active finding needs no sources to be True",
			report: func(sm *Conditions) {
				sm.SetStreamStatus("kmsg", true, nil)
				sm.LogFindings([]probes.Finding{logFinding("KernelDeadlock", "TaskHung", "containerd", probes.ClearOnReboot)})
			},
			kernel: &condSummary{"True", "TaskHung", "TaskHung on containerd. Fix: fix containerd"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, twoStreams(), "")
			tc.report(h.sm)
			for typ, want := range map[string]*condSummary{"KernelDeadlock": tc.kernel, "KubeletUnhealthy": tc.kubelet} {
				got, ok := h.reporter.condition(typ)
				switch {
				case want == nil && ok:
					t.Errorf("%s handed over: %+v", typ, got)
				case want != nil && !ok:
					t.Errorf("%s not handed over, want %+v", typ, *want)
				case want != nil:
					if diff := cmp.Diff(*want, summarize(got)); diff != "" {
						t.Errorf("%s (-want +got):\n%s", typ, diff)
					}
				}
			}
		})
	}
}

// TestConditionsFollowWhatStreamsDeliver: the same stream status with
// changing sources moves the condition, one Event per status change, and an
// unchanged answer costs nothing.
func TestConditionsFollowWhatStreamsDeliver(t *testing.T) {
	h := newHarness(t, twoStreams(), "")
	h.sm.SetStreamStatus("kmsg", false, errNoKmsg)
	h.sm.SetStreamStatus("journal", true, nil)
	h.sm.SetStreamSources("journal", []probes.Source{probes.SourceKubelet})
	if c := h.cond(t, "KernelDeadlock"); c.Status != corev1.ConditionUnknown {
		t.Fatalf("without the kernel transport: %+v", c)
	}
	h.clock.Step(time.Minute)
	h.sm.SetStreamSources("journal", []probes.Source{probes.SourceKubelet, probes.SourceKernel})
	if c := h.cond(t, "KernelDeadlock"); c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Equal(t0.Add(time.Minute)) {
		t.Fatalf("with the kernel transport: %+v", c)
	}
	before, _, _, _ := h.reporter.state()
	h.sm.SetStreamSources("journal", []probes.Source{probes.SourceKernel, probes.SourceKubelet}) // same set
	if after, _, _, _ := h.reporter.state(); after != before {
		t.Errorf("an unchanged answer caused %d hand-overs", after-before)
	}
	h.clock.Step(time.Minute)
	h.sm.SetStreamStatus("journal", false, errors.New("journal: sd_journal_next: bad message"))
	if c := h.cond(t, "KernelDeadlock"); c.Status != corev1.ConditionUnknown ||
		c.Message != "no kernel log is being read: kmsg: "+errNoKmsg.Error()+"; journal: journal: sd_journal_next: bad message" {
		t.Fatalf("journal failed: %+v", c)
	}
	// Running again: what it delivers is unknown until it says, so the
	// condition keeps its last word instead of flapping.
	h.sm.SetStreamStatus("journal", true, nil)
	if c := h.cond(t, "KernelDeadlock"); c.Status != corev1.ConditionUnknown {
		t.Fatalf("restarted journal before it said what it reads: %+v", c)
	}
	h.sm.SetStreamSources("journal", []probes.Source{probes.SourceKernel})
	if c := h.cond(t, "KernelDeadlock"); c.Status != corev1.ConditionFalse {
		t.Fatalf("restarted journal reading the kernel log: %+v", c)
	}
	var got []string
	for _, e := range h.events() {
		if strings.HasPrefix(e.Note, "KernelDeadlock") {
			got = append(got, e.Action+" "+e.Reason)
		}
	}
	want := []string{"CouldNotCheck LogsNotRead", "Cleared LogsNotRead", "CouldNotCheck LogsNotRead", "Cleared LogsNotRead"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("KernelDeadlock events (-want +got):\n%s", diff)
	}
}

// TestConditionsFoldLogFindingsIntoCheckFindings: a log rule and a check
// reporting one fault make one finding, the check's.
func TestConditionsFoldLogFindingsIntoCheckFindings(t *testing.T) {
	p := basePolicy()
	p.Checks["sandbox"] = CheckPolicy{Condition: "SandboxImageMissing"}
	p.LogConditions["SandboxImageMissing"] = []probes.Source{probes.SourceKubelet}
	h := newHarness(t, p, "")
	h.logsRun()
	const pause = "registry.k8s.io/pause:3.8"
	notPresent := finding("sandbox", "SandboxImageMissing", "SandboxImageNotPresent", probes.SeverityWarning, pause)
	pulls := logFinding("SandboxImageMissing", "SandboxImagePullFailing", pause, probes.ClearAfterQuiet)
	otherImage := logFinding("SandboxImageMissing", "SandboxImagePullFailing", "registry.k8s.io/pause:3.10", probes.ClearAfterQuiet)

	h.sm.CheckResult("sandbox", []probes.Finding{notPresent}, nil)
	h.sm.LogFindings([]probes.Finding{pulls})
	if c := h.cond(t, "SandboxImageMissing"); c.Reason != "SandboxImageNotPresent" || strings.Contains(c.Message, "more") {
		t.Errorf("one fault seen twice: %+v", c)
	}
	var reasons []string
	for _, f := range h.sm.Snapshot().Findings {
		if f.Condition == "SandboxImageMissing" {
			reasons = append(reasons, f.Reason)
		}
	}
	if diff := cmp.Diff([]string{"SandboxImageNotPresent"}, reasons); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}

	// Another subject is another fault.
	h.sm.LogFindings([]probes.Finding{otherImage})
	if c := h.cond(t, "SandboxImageMissing"); !strings.HasSuffix(c.Message, "(+1 more: SandboxImageNotPresent)") {
		t.Errorf("two faults: %+v", c)
	}
	// The check no longer sees it: the log finding speaks until its quiet
	// window passes.
	h.sm.CheckResult("sandbox", nil, nil)
	if c := h.cond(t, "SandboxImageMissing"); c.Reason != "SandboxImagePullFailing" || !strings.HasSuffix(c.Message, "(+1 more: SandboxImagePullFailing)") {
		t.Errorf("after the image came back: %+v", c)
	}

	// On the node itself (no subject) only the same reason is the same fault.
	h.sm.CheckResult("cert", []probes.Finding{finding("cert", "KubeletUnhealthy", "KubeletRestartLoop", probes.SeverityProblem, "")}, nil)
	h.sm.LogFindings([]probes.Finding{logFinding("KubeletUnhealthy", "KubeletRestartLoop", "", probes.ClearAfterQuiet)})
	if c := h.cond(t, "KubeletUnhealthy"); strings.Contains(c.Message, "more") {
		t.Errorf("same reason on the node: %+v", c)
	}
	h.sm.LogFindings([]probes.Finding{logFinding("KubeletUnhealthy", "PLEGUnhealthy", "", probes.ClearAfterQuiet)})
	if c := h.cond(t, "KubeletUnhealthy"); !strings.Contains(c.Message, "(+1 more: ") {
		t.Errorf("another reason on the node is another fault: %+v", c)
	}
}

func TestSameFault(t *testing.T) {
	base := probes.Finding{Condition: "C", Reason: "R", Subject: "s"}
	tests := []struct {
		name string
		mod  func(f *probes.Finding)
		want bool
	}{
		{"identical", func(*probes.Finding) {}, true},
		{"another reason, same subject", func(f *probes.Finding) { f.Reason = "Other" }, true},
		{"another subject", func(f *probes.Finding) { f.Subject = "t" }, false},
		{"another condition", func(f *probes.Finding) { f.Condition = "D" }, false},
		{"event-only", func(f *probes.Finding) { f.Condition = "" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := base
			tc.mod(&b)
			a := base
			if tc.name == "event-only" {
				a.Condition = ""
			}
			if got := SameFault(a, b); got != tc.want {
				t.Errorf("SameFault = %v, want %v", got, tc.want)
			}
		})
	}
	node := probes.Finding{Condition: "C", Reason: "R"}
	other := node
	other.Reason = "Other"
	if !SameFault(node, node) || SameFault(node, other) {
		t.Error("on the node only the same reason is the same fault")
	}
}

// resolvingReporter is a fakeReporter that, like the KubeReporter, knows the
// Node's conditions from before the start, so it is handed initial False
// transitions too.
type resolvingReporter struct{ fakeReporter }

func (*resolvingReporter) resolvesInitialTransitions() {}

// transitions summarises the transition Events: condition, status, action,
// reason and whether it was marked initial.
func transitions(events []Event) []string {
	var out []string
	for _, e := range events {
		if e.Transition == nil {
			continue
		}
		tr := e.Transition
		out = append(out, fmt.Sprintf("%s %s %s %s initial=%v", tr.Condition, tr.Status, e.Action, e.Reason, tr.Initial))
	}
	return out
}

// Each condition's first status since start is an Initial transition, False
// included when the reporter can judge it against the Node; later changes
// are not initial, and neither is a publication after a removal (the Node's
// status from before the start no longer is the previous one).
func TestConditionsInitialTransitions(t *testing.T) {
	full := finding("disk", "DiskPressure", "Full", probes.SeverityProblem, "/var")
	expiring := finding("cert", "KubeletUnhealthy", "Expiring", probes.SeverityProblem, "")
	run := func(rep Reporter, events func() []Event) []string {
		c := NewConditions(ConditionsOptions{Clock: testingclock.NewFakeClock(t0), Reporter: rep, BootID: testBoot, Policy: basePolicy()})
		c.CheckResult("disk", nil, nil)                        // first status False
		c.CheckResult("cert", []probes.Finding{expiring}, nil) // first status True
		c.CheckResult("disk", []probes.Finding{full}, nil)     // False → True
		c.CheckResult("disk", nil, nil)                        // True → False
		p := basePolicy()
		delete(p.Checks, "disk")
		c.Configure(p) // DiskPressure removed
		c.Configure(basePolicy())
		c.CheckResult("disk", nil, nil) // published again, False
		return transitions(events())
	}
	tests := []struct {
		name string
		rep  interface {
			Reporter
			state() (int, []Condition, []string, []Event)
		}
		want []string
	}{
		{
			name: "reporter that read the Node",
			rep:  &resolvingReporter{},
			want: []string{
				"DiskPressure False Cleared NoProblemDetected initial=true",
				"KubeletUnhealthy True Detected Expiring initial=true",
				"DiskPressure True Detected Full initial=false",
				"DiskPressure False Cleared Full initial=false",
			},
		},
		{
			name: "reporter without the Node's previous state",
			rep:  &fakeReporter{},
			want: []string{
				"KubeletUnhealthy True Detected Expiring initial=true",
				"DiskPressure True Detected Full initial=false",
				"DiskPressure False Cleared Full initial=false",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(tt.rep, func() []Event { _, _, _, ev := tt.rep.state(); return ev })
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("transition Events (-want +got):\n%s", diff)
			}
		})
	}
}
