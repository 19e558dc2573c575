package containerdtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The labels and annotations the kubelet puts on sandboxes and containers
// (pkg/kubelet/kuberuntime/labels.go); the checks under test read them.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
	AnnotationRestarts = "io.kubernetes.container.restartCount"
)

// Pod is a pod sandbox started the way the kubelet starts one.
type Pod struct {
	ID                   string
	Name, Namespace, UID string
	Config               *runtimeapi.PodSandboxConfig
}

// CgroupParent is the cgroupfs parent of a pod's cgroups, shaped like the
// kubelet's (…/kubepods/burstable/pod<uid>) under the harness's own prefix.
func (c *Containerd) CgroupParent(podUID string) string {
	return c.CgroupPrefix + "/kubepods/burstable/pod" + podUID
}

// RunPod starts a host-network pod sandbox (no CNI needed) with the kubelet's
// labels and a fresh UID.
func (c *Containerd) RunPod(t testing.TB, namespace, name string) *Pod {
	t.Helper()
	uid := newUID()
	logDir := filepath.Join(c.Dir, "pods", namespace+"_"+name+"_"+uid)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	hostNamespaces := &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_NODE,
		Pid:     runtimeapi.NamespaceMode_POD,
		Ipc:     runtimeapi.NamespaceMode_POD,
	}
	config := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: namespace, Uid: uid},
		LogDirectory: logDir,
		Labels: map[string]string{
			LabelPodName:      name,
			LabelPodNamespace: namespace,
			LabelPodUID:       uid,
		},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: c.CgroupParent(uid),
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: hostNamespaces,
			},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := c.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: config})
	if err != nil {
		t.Fatalf("containerdtest: RunPodSandbox %s/%s: %v\n%s", namespace, name, err, c.LogTail(20))
	}
	return &Pod{ID: resp.PodSandboxId, Name: name, Namespace: namespace, UID: uid, Config: config}
}

// ContainerSpec is what the kubelet would put in a container's CRI config.
type ContainerSpec struct {
	Name string
	// Attempt is the restart count: metadata.attempt and the
	// io.kubernetes.container.restartCount annotation.
	Attempt uint32
	// Image defaults to WorkloadRef.
	Image string
	// Args go to the image's entrypoint, e.g. {"exit", "1"}.
	Args []string
	// MemoryLimitBytes is the cgroup memory limit; 0 means none.
	MemoryLimitBytes int64
}

// CreateContainer creates a container in pod with the kubelet's labels and
// annotations and returns its ID.
func (c *Containerd) CreateContainer(t testing.TB, pod *Pod, spec ContainerSpec) string {
	t.Helper()
	image := spec.Image
	if image == "" {
		image = WorkloadRef
	}
	attempt := strconv.FormatUint(uint64(spec.Attempt), 10)
	if err := os.MkdirAll(filepath.Join(pod.Config.LogDirectory, spec.Name), 0o755); err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	config := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: spec.Name, Attempt: spec.Attempt},
		Image:    &runtimeapi.ImageSpec{Image: image},
		Args:     spec.Args,
		Labels: map[string]string{
			LabelPodName:       pod.Name,
			LabelPodNamespace:  pod.Namespace,
			LabelPodUID:        pod.UID,
			LabelContainerName: spec.Name,
		},
		Annotations: map[string]string{AnnotationRestarts: attempt},
		LogPath:     filepath.Join(spec.Name, attempt+".log"),
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: spec.MemoryLimitBytes},
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				NamespaceOptions: pod.Config.Linux.SecurityContext.NamespaceOptions,
			},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := c.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: pod.ID, Config: config, SandboxConfig: pod.Config,
	})
	if err != nil {
		t.Fatalf("containerdtest: CreateContainer %s attempt %d: %v", spec.Name, spec.Attempt, err)
	}
	return resp.ContainerId
}

// StartContainer starts a created container.
func (c *Containerd) StartContainer(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("containerdtest: StartContainer %s: %v", id, err)
	}
}

// RunContainer creates and starts a container.
func (c *Containerd) RunContainer(t testing.TB, pod *Pod, spec ContainerSpec) string {
	t.Helper()
	id := c.CreateContainer(t, pod, spec)
	c.StartContainer(t, id)
	return id
}

// WaitExited polls until the container has exited and returns its status.
func (c *Containerd) WaitExited(t testing.TB, id string, timeout time.Duration) *runtimeapi.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := c.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		cancel()
		if err != nil {
			t.Fatalf("containerdtest: ContainerStatus %s: %v", id, err)
		}
		if st := resp.GetStatus(); st.GetState() == runtimeapi.ContainerState_CONTAINER_EXITED {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerdtest: container %s still %v after %v", id, resp.GetStatus().GetState(), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RemoveContainer removes a container, as the kubelet's container GC does.
func (c *Containerd) RemoveContainer(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("containerdtest: RemoveContainer %s: %v", id, err)
	}
}

// RemoveImage removes an image through CRI, as the kubelet's image GC does.
func (c *Containerd) RemoveImage(t testing.TB, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Images.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
		t.Fatalf("containerdtest: RemoveImage %s: %v", ref, err)
	}
}

// newUID is a random RFC 4122 version 4 UUID, like a pod's metadata.uid.
func newUID() string {
	b := []byte(randomHex(16))
	h := string(b)
	return fmt.Sprintf("%s-%s-4%s-a%s-%s", h[0:8], h[8:12], h[13:16], h[17:20], h[20:32])
}
