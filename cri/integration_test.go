package cri

// Integration tests: the checks through the real CRI of Debian's containerd
// (internal/containerdtest), as issue 4's test list asks. They need root,
// containerd, runc and the CNI plugins (hack/install-deps.sh) and fail with
// one line naming what to install otherwise.

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/internal/containerdtest"
	"github.com/nodetriage/nodetriage/probes"
)

// realEnv is an agent-like Env on the real clock.
func realEnv(t *testing.T, rt probes.Runtime, host probes.FS, settings string) probes.Env {
	t.Helper()
	env := probes.Env{
		Host:     host,
		Clock:    clock.RealClock{},
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Runtime:  rt,
		NodeName: "node-a",
		Node:     nodeWithKubelet("v1.31.2"),
	}
	if settings != "" {
		env.Settings.Raw = []byte(settings)
	}
	return env
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func dial(t *testing.T, endpoint string) *Client {
	t.Helper()
	c, err := Dial(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func reasons(fs []probes.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Reason)
	}
	return out
}

func runCheck(t *testing.T, c probes.Check) []probes.Finding {
	t.Helper()
	fs, err := c.Check(t.Context())
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return fs
}

// TestRealRuntimeUnreachableAndBack: ready ⇒ healthy; containerd stopped
// (socket gone) ⇒ RuntimeUnreachable; containerd restarted ⇒ healthy again
// through the same client, without restarting anything on our side.
func TestRealRuntimeUnreachableAndBack(t *testing.T) {
	ctrd := containerdtest.Start(t, containerdtest.Options{})
	client := dial(t, ctrd.Endpoint())
	check := newCheck(t, RuntimeSpec(), realEnv(t, client, probes.NewFS("/"), ""))

	if got := runCheck(t, check); len(got) != 0 {
		t.Fatalf("ready runtime: findings %+v", got)
	}
	if err := ctrd.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ctrd.Address); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket %s still there after stop (err %v)", ctrd.Address, err)
	}
	got := runCheck(t, check)
	if len(got) != 1 || got[0].Reason != ReasonRuntimeUnreachable || got[0].Condition != ConditionContainerRuntimeUnhealthy {
		t.Fatalf("stopped runtime: findings %+v, want one %s", got, ReasonRuntimeUnreachable)
	}
	wantMsg := "Container runtime at " + ctrd.Address + " does not answer: Version: socket " + ctrd.Address + " does not exist"
	if got[0].Message != wantMsg {
		t.Errorf("message:\n got %s\nwant %s", got[0].Message, wantMsg)
	}
	if got[0].Evidence["runtimeVersion"] != "1.6.20~ds1" {
		t.Errorf("evidence lacks the last known version: %v", got[0].Evidence)
	}
	t.Logf("unreachable: %s | %s", got[0].Message, got[0].Remedy)

	for restart := 1; restart <= 2; restart++ {
		if err := ctrd.Start(); err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		for {
			fs := runCheck(t, check)
			if len(fs) == 0 {
				t.Logf("restart %d: healthy again %v after containerd answered its own readiness probe", restart, time.Since(started).Round(time.Millisecond))
				break
			}
			// The client's reconnect backoff is capped at 1 s.
			if time.Since(started) > 3*time.Second {
				t.Fatalf("restart %d: still %+v after %v", restart, fs, time.Since(started))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if restart == 1 {
			if err := ctrd.Stop(); err != nil {
				t.Fatal(err)
			}
			if got := runCheck(t, check); len(got) != 1 {
				t.Fatalf("stopped again: findings %+v", got)
			}
		}
	}
}

// TestRealNetworkNotReady: containerd with an empty CNI config directory
// reports NetworkReady=false; the finding carries its words. A CNI config
// appearing clears it.
func TestRealNetworkNotReady(t *testing.T) {
	cniDir := t.TempDir()
	ctrd := containerdtest.Start(t, containerdtest.Options{CNIConfDir: cniDir})
	client := dial(t, ctrd.Endpoint())
	check := newCheck(t, NetworkSpec(), realEnv(t, client, probes.NewFS("/"), ""))

	got := runCheck(t, check)
	if len(got) != 1 || got[0].Reason != ReasonNetworkPluginNotReady || got[0].Condition != ConditionContainerNetworkNotReady {
		t.Fatalf("findings %+v, want one %s", got, ReasonNetworkPluginNotReady)
	}
	f := got[0]
	if f.Evidence["runtimeMessage"] != "Network plugin returns error: cni plugin not initialized" || f.Evidence["runtimeReason"] != "NetworkPluginNotReady" {
		t.Errorf("runtime's own reason/message missing: %v", f.Evidence)
	}
	if !strings.Contains(f.Message, "cni plugin not initialized") {
		t.Errorf("message %q lacks the runtime's message", f.Message)
	}
	if f.Evidence["cniConfDir"] != cniDir || !strings.Contains(f.Remedy, "ls "+cniDir) || !strings.Contains(f.Remedy, "/usr/lib/cni") {
		t.Errorf("remedy/evidence do not name the runtime's CNI dirs: %q %v", f.Remedy, f.Evidence)
	}
	if !strings.Contains(f.Evidence["lastCNILoadStatus"], "no network config found in "+cniDir) {
		t.Errorf("lastCNILoadStatus = %q", f.Evidence["lastCNILoadStatus"])
	}
	t.Logf("%s | %s", f.Message, f.Remedy)

	conf := `{"cniVersion": "0.4.0", "name": "nodetriage-test", "plugins": [
  {"type": "bridge", "bridge": "ntbr0", "ipam": {"type": "host-local", "subnet": "10.244.250.0/24"}}]}`
	if err := os.WriteFile(filepath.Join(cniDir, "10-test.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(runCheck(t, check)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("network still not ready 10 s after a CNI config appeared")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRealSandboxImage walks the sandbox image through the states of issue
// 4 on a containerd whose root is a small tmpfs, with the agent's host root
// holding the socket and the image filesystem.
func TestRealSandboxImage(t *testing.T) {
	imgs := containerdtest.BuildTestImages(t)
	hostRoot, err := os.MkdirTemp("", "h-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(hostRoot) })
	ctrd := containerdtest.Start(t, containerdtest.Options{
		Address:        filepath.Join(hostRoot, "run/containerd/containerd.sock"),
		Root:           filepath.Join(hostRoot, "var/lib/containerd"),
		RootTmpfsBytes: 96 << 20,
	})
	ctrd.ImportTestImages(t, imgs)
	host := probes.NewFS(hostRoot)

	// The agent finds the socket under its host root on its own.
	t.Setenv("CONTAINER_RUNTIME_ENDPOINT", "")
	endpoint, err := DetectEndpoint(host, "")
	if err != nil {
		t.Fatal(err)
	}
	if "unix://"+endpoint.Socket != ctrd.Endpoint() || endpoint.Address != "unix:///run/containerd/containerd.sock" {
		t.Fatalf("DetectEndpoint = %+v, want socket %s shown as unix:///run/containerd/containerd.sock", endpoint, ctrd.Endpoint())
	}
	client, err := DialEndpoint(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	check := newCheck(t, SandboxImageSpec(), realEnv(t, client, host, ""))

	t.Run("present", func(t *testing.T) {
		if got := runCheck(t, check); len(got) != 0 {
			t.Fatalf("findings %+v", got)
		}
	})
	t.Run("removed by image GC", func(t *testing.T) {
		ctrd.RemoveImage(t, containerdtest.PauseRef)
		got := runCheck(t, check)
		if len(got) != 1 || got[0].Reason != ReasonSandboxImageNotPresent || got[0].Condition != ConditionSandboxImageMissing {
			t.Fatalf("findings %+v", got)
		}
		f := got[0]
		for _, want := range []string{
			"crictl pull " + containerdtest.PauseRef,
			"ctr -n k8s.io images import pause.tar",
			"ctr -n k8s.io images label " + containerdtest.PauseRef + " io.cri-containerd.pinned=pinned",
			"upgrade containerd to ≥ 1.6.22 / 1.7.3",
		} {
			if !strings.Contains(f.Remedy, want) {
				t.Errorf("remedy lacks %q: %s", want, f.Remedy)
			}
		}
		if _, err := client.ImageLabels(t.Context(), containerdtest.PauseRef); !errors.Is(err, ErrImageNotFound) {
			t.Errorf("containerd labels of a removed image: %v, want ErrImageNotFound", err)
		}
		if f.Evidence["source"] != "the runtime's CRI status (config.sandboxImage)" {
			t.Errorf("source = %q", f.Evidence["source"])
		}
		t.Logf("%s | %s", f.Message, f.Remedy)
	})
	t.Run("re-imported", func(t *testing.T) {
		ctrd.ImportImage(t, imgs.Pause, containerdtest.PauseRef)
		if got := runCheck(t, check); len(got) != 0 {
			t.Fatalf("findings %+v", got)
		}
	})

	filler := filepath.Join(ctrd.Root, "filler")
	t.Run("unpinned near the GC threshold", func(t *testing.T) {
		fillTo(t, ctrd.Root, filler, 83)
		got := runCheck(t, check)
		if len(got) != 1 || got[0].Reason != ReasonSandboxImageAtRisk || got[0].Condition != "" {
			t.Fatalf("findings %+v, want the event %s", got, ReasonSandboxImageAtRisk)
		}
		f := got[0]
		if !strings.Contains(f.Message, "is not pinned and image filesystem "+ctrd.Root) || !strings.Contains(f.Message, "(image GC starts at 85%)") {
			t.Errorf("message: %s", f.Message)
		}
		if u, _ := strconv.Atoi(f.Evidence["usagePercent"]); u < 80 || u >= 85 {
			t.Errorf("usagePercent = %s", f.Evidence["usagePercent"])
		}
		t.Logf("%s | %s", f.Message, f.Remedy)
	})
	t.Run("labelled, but containerd 1.6.20 does not report the pin", func(t *testing.T) {
		if _, err := ctrd.Ctr("images", "label", containerdtest.PauseRef, "io.cri-containerd.pinned=pinned"); err != nil {
			t.Fatal(err)
		}
		// Why the label alone does not protect the image here: the kubelet
		// only sees CRI's Image.pinned, which this containerd never sets.
		st, err := client.ImageStatus(t.Context(), &runtimeapi.ImageSpec{Image: containerdtest.PauseRef}, false)
		if err != nil || st.GetImage().GetPinned() {
			t.Fatalf("CRI pinned = %v (err %v); containerd 1.6.20 should not report it", st.GetImage().GetPinned(), err)
		}
		got := runCheck(t, check)
		if len(got) != 1 || got[0].Reason != ReasonSandboxImageAtRisk {
			t.Fatalf("findings %+v", got)
		}
		if want := "is not pinned for the kubelet (it carries io.cri-containerd.pinned=pinned, but containerd 1.6.20~ds1 does not report pins over CRI"; !strings.Contains(got[0].Message, want) {
			t.Errorf("message %q lacks %q", got[0].Message, want)
		}
		if !strings.HasPrefix(got[0].Remedy, "Upgrade containerd to ≥ 1.6.22 / 1.7.3 so the kubelet sees the pin (the label is already set).") {
			t.Errorf("remedy: %s", got[0].Remedy)
		}
	})
	t.Run("kubelet before 1.29 keeps it", func(t *testing.T) {
		env := realEnv(t, client, host, "")
		env.Node = nodeWithKubelet("v1.28.15")
		if got := runCheck(t, newCheck(t, SandboxImageSpec(), env)); len(got) != 0 {
			t.Fatalf("findings %+v", got)
		}
	})
	t.Run("remediation pins it", func(t *testing.T) {
		if _, err := ctrd.Ctr("images", "label", containerdtest.PauseRef, "io.cri-containerd.pinned="); err != nil {
			t.Fatal(err)
		}
		labels, err := client.ImageLabels(t.Context(), containerdtest.PauseRef)
		if err != nil || labels[ContainerdPinnedLabel] != "" {
			t.Fatalf("label not removed: %v, %v", labels, err)
		}
		remediating := newCheck(t, SandboxImageSpec(), realEnv(t, client, host, `{"pinWhenUnpinned": true}`))
		got := runCheck(t, remediating)
		if diff := strings.Join(reasons(got), ","); diff != ReasonSandboxImagePinned+","+ReasonSandboxImageAtRisk {
			t.Fatalf("reasons %s, want the pin event and, on 1.6.20, still the risk", diff)
		}
		if got[0].Severity != probes.SeverityInfo || got[0].Condition != "" || !strings.Contains(got[0].Message, "Pinned sandbox image "+containerdtest.PauseRef) {
			t.Errorf("pin event: %+v", got[0])
		}
		labels, err = client.ImageLabels(t.Context(), containerdtest.PauseRef)
		if err != nil || labels[ContainerdPinnedLabel] != "pinned" {
			t.Fatalf("label after remediation: %v, %v", labels, err)
		}
		out, err := ctrd.Ctr("images", "ls", "name=="+containerdtest.PauseRef)
		if err != nil || !bytes.Contains(out, []byte("io.cri-containerd.pinned=pinned")) {
			t.Errorf("ctr images ls does not show the label (err %v):\n%s", err, out)
		}
		t.Logf("%s | %s", got[0].Message, got[0].Remedy)
		// Pinned once: the next run does not pin again.
		if got := runCheck(t, remediating); strings.Join(reasons(got), ",") != ReasonSandboxImageAtRisk {
			t.Errorf("second run: %v", reasons(got))
		}
	})
	t.Run("space freed", func(t *testing.T) {
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		if got := runCheck(t, check); len(got) != 0 {
			t.Fatalf("findings %+v", got)
		}
	})
}

// fillTo writes filler until the filesystem holding dir is percent full,
// counted the kubelet's way (100 − available·100/capacity).
func fillTo(t *testing.T, dir, filler string, percent uint64) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	total := st.Blocks * uint64(st.Bsize)
	avail := st.Bavail * uint64(st.Bsize)
	wantAvail := total * (100 - percent) / 100
	if avail <= wantAvail {
		t.Fatalf("%s already %d%% full", dir, 100-avail*100/total)
	}
	if err := os.WriteFile(filler, make([]byte, avail-wantAvail), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRealCrashLoop: a host-network pod whose container exits 1 and is
// recreated with rising attempts, the way the kubelet does it.
func TestRealCrashLoop(t *testing.T) {
	imgs := containerdtest.BuildTestImages(t)
	ctrd := containerdtest.Start(t, containerdtest.Options{})
	ctrd.ImportTestImages(t, imgs)
	client := dial(t, ctrd.Endpoint())
	check := newCheck(t, WorkloadsSpec(), realEnv(t, client, probes.NewFS("/"), ""))

	pod := ctrd.RunPod(t, "shop", "checkout-5f6")
	var ids []string
	for attempt := uint32(0); attempt <= 3; attempt++ {
		id := ctrd.RunContainer(t, pod, containerdtest.ContainerSpec{Name: "app", Attempt: attempt, Args: []string{"exit", "1"}})
		st := ctrd.WaitExited(t, id, 30*time.Second)
		if st.ExitCode != 1 {
			t.Fatalf("attempt %d exit code %d", attempt, st.ExitCode)
		}
		ids = append(ids, id)
		// The kubelet's container GC keeps the last dead instance only.
		if attempt >= 2 {
			ctrd.RemoveContainer(t, ids[attempt-2])
		}
		got := runCheck(t, check)
		if attempt < 3 {
			if len(got) != 0 {
				t.Fatalf("after attempt %d: findings %+v", attempt, got)
			}
			continue
		}
		if len(got) != 1 || got[0].Reason != ReasonContainerCrashLooping {
			t.Fatalf("after attempt 3: findings %+v", got)
		}
		f := got[0]
		if f.Subject != "shop/checkout-5f6/app" || f.Condition != "" {
			t.Errorf("subject %q condition %q", f.Subject, f.Condition)
		}
		want := "Container app in pod shop/checkout-5f6 restarted 3 times within 10m0s (restart count now 3); last exit code 1 (Error)"
		if f.Message != want {
			t.Errorf("message:\n got %s\nwant %s", f.Message, want)
		}
		if !strings.HasPrefix(f.Remedy, "kubectl -n shop logs checkout-5f6 -c app --previous") {
			t.Errorf("remedy: %s", f.Remedy)
		}
		if f.Evidence["lastContainerID"] != id {
			t.Errorf("last exit read from %s, want the latest attempt %s", f.Evidence["lastContainerID"], id)
		}
		t.Logf("%s | %s", f.Message, f.Remedy)
	}
	if got := runCheck(t, check); len(got) != 0 {
		t.Errorf("repeat within the window: %+v", got)
	}
}

// TestRealOOMKill: a container with a 32 MiB limit allocating 64 MiB is
// killed by the kernel; the workloads check reports it from CRI, and the
// kernel's own oom-kill line from /dev/kmsg resolves to the pod.
func TestRealOOMKill(t *testing.T) {
	imgs := containerdtest.BuildTestImages(t)
	ctrd := containerdtest.Start(t, containerdtest.Options{})
	ctrd.ImportTestImages(t, imgs)
	client := dial(t, ctrd.Endpoint())
	check := newCheck(t, WorkloadsSpec(), realEnv(t, client, probes.NewFS("/"), ""))

	kmsg := openKmsgAtEnd(t)
	pod := ctrd.RunPod(t, "batch", "etl-7c4")
	id := ctrd.RunContainer(t, pod, containerdtest.ContainerSpec{
		Name: "worker", Args: []string{"alloc", "64"}, MemoryLimitBytes: 32 << 20,
	})
	st := ctrd.WaitExited(t, id, 60*time.Second)
	if st.Reason != "OOMKilled" || st.ExitCode != 137 {
		t.Fatalf("container exited with %d (%s), want 137 (OOMKilled)", st.ExitCode, st.Reason)
	}

	got := runCheck(t, check)
	if len(got) != 1 || got[0].Reason != ReasonContainerOOMKilled {
		t.Fatalf("findings %+v", got)
	}
	if got[0].Subject != "batch/etl-7c4/worker" || !strings.HasPrefix(got[0].Message, "Container worker in pod batch/etl-7c4 was OOM-killed (exit code 137, restart count 0") {
		t.Errorf("finding: %s / %s", got[0].Subject, got[0].Message)
	}
	t.Logf("%s | %s", got[0].Message, got[0].Remedy)

	summary, killed := readOOMLines(t, kmsg, id, 10*time.Second)
	fields := parseOOMSummary(summary)
	t.Logf("kernel: %s", summary)
	finding := &probes.Finding{
		Check: "kmsg", Reason: ReasonOOMKilling, Severity: probes.SeverityWarning, Message: killed,
		Evidence: map[string]string{"memcg": fields["task_memcg"], "pid": fields["pid"], "comm": fields["task"]},
	}
	if want := ctrd.CgroupParent(pod.UID) + "/" + id; finding.Evidence["memcg"] != want {
		t.Fatalf("task_memcg = %q, want %q", finding.Evidence["memcg"], want)
	}
	NewOOMResolver(client)(t.Context(), finding)
	if finding.Subject != "batch/etl-7c4/worker" || finding.Evidence["containerID"] != id || finding.Evidence["namespace"] != "batch" {
		t.Fatalf("resolved finding: subject %q evidence %v", finding.Subject, finding.Evidence)
	}
	wantLead := fmt.Sprintf("Kernel OOM killer killed workload (pid %s) in batch/etl-7c4/worker; ", fields["pid"])
	if !strings.HasPrefix(finding.Message, wantLead) {
		t.Errorf("message %q, want prefix %q", finding.Message, wantLead)
	}
	t.Logf("resolved: %s | %s", finding.Message, finding.Remedy)
}

// openKmsgAtEnd opens /dev/kmsg non-blocking, positioned after the last
// record, so only new kernel records are read.
func openKmsgAtEnd(t *testing.T) int {
	t.Helper()
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/kmsg: %v (the test must run as root)", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		t.Fatalf("seek /dev/kmsg: %v", err)
	}
	return fd
}

// readOOMLines reads kernel records until the oom-kill summary naming the
// container's memcg and the "Killed process" line of the same pid.
func readOOMLines(t *testing.T, fd int, containerID string, timeout time.Duration) (summary, killed string) {
	t.Helper()
	buf := make([]byte, 8192)
	deadline := time.Now().Add(timeout)
	var pid string
	for time.Now().Before(deadline) {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			time.Sleep(50 * time.Millisecond)
			continue
		case errors.Is(err, unix.EPIPE):
			continue // overrun: the position moved to the oldest record kept
		case err != nil:
			t.Fatalf("read /dev/kmsg: %v", err)
		}
		rec := string(buf[:n])
		header, text, ok := strings.Cut(rec, ";")
		if !ok {
			continue
		}
		if prio, err := strconv.Atoi(strings.SplitN(header, ",", 2)[0]); err != nil || prio>>3 != 0 {
			continue // not from the kernel
		}
		text, _, _ = strings.Cut(text, "\n")
		if strings.HasPrefix(text, "oom-kill:") && strings.Contains(text, "task_memcg=") && strings.Contains(text, containerID) {
			summary = text
			pid = parseOOMSummary(text)["pid"]
		}
		if pid != "" && strings.Contains(text, "Killed process "+pid+" ") {
			return summary, text
		}
	}
	t.Fatalf("no kernel oom-kill line for container %s within %v (summary %q)", containerID, timeout, summary)
	return "", ""
}

// parseOOMSummary splits "oom-kill:constraint=…,task_memcg=…,task=…,pid=…".
func parseOOMSummary(line string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(line, "oom-kill:"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}
