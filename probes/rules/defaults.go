package rules

import "github.com/nodetriage/nodetriage/probes"

// Rule pack names: the Check of their findings.
const (
	KernelPack     = "kernel-log"
	KubeletPack    = "kubelet-log"
	ContainerdPack = "containerd-log"
	CRIOPack       = "crio-log"
	KubeProxyPack  = "kube-proxy-log"
	SystemdPack    = "systemd-log"
)

// DefaultRules returns the default rule packs, in a fixed order. Each call
// returns fresh values the caller may modify.
func DefaultRules() []Rule {
	var all []Rule
	for _, pack := range []struct {
		check string
		rules func() []Rule
	}{
		{KernelPack, kernelRules},
		{KubeletPack, kubeletRules},
		{ContainerdPack, containerdRules},
		{CRIOPack, crioRules},
		{KubeProxyPack, kubeProxyRules},
		{SystemdPack, systemdRules},
	} {
		for _, r := range pack.rules() {
			r.Check = pack.check
			all = append(all, r)
		}
	}
	return all
}

func sources(s ...probes.Source) []probes.Source { return s }

// Patterns shared by several packs: the same text reaches the kubelet and
// runtime logs.
const (
	// sandboxImagePattern: containerd ≤ 2.2 wraps the pull error in "failed to
	// get sandbox image %q"; containerd 2.3+ (and kubelet's FailedCreatePodSandBox
	// texts, CRI-O, dockershim) only say which ref failed to pull — or, for a
	// local lookup error in 2.3's ensurePauseImageExists, "failed to get image
	// %q" — so those count only when the ref looks like a pause/sandbox image
	// (signals.md §4.4). containerd's own `PullImage "<ref>"` counts only with
	// "failed" (it logs the same text at info level for every pull). Quotes
	// may be escaped (\") inside klog values.
	sandboxImagePattern = `failed to get sandbox image \\*"(?P<image>[^"\\]+)` +
		`|(?:failed to pull image|failed pulling image|failed to pull and unpack image|failed to get image) \\*"(?P<image>[^"\\]*(?:pause|sandbox)[^"\\]*)\\*"` +
		`|PullImage \\*"(?P<image>[^"\\]*(?:pause|sandbox)[^"\\]*)\\*" failed`
	sandboxImageMessage = `the runtime cannot pull or read the sandbox (pause) image ${image}: no new pod can start on this node`
	sandboxImageRemedy  = `make the pause image available and pinned: pull it by hand (crictl pull ${image}) after fixing registry access or credentials, ` +
		`or import it offline (ctr -n k8s.io images import pause.tar); keep containerd's sandbox_image / CRI-O's pause_image and kubelet's --pod-infra-container-image on the same ref`

	// rateLimitPattern: the registry refused a pull with HTTP 429. The error
	// code "toomanyrequests" (containerd renders TOOMANYREQUESTS lower-case,
	// Docker Hub's "toomanyrequests: You have reached your pull rate limit",
	// ECR's "toomanyrequests: Rate exceeded") and containers/image's
	// ErrTooManyRequests ("too many requests to registry", CRI-O) name the
	// registry by themselves. A bare "429 Too Many Requests" (registries that
	// send no error body, containerd 2.x "unexpected status from HEAD request
	// to …") counts only after an image ref or a registry URL (host/v2/…):
	// kubelet's client-go logs the API server's own 429s in the same words.
	// The image is the first ref named: `image "<ref>"` (kubelet, containerd's
	// PullImage) or containers/image's `docker://<ref>: `.
	rateLimitPattern = `(?:` + imageRefPattern + `.*?)?(?:toomanyrequests|too many requests to registry)` +
		`|(?:` + imageRefPattern + `|https?://[^/\s"\\]+/v2/).*?429 Too Many Requests`
	imageRefPattern  = `(?:image \\*"(?P<image>[^"\\]+)\\*"|docker://(?P<image>[^\s"\\]+?):? )`
	rateLimitSummary = "the registry refused an image pull with HTTP 429 (toomanyrequests, e.g. the Docker Hub pull rate limit)"
	// rateLimitMessage says toomanyrequests for every 429: it is the
	// distribution spec's error code for that status.
	rateLimitMessage = `the registry rate-limited pulling ${image:-an image} (toomanyrequests)`
	rateLimitRemedy  = `authenticate pulls (imagePullSecrets with a registry account), mirror the images to your own registry or a pull-through cache ` +
		`(containerd mirrors in /etc/containerd/certs.d), and avoid needless pulls (imagePullPolicy: IfNotPresent)`
	rateLimitRemedyCRIO = `authenticate pulls (imagePullSecrets with a registry account), mirror the images to your own registry or a pull-through cache ` +
		`(CRI-O mirrors in /etc/containers/registries.conf), and avoid needless pulls (imagePullPolicy: IfNotPresent)`

	// diskFullPattern: ENOSPC in kubelet's and the runtimes' logs (signals.md
	// §6): unpacking image layers, writing container logs, volumes. Not the
	// inotify variant (fs.inotify.max_user_watches is exhausted, not the
	// disk) and not cgroup mkdir failures (CgroupCreateFailing).
	diskFullPattern = `(?:(?P<op>[a-z]+) (?P<path>/[^:"\s]*): )?no space left on device`
	diskFullExclude = `(?i)inotify|fsnotify|too many open files|watch|mkdir /sys/fs/cgroup`
	diskFullSummary = "a write failed with ENOSPC (no space left on device)"
	diskFullMessage = `a write failed with "no space left on device" on ${path:-a node filesystem}`
	diskFullRemedy  = `find the full filesystem with df -h and df -i (inodes run out too); free space (crictl rmi --prune; journalctl --vacuum-size=500M; ` +
		`old files under /var/log) or grow the disk`

	// cgroupMkdirPattern covers kubelet's pod cgroups and runc's container
	// cgroups through containerd/CRI-O, both runc eras (signals.md §1.2 G).
	cgroupMkdirPattern = `mkdir (?P<path>/sys/fs/cgroup/[^:"\\]*): (?P<error>cannot allocate memory|no space left on device)`
	cgroupLeakMessage  = `creating cgroups fails with "${error}" (mkdir under /sys/fs/cgroup): pods cannot start on this node`
	cgroupLeakRemedy   = `usually leaked (dying) memory cgroups or the 65535 memcg limit: compare num_cgroups in "grep memory /proc/cgroups" with ` +
		`"find /sys/fs/cgroup/memory -type d | wc -l"; release them (sync; echo 3 > /proc/sys/vm/drop_caches), add cgroup.memory=nokmem to GRUB_CMDLINE_LINUX, ` +
		`regenerate grub.cfg (update-grub) and reboot, or upgrade the kernel`

	// ociCreatePattern: containerd's and CRI-O's wrapping of runc create
	// failures (AWS agent regex `OCI runtime create failed: (.*?)`).
	ociCreatePattern = `(?:OCI runtime create failed|container create failed): (?P<detail>[^"\\]+)`
	ociCreateMessage = `the OCI runtime could not create a container: ${detail}`
	ociCreateRemedy  = `the detail says why runc failed (cgroup, seccomp, mount, exec format, permission): read the runtime log around this time ` +
		`(journalctl -u containerd or -u crio), check runc --version and kernel support, and fix the pod spec when the detail names its command or mount`
)

