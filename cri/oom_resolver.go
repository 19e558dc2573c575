package cri

import (
	"context"
	"fmt"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nodetriage/nodetriage/probes"
)

// ReasonOOMKilling is the rules engine's reason for a kernel OOM kill.
const ReasonOOMKilling = "OOMKilling"

// NewOOMResolver returns the agent's enrichment for kernel OOM-kill
// findings: for a finding with Reason OOMKilling and Evidence["memcg"] (the
// victim's memory cgroup from the kernel's oom-kill summary line) it finds
// the pod and container through the runtime and
//
//   - adds Evidence namespace, pod, container, containerID (and podUID),
//   - sets Subject to "ns/pod/container",
//   - rewrites Message to name them ("Kernel OOM killer killed java (pid
//     4242) in default/api-7d9/app; <the rule's message>") and Remedy to
//     the pod's commands.
//
// When the container is no longer listed (already removed, or the memcg is
// the pod sandbox's) it falls back to the pod UID in the path
// (ListPodSandbox by the kubelet's io.kubernetes.pod.uid label): the pod is
// added to the evidence, Subject becomes "ns/pod" and the message names the
// pod. Otherwise the message stays and Evidence["resolution"] says why. It
// makes at most two CRI calls and honours ctx; other findings are untouched.
func NewOOMResolver(rt probes.Runtime) func(ctx context.Context, f *probes.Finding) {
	return func(ctx context.Context, f *probes.Finding) {
		if f == nil || f.Reason != ReasonOOMKilling || f.Evidence["memcg"] == "" {
			return
		}
		memcg := f.Evidence["memcg"]
		owner, ok := parseMemcgPath(memcg)
		if !ok {
			f.Evidence["resolution"] = "memcg " + memcg + " is not a Kubernetes pod cgroup (a system service or a process outside Kubernetes)"
			return
		}
		f.Evidence["podUID"] = owner.PodUID
		f.Evidence["qosClass"] = owner.QOSClass
		if rt == nil {
			f.Evidence["resolution"] = "no CRI runtime to resolve pod " + owner.PodUID
			return
		}
		var why string
		if owner.ContainerID != "" {
			ctrs, err := rt.ListContainers(ctx, &runtimeapi.ContainerFilter{Id: owner.ContainerID})
			if err != nil {
				f.Evidence["resolution"] = "CRI ListContainers failed: " + err.Error()
				return
			}
			for _, ctr := range ctrs {
				if ctr.Id == owner.ContainerID || strings.HasPrefix(ctr.Id, owner.ContainerID) {
					nameContainer(f, ctr)
					return
				}
			}
			why = "container " + shortID(owner.ContainerID) + "… is not listed by the runtime (already removed, or it is the pod's sandbox)"
		} else {
			why = "the memcg is the pod's own cgroup, not a container's"
		}
		sandboxes, err := rt.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{labelPodUID: owner.PodUID}})
		if err != nil {
			f.Evidence["resolution"] = why + "; CRI ListPodSandbox failed: " + err.Error()
			return
		}
		if len(sandboxes) == 0 {
			f.Evidence["resolution"] = why + "; no pod sandbox with UID " + owner.PodUID + " either (pod deleted)"
			return
		}
		namePod(f, sandboxes[0], why)
	}
}

func nameContainer(f *probes.Finding, ctr *runtimeapi.Container) {
	ns, pod := ctr.Labels[labelPodNamespace], ctr.Labels[labelPodName]
	name := ctr.Labels[labelContainerName]
	if name == "" {
		name = ctr.GetMetadata().GetName()
	}
	f.Evidence["namespace"] = ns
	f.Evidence["pod"] = pod
	f.Evidence["container"] = name
	f.Evidence["containerID"] = ctr.Id
	f.Subject = ns + "/" + pod + "/" + name
	f.Message = joinMessage(oomLead(f)+" in "+f.Subject, f.Message)
	f.Remedy = fmt.Sprintf("kubectl -n %[1]s describe pod %[2]s; raise resources.limits.memory for container %[3]s or reduce its memory use; kubectl -n %[1]s logs %[2]s -c %[3]s --previous",
		ns, pod, name)
}

func namePod(f *probes.Finding, sb *runtimeapi.PodSandbox, why string) {
	ns, pod := sb.GetMetadata().GetNamespace(), sb.GetMetadata().GetName()
	f.Evidence["namespace"] = ns
	f.Evidence["pod"] = pod
	f.Evidence["resolution"] = why + "; pod found by UID"
	f.Subject = ns + "/" + pod
	f.Message = joinMessage(oomLead(f)+" in pod "+f.Subject, f.Message)
	f.Remedy = fmt.Sprintf("kubectl -n %[1]s describe pod %[2]s; raise the memory limits of its containers or reduce their memory use", ns, pod)
}

// oomLead is "Kernel OOM killer killed java (pid 4242)" from the rule's
// evidence, or a shorter lead without it.
func oomLead(f *probes.Finding) string {
	comm, pid := f.Evidence["comm"], f.Evidence["pid"]
	switch {
	case comm != "" && pid != "":
		return fmt.Sprintf("Kernel OOM killer killed %s (pid %s)", comm, pid)
	case comm != "":
		return "Kernel OOM killer killed " + comm
	case pid != "":
		return "Kernel OOM killer killed pid " + pid
	}
	return "Kernel OOM killer killed a process"
}

func joinMessage(lead, original string) string {
	if original == "" {
		return lead
	}
	return lead + "; " + original
}
