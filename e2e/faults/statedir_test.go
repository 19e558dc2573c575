package faults

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// TestStateDirFull: the agent's state directory is a tiny tmpfs filled to
// the last byte. A log-derived condition still reaches the Node; the failed
// write of the persisted findings is counted, logged once, and the agent
// stays healthy.
func TestStateDirFull(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Shared(t)
	const nodeName = "faults-state-dir-full"
	node := watchNode(t, cluster, nodeName)
	root := newHostRoot(t)
	if err := root.WriteFile("/var/log/kubelet.log", nil); err != nil {
		t.Fatal(err)
	}
	stateDir := fullTmpfs(t)
	cfg := agentConfig{stateDir: stateDir, sources: map[string]string{"files": "{}"}}
	a := startAgent(t, benchkit.AgentOptions{NodeName: nodeName, Kubeconfig: cluster.KubeconfigPath, HostRoot: root.Dir, Config: cfg.YAML()})
	watchRSS(t, a)
	requireNodeMatchesAgent(t, node, a, time.Minute)

	appendUntil(t, root, "/var/log/kubelet.log", plegLine, a, "PLEG unhealthy in kubelet.log", hasCondition("KubeletUnhealthy", "True", "PLEGUnhealthy"))
	// Active log findings are persisted at most every 5 s.
	deadline := time.Now().Add(30 * time.Second)
	for metricValue(t, a, "nodetriage_state_write_errors_total", nil) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failed state write counted in nodetriage_state_write_errors_total")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(a.Log(), "cannot persist active log findings") {
		t.Errorf("the agent log does not say the findings cannot be persisted")
	}
	got := requireNodeMatchesAgent(t, node, a, 30*time.Second)
	requireConditions(t, got, map[string][2]string{"KubeletUnhealthy": {"True", "PLEGUnhealthy"}})
	resp, err := http.Get(a.URL("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s with a full state directory", resp.Status)
	}
	if a.Exited() {
		t.Errorf("the agent exited")
	}
}

// fullTmpfs mounts a 64 KiB tmpfs and fills it; it is unmounted at
// cleanup.
func fullTmpfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{'x'}, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			break
		}
	}
	// Fill the last partial block too.
	for {
		if _, err := f.Write([]byte{'x'}); err != nil {
			break
		}
	}
	return dir
}
