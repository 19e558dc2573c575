package faults

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
	"github.com/nodetriage/nodetriage/internal/containerdtest"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// TestContainerdKilled: containerd is killed with SIGKILL under a running
// agent and started again. ContainerRuntimeUnhealthy goes True, then False,
// without restarting the agent (its CRI client reconnects).
func TestContainerdKilled(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Shared(t)
	root := newHostRoot(t)
	// The agent reaches the runtime through the host root, as in the
	// DaemonSet (/host/run/containerd/containerd.sock).
	const socket = "/run/containerd/containerd.sock"
	ctrd := containerdtest.Start(t, containerdtest.Options{Address: root.Path(socket)})
	const nodeName = "faults-containerd-killed"
	node := watchNode(t, cluster, nodeName)
	// The default interval (30s) would make this test slow; the check is
	// the same at 2s.
	cfg := agentConfig{stateDir: t.TempDir(), checks: map[string]string{"container-runtime": "{interval: 2s, timeout: 1s}"}}
	a := startAgent(t, benchkit.AgentOptions{NodeName: nodeName, Kubeconfig: cluster.KubeconfigPath, HostRoot: root.Dir,
		Config: cfg.YAML(), CRIEndpoint: "unix://" + socket})
	watchRSS(t, a)
	pid := a.PID()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := node.WaitCondition(ctx, "ContainerRuntimeUnhealthy", "False", ""); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		ctrdPID, err := findProcess(containerdtest.ContainerdBinary, ctrd.ConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(ctrdPID, syscall.SIGKILL); err != nil {
			t.Fatalf("kill containerd %d: %v", ctrdPID, err)
		}
		killed := time.Now()
		at, err := node.WaitCondition(ctx, "ContainerRuntimeUnhealthy", "True", "RuntimeUnreachable")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: ContainerRuntimeUnhealthy True on the Node %s after SIGKILL", round, at.Sub(killed).Round(10*time.Millisecond))
		waitExited(t, ctrd)
		if err := ctrd.Start(); err != nil {
			t.Fatalf("restart containerd: %v", err)
		}
		restarted := time.Now()
		at, err = node.WaitCondition(ctx, "ContainerRuntimeUnhealthy", "False", "")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: ContainerRuntimeUnhealthy False on the Node %s after containerd answered again", round, at.Sub(restarted).Round(10*time.Millisecond))
	}
	requireNodeMatchesAgent(t, node, a, 30*time.Second)
	if a.PID() != pid || a.Exited() {
		t.Errorf("the agent restarted or exited")
	}
}

// findProcess finds the process running bin with arg on its command line.
func findProcess(bin, arg string) (int, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, err
	}
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
		if len(args) == 0 || string(args[0]) != bin {
			continue
		}
		for _, a := range args[1:] {
			if string(a) == arg {
				return strconv.Atoi(filepath.Base(d))
			}
		}
	}
	return 0, fmt.Errorf("no %s process with %s", bin, arg)
}

// waitExited waits until the harness has reaped the killed containerd.
func waitExited(t *testing.T, c *containerdtest.Containerd) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Running() {
		if time.Now().After(deadline) {
			t.Fatal("containerd still running 10s after SIGKILL")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
