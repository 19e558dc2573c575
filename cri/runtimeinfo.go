package cri

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The kubelet's labels and annotations on CRI sandboxes and containers
// (pkg/kubelet/kuberuntime/labels.go).
const (
	labelPodName           = "io.kubernetes.pod.name"
	labelPodNamespace      = "io.kubernetes.pod.namespace"
	labelPodUID            = "io.kubernetes.pod.uid"
	labelContainerName     = "io.kubernetes.container.name"
	annotationRestartCount = "io.kubernetes.container.restartCount"
)

// runtimeKind is the runtime family, from VersionResponse.RuntimeName.
type runtimeKind int

const (
	kindUnknown runtimeKind = iota
	kindContainerd
	kindCRIO
	kindDocker // cri-dockerd answers RuntimeName "docker"
)

func kindOf(runtimeName string) runtimeKind {
	switch strings.ToLower(runtimeName) {
	case "containerd":
		return kindContainerd
	case "cri-o", "crio":
		return kindCRIO
	case "docker", "cri-dockerd":
		return kindDocker
	}
	return kindUnknown
}

// kindFromEndpoint guesses the runtime from its socket when it does not answer.
func kindFromEndpoint(endpoint string) runtimeKind {
	switch {
	case strings.Contains(endpoint, "crio"):
		return kindCRIO
	case strings.Contains(endpoint, "dockerd"):
		return kindDocker
	case strings.Contains(endpoint, "containerd"):
		return kindContainerd
	}
	return kindUnknown
}

// serviceUnit is the systemd unit that runs the runtime behind endpoint.
func serviceUnit(kind runtimeKind, endpoint string) string {
	if strings.Contains(endpoint, "/k3s/") {
		return "k3s" // k3s-agent on agent nodes
	}
	switch kind {
	case kindCRIO:
		return "crio"
	case kindDocker:
		return "cri-docker"
	}
	return "containerd"
}

// socketOf strips the unix:// scheme for messages.
func socketOf(endpoint string) string {
	return strings.TrimPrefix(endpoint, "unix://")
}

// runtimeLabel is "containerd 1.6.20~ds1" for messages.
func runtimeLabel(v *runtimeapi.VersionResponse) string {
	if v == nil {
		return "the container runtime"
	}
	return strings.TrimSpace(v.RuntimeName + " " + strings.TrimPrefix(v.RuntimeVersion, "v"))
}

// condition returns the runtime condition of that type, or nil.
func condition(st *runtimeapi.StatusResponse, condType string) *runtimeapi.RuntimeCondition {
	for _, c := range st.GetStatus().GetConditions() {
		if c.GetType() == condType {
			return c
		}
	}
	return nil
}

// parseVersion reads "v1.7.3", "1.6.20~ds1", "2.0.0-rc.1"; nil when it
// cannot.
func parseVersion(s string) *version.Version {
	v, err := version.ParseGeneric(strings.TrimPrefix(strings.TrimSpace(s), "v"))
	if err != nil {
		return nil
	}
	return v
}

// containerdReportsPins says whether this containerd fills CRI Image.pinned
// from its io.cri-containerd.pinned label: 1.6.22+, 1.7.3+ and 2.x (commit
// 699d670 "Pinned image support"). Older ones keep the label to themselves,
// so the kubelet never sees a pin.
func containerdReportsPins(runtimeVersion string) (supported, known bool) {
	v := parseVersion(runtimeVersion)
	if v == nil {
		return false, false
	}
	switch {
	case v.Major() >= 2:
		return true, true
	case v.Major() < 1:
		return false, true
	case v.Minor() == 6:
		return v.Patch() >= 22, true
	case v.Minor() == 7:
		return v.Patch() >= 3, true
	}
	return v.Minor() > 7, true
}
