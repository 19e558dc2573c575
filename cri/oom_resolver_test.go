package cri

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nodetriage/nodetriage/probes"
)

func TestOOMResolver(t *testing.T) {
	const (
		uid = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
		id  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		msg = "Memory cgroup out of memory: Killed process 4242 (java) total-vm:1048576kB, anon-rss:524288kB"
	)
	fake := NewFake()
	fake.Containers = []*runtimeapi.Container{kubeletContainer(id, uid, "default", "api-7d9", "app", 2, runtimeapi.ContainerState_CONTAINER_RUNNING, t0)}
	fake.Sandboxes = []*runtimeapi.PodSandbox{{
		Id:       "sb1",
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "api-7d9", Namespace: "default", Uid: uid},
		Labels:   map[string]string{labelPodUID: uid},
	}}
	oom := func(memcg string) *probes.Finding {
		return &probes.Finding{
			Check: "kmsg", Reason: ReasonOOMKilling, Severity: probes.SeverityWarning, Message: msg,
			Remedy:   "generic",
			Evidence: map[string]string{"memcg": memcg, "pid": "4242", "comm": "java"},
		}
	}
	tests := []struct {
		name string
		in   *probes.Finding
		want *probes.Finding
	}{
		{
			name: "container found (cgroupfs)",
			in:   oom("/kubepods/burstable/pod" + uid + "/" + id),
			want: &probes.Finding{
				Check: "kmsg", Reason: ReasonOOMKilling, Severity: probes.SeverityWarning,
				Message: "Kernel OOM killer killed java (pid 4242) in default/api-7d9/app; " + msg,
				Remedy:  "kubectl -n default describe pod api-7d9; raise resources.limits.memory for container app or reduce its memory use; kubectl -n default logs api-7d9 -c app --previous",
				Evidence: map[string]string{
					"memcg": "/kubepods/burstable/pod" + uid + "/" + id, "pid": "4242", "comm": "java",
					"podUID": uid, "qosClass": "Burstable",
					"namespace": "default", "pod": "api-7d9", "container": "app", "containerID": id,
				},
				Subject: "default/api-7d9/app",
			},
		},
		{
			name: "container gone, pod found by UID (systemd)",
			in:   oom("/kubepods.slice/kubepods-pod6f1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice/cri-containerd-ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff.scope"),
			want: &probes.Finding{
				Check: "kmsg", Reason: ReasonOOMKilling, Severity: probes.SeverityWarning,
				Message: "Kernel OOM killer killed java (pid 4242) in pod default/api-7d9; " + msg,
				Remedy:  "kubectl -n default describe pod api-7d9; raise the memory limits of its containers or reduce their memory use",
				Evidence: map[string]string{
					"memcg": "/kubepods.slice/kubepods-pod6f1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice/cri-containerd-ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff.scope",
					"pid":   "4242", "comm": "java", "podUID": uid, "qosClass": "Guaranteed",
					"namespace": "default", "pod": "api-7d9",
					"resolution": "container fffffffffffff… is not listed by the runtime (already removed, or it is the pod's sandbox); pod found by UID",
				},
				Subject: "default/api-7d9",
			},
		},
		{
			name: "pod gone too",
			in:   oom("/kubepods/besteffort/pod11111111-2222-4333-8444-555555555555/" + id[:12] + "0000"),
			want: &probes.Finding{
				Check: "kmsg", Reason: ReasonOOMKilling, Severity: probes.SeverityWarning, Message: msg, Remedy: "generic",
				Evidence: map[string]string{
					"memcg": "/kubepods/besteffort/pod11111111-2222-4333-8444-555555555555/" + id[:12] + "0000",
					"pid":   "4242", "comm": "java", "podUID": "11111111-2222-4333-8444-555555555555", "qosClass": "BestEffort",
					"resolution": "container 0123456789ab0… is not listed by the runtime (already removed, or it is the pod's sandbox); no pod sandbox with UID 11111111-2222-4333-8444-555555555555 either (pod deleted)",
				},
			},
		},
		{
			name: "not a pod",
			in:   oom("/system.slice/containerd.service"),
			want: &probes.Finding{
				Check: "kmsg", Reason: ReasonOOMKilling, Severity: probes.SeverityWarning, Message: msg, Remedy: "generic",
				Evidence: map[string]string{
					"memcg": "/system.slice/containerd.service", "pid": "4242", "comm": "java",
					"resolution": "memcg /system.slice/containerd.service is not a Kubernetes pod cgroup (a system service or a process outside Kubernetes)",
				},
			},
		},
		{
			name: "other reasons untouched",
			in:   &probes.Finding{Reason: "TaskHung", Message: "x", Evidence: map[string]string{"memcg": "/kubepods/pod" + uid + "/" + id}},
			want: &probes.Finding{Reason: "TaskHung", Message: "x", Evidence: map[string]string{"memcg": "/kubepods/pod" + uid + "/" + id}},
		},
		{
			name: "global OOM without memcg untouched",
			in:   &probes.Finding{Reason: ReasonOOMKilling, Message: "Out of memory: Killed process 1 (x)"},
			want: &probes.Finding{Reason: ReasonOOMKilling, Message: "Out of memory: Killed process 1 (x)"},
		},
	}
	resolve := NewOOMResolver(fake)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resolve(t.Context(), tt.in)
			if diff := cmp.Diff(tt.want, tt.in); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestOOMResolverRuntimeDown(t *testing.T) {
	fake := NewFake()
	fake.Errs = map[string]error{"ListContainers": fake.Unreachable("ListContainers")}
	f := &probes.Finding{Reason: ReasonOOMKilling, Message: "m", Evidence: map[string]string{
		"memcg": "/kubepods/burstable/pod6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/0123456789abcdef0123456789abcdef",
	}}
	NewOOMResolver(fake)(t.Context(), f)
	want := "CRI ListContainers failed: CRI ListContainers on unix:///run/containerd/containerd.sock: socket /run/containerd/containerd.sock does not exist"
	if f.Evidence["resolution"] != want || f.Message != "m" || f.Subject != "" {
		t.Errorf("got resolution %q, message %q, subject %q", f.Evidence["resolution"], f.Message, f.Subject)
	}
}
