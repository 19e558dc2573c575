package rules

import (
	"github.com/nodetriage/nodetriage/probes"
)

func pleg(threshold string) want {
	return want{
		Check: KubeletPack, Reason: "PLEGUnhealthy", Condition: "KubeletUnhealthy", Severity: probes.SeverityProblem,
		Message:  "kubelet reports PLEG is not healthy: the container runtime did not answer a relist within " + threshold + ", so the node goes NotReady",
		Evidence: ev("threshold", threshold),
		Clear:    agentQuiet,
	}
}

func runtimeDown(what string) want {
	return want{Check: KubeletPack, Reason: "ContainerRuntimeDown", Severity: probes.SeverityProblem,
		Message: "kubelet cannot use the container runtime: " + what}
}

func cniNotReady(detail string) want {
	return want{Check: KubeletPack, Reason: "NetworkPluginNotReady", Severity: probes.SeverityWarning,
		Message: "kubelet reports the pod network is not ready: " + detail}
}

var certFailed = want{Check: KubeletPack, Reason: "KubeletCertificateRotationFailed", Severity: probes.SeverityWarning,
	Message: "kubelet failed to get a new client certificate (the signing request failed or the bootstrap certificate expired)"}

var leaseFailed = want{Check: KubeletPack, Reason: "NodeLeaseRenewFailed", Severity: probes.SeverityWarning,
	Message: "kubelet could not renew its node lease in kube-node-lease"}

func imagePull(image string) want {
	return want{Check: KubeletPack, Reason: "ImagePullFailed", Severity: probes.SeverityInfo, Subject: image,
		Message: "pulling image " + image + " failed", Evidence: ev("image", image)}
}

func rateLimited(check, image string) want {
	shown := image
	if shown == "" {
		shown = "an image"
	}
	return want{Check: check, Reason: "ImagePullRateLimited", Severity: probes.SeverityWarning, Subject: image,
		Message: "the registry rate-limited pulling " + shown + " (toomanyrequests)"}
}

func cgroupFailing(check, errText string) want {
	return want{Check: check, Reason: "CgroupCreateFailing", Condition: "MemoryCgroupLeak", Severity: probes.SeverityProblem,
		Message: `creating cgroups fails with "` + errText + `" (mkdir under /sys/fs/cgroup): pods cannot start on this node`,
		Clear:   agentQuiet}
}

func cgroupFailed(check, path, errText string) want {
	return want{Check: check, Reason: "CgroupCreateFailed", Severity: probes.SeverityWarning,
		Message: "mkdir " + path + " failed: " + errText, Evidence: ev("path", path, "error", errText)}
}

func eviction(resource string) want {
	shown := resource
	if shown == "" {
		shown = "resources"
	}
	return want{Check: KubeletPack, Reason: "EvictionThresholdMet", Severity: probes.SeverityWarning, Subject: resource,
		Message: "kubelet is reclaiming " + shown + ": an eviction threshold is met and pods may be evicted"}
}

func sandbox(check, image string) want {
	return want{Check: check, Reason: "SandboxImagePullFailing", Condition: "SandboxImageMissing", Severity: probes.SeverityProblem, Subject: image,
		Message:  "the runtime cannot pull or read the sandbox (pause) image " + image + ": no new pod can start on this node",
		Evidence: ev("image", image), Clear: agentQuiet}
}

func diskFull(check, path string) want {
	shown := path
	if shown == "" {
		shown = "a node filesystem"
	}
	return want{Check: check, Reason: "DiskFull", Severity: probes.SeverityProblem,
		Message: `a write failed with "no space left on device" on ` + shown}
}

func ociFailed(check, detail string) want {
	return want{Check: check, Reason: "OCIRuntimeCreateFailed", Severity: probes.SeverityWarning,
		Message: "the OCI runtime could not create a container: " + detail}
}

var conntrackMissing = want{Check: KubeProxyPack, Reason: "ConntrackBinaryMissing", Condition: "ConntrackProblem", Severity: probes.SeverityProblem,
	Message: "kube-proxy cannot find the conntrack binary, so stale UDP conntrack entries are not flushed and DNS/UDP services break after endpoint changes",
	Clear:   agentQuiet}

func restartLoop(unit, reason string) want {
	return want{Check: SystemdPack, Reason: reason, Condition: "KubeletUnhealthy", Severity: probes.SeverityProblem, Subject: unit + ".service",
		Message:  unit + ".service restarted at least 5 times within 20m: it keeps failing",
		Evidence: ev("occurrences", "5", "window", "20m0s"),
		Clear:    quiet(restartLoopWindow)}
}

const sandboxKubeletLine = `E0102 03:04:05.678901    2310 pod_workers.go:1298] "Error syncing pod, skipping" err="failed to \"CreatePodSandbox\" for \"web-0_default(1f2e)\" with CreatePodSandboxError: \"Failed to create sandbox for pod \\\"web-0_default(1f2e)\\\": rpc error: code = Unknown desc = failed to get sandbox image \\\"registry.k8s.io/pause:3.6\\\": failed to pull image \\\"registry.k8s.io/pause:3.6\\\": failed to pull and unpack image \\\"registry.k8s.io/pause:3.6\\\": failed to resolve reference \\\"registry.k8s.io/pause:3.6\\\": failed to do request: Head \\\"https://registry.k8s.io/v2/pause/manifests/3.6\\\": dial tcp: i/o timeout\"" pod="default/web-0" podUID="1f2e"`

