package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// plegQuietWindow is how long PLEGUnhealthy stays after its last line. It
// must leave the test time to see the True state through the API on a
// loaded machine, and it is how long the test waits for the clear.
const plegQuietWindow = 15 * time.Second

// TestPLEGFromKubeletLogFile runs the binary with the files source tailing
// the fixture's /var/log/kubelet.log: a real PLEG line appended while it
// runs makes KubeletUnhealthy True with reason PLEGUnhealthy, and after the
// quiet window without a repeat it goes back to False.
func TestPLEGFromKubeletLogFile(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Shared(t)
	const node = "e2e-pleg"
	cluster.CreateNode(t, node)
	root := newHostRoot(t)
	b := startBinary(t, binaryArgs{
		kubeconfig: cluster.KubeconfigPath, node: node, hostRoot: root.dir,
		config: agentConfig(t, nil, "quietWindow: "+plegQuietWindow.String()+"\n"),
	})
	b.waitReady()

	pid := 51234
	waitTailing(t, root, b.metrics)
	healthy := waitNode(t, cluster.Client, node, "KubeletUnhealthy False before the PLEG line",
		hasCondition(condKubeletUnhealthy, corev1.ConditionFalse, reasonNoProblem))

	// The kubelet's own text (pkg/kubelet/kubelet.go syncLoop).
	appended := time.Now()
	root.appendFile(kubeletLogPath, klogLine(appended, 'E', pid, "kubelet.go:2453",
		`"Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active 3m5.143s ago; threshold is 3m0s"`))
	bad := waitNode(t, cluster.Client, node, "KubeletUnhealthy True from the PLEG line",
		hasCondition(condKubeletUnhealthy, corev1.ConditionTrue, reasonPLEG))
	c := findCondition(bad, condKubeletUnhealthy)
	for _, want := range []string{"PLEG is not healthy", "within 3m0s", " Fix: ", "systemctl restart containerd"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("message %q lacks %q", c.Message, want)
		}
	}
	if !c.LastTransitionTime.After(findCondition(healthy, condKubeletUnhealthy).LastTransitionTime.Time) {
		t.Errorf("lastTransitionTime %v did not move on False → True", c.LastTransitionTime)
	}
	waitEvent(t, cluster.Client, node, eventMatch{Type: corev1.EventTypeWarning, Reason: reasonPLEG, Action: "Detected"})

	cleared := waitNode(t, cluster.Client, node, "KubeletUnhealthy back to False after the quiet window",
		hasCondition(condKubeletUnhealthy, corev1.ConditionFalse, reasonNoProblem))
	// The quiet window runs from the line's own time; the API keeps
	// whole seconds.
	if at, earliest := findCondition(cleared, condKubeletUnhealthy).LastTransitionTime.Time, appended.Add(plegQuietWindow).Truncate(time.Second); at.Before(earliest) {
		t.Errorf("PLEGUnhealthy cleared at %v, before its %s quiet window ended (%v)", at, plegQuietWindow, earliest)
	}
	waitEvent(t, cluster.Client, node, eventMatch{Type: corev1.EventTypeNormal, Reason: reasonPLEG, Action: "Cleared"})
}

// TestRestartLoopFromJournal runs the binary with the journal source on a
// real journal directory written by systemd-journal-remote: a kubelet that
// exits on a missing config file and systemd restarting it six times makes
// KubeletUnhealthy True with reason KubeletRestartLoop.
func TestRestartLoopFromJournal(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Shared(t)
	const node = "e2e-restart-loop"
	cluster.CreateNode(t, node)
	root := newHostRoot(t)
	// Within the journal source's 5 min look-back, so a first start reads
	// them.
	root.importJournal("kubelet-restart-loop.export", time.Now().Add(-10*time.Second))
	startBinary(t, binaryArgs{
		kubeconfig: cluster.KubeconfigPath, node: node, hostRoot: root.dir,
		config: agentConfig(t, nil, "sources:\n  journal:\n    settings:\n      directories: ["+journalDirPath+"]\n"),
	})

	got := waitNode(t, cluster.Client, node, "KubeletUnhealthy True from the journal",
		hasCondition(condKubeletUnhealthy, corev1.ConditionTrue, reasonRestartLoop))
	c := findCondition(got, condKubeletUnhealthy)
	for _, want := range []string{"kubelet.service restarted at least 5 times within 20m", " Fix: ", "journalctl -u kubelet"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("message %q lacks %q", c.Message, want)
		}
	}
	waitEvent(t, cluster.Client, node, eventMatch{Type: corev1.EventTypeWarning, Reason: reasonRestartLoop, Action: "Detected",
		NoteContains: []string{condKubeletUnhealthy + " is True: kubelet.service restarted"}})
}

// pauseImage is the sandbox image containerd fails to pull in
// testdata/containerd-faults.export (containerd 1.7's default sandbox_image).
const pauseImage = "registry.k8s.io/pause:3.8"

