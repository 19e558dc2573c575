package rules

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

var testStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const testBootID = "0c5e1f4a-boot"

// discardLogger keeps the engine's load-time warnings out of test output
// (TestUnfilteredRuleWarning checks them).
var discardLogger = slog.New(slog.DiscardHandler)

// want is the part of a finding the tests pin down. Evidence lists only the
// keys a case cares about; every finding is also checked for the common keys.
type want struct {
	Check     string
	Reason    string
	Condition string
	Severity  probes.Severity
	Subject   string
	Message   string
	Evidence  map[string]string
	Clear     probes.ClearPolicy
	Recovered bool
}

func ev(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// view projects findings onto the wants (evidence restricted to the keys the
// matching want lists) and checks what every finding must have.
func view(t *testing.T, line probes.Line, fs []probes.Finding, wants []want) []want {
	t.Helper()
	var out []want
	for i, f := range fs {
		checkInvariants(t, line, f)
		w := want{
			Check: f.Check, Reason: f.Reason, Condition: f.Condition, Severity: f.Severity,
			Subject: f.Subject, Message: f.Message, Clear: f.Clear, Recovered: f.Recovered,
		}
		if i < len(wants) {
			w.Evidence = map[string]string{}
			for k := range wants[i].Evidence {
				if v, ok := f.Evidence[k]; ok {
					w.Evidence[k] = v
				}
			}
			if len(wants[i].Evidence) == 0 {
				w.Evidence = wants[i].Evidence
			}
		}
		out = append(out, w)
	}
	return out
}

func checkInvariants(t *testing.T, line probes.Line, f probes.Finding) {
	t.Helper()
	if f.Remedy == "" {
		t.Errorf("finding %s has no remedy", f.Reason)
	}
	if f.Message == "" || strings.ContainsAny(f.Message, "\n\r") {
		t.Errorf("finding %s message %q is not one non-empty line", f.Reason, f.Message)
	}
	if f.Evidence["line"] == "" || f.Evidence["source"] != string(line.Source) {
		t.Errorf("finding %s evidence lacks line/source: %v", f.Reason, f.Evidence)
	}
	if !line.Time.IsZero() && f.Evidence["time"] == "" {
		t.Errorf("finding %s evidence lacks time: %v", f.Reason, f.Evidence)
	}
	if line.Origin != "" && f.Evidence["origin"] != line.Origin {
		t.Errorf("finding %s evidence origin = %q, want %q", f.Reason, f.Evidence["origin"], line.Origin)
	}
	if f.Severity == probes.SeverityInfo && f.Condition != "" {
		t.Errorf("finding %s: info severity with condition %s", f.Reason, f.Condition)
	}
}

func newTestEngine(t testing.TB, rules []Rule) *Engine {
	t.Helper()
	e, err := NewEngine(rules, Options{Clock: clocktesting.NewFakePassiveClock(testStart), Logger: discardLogger})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return e
}

func testLine(src probes.Source, text string, at time.Time) probes.Line {
	return probes.Line{Source: src, Text: text, Time: at, BootID: testBootID, Origin: "test"}
}
