package rules

import (
	"time"

	"github.com/nodetriage/nodetriage/probes"
)

// kernelRules is the kernel-log pack. It reads kernel records only
// (probes.SourceKernel: /dev/kmsg facility 0 or the journal's kernel
// transport; user-space writes to /dev/kmsg never reach it). Texts and their
// kernel versions are in signals.md §7.4, §2.4 and §1.2 F.
//
// Events (temporary): OOMKilling (cgroup and global OOM kills, old and new
// formats; Evidence["memcg"] is the victim's memory cgroup, taken from the
// preceding "oom-kill:…task_memcg=…,pid=…" summary with the same pid, or from
// the legacy "Task in <memcg> killed as a result of limit of …" line, so the
// agent can name the pod), TaskHung, SoftLockup, KernelOops,
// UnregisterNetDevice, Ext4Error, Ext4Warning, IOError, ConntrackTableFull,
// KmemAllocationFailed. Details that are easy to get wrong:
//   - KernelOops: the oops texts plus any other kernel "BUG: …" report ("BUG:
//     Bad page state in process …", "BUG: scheduling while atomic: …", AWS's
//     `\[.*?] BUG: (.*)`), only where "BUG: " starts the message (after a
//     dmesg timestamp or a syslog "kernel: " at most), so a driver's
//     "DEBUG: …" is not one. "BUG: soft lockup" is SoftLockup's.
//   - Ext4Error: both kernel formats, "EXT4-fs error (device D): func:line: …"
//     and __ext4_std_error's "EXT4-fs error (device D) in func:line: …"
//     (e.g. "Journal has aborted").
//   - IOError: not for fd* and sr* — the empty floppy and CD-ROM drives of
//     virtual machines log I/O errors whenever something probes them.
//   - KmemAllocationFailed: the SLUB header before and since 6.12 ("SLUB:
//     Unable to allocate memory on CPU N (of node M) on node -1, gfp=…").
//
// Conditions (permanent):
//   - KernelDeadlock: the hung task is the container runtime or the kubelet
//     (NPD's DockerHung, extended): DockerHung (docker, dockerd),
//     ContainerdHung (containerd, containerd-shim), KubeletHung, RuncHung
//     (runc and its init stages runc:[0:PARENT], runc:[1:CHILD],
//     runc:[2:INIT]), CrioHung (crio, conmon, conmonrs). Only the exact task
//     names count: dockerd-helper or gpu-kubelet-plu(gin) are TaskHung only.
//     A task in D state does not come back; clears on reboot. The kernel
//     reports a task after hung_task_timeout_secs (default 120 s), at most
//     hung_task_warnings (default 10) times per boot.
//   - ReadonlyFilesystem: FilesystemIsReadOnly ("Remounting filesystem
//     read-only") and XfsShutdown. NPD gives XFS its own condition; here a
//     shut-down XFS is reported under ReadonlyFilesystem because to pods it is
//     the same fault — writes (and reads) fail until the filesystem is
//     repaired and remounted — and one condition type is one place to look.
//     Both clear on reboot.
//   - NFSServerUnreachable: NFSServerNotResponding, per server (Subject).
//     Cleared by the kernel's "<prog>: server <host> OK" for the same server,
//     or by a reboot — not by silence: a hard mount prints "still trying"
//     once and then hangs quietly.
//   - ConntrackProblem: ConntrackTableFull, all texts (ip_/nf_conntrack, the
//     doubled prefix, "in netns N" since 6.18). The kernel rate-limits the
//     message (net_ratelimit), so the condition clears after 10 minutes
//     without one; every line also becomes a ConntrackTableFull Event.
func kernelRules() []Rule {
	kernel := sources(probes.SourceKernel)
	return []Rule{
		// OOM kills. The summary and legacy lines precede "Killed process"
		// and only feed its evidence.
		{
			Name:       "oom-kill-summary",
			Sources:    kernel,
			Kind:       KindContext,
			Pattern:    `oom-kill:constraint=(?P<constraint>[A-Z_]+),.*?task_memcg=(?P<memcg>[^,]*),task=(?P<comm>[^,]*),pid=(?P<pid>\d+)`,
			ContextKey: "pid",
		},
		{
			Name:    "oom-task-in-legacy",
			Sources: kernel,
			Kind:    KindContext,
			Pattern: `Task in (?P<memcg>\S+) killed as a result of limit of (?P<limit_memcg>\S+)`,
		},
		{
			Name:    "oom-killing",
			Sources: kernel,
			Pattern: `(?:(?P<trigger>Memory cgroup out of memory|Out of memory(?: \(oom_kill_allocating_task\))?): )?` +
				`Killed process (?P<pid>\d+) \((?P<comm>.+?)\)(?: total-vm:(?P<total_vm_kb>\d+)kB, anon-rss:(?P<anon_rss_kb>\d+)kB| |,|$)`,
			Recall: []Recall{
				{Rule: "oom-kill-summary", Key: "pid"},
				{Rule: "oom-task-in-legacy", Within: D(10 * time.Second)},
			},
			Reason:   "OOMKilling",
			Severity: probes.SeverityWarning,
			Summary:  "the kernel OOM killer killed a process (memory cgroup limit or node out of memory)",
			Message:  `${trigger:-Out of memory}: the kernel OOM killer killed ${comm} (pid ${pid}) in memory cgroup ${memcg:-unknown}`,
			Remedy: `if the memory cgroup is a pod's (/kubepods/…), raise that container's memory limit or fix its leak ` +
				`(kubectl describe pod; kubectl set resources … --limits=memory=…); if the whole node ran out (constraint CONSTRAINT_NONE), ` +
				`reserve memory for the system (kubelet systemReserved/kubeReserved, evictionHard memory.available) or move pods off the node`,
			Subject: "${memcg}",
		},

		// Hung tasks.
		{
			Name:     "task-hung",
			Sources:  kernel,
			Pattern:  `task (?P<comm>[\S ]+):(?P<pid>\d+) blocked for more than (?P<seconds>\d+) seconds`,
			Reason:   "TaskHung",
			Severity: probes.SeverityWarning,
			Summary:  "a task was blocked in the kernel (D state) longer than hung_task_timeout_secs",
			Message:  `task ${comm} (pid ${pid}) has been blocked in the kernel for more than ${seconds} s`,
			Remedy: `find what it waits on (cat /proc/${pid}/stack; echo w > /proc/sysrq-trigger then dmesg -T | tail -200): usually storage or an NFS ` +
				`server that stopped answering; fix that path, or drain and reboot the node if it stays wedged (kubectl drain <node> --ignore-daemonsets --delete-emptydir-data)`,
			Subject: "${comm}",
		},
		deadlockRule("docker", `docker|dockerd`, "DockerHung"),
		deadlockRule("containerd", `containerd|containerd-shim`, "ContainerdHung"),
		deadlockRule("kubelet", `kubelet`, "KubeletHung"),
		deadlockRule("runc", `runc(?::\[\d:[A-Z]+\])?`, "RuncHung"),
		deadlockRule("crio", `crio|conmon|conmonrs`, "CrioHung"),

		{
			Name:     "soft-lockup",
			Sources:  kernel,
			Pattern:  `BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for (?P<duration>\d+s)! \[(?P<comm>.*?):(?P<pid>\d+)\]`,
			Reason:   "SoftLockup",
			Severity: probes.SeverityWarning,
			Summary:  "a CPU looped in the kernel without scheduling for longer than the soft-lockup threshold (2 × watchdog_thresh)",
			Message:  `CPU ${cpu} was stuck in the kernel for ${duration} running ${comm} (pid ${pid})`,
			Remedy: `check for hypervisor CPU steal or overcommit (top: st; /proc/stat), then for a kernel bug in the named task's path; ` +
				`update the kernel if it repeats, and drain and reboot the node if workloads stall`,
		},
		{
			Name:    "kernel-oops",
			Sources: kernel,
			Pattern: `BUG: unable to handle kernel (?:NULL pointer dereference|paging request) at (?P<address>\S*)` +
				`|BUG: kernel NULL pointer dereference, address: (?P<address>\S+)` +
				`|BUG: unable to handle page fault for address: (?P<address>\S+)` +
				`|kernel BUG at (?P<location>[^!\s]+)!` +
				`|divide error: 0000 \[#\d+\]` +
				`|general protection fault(?:: |, [^:]*: )[0-9a-f]{4} \[#\d+\]` +
				`|Oops: [0-9a-f]{4} \[#\d+\]` +
				`|(?:^|kernel: |\] )BUG: (?P<bug>\S.*)`,
			Exclude:  `BUG: soft lockup`,
			Reason:   "KernelOops",
			Severity: probes.SeverityProblem,
			Summary:  "the kernel hit a bug (oops, BUG, divide error, general protection fault) and may be unstable",
			Message:  `kernel oops: ${line}`,
			Remedy: `the kernel may be in an inconsistent state: cordon and drain the node (kubectl drain <node> --ignore-daemonsets --delete-emptydir-data), ` +
				`keep the trace (journalctl -k -b -1 after the reboot), reboot, and update the kernel if it recurs`,
		},
		{
			Name:     "unregister-netdevice",
			Sources:  kernel,
			Pattern:  `unregister_netdevice: waiting for (?P<device>\S+) to become free\. Usage count = (?P<usage_count>-?\d+)`,
			Reason:   "UnregisterNetDevice",
			Severity: probes.SeverityWarning,
			Summary:  "a network device cannot be removed because references leaked (pod network teardown hangs)",
			Message:  `the kernel cannot free network device ${device} (usage count ${usage_count}); pod network teardown is stuck`,
			Remedy: `pod creation and deletion on this node can hang behind it; if it repeats for minutes, drain and reboot the node, ` +
				`and update the kernel (many of these leaks are fixed in newer kernels)`,
			Subject: "${device}",
		},
		{
			Name:     "ext4-error",
			Sources:  kernel,
			Pattern:  `EXT4-fs error \(device (?P<device>[^)]+)\)(?::| in) (?P<detail>.*)`,
			Reason:   "Ext4Error",
			Severity: probes.SeverityWarning,
			Summary:  "ext4 detected an error (corruption or I/O failure) on a filesystem",
			Message:  `ext4 error on ${device}: ${detail}`,
			Remedy: `check the disk (smartctl -a, dmesg -T for I/O errors on ${device}), then drain the node and run fsck.ext4 -f on the unmounted ` +
				`filesystem; replace the disk or volume if it reports errors`,
			Subject: "${device}",
		},
		{
			Name:     "ext4-warning",
			Sources:  kernel,
			Pattern:  `EXT4-fs warning \(device (?P<device>[^)]+)\): (?P<detail>.*)`,
			Reason:   "Ext4Warning",
			Severity: probes.SeverityWarning,
			Summary:  "ext4 printed a warning about a filesystem",
			Message:  `ext4 warning on ${device}: ${detail}`,
			Remedy: `read the warning ("Directory index full!" means one directory holds too many entries — clean it up); ` +
				`if it persists, run fsck.ext4 -f on ${device} at the next maintenance window`,
			Subject: "${device}",
		},
		{
			Name:      "readonly-remount",
			Sources:   kernel,
			Pattern:   `(?:(?P<fs>\S+) \((?P<device>[^)]+)\): )?Remounting filesystem read-only`,
			Kind:      KindPermanent,
			Condition: "ReadonlyFilesystem",
			Reason:    "FilesystemIsReadOnly",
			Severity:  probes.SeverityProblem,
			Summary:   "the kernel remounted a filesystem read-only after an error",
			Message:   `the kernel remounted ${device:-a filesystem} read-only after an error; writes to it fail`,
			Remedy: `drain the node (kubectl drain <node> --ignore-daemonsets --delete-emptydir-data), check the disk for I/O errors, ` +
				`run fsck on ${device:-the device}, then remount it read-write (mount -o remount,rw) or reboot`,
			Subject: "${device}",
		},
		{
			Name:      "xfs-shutdown",
			Sources:   kernel,
			Pattern:   `XFS \((?P<device>[^)]+)\): (?P<detail>.*?)\s*Shutting down filesystem`,
			Kind:      KindPermanent,
			Condition: "ReadonlyFilesystem",
			Reason:    "XfsShutdown",
			Severity:  probes.SeverityProblem,
			Summary:   "XFS shut a filesystem down after an error; all I/O to it fails",
			Message:   `XFS shut down ${device} after "${detail}"; all I/O to it fails`,
			Remedy: `drain the node, unmount ${device} and run xfs_repair on it (it may need -L to zero a damaged log), check the disk or ` +
				`volume path, then remount or reboot`,
			Subject: "${device}",
		},
		{
			Name:     "io-error",
			Sources:  kernel,
			Pattern:  `Buffer I/O error on dev(?:ice)? (?P<device>[^,\s]+)|I/O error, dev (?P<device>[^,\s]+), sector (?P<sector>\d+)`,
			Exclude:  `dev(?:ice)? (?:fd|sr)\d+,`,
			Reason:   "IOError",
			Severity: probes.SeverityWarning,
			Summary:  "a block device returned an I/O error",
			Message:  `block I/O error on ${device}`,
			Remedy: `check the device (smartctl -a /dev/${device}; dmesg -T | grep ${device}) and the cable, SAN path or cloud volume; ` +
				`replace or detach the failing volume and drain the node if pods use it`,
			Subject: "${device}",
		},
		{
			Name:      "nfs-server-not-responding",
			Sources:   kernel,
			Pattern:   `(?P<program>\S+): server (?P<server>\S+) not responding, (?P<state>still trying|timed out)`,
			Kind:      KindPermanent,
			Condition: "NFSServerUnreachable",
			Reason:    "NFSServerNotResponding",
			Severity:  probes.SeverityProblem,
			Summary:   "an NFS (or other SunRPC) server stopped answering; I/O on its mounts hangs or fails",
			Message:   `${program} server ${server} is not responding (${state}); I/O on its mounts hangs or fails`,
			Remedy: `check the server and the network path (ping ${server}; rpcinfo -p ${server}; showmount -e ${server}); this clears when the kernel ` +
				`logs "${program}: server ${server} OK"; if the server is gone for good, force-unmount its mounts (umount -f -l) or drain and reboot the node`,
			Subject: "${server}",
			Clear: Clear{
				Recovery: `(?P<program>\S+): server (?P<server>\S+) OK`,
				OnReboot: true,
			},
		},
		{
			Name:      "conntrack-table-full",
			Sources:   kernel,
			Pattern:   conntrackFullPattern,
			Kind:      KindPermanent,
			Condition: "ConntrackProblem",
			Reason:    "ConntrackTableFull",
			Severity:  probes.SeverityProblem,
			Summary:   "the connection-tracking table is full and the kernel drops new connections",
			Message:   `the ${module}_conntrack table is full and the kernel drops packets of new connections (netns ${netns:-init})`,
			Remedy:    conntrackFullRemedy,
			Clear:     Clear{Quiet: D(10 * time.Minute)},
		},
		{
			Name:     "conntrack-table-full-event",
			Sources:  kernel,
			Pattern:  conntrackFullPattern,
			Reason:   "ConntrackTableFull",
			Severity: probes.SeverityWarning,
			Summary:  "the kernel dropped a packet because the connection-tracking table is full",
			Message:  `the kernel dropped packets: ${module}_conntrack table full (netns ${netns:-init})`,
			Remedy:   conntrackFullRemedy,
		},
		{
			Name:    "slub-alloc-failure",
			Sources: kernel,
			Kind:    KindContext,
			Pattern: `SLUB: Unable to allocate memory on (?:CPU \d+ \(of node -?\d+\) on )?node (?P<node>-?\d+)(?:, | \()gfp=(?P<gfp>0x[0-9a-f]+)`,
		},
		{
			Name:     "kmem-allocation-failed",
			Sources:  kernel,
			Pattern:  `cache: (?P<cache>[^,]+), object size: (?P<object_size>\d+), buffer size: (?P<buffer_size>\d+)`,
			Recall:   []Recall{{Rule: "slub-alloc-failure", Within: D(5 * time.Second), Required: true}},
			Reason:   "KmemAllocationFailed",
			Severity: probes.SeverityWarning,
			Summary:  "a kernel slab allocation failed (SLUB: Unable to allocate memory), often from leaked memory cgroups",
			Message:  `the kernel could not allocate slab memory for cache ${cache} on node ${node} (gfp=${gfp})`,
			Remedy: `kernel memory allocations are failing, often from leaked memory cgroups on kernels with kmem accounting: compare num_cgroups in ` +
				`"grep memory /proc/cgroups" with "find /sys/fs/cgroup/memory -type d | wc -l"; add cgroup.memory=nokmem to GRUB_CMDLINE_LINUX, ` +
				`regenerate grub.cfg and reboot, or upgrade the kernel`,
		},
	}
}

