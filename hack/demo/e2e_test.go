package demo

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// cluster is one demo cluster brought up by the scripts for a test.
type cluster struct {
	t      *testing.T
	env    []string
	dir    string
	name   string
	port   map[string]int
	client kubernetes.Interface
	// kubectl is the one hack/build-kube.sh built, which the scripts use.
	kubectl string
}

// script runs one of the demo scripts with the cluster's settings and fails
// the test with its output when it fails.
func (c *cluster) script(name string, args ...string) string {
	c.t.Helper()
	out, err := c.run(name, args...)
	if err != nil {
		c.t.Fatalf("hack/demo/%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cluster) run(name string, args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{name}, args...)...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *cluster) runKubectl(args ...string) string {
	c.t.Helper()
	cmd := exec.Command(c.kubectl, append([]string{"--kubeconfig", filepath.Join(c.dir, "admin.kubeconfig")}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (c *cluster) node() *corev1.Node {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node, err := c.client.CoreV1().Nodes().Get(ctx, c.name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatalf("get node %s: %v", c.name, err)
	}
	return node
}

func condition(node *corev1.Node, condType string) (corev1.NodeCondition, bool) {
	for _, cond := range node.Status.Conditions {
		if string(cond.Type) == condType {
			return cond, true
		}
	}
	return corev1.NodeCondition{}, false
}

// waitCondition waits until the Node shows condType with status and, when
// reason is set, that reason; it returns the condition.
func (c *cluster) waitCondition(condType string, status corev1.ConditionStatus, reason string) corev1.NodeCondition {
	c.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		cond, ok := condition(c.node(), condType)
		if ok && cond.Status == status && (reason == "" || cond.Reason == reason) {
			return cond
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("after 90s the Node shows %s = %+v, want status %s reason %q", condType, cond, status, reason)
		}
		time.Sleep(time.Second)
	}
}

func (c *cluster) metrics() string {
	c.t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(c.port["DEMO_AGENT_PORT"]) + "/metrics")
	if err != nil {
		c.t.Fatalf("scrape the agent: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.t.Fatalf("scrape the agent: %s %v", resp.Status, err)
	}
	return string(body)
}

// metricValue returns the value of one series in a scrape, or -1.
func metricValue(scrape, series string) float64 {
	sc := bufio.NewScanner(strings.NewReader(scrape))
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), " "); ok && name == series {
			v, err := strconv.ParseFloat(value, 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// dumpLogs puts the end of every component's log into the test output.
func (c *cluster) dumpLogs() {
	logs, _ := filepath.Glob(filepath.Join(c.dir, "log", "*.log"))
	logs = append(logs, filepath.Join(c.dir, "varlog", "upper", "kubelet.log"))
	for _, l := range logs {
		out, _ := exec.Command("tail", "-n", "25", l).CombinedOutput()
		c.t.Logf("--- end of %s:\n%s", l, out)
	}
	for _, args := range [][]string{
		{"-n", "nodetriage", "logs", "ds/nodetriage", "--tail", "40"},
		{"describe", "node", c.name},
		{"-n", "nodetriage", "describe", "pods"},
	} {
		out, _ := exec.Command(c.kubectl, append([]string{"--kubeconfig", filepath.Join(c.dir, "admin.kubeconfig")}, args...)...).CombinedOutput()
		c.t.Logf("--- kubectl %s:\n%s", strings.Join(args, " "), out)
	}
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// startCluster builds the images and brings up a demo cluster with the
// agent deployed, with its own directory, cgroup name and ports so it can
// run beside `make demo`. t.Cleanup tears it down (down.sh) and checks that
// nothing is left behind.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end test runs a kubelet and containerd: run it as root")
	}
	for _, tool := range []string{"etcd", "containerd", "ctr", "runc", "openssl", "curl", "logrotate", "apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run hack/install-deps.sh (Debian packages etcd-server containerd runc openssl curl logrotate)", tool)
		}
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "nodetriage-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	// Builds the Kubernetes binaries up.sh needs too, when they are missing.
	c := &cluster{t: t, dir: dir, name: "nodetriage-e2e-" + hex.EncodeToString(suffix[:]), port: map[string]int{}, kubectl: kubetest.KubectlPath(t)}
	names := []string{"DEMO_API_PORT", "DEMO_ETCD_PORT", "DEMO_ETCD_PEER_PORT", "DEMO_KUBELET_PORT",
		"DEMO_KUBELET_HEALTHZ_PORT", "DEMO_KCM_PORT", "DEMO_SCHEDULER_PORT", "DEMO_AGENT_PORT"}
	// The images are built outside DEMO_DIR, which up.sh recreates.
	imageDir, err := os.MkdirTemp("", "nodetriage-e2e-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(imageDir) })
	c.env = append(os.Environ(),
		"DEMO_DIR="+dir, "DEMO_NAME="+c.name, "DEMO_LOGFS_SIZE=32m", "IMAGE_DIR="+imageDir,
		// The downloaded packages are shared with make image / make demo.
		"DEB_CACHE="+filepath.Join(repo, "_output", "image", "debs"),
		"VERSION=e2e", "COMMIT=e2e")
	for i, p := range freePorts(t, len(names)) {
		c.port[names[i]] = p
		c.env = append(c.env, fmt.Sprintf("%s=%d", names[i], p))
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
		if out, err := c.run("down.sh"); err != nil {
			t.Errorf("down.sh: %v\n%s", err, out)
		}
		c.checkNothingLeft()
		os.RemoveAll(dir)
	})
	start := time.Now()
	c.script("build-pause-image.sh")
	c.script("build-image.sh")
	t.Logf("images built in %s", time.Since(start).Round(time.Second))
	start = time.Now()
	c.script("up.sh")
	t.Logf("cluster up in %s", time.Since(start).Round(time.Second))
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	if c.client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	c.script("deploy.sh")
	t.Logf("agent deployed and ready in %s", time.Since(start).Round(time.Second))
	return c
}

// checkNothingLeft verifies down.sh: no process, cgroup, mount or directory
// of the cluster remains.
func (c *cluster) checkNothingLeft() {
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hierarchies {
		if _, err := os.Stat(filepath.Join(h, c.name)); err == nil {
			c.t.Errorf("cgroup %s/%s left behind", h, c.name)
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		c.t.Fatal(err)
	}
	for line := range strings.Lines(string(mounts)) {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], c.dir) {
			c.t.Errorf("mount %s left behind", f[4])
		}
	}
	if _, err := os.Stat(c.dir); err == nil {
		c.t.Errorf("%s left behind", c.dir)
	}
}

// TestDemoEndToEnd runs the agent as deployed (daemonset/overlays/local) on
// a real single-node cluster (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, containerd, kubelet) and drives real faults through it:
// each shows on the Node with its message and remedy, as an Event and in
// /metrics, and clears after the repair.
func TestDemoEndToEnd(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()

	var ds *appsv1.DaemonSet
	ds, err := c.client.AppsV1().DaemonSets("nodetriage").Get(ctx, "nodetriage", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Status.NumberReady != 1 || ds.Status.DesiredNumberScheduled != 1 {
		t.Fatalf("DaemonSet ready %d of %d, want 1 of 1", ds.Status.NumberReady, ds.Status.DesiredNumberScheduled)
	}

	// No CNI configuration: the runtime's own NetworkReady message.
	network := c.waitCondition("ContainerNetworkNotReady", corev1.ConditionTrue, "NetworkPluginNotReady")
	if !strings.Contains(network.Message, "cni plugin not initialized") || !strings.Contains(network.Message, "Fix: ") {
		t.Errorf("ContainerNetworkNotReady message = %q, want the runtime's message and a remedy", network.Message)
	}
	ready, _ := condition(c.node(), "Ready")
	if !strings.Contains(ready.Message, "cni plugin not initialized") {
		t.Errorf("the kubelet's Ready condition says %q; the demo expected no CNI", ready.Message)
	}
	scrape := c.metrics()
	if v := metricValue(scrape, `nodetriage_condition_status{condition="ContainerNetworkNotReady",status="True"}`); v != 1 {
		t.Errorf("nodetriage_condition_status ContainerNetworkNotReady True = %v, want 1", v)
	}
	if !strings.Contains(scrape, `nodetriage_build_info{`) {
		t.Error("/metrics has no nodetriage_build_info")
	}

	// This machine never ran logrotate, which the agent reports; the demo
	// repairs it with the remedy, so the log filesystem fault stands alone.
	c.script("faults.sh", "run-logrotate")
	c.waitCondition("ContainerLogDiskPressure", corev1.ConditionFalse, "")

	c.script("faults.sh", "remove-pause")
	sandbox := c.waitCondition("SandboxImageMissing", corev1.ConditionTrue, "SandboxImageNotPresent")
	if !strings.Contains(sandbox.Message, "localhost/nodetriage/pause:demo") || !strings.Contains(sandbox.Message, "Fix: ") {
		t.Errorf("SandboxImageMissing message = %q, want the image and a remedy", sandbox.Message)
	}

	c.script("faults.sh", "fill-logs")
	logs := c.waitCondition("ContainerLogDiskPressure", corev1.ConditionTrue, "LogFilesystemNearFull")
	if !strings.Contains(logs.Message, "/var/log/pods") || !strings.Contains(logs.Message, "Fix: ") {
		t.Errorf("ContainerLogDiskPressure message = %q, want /var/log/pods and a remedy", logs.Message)
	}

	// What the operator sees.
	describe := c.runKubectl("describe", "node", c.name)
	for _, cond := range []corev1.NodeCondition{network, sandbox, logs} {
		head, fix, _ := strings.Cut(cond.Message, " Fix: ")
		// describe prints the message on one line; look for both halves.
		if !strings.Contains(describe, head) || !strings.Contains(describe, fix[:min(len(fix), 60)]) {
			t.Errorf("kubectl describe node does not show %s's message and remedy %q", cond.Type, cond.Message)
		}
	}
	events := c.runKubectl("get", "events", "-n", "default", "--field-selector", "involvedObject.kind=Node,involvedObject.name="+c.name)
	for _, reason := range []string{"NetworkPluginNotReady", "SandboxImageNotPresent", "LogFilesystemNearFull"} {
		if !strings.Contains(events, reason) {
			t.Errorf("kubectl get events lists no %s Event:\n%s", reason, events)
		}
	}

	// Repairs.
	c.script("faults.sh", "restore-pause")
	c.waitCondition("SandboxImageMissing", corev1.ConditionFalse, "")
	c.script("faults.sh", "free-logs")
	c.waitCondition("ContainerLogDiskPressure", corev1.ConditionFalse, "")
	c.script("faults.sh", "add-cni")
	c.waitCondition("ContainerNetworkNotReady", corev1.ConditionFalse, "")
	scrape = c.metrics()
	for _, cond := range []string{"ContainerNetworkNotReady", "SandboxImageMissing", "ContainerLogDiskPressure"} {
		if v := metricValue(scrape, `nodetriage_condition_status{condition="`+cond+`",status="True"}`); v != 0 {
			t.Errorf("after the repair nodetriage_condition_status %s True = %v, want 0", cond, v)
		}
	}

	// The agent was never restarted by its probes while the node was sick.
	pods, err := c.client.CoreV1().Pods("nodetriage").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		for _, s := range p.Status.ContainerStatuses {
			if s.RestartCount != 0 || !s.Ready {
				t.Errorf("agent pod %s: ready=%v restarts=%d", p.Name, s.Ready, s.RestartCount)
			}
		}
	}

	// overlays/kmsg's patch (components/kmsg): privileged, the agent reads
	// /dev/kmsg itself. A line written to /dev/kmsg now must be counted.
	c.env = append(c.env, "DEMO_KMSG=1")
	c.script("deploy.sh")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := os.WriteFile("/dev/kmsg", []byte("nodetriage e2e: kmsg overlay probe\n"), 0); err != nil {
			t.Fatalf("write /dev/kmsg: %v", err)
		}
		if metricValue(c.metrics(), `nodetriage_log_lines_total{source="kmsg"}`) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with overlays/kmsg the agent reads no /dev/kmsg line within 60s")
		}
		time.Sleep(2 * time.Second)
	}
}
