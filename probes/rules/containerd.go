package rules

import "github.com/nodetriage/nodetriage/probes"

// containerdRules is the containerd-log pack. It reads containerd's journal
// (SYSLOG_IDENTIFIER=containerd) and reports:
//
//   - SandboxImagePullFailing (condition SandboxImageMissing): the pause
//     image cannot be pulled — "failed to get sandbox image %q" (containerd
//     ≤ 2.2) or a failed pull or local lookup ("failed to get image %q") of
//     a pause/sandbox ref (2.3+, signals.md §4.4).
//     Clears after the agent's quiet window without a repeat.
//   - OCIRuntimeCreateFailed (event): "OCI runtime create failed: …".
//   - CgroupCreateFailing (condition MemoryCgroupLeak) and the event
//     CgroupCreateFailed: runc's "mkdir /sys/fs/cgroup/…: cannot allocate
//     memory | no space left on device", runc ≤ 1.0 and ≥ 1.1 wording
//     (signals.md §1.2 G, kubernetes/kubernetes#74382, #96701).
//   - ImagePullRateLimited (event): the registry answered 429 —
//     "toomanyrequests" or "429 Too Many Requests" after the image ref or a
//     registry URL (containerd 1.4's "pulling from host … failed with status
//     code", 1.5–1.7's "unexpected status code …", 2.x's "unexpected status
//     from HEAD request to …"). "trying next host after status: 429 …" is
//     not one: containerd moves on to the next mirror.
//   - DiskFull (event): ENOSPC, e.g. unpacking a layer under
//     /var/lib/containerd, except cgroup mkdir failures (above).
func containerdRules() []Rule { return runtimeRules("containerd", probes.SourceContainerd) }