const (
	// conntrackFullPattern: "nf_conntrack: table full, dropping packet",
	// the doubled pr_fmt prefix (unanchored, so the inner text matches),
	// 2.6-era "ip_conntrack: …" and 6.18+ "… table full in netns N, …".
	conntrackFullPattern = `(?P<module>ip|nf)_conntrack: table full(?:, | in netns (?P<netns>\d+), )dropping packet`
	conntrackFullRemedy  = `raise the table size (sysctl -w net.netfilter.nf_conntrack_max=<double the current value>, persisted in /etc/sysctl.d, ` +
		`or kube-proxy conntrack.maxPerCore) and find who opens so many connections (conntrack -S; conntrack -L | awk '{print $5}' | sort | uniq -c | sort -rn | head)`
)

// deadlockRule is a KernelDeadlock rule for hung container-runtime or
// kubelet tasks; comms is a regexp alternation of their task names. The
// message leaves out the blocked time, which grows with every repeat of the
// kernel's warning (it is in the evidence), so a repeat is not a new message.
func deadlockRule(name, comms, reason string) Rule {
	return Rule{
		Name:      "kernel-deadlock-" + name,
		Sources:   sources(probes.SourceKernel),
		Pattern:   `task (?P<comm>` + comms + `):(?P<pid>\d+) blocked for more than (?P<seconds>\d+) seconds`,
		Kind:      KindPermanent,
		Condition: "KernelDeadlock",
		Reason:    reason,
		Severity:  probes.SeverityProblem,
		Summary:   "the kernel reports " + name + " blocked in uninterruptible sleep; it will not recover without a reboot",
		Message:   `${comm} (pid ${pid}) is stuck in the kernel (hung task); pods on this node cannot be started or stopped reliably`,
		Remedy: `a task stuck in D state does not recover: cordon and drain the node (kubectl drain <node> --ignore-daemonsets --delete-emptydir-data), ` +
			`save the blocked stacks (echo w > /proc/sysrq-trigger; dmesg -T), then reboot it`,
	}
}
