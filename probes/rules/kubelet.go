package rules

import "github.com/nodetriage/nodetriage/probes"

// kubeletRules is the kubelet-log pack. It reads kubelet's journal
// (SYSLOG_IDENTIFIER=kubelet) or /var/log/kubelet.log, in both the printf
// (≤ 1.20) and structured (klog.ErrorS, capitalised) eras, matching
// case-insensitively where the case changed (signals.md §6, §4.4, §1.2 G).
//
// Conditions (permanent, cleared after the agent's quiet window without a
// repeat):
//   - KubeletUnhealthy: PLEGUnhealthy — "PLEG is not healthy: pleg was last
//     seen active … ago; threshold is …" (relistThreshold 3m,
//     pkg/kubelet/pleg/generic.go). The start-up text "pleg has yet to be
//     successful" is normal for a few seconds after every kubelet start and
//     is ignored.
//   - SandboxImageMissing: SandboxImagePullFailing, with the pause ref as
//     Subject.
//   - MemoryCgroupLeak: CgroupCreateFailing ("mkdir /sys/fs/cgroup/…: cannot
//     allocate memory | no space left on device").
//
// Events (temporary): ContainerRuntimeDown, NetworkPluginNotReady (the
// ContainerNetworkNotReady condition belongs to the CRI status check),
// KubeletCertificateRotationFailed, NodeLeaseRenewFailed (not for an update
// conflict — "the object has been modified" — which the lease controller
// retries at once), ImagePullFailed (info: usually the workload's image or
// credentials), ImagePullRateLimited (HTTP 429 from the registry:
// "toomanyrequests", or "429 Too Many Requests" after an image ref — not
// client-go's log of the API server's own 429s), CgroupCreateFailed,
// EvictionThresholdMet, DiskFull (ENOSPC; not the inotify variant, which means
// fs.inotify.max_user_watches is exhausted, nor cgroup mkdir failures).
func kubeletRules() []Rule {
	kubelet := sources(probes.SourceKubelet)
	return []Rule{
		{
			Name:      "pleg-unhealthy",
			Sources:   kubelet,
			Pattern:   `PLEG is not healthy: pleg was last seen active (?P<last_seen>\S+?) ago; threshold is (?P<threshold>[0-9a-zµ.]+)`,
			Kind:      KindPermanent,
			Condition: "KubeletUnhealthy",
			Reason:    "PLEGUnhealthy",
			Severity:  probes.SeverityProblem,
			Summary:   "kubelet's pod lifecycle event generator has not completed a relist within 3m: the runtime is too slow or stuck",
			Message:   `kubelet reports PLEG is not healthy: the container runtime did not answer a relist within ${threshold}, so the node goes NotReady`,
			Remedy: `the runtime is stuck or overloaded: time "crictl pods" and "crictl ps -a", read the runtime log (journalctl -u containerd -n 200), ` +
				`check disk I/O latency and the number of containers; restart the runtime (systemctl restart containerd), then kubelet if it stays unhealthy`,
		},
		{
			Name:     "container-runtime-down",
			Sources:  kubelet,
			Pattern:  `(?P<what>[Cc]ontainer runtime is down|[Cc]ontainer runtime not ready|unable to determine runtime API version)`,
			Reason:   "ContainerRuntimeDown",
			Severity: probes.SeverityProblem,
			Summary:  "kubelet cannot reach or use the container runtime",
			Message:  `kubelet cannot use the container runtime: ${what}`,
			Remedy: `check the runtime: systemctl status containerd (or crio), journalctl -u containerd -n 100, and that the socket kubelet's ` +
				`--container-runtime-endpoint names exists; restart it with systemctl restart containerd`,
		},
		{
			Name:     "network-plugin-not-ready",
			Sources:  kubelet,
			Pattern:  `(?:[Cc]ontainer runtime network not ready|[Nn]etwork plugin is not ready)(?:.*?message:(?P<detail>[^"\\]+))?`,
			Reason:   "NetworkPluginNotReady",
			Severity: probes.SeverityWarning,
			Summary:  "kubelet reports the pod network (CNI) is not ready",
			Message:  `kubelet reports the pod network is not ready: ${detail:-CNI not initialised}`,
			Remedy: `install or fix the CNI plugin: a config must exist in /etc/cni/net.d and its binaries in /opt/cni/bin; check the CNI ` +
				`DaemonSet's pod on this node (kubectl -n kube-system get pods -o wide --field-selector spec.nodeName=<node>)`,
		},
		{
			Name:    "certificate-rotation-failed",
			Sources: kubelet,
			Pattern: `[Ff]ailed while requesting a signed certificate from the (?:control plane|master)` +
				`|[Pp]art of the existing bootstrap client certificate (?:in \S+ )?is expired`,
			Reason:   "KubeletCertificateRotationFailed",
			Severity: probes.SeverityWarning,
			Summary:  "kubelet failed to get a new client certificate from the control plane",
			Message:  `kubelet failed to get a new client certificate (the signing request failed or the bootstrap certificate expired)`,
			Remedy: `approve pending CSRs (kubectl get csr; kubectl certificate approve <name>) and check that kubelet reaches the API server; ` +
				`check expiry with openssl x509 -noout -enddate -in /var/lib/kubelet/pki/kubelet-client-current.pem, and re-bootstrap the kubelet if it has expired`,
		},
		{
			Name:     "node-lease-renew-failed",
			Sources:  kubelet,
			Pattern:  `[Ff]ailed to (?:ensure lease exists|update lease)`,
			Exclude:  `the object has been modified`,
			Reason:   "NodeLeaseRenewFailed",
			Severity: probes.SeverityWarning,
			Summary:  "kubelet could not renew its node lease; the node goes NotReady after nodeLeaseDurationSeconds (40s)",
			Message:  `kubelet could not renew its node lease in kube-node-lease`,
			Remedy: `check that the node reaches the API server (curl -k https://<apiserver>:6443/healthz), kubelet's kubeconfig credentials, ` +
				`and network/DNS/proxy settings; the node goes NotReady once the lease is 40 s old`,
		},
		{
			Name:    "image-pull-failed",
			Sources: kubelet,
			Pattern: `Failed to pull image \\*"(?P<image>[^"\\]+)` +
				`|"PullImage from image service failed".*? image="(?P<image>[^"\\]+)"` +
				`|ErrImagePull: .*?failed to pull and unpack image \\*"(?P<image>[^"\\]+)`,
			Exclude:  `(?i)toomanyrequests|too many requests to registry|429 Too Many Requests`,
			Reason:   "ImagePullFailed",
			Severity: probes.SeverityInfo,
			Summary:  "an image pull failed (wrong name or tag, credentials, registry unreachable)",
			Message:  `pulling image ${image} failed`,
			Remedy: `check the image name and tag and the pull credentials (imagePullSecrets); try it from the node with crictl pull ${image}; ` +
				`for private registries check the node's route or proxy to the registry`,
			Subject: "${image}",
		},
		rateLimitRule("image-pull-rate-limited", probes.SourceKubelet, rateLimitRemedy),
		{
			Name:      "kubelet-cgroup-create-failing",
			Sources:   kubelet,
			Pattern:   cgroupMkdirPattern,
			Kind:      KindPermanent,
			Condition: "MemoryCgroupLeak",
			Reason:    "CgroupCreateFailing",
			Severity:  probes.SeverityProblem,
			Summary:   "kubelet cannot create pod cgroups (ENOMEM/ENOSPC from mkdir), typically leaked memory cgroups",
			Message:   cgroupLeakMessage,
			Remedy:    cgroupLeakRemedy,
		},
		{
			Name:     "kubelet-cgroup-create-failed",
			Sources:  kubelet,
			Pattern:  cgroupMkdirPattern,
			Reason:   "CgroupCreateFailed",
			Severity: probes.SeverityWarning,
			Summary:  "one cgroup mkdir failed with ENOMEM or ENOSPC",
			Message:  `mkdir ${path} failed: ${error}`,
			Remedy:   cgroupLeakRemedy,
		},
		{
			Name:    "eviction-threshold-met",
			Sources: kubelet,
			Pattern: `[Ee]viction manager: (?:attempting to reclaim|must evict pod\(s\) to reclaim)"?(?: resourceName="?| )(?P<resource>[A-Za-z0-9._-]+)` +
				`|[Ee]viction manager: eviction thresholds have been met, but no pods are active to evict`,
			Reason:   "EvictionThresholdMet",
			Severity: probes.SeverityWarning,
			Summary:  "kubelet's eviction manager found an eviction threshold met and is reclaiming resources",
			Message:  `kubelet is reclaiming ${resource:-resources}: an eviction threshold is met and pods may be evicted`,
			Remedy: `free the resource: for ephemeral-storage/nodefs/imagefs remove unused images and logs (crictl rmi --prune; journalctl --vacuum-size=500M), ` +
				`for memory move workloads off or enlarge the node; compare usage with kubelet's evictionHard thresholds (kubectl describe node)`,
			Subject: "${resource}",
		},
		{
			Name:      "kubelet-sandbox-image-pull-failing",
			Sources:   kubelet,
			Pattern:   sandboxImagePattern,
			Kind:      KindPermanent,
			Condition: "SandboxImageMissing",
			Reason:    "SandboxImagePullFailing",
			Severity:  probes.SeverityProblem,
			Summary:   "pod sandboxes fail because the sandbox (pause) image cannot be pulled",
			Message:   sandboxImageMessage,
			Remedy:    sandboxImageRemedy,
			Subject:   "${image}",
		},
		diskFullRule("disk-full", probes.SourceKubelet),
	}
}
