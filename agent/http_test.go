package agent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodetriage/nodetriage/probes"
)

// TestHealthzIgnoresAStuckCheck: a check stuck in the kernel must not fail
// /healthz (the liveness probe would restart the agent straight back into
// the same hang). The agent goes on, the condition says the check is
// stuck, /metrics shows nodetriage_check_stuck 1, and everything recovers
// when the check returns.
func TestHealthzIgnoresAStuckCheck(t *testing.T) {
	verifyNoLeaks(t)
	release := make(chan struct{})
	interval := 200 * time.Millisecond
	spec := funcSpec("nfs-statfs", "LogFilesystemUnusable", interval, 50*time.Millisecond, func(context.Context) ([]probes.Finding, error) {
		<-release // hangs, as statfs on a hung NFS mount does, ignoring ctx
		return nil, nil
	})
	opts := testOptions(t, spec)
	reporter := &fakeReporter{}
	opts.Reporter = reporter
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	a.sched.abandonGrace = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	waitFor(t, "the condition Unknown", func() bool {
		c, _ := reporter.condition("LogFilesystemUnusable")
		return c.Status == corev1.ConditionUnknown
	})
	if c, _ := reporter.condition("LogFilesystemUnusable"); c.Message != "could not check: nfs-statfs: timed out after 50ms (still running: stuck in the kernel?)" {
		t.Errorf("message = %q", c.Message)
	}
	// Well past 2×interval + timeout, the old limit of a stalled loop.
	time.Sleep(5 * interval)
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with a stuck check = %d %q, want 200", code, body)
	}
	if _, metrics := get("/metrics"); !strings.Contains(metrics, `nodetriage_check_stuck{check="nfs-statfs"} 1`) {
		t.Errorf("/metrics lacks nodetriage_check_stuck 1 for the stuck check")
	}

	close(release)
	waitFor(t, "the check to run again and the condition False", func() bool {
		c, _ := reporter.condition("LogFilesystemUnusable")
		return c.Status == corev1.ConditionFalse
	})
	if _, metrics := get("/metrics"); !strings.Contains(metrics, `nodetriage_check_stuck{check="nfs-statfs"} 0`) {
		t.Errorf("/metrics: nodetriage_check_stuck is not back to 0")
	}
}
