package cri

import (
	"strings"
)

// memcgOwner is what a kubelet-managed memory cgroup path says about who
// owns it.
type memcgOwner struct {
	// PodUID is the pod's metadata.uid (dashes restored for systemd paths).
	PodUID string
	// ContainerID is the runtime's container (or sandbox) ID; "" when the
	// path ends at the pod level.
	ContainerID string
	// QOSClass is Guaranteed, Burstable or BestEffort.
	QOSClass string
}

// containerScopePrefixes are the systemd scope names runtimes give a
// container's cgroup: containerd, CRI-O (and its conmon), dockerd.
var containerScopePrefixes = []string{"cri-containerd-", "crio-conmon-", "crio-", "docker-"}

// parseMemcgPath reads a memory cgroup path as the kernel prints it
// (oom-kill:…task_memcg=<path>) and returns its pod and container when it
// is a kubelet pod cgroup, with either cgroup driver:
//
//	cgroupfs: [/prefix]/kubepods[/burstable|/besteffort]/pod<uid>/<id>
//	systemd:  /kubepods.slice[/kubepods-burstable.slice]/kubepods[-burstable]-pod<uid_with_underscores>.slice/<runtime>-<id>.scope
//
// where <runtime> is cri-containerd, crio, crio-conmon or docker; CRI-O on
// cgroupfs names the directory crio-<id>. Anything below the container's
// cgroup (cgroup v2 sub-cgroups) is ignored.
func parseMemcgPath(p string) (memcgOwner, bool) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	podAt := -1
	var owner memcgOwner
	for i, part := range parts {
		if uid, ok := podUIDFromCgroup(part); ok {
			owner.PodUID = uid
			podAt = i
			break
		}
	}
	if podAt < 0 || !underKubepods(parts[:podAt+1]) {
		return memcgOwner{}, false
	}
	owner.QOSClass = "Guaranteed"
	for _, part := range parts[:podAt+1] {
		switch {
		case strings.Contains(part, "besteffort"):
			owner.QOSClass = "BestEffort"
		case strings.Contains(part, "burstable"):
			owner.QOSClass = "Burstable"
		}
	}
	if podAt+1 < len(parts) {
		if id, ok := containerIDFromCgroup(parts[podAt+1]); ok {
			owner.ContainerID = id
		}
	}
	return owner, true
}

// underKubepods says whether some ancestor is the kubelet's kubepods cgroup.
func underKubepods(parts []string) bool {
	for _, part := range parts {
		if part == "kubepods" || part == "kubepods.slice" || strings.HasPrefix(part, "kubepods-") {
			return true
		}
	}
	return false
}

// podUIDFromCgroup reads "pod<uid>" (cgroupfs) or
// "kubepods[-qos]-pod<uid_with_underscores>.slice" (systemd).
func podUIDFromCgroup(part string) (string, bool) {
	var uid string
	switch {
	case strings.HasSuffix(part, ".slice"):
		i := strings.LastIndex(part, "-pod")
		if i < 0 {
			return "", false
		}
		uid = strings.ReplaceAll(strings.TrimSuffix(part[i+len("-pod"):], ".slice"), "_", "-")
	case strings.HasPrefix(part, "pod"):
		uid = part[len("pod"):]
	default:
		return "", false
	}
	// A UUID (36 with dashes) or a static pod's config hash (32 hex).
	if len(uid) < 32 || !isHexOrDash(uid) {
		return "", false
	}
	return uid, true
}

// containerIDFromCgroup reads "<id>", "crio-<id>" or "<runtime>-<id>.scope".
func containerIDFromCgroup(part string) (string, bool) {
	id := strings.TrimSuffix(part, ".scope")
	for _, prefix := range containerScopePrefixes {
		if strings.HasPrefix(id, prefix) {
			id = id[len(prefix):]
			break
		}
	}
	if len(id) < 12 || !isHex(id) {
		return "", false
	}
	return id, true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isHexOrDash(s string) bool {
	return isHex(strings.ReplaceAll(s, "-", ""))
}
