package hostchecks

import (
	"cmp"
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// conntrackKubeProxyVersion is kube-proxy's version as far as the node can
// tell, and where it came from.
type conntrackKubeProxyVersion struct {
	Raw          string // as found, e.g. "v1.31.2-eksbuild.1"
	Source       string // "container image", "node status", "kube-proxy log"
	Major, Minor int
}

// needsConntrackBinary reports whether this kube-proxy shells out to the
// conntrack binary: every release before 1.32 does; 1.32 and later clear
// conntrack entries over netlink (kubernetes/kubernetes#126847).
func (v conntrackKubeProxyVersion) needsConntrackBinary() bool {
	return v.Major == 1 && v.Minor < 32
}

// conntrackKubeProxyContainerLabel is the label the kubelet puts on every
// container with the container's name from the pod spec.
const conntrackKubeProxyContainerLabel = "io.kubernetes.container.name"

// kubeProxyVersion finds kube-proxy's version, in order of trust: the tag of
// the running kube-proxy container's image (CRI), the Node's
// status.nodeInfo.kubeProxyVersion (deprecated, and for years it held the
// kubelet's version), then the version kube-proxy logged (the rules engine's
// KubeProxyVersion fact). ok is false when none of them knows.
func (c *conntrackCheck) kubeProxyVersion(ctx context.Context) (conntrackKubeProxyVersion, bool) {
	if v, ok := c.kubeProxyVersionFromRuntime(ctx); ok {
		return v, true
	}
	if c.env.Node != nil {
		if node := c.env.Node(); node != nil {
			raw := node.Status.NodeInfo.KubeProxyVersion
			if v, ok := parseConntrackKubeVersion(raw); ok && raw != "v0.0.0" {
				v.Source = "node status.nodeInfo.kubeProxyVersion"
				return v, true
			}
		}
	}
	if c.env.Logs != nil {
		if m, ok := c.env.Logs.LastMatch("KubeProxyVersion"); ok {
			if v, ok := parseConntrackKubeVersion(m.Captures["version"]); ok {
				v.Source = "kube-proxy log (" + m.Line.Origin + ")"
				return v, true
			}
		}
	}
	return conntrackKubeProxyVersion{}, false
}

func (c *conntrackCheck) kubeProxyVersionFromRuntime(ctx context.Context) (conntrackKubeProxyVersion, bool) {
	if c.env.Runtime == nil {
		return conntrackKubeProxyVersion{}, false
	}
	containers, err := c.env.Runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{
		LabelSelector: map[string]string{conntrackKubeProxyContainerLabel: "kube-proxy"},
	})
	if err != nil {
		c.env.Logger.Debug("cannot list kube-proxy containers; trying other version sources", "err", err)
		return conntrackKubeProxyVersion{}, false
	}
	if len(containers) == 0 {
		return conntrackKubeProxyVersion{}, false
	}
	// The running container is the one that matters; otherwise the newest.
	slices.SortFunc(containers, func(a, b *runtimeapi.Container) int {
		ar, br := a.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING, b.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING
		if ar != br {
			if ar {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.GetCreatedAt(), a.GetCreatedAt())
	})
	ctr := containers[0]
	// The kubelet passes the image ID as Image and keeps the user's
	// reference (with its tag) in UserSpecifiedImage; older runtimes only
	// have the former.
	for _, ref := range []string{ctr.GetImage().GetUserSpecifiedImage(), ctr.GetImage().GetImage()} {
		if v, ok := parseConntrackKubeVersion(conntrackImageTag(ref)); ok {
			v.Source = "kube-proxy container image " + ref
			return v, true
		}
	}
	id := ctr.GetImageId()
	if id == "" {
		id = ctr.GetImageRef()
	}
	if id == "" {
		id = ctr.GetImage().GetImage()
	}
	st, err := c.env.Runtime.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: id}, false)
	if err != nil || st.GetImage() == nil {
		c.env.Logger.Debug("cannot read the kube-proxy image's tags", "image", id, "err", err)
		return conntrackKubeProxyVersion{}, false
	}
	for _, tagged := range st.GetImage().GetRepoTags() {
		if v, ok := parseConntrackKubeVersion(conntrackImageTag(tagged)); ok {
			v.Source = "kube-proxy container image " + tagged
			return v, true
		}
	}
	return conntrackKubeProxyVersion{}, false
}

// conntrackImageTag returns the tag of an image reference
// ("registry.k8s.io/kube-proxy:v1.31.2@sha256:…" → "v1.31.2"), or "" when it
// has none. A colon before the last slash belongs to a registry port.
func conntrackImageTag(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	colon := strings.LastIndexByte(ref, ':')
	if colon < 0 || colon < strings.LastIndexByte(ref, '/') {
		return ""
	}
	return ref[colon+1:]
}

// conntrackVersionRE matches the start of Kubernetes versions and the image
// tags built from them: v1.31.2, 1.29.3, v1.28.3-eksbuild.2, v1.30.0-gke.1.
var conntrackVersionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$`)

func parseConntrackKubeVersion(raw string) (conntrackKubeProxyVersion, bool) {
	m := conntrackVersionRE.FindStringSubmatch(strings.TrimSpace(raw))
	if m == nil {
		return conntrackKubeProxyVersion{}, false
	}
	major, err1 := strconv.Atoi(m[1])
	minor, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil || major == 0 {
		return conntrackKubeProxyVersion{}, false
	}
	return conntrackKubeProxyVersion{Raw: strings.TrimSpace(raw), Major: major, Minor: minor}, true
}