// diskFullRule is the DiskFull Event rule on one source: ENOSPC said by
// the kubelet or a runtime, the same text in every one of them.
func diskFullRule(name string, src probes.Source) Rule {
	return Rule{
		Name:     name,
		Sources:  sources(src),
		Pattern:  diskFullPattern,
		Exclude:  diskFullExclude,
		Reason:   "DiskFull",
		Severity: probes.SeverityProblem,
		Summary:  diskFullSummary,
		Message:  diskFullMessage,
		Remedy:   diskFullRemedy,
	}
}

// rateLimitRule is the ImagePullRateLimited Event rule on one source, with
// the remedy for that source's runtime configuration.
func rateLimitRule(name string, src probes.Source, remedy string) Rule {
	return Rule{
		Name:            name,
		Sources:         sources(src),
		CaseInsensitive: true,
		Pattern:         rateLimitPattern,
		Reason:          "ImagePullRateLimited",
		Severity:        probes.SeverityWarning,
		Summary:         rateLimitSummary,
		Message:         rateLimitMessage,
		Remedy:          remedy,
		Subject:         "${image}",
	}
}

// runtimeRules are the rules containerd and CRI-O share.
func runtimeRules(prefix string, src probes.Source) []Rule {
	rateLimitFix := rateLimitRemedy
	if src == probes.SourceCRIO {
		rateLimitFix = rateLimitRemedyCRIO
	}
	return []Rule{
		{
			Name:      prefix + "-sandbox-image-pull-failing",
			Sources:   sources(src),
			Pattern:   sandboxImagePattern,
			Kind:      KindPermanent,
			Condition: "SandboxImageMissing",
			Reason:    "SandboxImagePullFailing",
			Severity:  probes.SeverityProblem,
			Summary:   "the runtime cannot pull the sandbox (pause) image, so no pod sandbox can be created",
			Message:   sandboxImageMessage,
			Remedy:    sandboxImageRemedy,
			Subject:   "${image}",
		},
		{
			Name:     prefix + "-oci-runtime-create-failed",
			Sources:  sources(src),
			Pattern:  ociCreatePattern,
			Reason:   "OCIRuntimeCreateFailed",
			Severity: probes.SeverityWarning,
			Summary:  "the OCI runtime (runc) failed to create a container",
			Message:  ociCreateMessage,
			Remedy:   ociCreateRemedy,
		},
		{
			Name:      prefix + "-cgroup-create-failing",
			Sources:   sources(src),
			Pattern:   cgroupMkdirPattern,
			Kind:      KindPermanent,
			Condition: "MemoryCgroupLeak",
			Reason:    "CgroupCreateFailing",
			Severity:  probes.SeverityProblem,
			Summary:   "runc cannot create container cgroups (ENOMEM/ENOSPC from mkdir), typically leaked memory cgroups",
			Message:   cgroupLeakMessage,
			Remedy:    cgroupLeakRemedy,
		},
		{
			Name:     prefix + "-cgroup-create-failed",
			Sources:  sources(src),
			Pattern:  cgroupMkdirPattern,
			Reason:   "CgroupCreateFailed",
			Severity: probes.SeverityWarning,
			Summary:  "one cgroup mkdir failed with ENOMEM or ENOSPC",
			Message:  `mkdir ${path} failed: ${error}`,
			Remedy:   cgroupLeakRemedy,
		},
		rateLimitRule(prefix+"-image-pull-rate-limited", src, rateLimitFix),
		diskFullRule(prefix+"-disk-full", src),
	}
}