// TestContainerdFromJournal runs the binary with the journal source on a
// real journal written by systemd-journal-remote from containerd's own log
// lines (SYSLOG_IDENTIFIER=containerd, containerd 1.7 wording): RunPodSandbox
// failing with "failed to get sandbox image", a manual PullImage of the
// pause ref failing, and StartContainer failing with "OCI runtime create
// failed" because runc cannot mkdir the container's memory cgroup. The
// containerd rule pack turns them into SandboxImageMissing and
// MemoryCgroupLeak True, and the OCIRuntimeCreateFailed Event, on the Node
// in the real API server.
func TestContainerdFromJournal(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Shared(t)
	const node = "e2e-containerd-journal"
	cluster.CreateNode(t, node)
	root := newHostRoot(t)
	// Within the journal source's 5 min look-back, so a first start reads
	// them.
	root.importJournal("containerd-faults.export", time.Now().Add(-10*time.Second))
	b := startBinary(t, binaryArgs{
		kubeconfig: cluster.KubeconfigPath, node: node, hostRoot: root.dir,
		config: agentConfig(t, nil, "sources:\n  journal:\n    settings:\n      directories: ["+journalDirPath+"]\n"),
	})

	got := waitNode(t, cluster.Client, node, "SandboxImageMissing and MemoryCgroupLeak True from containerd's journal", allOf(
		hasCondition(condSandboxImageMissing, corev1.ConditionTrue, reasonSandboxPullFailing),
		hasCondition(condMemoryCgroupLeak, corev1.ConditionTrue, reasonCgroupCreate),
	))
	sandbox := findCondition(got, condSandboxImageMissing)
	for _, want := range []string{
		"the runtime cannot pull or read the sandbox (pause) image " + pauseImage + ": no new pod can start on this node",
		" Fix: ", "crictl pull " + pauseImage,
	} {
		if !strings.Contains(sandbox.Message, want) {
			t.Errorf("%s message %q lacks %q", condSandboxImageMissing, sandbox.Message, want)
		}
	}
	// One ref behind both failing lines: one finding, not "+1 more".
	if strings.Contains(sandbox.Message, "more:") {
		t.Errorf("%s message %q lists more than the one pause image", condSandboxImageMissing, sandbox.Message)
	}
	if msg := findCondition(got, condMemoryCgroupLeak).Message; !strings.Contains(msg, `creating cgroups fails with "cannot allocate memory"`) {
		t.Errorf("%s message %q lacks the cgroup error", condMemoryCgroupLeak, msg)
	}
	waitEvent(t, cluster.Client, node, eventMatch{Type: corev1.EventTypeWarning, Reason: reasonSandboxPullFailing, Action: "Detected",
		NoteContains: []string{condSandboxImageMissing + " is True: the runtime cannot pull or read the sandbox (pause) image " + pauseImage}})
	waitEvent(t, cluster.Client, node, eventMatch{Type: corev1.EventTypeWarning, Reason: reasonOCICreateFailed, Action: "Observed",
		NoteContains: []string{"the OCI runtime could not create a container: runc create failed: unable to start container process: " +
			"unable to apply cgroup configuration: mkdir /sys/fs/cgroup/memory/kubepods/burstable/pod5b1e6f9a-2c3d-4e5f-8a9b-0c1d2e3f4a5b/",
			" Fix: "}})

	// Every matching line counts once, under the containerd pack: the
	// RunPodSandbox and the PullImage failure, not the PullImage request.
	m, err := b.metrics()
	if err != nil {
		t.Fatal(err)
	}
	for reason, want := range map[string]float64{reasonSandboxPullFailing: 2, reasonOCICreateFailed: 1, reasonCgroupCreate: 1} {
		if v, _ := m.value("nodetriage_findings_total", "check", "containerd-log", "reason", reason); v != want {
			t.Errorf("nodetriage_findings_total{check=containerd-log,reason=%s} = %v, want %v", reason, v, want)
		}
	}
}

// waitTailing makes sure the files source follows the fixture's kubelet
// log before a test appends the line it is about. The tailer places a file
// that exists when it starts at its end and reads a file that appears later
// from its start; either way, a line appended after it has the file open is
// read. So ordinary kubelet lines are appended until one is counted, and
// the test's line cannot race the tailer's first scan.
func waitTailing(t *testing.T, root *hostRoot, scrape func() (metrics, error)) {
	t.Helper()
	waitFor(t, "the files source reads "+kubeletLogPath, apiDeadline, func() error {
		root.appendFile(kubeletLogPath, klogLine(time.Now(), 'I', 4242, "kubelet_node_status.go:75", `"Attempting to register node"`))
		m, err := scrape()
		if err != nil {
			return err
		}
		if v, _ := m.value("nodetriage_log_lines_total", "source", "files"); v < 1 {
			return fmt.Errorf("nodetriage_log_lines_total{source=files} = %v", v)
		}
		return nil
	})
}