var serviceCases = []packCase{
	// kubelet: PLEG.
	{name: "pleg structured", source: probes.SourceKubelet,
		line: `I1122 07:40:01.123456    2310 kubelet.go:2385] "Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active 3m0.5s ago; threshold is 3m0s"`,
		want: []want{pleg("3m0s")}},
	{name: "pleg printf", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    1234 kubelet.go:1879] skipping pod synchronization - [PLEG is not healthy: pleg was last seen active 3m5.107287264s ago; threshold is 3m0s]`,
		want: []want{pleg("3m0s")}},
	{name: "pleg in node condition", source: probes.SourceKubelet,
		line: `I0102 03:04:05.678901    1234 setters.go:77] "Node became not ready" node="ip-10-0-1-2" condition={Type:Ready Status:False LastHeartbeatTime:2023-01-02 03:04:05 +0000 UTC LastTransitionTime:2023-01-02 03:04:05 +0000 UTC Reason:KubeletNotReady Message:PLEG is not healthy: pleg was last seen active 4m1.2s ago; threshold is 3m0s}`,
		want: []want{pleg("3m0s")}},
	{name: "pleg near miss: start-up has yet to be successful", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    1234 kubelet.go:1879] skipping pod synchronization - [container runtime status check may not have completed yet, PLEG is not healthy: pleg has yet to be successful]`, nearMissOf: []string{"pleg-unhealthy"}},

	// kubelet: runtime down.
	{name: "runtime down skipping sync", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 kubelet.go:2385] "Skipping pod synchronization" err="container runtime is down"`,
		want: []want{runtimeDown("container runtime is down")}},
	{name: "runtime not ready structured", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 kubelet.go:2373] "Container runtime not ready" runtimeReady="RuntimeReady=false reason:DockerDaemonNotReady message:docker: failed to get docker version: Cannot connect to the Docker daemon"`,
		want: []want{runtimeDown("Container runtime not ready")}},
	{name: "runtime API version at start-up", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 run.go:74] "command failed" err="failed to run Kubelet: unable to determine runtime API version: rpc error: code = Unknown desc = server is not initialized yet"`,
		want: []want{runtimeDown("unable to determine runtime API version")}},
	{name: "runtime near miss: status check not completed", source: probes.SourceKubelet,
		line: `I0102 03:04:05.678901    2310 kubelet.go:2385] "Skipping pod synchronization" err="container runtime status check may not have completed yet"`, nearMissOf: []string{"container-runtime-down"}},

	// kubelet: CNI.
	{name: "cni structured", source: probes.SourceKubelet,
		line: `E1122 07:40:01.100000    2310 kubelet.go:2855] "Container runtime network not ready" networkReady="NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"`,
		want: []want{cniNotReady("Network plugin returns error: cni plugin not initialized")}},
	{name: "cni dockershim printf", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    1234 kubelet.go:2170] Container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:docker: network plugin is not ready: cni config uninitialized`,
		want: []want{cniNotReady("docker: network plugin is not ready: cni config uninitialized")}},
	{name: "cni CRI-O no config", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 kubelet.go:2855] "Container runtime network not ready" networkReady="NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: no CNI configuration file in /etc/cni/net.d/. Has your network provider started?"`,
		want: []want{cniNotReady("Network plugin returns error: no CNI configuration file in /etc/cni/net.d/. Has your network provider started?")}},
	{name: "cni near miss: runtime status ready", source: probes.SourceKubelet,
		line: `I0102 03:04:05.678901    2310 kubelet.go:2800] "Container runtime status" status="Runtime Conditions: RuntimeReady=true reason: message:, NetworkReady=true reason: message:"`, nearMissOf: []string{"network-plugin-not-ready"}},

	// kubelet: certificates.
	{name: "cert rotation printf master", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 certificate_manager.go:471] kubernetes.io/kube-apiserver-client-kubelet: Failed while requesting a signed certificate from the master: cannot create certificate signing request: Unauthorized`,
		want: []want{certFailed}},
	{name: "cert rotation structured control plane", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 certificate_manager.go:562] "Failed while requesting a signed certificate from the control plane" err="cannot create certificate signing request: connection refused" logger="kubernetes.io/kube-apiserver-client-kubelet"`,
		want: []want{certFailed}},
	{name: "cert bootstrap expired", source: probes.SourceKubelet,
		line: `I0102 03:04:05.678901    2310 bootstrap.go:85] "Part of the existing bootstrap client certificate in /etc/kubernetes/kubelet.conf is expired" err="2023-01-01 00:00:00 +0000 UTC"`,
		want: []want{certFailed}},
	{name: "cert near miss: rotation enabled", source: probes.SourceKubelet,
		line: `I0102 03:04:05.678901    2310 certificate_manager.go:270] kubernetes.io/kube-apiserver-client-kubelet: Certificate rotation is enabled`, nearMissOf: []string{"certificate-rotation-failed"}},

	// kubelet: lease.
	{name: "lease printf", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 controller.go:144] failed to ensure lease exists, will retry in 7s, error: Get "https://10.0.0.1:6443/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node1?timeout=10s": context deadline exceeded`,
		want: []want{leaseFailed}},
	{name: "lease structured", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 controller.go:145] "Failed to ensure lease exists, will retry" err="Get \"https://api:6443/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node1\": dial tcp: lookup api on 10.0.0.2:53: no such host" interval="7s"`,
		want: []want{leaseFailed}},
	{name: "lease update fallback", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 controller.go:114] failed to update lease using latest lease, fallback to ensure lease, err: failed 5 attempts to update lease`,
		want: []want{leaseFailed}},
	{name: "lease near miss: update conflict, retried at once", source: probes.SourceKubelet,
		line:       `E0102 03:04:05.678901    2310 controller.go:195] "Failed to update lease" err="Operation cannot be fulfilled on leases.coordination.k8s.io \"node1\": the object has been modified; please apply your changes to the latest version and try again"`,
		nearMissOf: []string{"node-lease-renew-failed"}},
	{name: "lease near miss: API throttling", source: probes.SourceKubelet,
		line: `W0102 03:04:05.678901    2310 reflector.go:424] the server has received too many requests and has asked us to try again later (get pods)`, nearMissOf: []string{"image-pull-rate-limited"}},

	// kubelet: image pulls.
	{name: "image pull structured", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 remote_image.go:180] "PullImage from image service failed" err="rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/nginx:nope\": failed to resolve reference \"docker.io/library/nginx:nope\": docker.io/library/nginx:nope: not found" image="docker.io/library/nginx:nope"`,
		want: []want{imagePull("docker.io/library/nginx:nope")}},
	{name: "image pull ErrImagePull escaped", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 pod_workers.go:1298] "Error syncing pod, skipping" err="failed to \"StartContainer\" for \"app\" with ErrImagePull: \"rpc error: code = Unknown desc = failed to pull and unpack image \\\"registry.example.com/app:v2\\\": failed to resolve reference \\\"registry.example.com/app:v2\\\": unexpected status code 401 Unauthorized\"" pod="default/app-7c9f"`,
		want: []want{imagePull("registry.example.com/app:v2")}, nearMissOf: []string{"kubelet-sandbox-image-pull-failing"}},
	{name: "image pull printf", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    1234 kuberuntime_manager.go:864] Failed to pull image "quay.io/org/app:1.0": rpc error: code = Unknown desc = Error response from daemon: unauthorized`,
		want: []want{imagePull("quay.io/org/app:1.0")}},
	{name: "image pull near miss: pulling", source: probes.SourceKubelet, line: `I0102 03:04:05.678901    2310 kuberuntime_image.go:60] "Pulling image" image="nginx:1.25"`},
	{name: "rate limited docker hub", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 remote_image.go:180] "PullImage from image service failed" err="rpc error: code = Unknown desc = failed to pull and unpack image \"docker.io/library/redis:7\": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/redis/manifests/sha256:abc: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit" image="docker.io/library/redis:7"`,
		want: []want{rateLimited(KubeletPack, "docker.io/library/redis:7")}},
	{name: "rate limited printf", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    1234 kuberuntime_manager.go:864] Failed to pull image "busybox": rpc error: code = Unknown desc = Error response from daemon: toomanyrequests: You have reached your pull rate limit.`,
		want: []want{rateLimited(KubeletPack, "busybox")}, nearMissOf: []string{"image-pull-failed"}},
	{name: "rate limited 429 without error code (containerd 2.x HEAD request)", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 log.go:32] "PullImage from image service failed" err="rpc error: code = Unknown desc = failed to pull and unpack image \"quay.io/org/app:1.0\": failed to resolve reference \"quay.io/org/app:1.0\": unexpected status from HEAD request to https://quay.io/v2/org/app/manifests/1.0: 429 Too Many Requests" image="quay.io/org/app:1.0"`,
		want: []want{rateLimited(KubeletPack, "quay.io/org/app:1.0")}, nearMissOf: []string{"image-pull-failed"}},
	{name: "rate limited near miss: the API server's own 429, logged by client-go at -v=6", source: probes.SourceKubelet,
		line:       `I0102 03:04:05.678901    2310 round_trippers.go:553] GET https://10.0.0.1:6443/api/v1/nodes/node-1?resourceVersion=0&timeout=10s 429 Too Many Requests in 3 milliseconds`,
		nearMissOf: []string{"image-pull-rate-limited"}},
	{name: "rate limited upper case code", source: probes.SourceKubelet,
		line: `W0102 03:04:05.678901    2310 remote_image.go:180] registry answered TOOMANYREQUESTS: too many requests`,
		want: []want{rateLimited(KubeletPack, "")}},

	// kubelet: cgroup creation.
	{name: "cgroup kubelet structured ENOMEM", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 pod_workers.go:951] "Error syncing pod, skipping" err="failed to ensure that the pod: 6f1c cgroups exist and are correctly applied: failed to create container for [kubepods besteffort pod6f1c] : mkdir /sys/fs/cgroup/memory/kubepods/besteffort/pod6f1c: cannot allocate memory" pod="default/x"`,
		want: []want{cgroupFailing(KubeletPack, "cannot allocate memory"), cgroupFailed(KubeletPack, "/sys/fs/cgroup/memory/kubepods/besteffort/pod6f1c", "cannot allocate memory")}},
	{name: "cgroup kubelet printf (kubernetes#96701)", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    1234 kubelet.go:1653] unable to ensure pod container exists: failed to create container for [kubepods besteffort podbfeaeabc-1234] : mkdir /sys/fs/cgroup/memory/kubepods/besteffort/podbfeaeabc-1234: cannot allocate memory`,
		want: []want{cgroupFailing(KubeletPack, "cannot allocate memory"), cgroupFailed(KubeletPack, "/sys/fs/cgroup/memory/kubepods/besteffort/podbfeaeabc-1234", "cannot allocate memory")}},
	{name: "cgroup kubelet ENOSPC systemd slice", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 pod_workers.go:951] "Error syncing pod, skipping" err="failed to ensure that the pod: 12 cgroups exist and are correctly applied: mkdir /sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice: no space left on device"`,
		want: []want{cgroupFailing(KubeletPack, "no space left on device"), cgroupFailed(KubeletPack, "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice", "no space left on device")}},
	{name: "cgroup near miss: permission denied", source: probes.SourceKubelet, line: `E0102 03:04:05.678901    2310 x.go:1] mkdir /var/lib/kubelet/pods/x: permission denied`},

	// kubelet: eviction manager, both eras.
	{name: "eviction structured reclaim", source: probes.SourceKubelet,
		line: `I0102 03:04:05.678901    2310 eviction_manager.go:349] "Eviction manager: attempting to reclaim" resourceName="ephemeral-storage"`,
		want: []want{eviction("ephemeral-storage")}},
	{name: "eviction printf reclaim", source: probes.SourceKubelet,
		line: `W0102 03:04:05.678901    1234 eviction_manager.go:344] eviction manager: attempting to reclaim nodefs`,
		want: []want{eviction("nodefs")}},
	{name: "eviction must evict", source: probes.SourceKubelet,
		line: `I0102 03:04:05.678901    2310 eviction_manager.go:362] "Eviction manager: must evict pod(s) to reclaim" resourceName="memory"`,
		want: []want{eviction("memory")}},
	{name: "eviction no pods to evict", source: probes.SourceKubelet,
		line: `I0102 03:04:05.678901    2310 eviction_manager.go:370] "Eviction manager: eviction thresholds have been met, but no pods are active to evict"`,
		want: []want{eviction("")}},
	{name: "eviction near miss: reduced pressure", source: probes.SourceKubelet,
		line: `I0102 03:04:05.678901    2310 eviction_manager.go:356] "Eviction manager: able to reduce resource pressure without evicting pods." resourceName="ephemeral-storage"`, nearMissOf: []string{"eviction-threshold-met"}},

	// kubelet: sandbox image.
	{name: "sandbox kubelet containerd 1.6 (signals example)", source: probes.SourceKubelet, line: sandboxKubeletLine,
		want: []want{sandbox(KubeletPack, "registry.k8s.io/pause:3.6")}},
	{name: "sandbox kubelet containerd 2.3+", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 log.go:32] "RunPodSandbox from runtime service failed" err="rpc error: code = Unknown desc = failed to pull image \"registry.k8s.io/pause:3.10\": failed to pull and unpack image \"registry.k8s.io/pause:3.10\": failed to resolve reference \"registry.k8s.io/pause:3.10\": not found"`,
		want: []want{sandbox(KubeletPack, "registry.k8s.io/pause:3.10")}},
	{name: "sandbox kubelet dockershim", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    1234 remote_runtime.go:116] RunPodSandbox from runtime service failed: rpc error: code = Unknown desc = failed pulling image "k8s.gcr.io/pause:3.6": Error response from daemon: Get "https://k8s.gcr.io/v2/": dial tcp: i/o timeout`,
		want: []want{sandbox(KubeletPack, "k8s.gcr.io/pause:3.6")}},
	{name: "sandbox kubelet containerd 2.3+ local lookup error", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 log.go:32] "RunPodSandbox from runtime service failed" err="rpc error: code = Unknown desc = failed to get image \"registry.k8s.io/pause:3.10\": content digest sha256:7c38f24774e3cbd906d2d33c38354ccf787635581c122965132c9bd309754d4a: not found"`,
		want: []want{sandbox(KubeletPack, "registry.k8s.io/pause:3.10")}},
	{name: "sandbox near miss: pulling pause", source: probes.SourceKubelet, line: `I0102 03:04:05.678901    2310 kuberuntime_image.go:60] "Pulling image" image="registry.k8s.io/pause:3.10"`, nearMissOf: []string{"kubelet-sandbox-image-pull-failing"}},

	// kubelet: ENOSPC.
	{name: "disk full write", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 kubelet_volumes.go:1] "Failed to write file" err="write /var/lib/kubelet/pods/x/volumes/y: no space left on device"`,
		want: []want{diskFull(KubeletPack, "/var/lib/kubelet/pods/x/volumes/y")}, nearMissOf: []string{"kubelet-cgroup-create-failing", "kubelet-cgroup-create-failed"}},
	{name: "disk full open log", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 kuberuntime_container.go:1] failed to create log: open /var/log/pods/default_app_1/app/0.log: no space left on device`,
		want: []want{diskFull(KubeletPack, "/var/log/pods/default_app_1/app/0.log")}},
	{name: "disk full without path", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 server.go:1] "Unable to write event" err="no space left on device"`,
		want: []want{diskFull(KubeletPack, "")}},
	{name: "disk full near miss: inotify", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 kubelet.go:1431] "Failed to start cAdvisor" err="inotify_add_watch /sys/fs/cgroup/cpu,cpuacct: no space left on device"`, nearMissOf: []string{"disk-full", "kubelet-cgroup-create-failing", "kubelet-cgroup-create-failed"}},
	{name: "disk full near miss: watch", source: probes.SourceKubelet,
		line: `E0102 03:04:05.678901    2310 manager.go:1] "Unable to add watch" err="add watch /var/lib/kubelet/pods: no space left on device"`, nearMissOf: []string{"disk-full"}},

	// containerd.
	{name: "containerd sandbox 1.6", source: probes.SourceContainerd,
		line: `time="2023-01-02T03:04:05.678901234Z" level=error msg="RunPodSandbox for &PodSandboxMetadata{Name:web-0,Uid:1f2e,Namespace:default,Attempt:0,} failed, error" error="failed to get sandbox image \"registry.k8s.io/pause:3.6\": failed to pull image \"registry.k8s.io/pause:3.6\": failed to pull and unpack image \"registry.k8s.io/pause:3.6\": failed to resolve reference \"registry.k8s.io/pause:3.6\": dial tcp 34.107.244.51:443: i/o timeout"`,
		want: []want{sandbox(ContainerdPack, "registry.k8s.io/pause:3.6")}},
	{name: "containerd sandbox 2.0 start sandbox", source: probes.SourceContainerd,
		line: `time="2025-01-02T03:04:05Z" level=error msg="RunPodSandbox for &PodSandboxMetadata{Name:web-0,} failed, error" error="failed to start sandbox \"5c1d\": failed to get sandbox image \"registry.k8s.io/pause:3.10\": failed to pull image \"registry.k8s.io/pause:3.10\": not found"`,
		want: []want{sandbox(ContainerdPack, "registry.k8s.io/pause:3.10")}},
	{name: "containerd sandbox 2.3+", source: probes.SourceContainerd,
		line: `time="2026-01-02T03:04:05Z" level=error msg="RunPodSandbox for &PodSandboxMetadata{Name:web-0,} failed, error" error="failed to pull image \"registry.k8s.io/pause:3.10\": failed to pull and unpack image \"registry.k8s.io/pause:3.10\": failed to resolve reference \"registry.k8s.io/pause:3.10\": not found"`,
		want: []want{sandbox(ContainerdPack, "registry.k8s.io/pause:3.10")}},
	{name: "containerd sandbox PullImage failed (ECR pause)", source: probes.SourceContainerd,
		line: `time="2024-01-02T03:04:05Z" level=error msg="PullImage \"602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause:3.5\" failed" error="failed to pull and unpack image: 403 Forbidden"`,
		want: []want{sandbox(ContainerdPack, "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause:3.5")}},
	{name: "containerd sandbox 2.3+ local lookup error", source: probes.SourceContainerd,
		line: `time="2026-01-02T03:04:05Z" level=error msg="RunPodSandbox for &PodSandboxMetadata{Name:web-0,} failed, error" error="failed to get image \"registry.k8s.io/pause:3.10\": content digest sha256:7c38f24774e3cbd906d2d33c38354ccf787635581c122965132c9bd309754d4a: not found"`,
		want: []want{sandbox(ContainerdPack, "registry.k8s.io/pause:3.10")}},
	{name: "containerd near miss: PullImage info", source: probes.SourceContainerd, line: `time="2024-01-02T03:04:05Z" level=info msg="PullImage \"registry.k8s.io/pause:3.10\""`, nearMissOf: []string{"containerd-sandbox-image-pull-failing"}},
	{name: "containerd near miss: PullImage returns", source: probes.SourceContainerd, line: `time="2024-01-02T03:04:05Z" level=info msg="PullImage \"registry.k8s.io/pause:3.10\" returns image reference \"sha256:873ed7510279\""`, nearMissOf: []string{"containerd-sandbox-image-pull-failing"}},
	{name: "containerd near miss: non-pause pull failure", source: probes.SourceContainerd, line: `time="2024-01-02T03:04:05Z" level=error msg="PullImage \"docker.io/library/nginx:nope\" failed" error="not found"`, nearMissOf: []string{"containerd-sandbox-image-pull-failing"}},
	{name: "containerd oci runc 1.1+", source: probes.SourceContainerd,
		line: `time="2024-01-02T03:04:05Z" level=error msg="StartContainer for \"9f8e\" failed" error="failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error mounting \"/x\" to rootfs at \"/y\": no such file or directory: unknown"`,
		want: []want{ociFailed(ContainerdPack, `runc create failed: unable to start container process: error during container init: error mounting `)}},
	{name: "containerd oci runc 1.0 exec", source: probes.SourceContainerd,
		line: `time="2021-01-02T03:04:05Z" level=error msg="StartContainer for \"abc\" failed" error="failed to create containerd task: OCI runtime create failed: container_linux.go:349: starting container process caused \"exec: \\\"/app\\\": permission denied\": unknown"`,
		want: []want{ociFailed(ContainerdPack, `container_linux.go:349: starting container process caused `)}},
	{name: "containerd oci + cgroup runc 1.1", source: probes.SourceContainerd,
		line: `time="2024-01-02T03:04:05Z" level=error msg="RunPodSandbox failed" error="failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/memory/kubepods/burstable/pod12/abc: cannot allocate memory: unknown"`,
		want: []want{
			ociFailed(ContainerdPack, `runc create failed: unable to start container process: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/memory/kubepods/burstable/pod12/abc: cannot allocate memory: unknown`),
			cgroupFailing(ContainerdPack, "cannot allocate memory"),
			cgroupFailed(ContainerdPack, "/sys/fs/cgroup/memory/kubepods/burstable/pod12/abc", "cannot allocate memory"),
		}},
	{name: "containerd cgroup runc 1.0 (kubernetes#74382)", source: probes.SourceContainerd,
		line: `time="2019-01-02T03:04:05Z" level=error msg="StartContainer for \"abc\" failed" error="failed to start containerd task: container_linux.go:344: starting container process caused \"process_linux.go:275: applying cgroup configuration for process caused \\\"mkdir /sys/fs/cgroup/memory/kubepods.slice/kubepods-burstable.slice/x: cannot allocate memory\\\"\": unknown"`,
		want: []want{
			cgroupFailing(ContainerdPack, "cannot allocate memory"),
			cgroupFailed(ContainerdPack, "/sys/fs/cgroup/memory/kubepods.slice/kubepods-burstable.slice/x", "cannot allocate memory"),
		}},
	{name: "containerd cgroup ENOSPC v2", source: probes.SourceContainerd,
		line: `time="2024-01-02T03:04:05Z" level=error msg="CreateContainer failed" error="unable to apply cgroup configuration: mkdir /sys/fs/cgroup/kubepods.slice/kubepods-pod1.slice/cri-containerd-ab.scope: no space left on device"`,
		want: []want{
			cgroupFailing(ContainerdPack, "no space left on device"),
			cgroupFailed(ContainerdPack, "/sys/fs/cgroup/kubepods.slice/kubepods-pod1.slice/cri-containerd-ab.scope", "no space left on device"),
		}, nearMissOf: []string{"containerd-disk-full"}},
	{name: "containerd near miss: exec into a container without bash (OCI runtime exec, not create)", source: probes.SourceContainerd,
		line:       `time="2024-01-02T03:04:05Z" level=error msg="ExecSync for \"9f8e\" failed" error="rpc error: code = Unknown desc = failed to exec in container: failed to start exec \"5d4c\": OCI runtime exec failed: exec failed: unable to start container process: exec: \"bash\": executable file not found in $PATH: unknown"`,
		nearMissOf: []string{"containerd-oci-runtime-create-failed"}},
	{name: "containerd rate limited docker hub", source: probes.SourceContainerd,
		line: `time="2024-01-02T03:04:05Z" level=error msg="PullImage \"docker.io/library/redis:7\" failed" error="failed to pull and unpack image \"docker.io/library/redis:7\": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/redis/manifests/sha256:abc: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"`,
		want: []want{rateLimited(ContainerdPack, "docker.io/library/redis:7")}},
	{name: "containerd rate limited 1.4 resolver wording", source: probes.SourceContainerd,
		line: `time="2021-01-02T03:04:05Z" level=error msg="PullImage \"nginx:latest\" failed" error="failed to pull and unpack image \"docker.io/library/nginx:latest\": failed to resolve reference \"docker.io/library/nginx:latest\": pulling from host registry-1.docker.io failed with status code [manifests latest]: 429 Too Many Requests"`,
		want: []want{rateLimited(ContainerdPack, "nginx:latest")}},
	{name: "containerd rate limited 2.x HEAD request, no error body", source: probes.SourceContainerd,
		line: `time="2026-01-02T03:04:05Z" level=error msg="PullImage \"quay.io/org/app:1.0\" failed" error="failed to pull and unpack image \"quay.io/org/app:1.0\": failed to resolve reference \"quay.io/org/app:1.0\": unexpected status from HEAD request to https://quay.io/v2/org/app/manifests/1.0: 429 Too Many Requests"`,
		want: []want{rateLimited(ContainerdPack, "quay.io/org/app:1.0")}},
	{name: "containerd rate limited ECR", source: probes.SourceContainerd,
		line: `time="2024-01-02T03:04:05Z" level=error msg="PullImage \"public.ecr.aws/nginx/nginx:1.25\" failed" error="failed to pull and unpack image \"public.ecr.aws/nginx/nginx:1.25\": failed to resolve reference \"public.ecr.aws/nginx/nginx:1.25\": unexpected status from HEAD request to https://public.ecr.aws/v2/nginx/nginx/manifests/1.25: 429 Too Many Requests: toomanyrequests: Rate exceeded"`,
		want: []want{rateLimited(ContainerdPack, "public.ecr.aws/nginx/nginx:1.25")}},
	{name: "containerd rate limited near miss: a mirror throttled, the next host is tried", source: probes.SourceContainerd,
		line:       `time="2026-01-02T03:04:05Z" level=info msg="trying next host after status: 429 Too Many Requests" host=mirror.gcr.io`,
		nearMissOf: []string{"containerd-image-pull-rate-limited"}},
	{name: "containerd disk full unpacking a layer", source: probes.SourceContainerd,
		line:       `time="2024-01-02T03:04:05Z" level=error msg="PullImage \"docker.io/library/nginx:1.25\" failed" error="failed to pull and unpack image \"docker.io/library/nginx:1.25\": failed to extract layer sha256:5f70bf18a086: write /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/123/fs/usr/lib/libcrypto.so.3: no space left on device: unknown"`,
		want:       []want{diskFull(ContainerdPack, "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/123/fs/usr/lib/libcrypto.so.3")},
		nearMissOf: []string{"containerd-cgroup-create-failing", "containerd-cgroup-create-failed"}},
	{name: "containerd disk full ingesting content", source: probes.SourceContainerd,
		line: `time="2024-01-02T03:04:05Z" level=error msg="PullImage \"docker.io/library/redis:7\" failed" error="failed to pull and unpack image \"docker.io/library/redis:7\": failed to copy: failed to write: write /var/lib/containerd/io.containerd.content.v1.content/ingest/0c1d/data: no space left on device"`,
		want: []want{diskFull(ContainerdPack, "/var/lib/containerd/io.containerd.content.v1.content/ingest/0c1d/data")}},
	{name: "containerd disk full on /run", source: probes.SourceContainerd,
		line: `time="2024-01-02T03:04:05Z" level=error msg="RunPodSandbox for &PodSandboxMetadata{Name:web-0,} failed, error" error="failed to create containerd task: failed to create shim task: open /run/containerd/io.containerd.runtime.v2.task/k8s.io/5c1d/config.json: no space left on device"`,
		want: []want{diskFull(ContainerdPack, "/run/containerd/io.containerd.runtime.v2.task/k8s.io/5c1d/config.json")}},
	{name: "containerd near miss: create returns", source: probes.SourceContainerd,
		line: `time="2024-01-02T03:04:05Z" level=info msg="CreateContainer within sandbox \"5c1d\" for container &ContainerMetadata{Name:app,Attempt:0,} returns container id \"9f8e\""`},
	{name: "containerd near miss: start ok", source: probes.SourceContainerd, line: `time="2024-01-02T03:04:05Z" level=info msg="StartContainer for \"9f8e\" returns successfully"`},

	// CRI-O.
	{name: "crio sandbox pull", source: probes.SourceCRIO,
		line: `time="2024-01-02T03:04:05Z" level=error msg="error creating pod sandbox" error="failed to pull image \"registry.k8s.io/pause:3.9\": reading manifest 3.9 in registry.k8s.io/pause: manifest unknown"`,
		want: []want{sandbox(CRIOPack, "registry.k8s.io/pause:3.9")}},
	{name: "crio sandbox pulling", source: probes.SourceCRIO,
		line: `Error: error creating pod sandbox with name "k8s_web-0_default_1f2e_0": failed pulling image "registry.k8s.io/pause:3.9": dial tcp: i/o timeout`,
		want: []want{sandbox(CRIOPack, "registry.k8s.io/pause:3.9")}},
	{name: "crio sandbox get sandbox image", source: probes.SourceCRIO,
		line: `level=error msg="failed to get sandbox image \"quay.io/crio/pause:latest\": not found"`,
		want: []want{sandbox(CRIOPack, "quay.io/crio/pause:latest")}},
	{name: "crio container create failed", source: probes.SourceCRIO,
		line: `time="2024-01-02T03:04:05Z" level=error msg="Container creation error: container create failed: runc create failed: unable to start container process: exec: no such file"`,
		want: []want{ociFailed(CRIOPack, `runc create failed: unable to start container process: exec: no such file`)}},
	{name: "crio oci + cgroup ENOSPC", source: probes.SourceCRIO,
		line: `time="2024-01-02T03:04:05Z" level=error msg="Container creation error: container create failed: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/kubepods.slice/kubepods-pod1.slice/crio-abc.scope: no space left on device"`,
		want: []want{
			ociFailed(CRIOPack, `unable to apply cgroup configuration: mkdir /sys/fs/cgroup/kubepods.slice/kubepods-pod1.slice/crio-abc.scope: no space left on device`),
			cgroupFailing(CRIOPack, "no space left on device"),
			cgroupFailed(CRIOPack, "/sys/fs/cgroup/kubepods.slice/kubepods-pod1.slice/crio-abc.scope", "no space left on device"),
		}, nearMissOf: []string{"crio-disk-full"}},
	{name: "crio OCI runtime create", source: probes.SourceCRIO,
		line: `level=error msg="OCI runtime create failed: runc create failed: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/memory/kubepods/pod9/crio-1: cannot allocate memory"`,
		want: []want{
			ociFailed(CRIOPack, `runc create failed: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/memory/kubepods/pod9/crio-1: cannot allocate memory`),
			cgroupFailing(CRIOPack, "cannot allocate memory"),
			cgroupFailed(CRIOPack, "/sys/fs/cgroup/memory/kubepods/pod9/crio-1", "cannot allocate memory"),
		}},
	{name: "crio cgroup runc 1.0 wording", source: probes.SourceCRIO,
		line: `level=error msg="container_linux.go:349: starting container process caused \"process_linux.go:297: applying cgroup configuration for process caused \\\"mkdir /sys/fs/cgroup/memory/kubepods/pod3/crio-2: cannot allocate memory\\\"\""`,
		want: []want{
			cgroupFailing(CRIOPack, "cannot allocate memory"),
			cgroupFailed(CRIOPack, "/sys/fs/cgroup/memory/kubepods/pod3/crio-2", "cannot allocate memory"),
		}},
	{name: "crio near miss: pulling the pause image", source: probes.SourceCRIO,
		line:       `time="2024-01-02T03:04:05Z" level=info msg="Pulling image: registry.k8s.io/pause:3.9" id=0c1d name=/runtime.v1.ImageService/PullImage`,
		nearMissOf: []string{"crio-sandbox-image-pull-failing"}},
	{name: "crio near miss: kubelet retrying a slow create", source: probes.SourceCRIO,
		line:       `time="2024-01-02T03:04:05Z" level=info msg="Kubelet may be retrying requests that are timing out in CRI-O due to system load. Currently at stage container creation: context deadline exceeded: error reserving ctr name k8s_app_web-0_default_1f2e_0 for id 9f8e: name is reserved"`,
		nearMissOf: []string{"crio-oci-runtime-create-failed"}},
	{name: "crio rate limited manifest (containers/image)", source: probes.SourceCRIO,
		line: `time="2024-01-02T03:04:05Z" level=error msg="Error pulling image docker.io/library/redis:7: initializing source docker://redis:7: reading manifest 7 in docker.io/library/redis: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"`,
		want: []want{rateLimited(CRIOPack, "redis:7")}},
	{name: "crio rate limited blob (containers/image ErrTooManyRequests)", source: probes.SourceCRIO,
		line: `time="2024-01-02T03:04:05Z" level=error msg="Error pulling image quay.io/org/app:1.0: copying system image from manifest list: reading blob sha256:4f4fb700ef54: fetching blob: too many requests to registry"`,
		want: []want{rateLimited(CRIOPack, "")}},
	{name: "crio rate limited 429 without error body", source: probes.SourceCRIO,
		line: `time="2024-01-02T03:04:05Z" level=error msg="Error pulling image quay.io/org/app:1.0: initializing source docker://quay.io/org/app:1.0: reading manifest 1.0 in quay.io/org/app: received unexpected HTTP status: 429 Too Many Requests"`,
		want: []want{rateLimited(CRIOPack, "quay.io/org/app:1.0")}},
	{name: "crio rate limited near miss: containers/image backs off and retries", source: probes.SourceCRIO,
		line:       `time="2024-01-02T03:04:05Z" level=debug msg="Too many requests to https://registry-1.docker.io/v2/library/redis/manifests/7: sleeping for 2.000000 seconds before next attempt"`,
		nearMissOf: []string{"crio-image-pull-rate-limited"}},
	{name: "crio disk full creating a layer", source: probes.SourceCRIO,
		line:       `time="2024-01-02T03:04:05Z" level=error msg="Error pulling image docker.io/library/nginx:1.25: writing blob: adding layer with blob \"sha256:5f70bf18a086\": processing tar file(write /var/lib/containers/storage/overlay/8c1d/diff/usr/lib/libcrypto.so.3: no space left on device): exit status 1"`,
		want:       []want{diskFull(CRIOPack, "/var/lib/containers/storage/overlay/8c1d/diff/usr/lib/libcrypto.so.3")},
		nearMissOf: []string{"crio-cgroup-create-failing", "crio-cgroup-create-failed"}},
	{name: "crio disk full storing a blob", source: probes.SourceCRIO,
		line: `time="2024-01-02T03:04:05Z" level=error msg="Error pulling image quay.io/org/app:1.0: writing blob: storing blob to file \"/var/tmp/storage4242/1\": write /var/tmp/storage4242/1: no space left on device"`,
		want: []want{diskFull(CRIOPack, "/var/tmp/storage4242/1")}},
	{name: "crio disk full container log", source: probes.SourceCRIO,
		line: `time="2024-01-02T03:04:05Z" level=error msg="Container creation error: open /var/log/pods/default_app_1f2e/app/0.log: no space left on device"`,
		want: []want{diskFull(CRIOPack, "/var/log/pods/default_app_1f2e/app/0.log")}},
	{name: "crio near miss: created", source: probes.SourceCRIO, line: `time="2024-01-02T03:04:05Z" level=info msg="Created container 9f8e: default/app/app" id=1`},

	// kube-proxy.
	{name: "conntrack missing printf (≤ 1.18)", source: probes.SourceKubeProxy,
		line: `E0102 03:04:05.678901       1 proxier.go:1000] Failed to delete stale service IP 10.0.0.10 connections, error: error deleting connection tracking state for UDP service IP: 10.0.0.10, error: error looking for path of conntrack: exec: "conntrack": executable file not found in $PATH`,
		want: []want{conntrackMissing}},
	{name: "conntrack missing structured (1.20–1.31)", source: probes.SourceKubeProxy,
		line: `E0102 03:04:05.678901       1 proxier.go:858] "Failed to delete stale service connections" err="error deleting connection tracking state for UDP service IP: 10.0.0.10, error: error looking for path of conntrack: executable file not found in $PATH" IP="10.0.0.10"`,
		want: []want{conntrackMissing}},
	{name: "conntrack missing ≤ 1.6", source: probes.SourceKubeProxy,
		line: `E0102 03:04:05.678901       1 conntrack.go:42] conntrack returned error: error looking for path of conntrack: exec: "conntrack": executable file not found in $PATH`,
		want: []want{conntrackMissing}},
	{name: "conntrack missing hostport manager", source: probes.SourceKubeProxy,
		line: `I0102 03:04:05.678901       1 hostport_manager.go:69] The binary conntrack is not installed, this can cause failures in network connection cleanup.`,
		want: []want{conntrackMissing}},
	{name: "conntrack missing kubeadm preflight text", source: probes.SourceKubeProxy,
		line: `[ERROR FileExisting-conntrack]: conntrack not found in system path`,
		want: []want{conntrackMissing}},
	{name: "conntrack near miss: netlink era", source: probes.SourceKubeProxy, line: `E0102 03:04:05.678901       1 cleanup.go:1] "Failed to list conntrack entries" err="operation not supported"`, nearMissOf: []string{"conntrack-binary-missing"}},
	{name: "conntrack near miss: sizing", source: probes.SourceKubeProxy, line: `I0102 03:04:05.678901       1 conntrack.go:52] "Setting nf_conntrack_max" nfConntrackMax=262144`, nearMissOf: []string{"conntrack-binary-missing"}},
	{name: "kube-proxy version near miss: unstamped build", source: probes.SourceKubeProxy,
		line: `I0102 03:04:05.678901       1 server.go:484] "Version info" version="v0.0.0-master+$Format:%H$"`, nearMissOf: []string{"kube-proxy-version"}},
	{name: "kube-proxy version line is a fact, not a finding", source: probes.SourceKubeProxy, line: `I1122 07:40:01.123456       1 server.go:484] "Version info" version="v1.31.2"`},

	// systemd restart loops: each line five times.
	{name: "kubelet restart counter (systemd ≥ 236)", source: probes.SourceSystemd, repeat: 5, line: "kubelet.service: Scheduled restart job, restart counter is at 7.", want: []want{restartLoop("kubelet", "KubeletRestartLoop")}},
	{name: "kubelet hold-off (systemd 229–235)", source: probes.SourceSystemd, repeat: 5, line: "kubelet.service: Service hold-off time over, scheduling restart.", want: []want{restartLoop("kubelet", "KubeletRestartLoop")}},
	{name: "kubelet holdoff (systemd ≤ 228)", source: probes.SourceSystemd, repeat: 5, line: "kubelet.service holdoff time over, scheduling restart.", want: []want{restartLoop("kubelet", "KubeletRestartLoop")}},
	{name: "kubelet started description", source: probes.SourceSystemd, repeat: 5, line: "Started Kubernetes kubelet.", want: []want{restartLoop("kubelet", "KubeletRestartLoop")}},
	{name: "kubelet started unit - description (systemd ≥ 252)", source: probes.SourceSystemd, repeat: 5, line: "Started kubelet.service - Kubernetes kubelet.", want: []want{restartLoop("kubelet", "KubeletRestartLoop")}},
	{name: "kubelet started kubeadm description", source: probes.SourceSystemd, repeat: 5, line: "Started kubelet: The Kubernetes Node Agent.", want: []want{restartLoop("kubelet", "KubeletRestartLoop")}},
	{name: "kubelet started kubeadm unit - description", source: probes.SourceSystemd, repeat: 5, line: "Started kubelet.service - kubelet: The Kubernetes Node Agent.", want: []want{restartLoop("kubelet", "KubeletRestartLoop")}},
	{name: "containerd restart counter", source: probes.SourceSystemd, repeat: 5, line: "containerd.service: Scheduled restart job, restart counter is at 12.", want: []want{restartLoop("containerd", "ContainerdRestartLoop")}},
	{name: "containerd hold-off", source: probes.SourceSystemd, repeat: 5, line: "containerd.service: Service hold-off time over, scheduling restart.", want: []want{restartLoop("containerd", "ContainerdRestartLoop")}},
	{name: "containerd holdoff old", source: probes.SourceSystemd, repeat: 5, line: "containerd.service holdoff time over, scheduling restart.", want: []want{restartLoop("containerd", "ContainerdRestartLoop")}},
	{name: "containerd starting description", source: probes.SourceSystemd, repeat: 5, line: "Starting containerd container runtime...", want: []want{restartLoop("containerd", "ContainerdRestartLoop")}},
	{name: "containerd starting unit - description", source: probes.SourceSystemd, repeat: 5, line: "Starting containerd.service - containerd container runtime...", want: []want{restartLoop("containerd", "ContainerdRestartLoop")}},
	{name: "containerd starting unit", source: probes.SourceSystemd, repeat: 5, line: "Starting containerd.service...", want: []want{restartLoop("containerd", "ContainerdRestartLoop")}},
	{name: "systemd near miss: stopping", source: probes.SourceSystemd, repeat: 5, line: "Stopping kubelet.service - Kubernetes kubelet..."},
	{name: "systemd near miss: main process exited", source: probes.SourceSystemd, repeat: 5, line: "kubelet.service: Main process exited, code=exited, status=1/FAILURE"},
	{name: "systemd near miss: session", source: probes.SourceSystemd, repeat: 5, line: "Started Session 12 of user root.", nearMissOf: []string{"kubelet-started"}},
	{name: "systemd near miss: containerd Started is not counted", source: probes.SourceSystemd, repeat: 5, line: "Started containerd container runtime.", nearMissOf: []string{"kubelet-started"}},
	{name: "systemd near miss: kubelet Starting is not counted", source: probes.SourceSystemd, repeat: 5, line: "Starting Kubernetes kubelet..."},
	{name: "systemd near miss: a site unit whose name starts with containerd", source: probes.SourceSystemd, repeat: 5,
		line: "Starting containerd-registry-mirror.service - local registry mirror for containerd...", nearMissOf: []string{"containerd-starting"}},
	{name: "systemd near miss: other unit restarting", source: probes.SourceSystemd, repeat: 5, line: "docker.service: Scheduled restart job, restart counter is at 3.", nearMissOf: []string{"kubelet-restart-scheduled", "containerd-restart-scheduled"}},
}
