package kmsg

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/internal/streamtest"
	"github.com/nodetriage/nodetriage/probes"
)

// notReadableWarning starts the warning logged when /dev/kmsg is refused.
const notReadableWarning = "cannot read the kernel log from /dev/kmsg"

// hostWithDevice is a host root whose /dev/kmsg is a regular file: it
// opens, so New accepts it, but it cannot be polled, so a followed Run
// fails — a source that fails and is restarted.
func hostWithDevice(t *testing.T) (root, device string) {
	t.Helper()
	root = t.TempDir()
	device = filepath.Join(root, "dev", "kmsg")
	if err := os.MkdirAll(filepath.Dir(device), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(device, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return root, device
}

// TestNotReadableWarnsOnce: whether New or Run is the first to find that
// /dev/kmsg cannot be opened, the stream warns once (with the hint) and
// returns ErrNotApplicable, which ends the source.
func TestNotReadableWarnsOnce(t *testing.T) {
	tests := []struct {
		name string
		// removeAfterNew: the device opens when New looks and is gone
		// when Run opens it.
		removeAfterNew bool
	}{
		{name: "refused at New"},
		{name: "refused at Run", removeAfterNew: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, device := hostWithDevice(t)
			if !tt.removeAfterNew {
				if err := os.Remove(device); err != nil {
					t.Fatal(err)
				}
			}
			logs := &streamtest.LogBuffer{}
			env := probes.Env{Host: probes.NewFS(root), Clock: clocktesting.NewFakePassiveClock(time.Now()), Logger: slog.New(slog.NewTextHandler(logs, nil))}
			s, err := New(env, probes.StreamOptions{Follow: true})
			if tt.removeAfterNew {
				if err != nil {
					t.Fatalf("New with a device that opens: %v", err)
				}
				if err := os.Remove(device); err != nil {
					t.Fatal(err)
				}
				err = s.Run(context.Background(), streamtest.NewSink(sinkTimeout))
			}
			if !errors.Is(err, probes.ErrNotApplicable) {
				t.Errorf("error = %v, want one wrapping ErrNotApplicable", err)
			}
			if n := logs.Count(notReadableWarning); n != 1 {
				t.Errorf("warned %d times, want once:\n%s", n, logs)
			}
			if !strings.Contains(logs.String(), "grant CAP_SYSLOG") {
				t.Errorf("the warning has no hint:\n%s", logs)
			}
		})
	}
}

// TestNotReadableWarnsOnceInAnAgentRun runs the real agent with this
// stream: it fails and is restarted with backoff (the device opens but
// cannot be polled), then /dev/kmsg goes away. Over the restarts and long
// after, the warning is logged exactly once and the source is not
// restarted again.
func TestNotReadableWarnsOnceInAnAgentRun(t *testing.T) {
	root, device := hostWithDevice(t)
	logs := &streamtest.LogBuffer{}
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC))
	catalog := agent.Catalog{Streams: []probes.StreamSpec{Spec()}}
	cfg, err := agent.ParseConfig([]byte("apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nstateDir: "+t.TempDir()+"\n"), catalog)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Options{
		Config: cfg, Host: probes.NewFS(root), Streams: catalog.Streams, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent Run: %v", err)
		}
	}()

	// failures counts the kmsg runs that failed and were scheduled for a
	// restart (the first at Warn, repeats of the same error at Debug).
	failures := func() int {
		return logs.Count("log source failed; restarting with backoff") + logs.Count("log source still failing")
	}
	// stepUntil moves the fake clock on (past any restart backoff) until
	// cond holds.
	stepUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(sinkTimeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, logs)
			}
			clk.Step(time.Minute)
			time.Sleep(5 * time.Millisecond)
		}
	}
	stepUntil("three failed runs", func() bool { return failures() >= 3 })
	if n := logs.Count(notReadableWarning); n != 0 {
		t.Fatalf("warned while /dev/kmsg opened:\n%s", logs)
	}
	if err := os.Remove(device); err != nil {
		t.Fatal(err)
	}
	stepUntil("the source to be given up", func() bool { return logs.Count("log source does not apply on this node") > 0 })
	before := failures()
	for range 20 { // twenty minutes more of the agent's run
		clk.Step(time.Minute)
		time.Sleep(2 * time.Millisecond)
	}
	if n := logs.Count(notReadableWarning); n != 1 {
		t.Errorf("warned %d times in one agent run, want once:\n%s", n, logs)
	}
	if n := logs.Count("log source does not apply on this node"); n != 1 || failures() != before {
		t.Errorf("the source was restarted after it did not apply:\n%s", logs)
	}
}
