package rules

import (
	"time"

	"github.com/nodetriage/nodetriage/probes"
)

// packCase is one line (after optional earlier lines) through the default
// packs. Version variants come from signals.md §7.4, §2.4, §1.2 F.
type packCase struct {
	name   string
	source probes.Source
	// before are earlier lines on the same source; they must produce nothing.
	before []string
	line   string
	// repeat feeds line this many times, a minute apart; the last feed's
	// findings are checked and the earlier feeds must produce nothing.
	repeat int
	want   []want
	// nearMissOf names the default rules line is a near miss of: it
	// resembles their signal but must not match them
	// (TestDefaultRulesNearMisses).
	nearMissOf []string
}

var (
	rebootClear = probes.ClearPolicy{Mode: probes.ClearOnReboot, BootID: testBootID}
	agentQuiet  = probes.ClearPolicy{Mode: probes.ClearAfterQuiet}
)

func quiet(d time.Duration) probes.ClearPolicy {
	return probes.ClearPolicy{Mode: probes.ClearAfterQuiet, Quiet: d}
}

func oom(trigger, comm, pid, memcg string, evidence map[string]string) want {
	subject := memcg
	if memcg == "" {
		memcg = "unknown"
	}
	return want{
		Check: KernelPack, Reason: "OOMKilling", Severity: probes.SeverityWarning, Subject: subject,
		Message:  trigger + ": the kernel OOM killer killed " + comm + " (pid " + pid + ") in memory cgroup " + memcg,
		Evidence: evidence,
	}
}

func taskHung(comm, pid, secs string) want {
	return want{
		Check: KernelPack, Reason: "TaskHung", Severity: probes.SeverityWarning, Subject: comm,
		Message:  "task " + comm + " (pid " + pid + ") has been blocked in the kernel for more than " + secs + " s",
		Evidence: ev("comm", comm, "pid", pid, "seconds", secs),
	}
}

func deadlock(reason, comm, pid, secs string) want {
	return want{
		Check: KernelPack, Reason: reason, Condition: "KernelDeadlock", Severity: probes.SeverityProblem,
		Message:  comm + " (pid " + pid + ") is stuck in the kernel (hung task); pods on this node cannot be started or stopped reliably",
		Evidence: ev("comm", comm, "pid", pid, "seconds", secs),
		Clear:    rebootClear,
	}
}

func oops(line string) want {
	return want{Check: KernelPack, Reason: "KernelOops", Severity: probes.SeverityProblem, Message: "kernel oops: " + line}
}

func ioError(device string) want {
	return want{
		Check: KernelPack, Reason: "IOError", Severity: probes.SeverityWarning, Subject: device,
		Message: "block I/O error on " + device, Evidence: ev("device", device),
	}
}

func conntrackFull(module, netns string) []want {
	ns := netns
	if ns == "" {
		ns = "init"
	}
	return []want{
		{
			Check: KernelPack, Reason: "ConntrackTableFull", Condition: "ConntrackProblem", Severity: probes.SeverityProblem,
			Message:  "the " + module + "_conntrack table is full and the kernel drops packets of new connections (netns " + ns + ")",
			Evidence: ev("module", module),
			Clear:    quiet(10 * time.Minute),
		},
		{
			Check: KernelPack, Reason: "ConntrackTableFull", Severity: probes.SeverityWarning,
			Message: "the kernel dropped packets: " + module + "_conntrack table full (netns " + ns + ")",
		},
	}
}

func kmem(cache, node, gfp string) want {
	return want{
		Check: KernelPack, Reason: "KmemAllocationFailed", Severity: probes.SeverityWarning,
		Message:  "the kernel could not allocate slab memory for cache " + cache + " on node " + node + " (gfp=" + gfp + ")",
		Evidence: ev("cache", cache, "node", node, "gfp", gfp),
	}
}

var kernelCases = []packCase{
	// OOMKilling: new format (≥ 5.0) with the oom-kill summary, global OOM,
	// 4.19 summary, legacy 4.x "Task in", bare 3.x line, no context.
	{
		name:   "oom cgroup kill with summary (5.x)",
		source: probes.SourceKernel,
		before: []string{
			"stress invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=936",
			"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-1a2b.scope,mems_allowed=0,oom_memcg=/kubepods/burstable/pod6f1c/1a2b,task_memcg=/kubepods/burstable/pod6f1c/1a2b,task=stress,pid=4242,uid=0",
		},
		line: "Memory cgroup out of memory: Killed process 4242 (stress) total-vm:834776kB, anon-rss:100100kB, file-rss:33900kB, shmem-rss:0kB, UID:0 pgtables:400kB oom_score_adj:999",
		want: []want{oom("Memory cgroup out of memory", "stress", "4242", "/kubepods/burstable/pod6f1c/1a2b",
			ev("memcg", "/kubepods/burstable/pod6f1c/1a2b", "pid", "4242", "comm", "stress", "constraint", "CONSTRAINT_MEMCG", "anon_rss_kb", "100100"))},
	},
	{
		name:   "oom global kill with summary",
		source: probes.SourceKernel,
		before: []string{
			"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-ab.scope,task=java,pid=20137,uid=1000",
		},
		line: "Out of memory: Killed process 20137 (java) total-vm:13556260kB, anon-rss:3745180kB, file-rss:17480kB, shmem-rss:0kB, UID:0 pgtables:7688kB oom_score_adj:0",
		want: []want{oom("Out of memory", "java", "20137", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-ab.scope",
			ev("constraint", "CONSTRAINT_NONE", "pid", "20137", "comm", "java"))},
	},
	{
		name:   "oom 4.19 summary, other pid in between does not mix",
		source: probes.SourceKernel,
		before: []string{
			"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=docker-8b.scope,mems_allowed=0,oom_memcg=/kubepods/pod1,task_memcg=/kubepods/pod1/8b,task=node,pid=777,uid=1000",
			"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=docker-9c.scope,mems_allowed=0,oom_memcg=/kubepods/pod2,task_memcg=/kubepods/pod2/9c,task=ruby,pid=888,uid=1000",
		},
		line: "Memory cgroup out of memory: Killed process 777 (node) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, shmem-rss:0kB",
		want: []want{oom("Memory cgroup out of memory", "node", "777", "/kubepods/pod1/8b", ev("memcg", "/kubepods/pod1/8b"))},
	},
	{
		name:   "oom legacy Task in line (3.x/4.x)",
		source: probes.SourceKernel,
		before: []string{
			"Task in /kubepods/burstable/pod0a5e/4f2c killed as a result of limit of /kubepods/burstable/pod0a5e",
			"memory: usage 512000kB, limit 512000kB, failcnt 123",
			"Memory cgroup out of memory: Kill process 1012 (heapster) score 1035 or sacrifice child",
		},
		line: "Killed process 1012 (heapster) total-vm:327128kB, anon-rss:306328kB, file-rss:11132kB",
		want: []want{oom("Out of memory", "heapster", "1012", "/kubepods/burstable/pod0a5e/4f2c",
			ev("memcg", "/kubepods/burstable/pod0a5e/4f2c", "limit_memcg", "/kubepods/burstable/pod0a5e", "total_vm_kb", "327128"))},
	},
	{
		name:   "oom legacy Task in line, cgroupfs docker path",
		source: probes.SourceKernel,
		before: []string{"Task in /docker/9f8e7d killed as a result of limit of /docker/9f8e7d"},
		line:   "Memory cgroup out of memory: Killed process 2020 (python3) total-vm:90000kB, anon-rss:80000kB, file-rss:0kB",
		want:   []want{oom("Memory cgroup out of memory", "python3", "2020", "/docker/9f8e7d", ev("memcg", "/docker/9f8e7d"))},
	},
	{
		name:   "oom legacy Task in, bare Killed line (3.x)",
		source: probes.SourceKernel,
		before: []string{"Task in /kubepods/besteffort/pod77/c1 killed as a result of limit of /kubepods/besteffort/pod77"},
		line:   "Killed process 3030 (ruby) total-vm:1000kB, anon-rss:900kB, file-rss:0kB",
		want:   []want{oom("Out of memory", "ruby", "3030", "/kubepods/besteffort/pod77/c1", nil)},
	},
	{
		name:   "oom without context (NPD vector)",
		source: probes.SourceKernel,
		line:   "Memory cgroup out of memory: Killed process 1012 (heapster) total-vm:327128kB, anon-rss:306328kB, file-rss:11132kB, shmem-rss:12345kB",
		want:   []want{oom("Memory cgroup out of memory", "heapster", "1012", "", ev("pid", "1012", "comm", "heapster"))},
	},
	{
		name:   "oom_kill_allocating_task, comm with parentheses",
		source: probes.SourceKernel,
		line:   "Out of memory (oom_kill_allocating_task): Killed process 31337 ((sd-pam)) total-vm:2048kB, anon-rss:1024kB, file-rss:0kB, shmem-rss:0kB",
		want:   []want{oom("Out of memory (oom_kill_allocating_task)", "(sd-pam)", "31337", "", nil)},
	},
	{name: "oom near miss: Kill process ... sacrifice child", source: probes.SourceKernel, line: "Memory cgroup out of memory: Kill process 1012 (heapster) score 1035 or sacrifice child", nearMissOf: []string{"oom-killing"}},
	{name: "oom near miss: oom_reaper", source: probes.SourceKernel, line: "oom_reaper: reaped process 1012 (heapster), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB", nearMissOf: []string{"oom-killing"}},
	{name: "oom near miss: invoked oom-killer", source: probes.SourceKernel, line: "java invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=936", nearMissOf: []string{"oom-kill-summary"}},
	{name: "oom summary near miss: record split before task_memcg (pr_cont interleaved)", source: probes.SourceKernel,
		line: "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-1a2b.scope,mems_allowed=0", nearMissOf: []string{"oom-kill-summary"}},
	{name: "oom Task in near miss: continuation fragment without the Task in part (pre-5.10 'c' record)", source: probes.SourceKernel,
		line: " killed as a result of limit of /kubepods/burstable/pod0a5e", nearMissOf: []string{"oom-task-in-legacy"}},
	{name: "oom near miss: kmsg-user source never fires kernel rules", source: probes.SourceKmsgUser, line: "Out of memory: Killed process 1 (init) total-vm:1kB, anon-rss:1kB, file-rss:0kB", nearMissOf: []string{"oom-killing"}},

	// Hung tasks, and KernelDeadlock for runtime/kubelet tasks.
	{
		name: "hung docker (NPD vector)", source: probes.SourceKernel,
		line: "INFO: task docker:20744 blocked for more than 120 seconds.",
		want: []want{taskHung("docker", "20744", "120"), deadlock("DockerHung", "docker", "20744", "120")},
	},
	{
		name: "hung dockerd", source: probes.SourceKernel,
		line: "INFO: task dockerd:1200 blocked for more than 240 seconds.",
		want: []want{taskHung("dockerd", "1200", "240"), deadlock("DockerHung", "dockerd", "1200", "240")},
	},
	{
		name: "hung docker without INFO prefix", source: probes.SourceKernel,
		line: "task docker:31 blocked for more than 120 seconds.",
		want: []want{taskHung("docker", "31", "120"), deadlock("DockerHung", "docker", "31", "120")},
	},
	{
		name: "hung containerd", source: probes.SourceKernel,
		line: "INFO: task containerd:812 blocked for more than 120 seconds.",
		want: []want{taskHung("containerd", "812", "120"), deadlock("ContainerdHung", "containerd", "812", "120")},
	},
	{
		name: "hung containerd-shim (comm truncated to 15 bytes)", source: probes.SourceKernel,
		line: "INFO: task containerd-shim:4410 blocked for more than 122 seconds.",
		want: []want{taskHung("containerd-shim", "4410", "122"), deadlock("ContainerdHung", "containerd-shim", "4410", "122")},
	},
	{
		name: "hung containerd, 2025 warning counter suffix", source: probes.SourceKernel,
		line: "INFO: task containerd:815 blocked for more than 245 seconds. [Warning #2]",
		want: []want{taskHung("containerd", "815", "245"), deadlock("ContainerdHung", "containerd", "815", "245")},
	},
	{
		name: "hung kubelet", source: probes.SourceKernel,
		line: "INFO: task kubelet:2310 blocked for more than 120 seconds.",
		want: []want{taskHung("kubelet", "2310", "120"), deadlock("KubeletHung", "kubelet", "2310", "120")},
	},
	{
		name: "hung kubelet 600s", source: probes.SourceKernel,
		line: "INFO: task kubelet:977 blocked for more than 600 seconds.",
		want: []want{taskHung("kubelet", "977", "600"), deadlock("KubeletHung", "kubelet", "977", "600")},
	},
	{
		name: "hung kubelet no prefix", source: probes.SourceKernel,
		line: "task kubelet:1 blocked for more than 120 seconds.",
		want: []want{taskHung("kubelet", "1", "120"), deadlock("KubeletHung", "kubelet", "1", "120")},
	},
	{
		name: "hung runc init (cgroup freeze)", source: probes.SourceKernel,
		line: "INFO: task runc:[2:INIT]:51234 blocked for more than 120 seconds.",
		want: []want{taskHung("runc:[2:INIT]", "51234", "120"), deadlock("RuncHung", "runc:[2:INIT]", "51234", "120")},
	},
	{
		name: "hung runc", source: probes.SourceKernel,
		line: "INFO: task runc:51200 blocked for more than 120 seconds.",
		want: []want{taskHung("runc", "51200", "120"), deadlock("RuncHung", "runc", "51200", "120")},
	},
	{
		name: "hung runc:[1:CHILD]", source: probes.SourceKernel,
		line: "INFO: task runc:[1:CHILD]:51201 blocked for more than 120 seconds.",
		want: []want{taskHung("runc:[1:CHILD]", "51201", "120"), deadlock("RuncHung", "runc:[1:CHILD]", "51201", "120")},
	},
	{
		name: "hung crio", source: probes.SourceKernel,
		line: "INFO: task crio:1500 blocked for more than 120 seconds.",
		want: []want{taskHung("crio", "1500", "120"), deadlock("CrioHung", "crio", "1500", "120")},
	},
	{
		name: "hung conmon", source: probes.SourceKernel,
		line: "INFO: task conmon:7001 blocked for more than 120 seconds.",
		want: []want{taskHung("conmon", "7001", "120"), deadlock("CrioHung", "conmon", "7001", "120")},
	},
	{
		name: "hung conmon-rs (CRI-O's pod monitor)", source: probes.SourceKernel,
		line: "INFO: task conmonrs:8123 blocked for more than 120 seconds.",
		want: []want{taskHung("conmonrs", "8123", "120"), deadlock("CrioHung", "conmonrs", "8123", "120")},
	},
	{
		name: "hung crio 363s", source: probes.SourceKernel,
		line: "INFO: task crio:1501 blocked for more than 363 seconds.",
		want: []want{taskHung("crio", "1501", "363"), deadlock("CrioHung", "crio", "1501", "363")},
	},
	{name: "hung task with space in name (NPD vector)", source: probes.SourceKernel, line: "INFO: task airflow scheduler:1234 blocked for more than 120 seconds.", want: []want{taskHung("airflow scheduler", "1234", "120")}},
	{name: "hung kworker/u16:3 (NPD vector)", source: probes.SourceKernel, line: "INFO: task kworker/u16:3:1234 blocked for more than 122 seconds.", want: []want{taskHung("kworker/u16:3", "1234", "122")}},
	{name: "hung task without INFO (NPD vector)", source: probes.SourceKernel, line: "task khungtest:1 blocked for more than 120 seconds.", want: []want{taskHung("khungtest", "1", "120")}},
	{name: "hung umount.aufs (NPD vector)", source: probes.SourceKernel, line: "INFO: task umount.aufs:21568 blocked for more than 120 seconds.", want: []want{taskHung("umount.aufs", "21568", "120")}},
	{name: "hung task named like a runtime is not the runtime", source: probes.SourceKernel, line: "INFO: task dockerd-helper:12 blocked for more than 120 seconds.", want: []want{taskHung("dockerd-helper", "12", "120")}, nearMissOf: []string{"kernel-deadlock-docker"}},
	{name: "hung stargz snapshotter (comm containerd-star) is not containerd", source: probes.SourceKernel,
		line: "INFO: task containerd-star:3301 blocked for more than 120 seconds.", want: []want{taskHung("containerd-star", "3301", "120")}, nearMissOf: []string{"kernel-deadlock-containerd"}},
	{name: "hung NVIDIA gpu-kubelet-plugin (comm gpu-kubelet-plu) is not kubelet", source: probes.SourceKernel,
		line: "INFO: task gpu-kubelet-plu:5120 blocked for more than 120 seconds.", want: []want{taskHung("gpu-kubelet-plu", "5120", "120")}, nearMissOf: []string{"kernel-deadlock-kubelet"}},
	{name: "hung RunCVM runtime (runcvm-runtime) is not runc", source: probes.SourceKernel,
		line: "INFO: task runcvm-runtime:7310 blocked for more than 120 seconds.", want: []want{taskHung("runcvm-runtime", "7310", "120")}, nearMissOf: []string{"kernel-deadlock-runc"}},
	{name: "hung crictl (the CRI CLI) is not CRI-O", source: probes.SourceKernel,
		line: "INFO: task crictl:9021 blocked for more than 120 seconds.", want: []want{taskHung("crictl", "9021", "120")}, nearMissOf: []string{"kernel-deadlock-crio"}},
	{name: "hung near miss: NPD's test injection from user space (echo … > /dev/kmsg)", source: probes.SourceKmsgUser,
		line: "INFO: task docker:20744 blocked for more than 120 seconds.", nearMissOf: []string{"task-hung", "kernel-deadlock-docker"}},
	{name: "hung near miss: Tainted line", source: probes.SourceKernel, line: "      Tainted: G         C    3.16.0-4-amd64 #1"},
	{name: "hung near miss: disable hint", source: probes.SourceKernel, line: `"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.`},

	// Soft lockups.
	{
		name: "soft lockup with watchdog prefix", source: probes.SourceKernel,
		line: "watchdog: BUG: soft lockup - CPU#3 stuck for 23s! [kworker/3:1:12345]",
		want: []want{{Check: KernelPack, Reason: "SoftLockup", Severity: probes.SeverityWarning,
			Message: "CPU 3 was stuck in the kernel for 23s running kworker/3:1 (pid 12345)", Evidence: ev("cpu", "3", "comm", "kworker/3:1")}},
	},
	{
		name: "soft lockup old format", source: probes.SourceKernel,
		line: "BUG: soft lockup - CPU#0 stuck for 22s! [java:4242]",
		want: []want{{Check: KernelPack, Reason: "SoftLockup", Severity: probes.SeverityWarning,
			Message: "CPU 0 was stuck in the kernel for 22s running java (pid 4242)"}},
		nearMissOf: []string{"kernel-oops"},
	},
	{
		name: "soft lockup NMI watchdog", source: probes.SourceKernel,
		line: "NMI watchdog: BUG: soft lockup - CPU#1 stuck for 67s! [containerd:1200]",
		want: []want{{Check: KernelPack, Reason: "SoftLockup", Severity: probes.SeverityWarning,
			Message: "CPU 1 was stuck in the kernel for 67s running containerd (pid 1200)"}},
	},
	{name: "soft lockup near miss: hard lockup", source: probes.SourceKernel, line: "watchdog: Watchdog detected hard LOCKUP on cpu 2", nearMissOf: []string{"soft-lockup"}},
	{name: "soft lockup near miss: test script writing to /dev/kmsg (signals.md §7.1)", source: probes.SourceKmsgUser,
		line: "kernel: BUG: soft lockup - CPU#0 stuck for 22s! [stress:4242]", nearMissOf: []string{"soft-lockup", "kernel-oops"}},
	{name: "soft lockup near miss: rcu stall", source: probes.SourceKernel, line: "rcu: INFO: rcu_sched self-detected stall on CPU"},

	// Oops / BUG / divide error.
	{name: "oops NULL pointer (NPD vector)", source: probes.SourceKernel, line: "BUG: unable to handle kernel NULL pointer dereference at 0000000000000078", want: []want{oops("BUG: unable to handle kernel NULL pointer dereference at 0000000000000078")}},
	{name: "oops with kernel: prefix (NPD vector)", source: probes.SourceKernel, line: "kernel: BUG: unable to handle kernel NULL pointer dereference at TESTING", want: []want{oops("kernel: BUG: unable to handle kernel NULL pointer dereference at TESTING")}},
	{name: "oops NULL pointer 4.17+", source: probes.SourceKernel, line: "BUG: kernel NULL pointer dereference, address: 0000000000000008", want: []want{oops("BUG: kernel NULL pointer dereference, address: 0000000000000008")}},
	{name: "oops page fault 4.17+", source: probes.SourceKernel, line: "BUG: unable to handle page fault for address: ffffa0d2c0e00000", want: []want{oops("BUG: unable to handle page fault for address: ffffa0d2c0e00000")}},
	{name: "oops divide error (NPD vector)", source: probes.SourceKernel, line: "divide error: 0000 [#1] SMP ", want: []want{oops("divide error: 0000 [#1] SMP ")}},
	{name: "oops general protection fault", source: probes.SourceKernel, line: "general protection fault: 0000 [#1] SMP PTI", want: []want{oops("general protection fault: 0000 [#1] SMP PTI")}},
	{name: "oops general protection fault 5.x", source: probes.SourceKernel, line: "general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP NOPTI", want: []want{oops("general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP NOPTI")}},
	{name: "oops near miss: user-space GPF trap", source: probes.SourceKernel, line: "traps: nginx[1234] general protection fault ip:7f3a1c2b sp:7ffd5e6f error:0 in libc-2.31.so[7f3a1c000000+178000]", nearMissOf: []string{"kernel-oops"}},
	{name: "oops near miss: user-space divide error trap", source: probes.SourceKernel, line: "traps: python3[999] trap divide error ip:55d1c2 sp:7ffc0a error:0 in python3.9[55d1c0000000+2b0000]", nearMissOf: []string{"kernel-oops"}},
	{name: "oops kernel BUG at", source: probes.SourceKernel, line: "kernel BUG at mm/slub.c:296!", want: []want{oops("kernel BUG at mm/slub.c:296!")}},
	{name: "oops Oops line (NPD has no rule; differs on purpose)", source: probes.SourceKernel, line: "Oops: 0000 [#1] SMP ", want: []want{oops("Oops: 0000 [#1] SMP ")}},
	{name: "oops BUG: Bad page state", source: probes.SourceKernel, line: "BUG: Bad page state in process swapper/0  pfn:1a2b3",
		want: []want{oops("BUG: Bad page state in process swapper/0  pfn:1a2b3")}},
	{name: "oops BUG: scheduling while atomic", source: probes.SourceKernel, line: "BUG: scheduling while atomic: kworker/0:1/12345/0x00000002",
		want: []want{oops("BUG: scheduling while atomic: kworker/0:1/12345/0x00000002")}},
	{name: "oops BUG: sleeping function, syslog kernel: prefix", source: probes.SourceKernel, line: "kernel: BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580",
		want: []want{oops("kernel: BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580")}},
	{name: "oops BUG: workqueue lockup, dmesg timestamp", source: probes.SourceKernel, line: "[ 1234.567890] BUG: workqueue lockup - pool cpus=1 node=0 flags=0x0 nice=0 stuck for 33s!",
		want: []want{oops("[ 1234.567890] BUG: workqueue lockup - pool cpus=1 node=0 flags=0x0 nice=0 stuck for 33s!")}},
	{name: "oops near miss: an out-of-tree driver's DEBUG: line", source: probes.SourceKernel, line: "DEBUG: Current Firmware Version - (AR0234_V1.2)", nearMissOf: []string{"kernel-oops"}},
	{name: "oops near miss: BUG line written to /dev/kmsg from user space", source: probes.SourceKmsgUser, line: "BUG: Bad page state in process test  pfn:00001", nearMissOf: []string{"kernel-oops"}},
	{name: "oops near miss: boot line", source: probes.SourceKernel, line: "Kernel command line: BOOT_IMAGE=/vmlinuz-6.1.0 root=UUID=1234 ro quiet"},
	{name: "oops near miss: aufs (NPD vector)", source: probes.SourceKernel, line: "aufs au_opts_verify:1570:docker[0000]: dirperm1 breaks the protection by the permission bits on the lower branch"},

	// unregister_netdevice.
	{name: "unregister lo (NPD vector)", source: probes.SourceKernel, line: "unregister_netdevice: waiting for lo to become free. Usage count = 1",
		want: []want{{Check: KernelPack, Reason: "UnregisterNetDevice", Severity: probes.SeverityWarning, Subject: "lo",
			Message: "the kernel cannot free network device lo (usage count 1); pod network teardown is stuck", Evidence: ev("device", "lo", "usage_count", "1")}}},
	{name: "unregister eth0", source: probes.SourceKernel, line: "unregister_netdevice: waiting for eth0 to become free. Usage count = 2",
		want: []want{{Check: KernelPack, Reason: "UnregisterNetDevice", Severity: probes.SeverityWarning, Subject: "eth0",
			Message: "the kernel cannot free network device eth0 (usage count 2); pod network teardown is stuck"}}},
	{name: "unregister veth negative count", source: probes.SourceKernel, line: "unregister_netdevice: waiting for vethb1a2c3d to become free. Usage count = -1",
		want: []want{{Check: KernelPack, Reason: "UnregisterNetDevice", Severity: probes.SeverityWarning, Subject: "vethb1a2c3d",
			Message: "the kernel cannot free network device vethb1a2c3d (usage count -1); pod network teardown is stuck"}}},
	{name: "unregister near miss: call trace frame of the netns cleanup", source: probes.SourceKernel, line: " unregister_netdevice_many+0x36/0x40", nearMissOf: []string{"unregister-netdevice"}},
	{name: "unregister near miss: promiscuous", source: probes.SourceKernel, line: "device vethb1a2c3d left promiscuous mode"},
	{name: "unregister near miss: bridge port", source: probes.SourceKernel, line: "cni0: port 2(vethb1a2c3d) entered disabled state"},

	// ext4.
	{name: "ext4 error (NPD vector)", source: probes.SourceKernel, line: "EXT4-fs error (device sda1): ext4_find_entry:1455: inode #2",
		want: []want{{Check: KernelPack, Reason: "Ext4Error", Severity: probes.SeverityWarning, Subject: "sda1",
			Message: "ext4 error on sda1: ext4_find_entry:1455: inode #2", Evidence: ev("device", "sda1")}}},
	{name: "ext4 error aborted journal", source: probes.SourceKernel, line: "EXT4-fs error (device dm-17): ext4_journal_check_start:87: comm mosquitto: Detected aborted journal",
		want: []want{{Check: KernelPack, Reason: "Ext4Error", Severity: probes.SeverityWarning, Subject: "dm-17",
			Message: "ext4 error on dm-17: ext4_journal_check_start:87: comm mosquitto: Detected aborted journal"}}},
	{name: "ext4 error deleted inode", source: probes.SourceKernel, line: "EXT4-fs error (device nvme1n1): ext4_lookup:1612: inode #131073: comm kubelet: deleted inode referenced: 132001",
		want: []want{{Check: KernelPack, Reason: "Ext4Error", Severity: probes.SeverityWarning, Subject: "nvme1n1",
			Message: "ext4 error on nvme1n1: ext4_lookup:1612: inode #131073: comm kubelet: deleted inode referenced: 132001"}}},
	{name: "ext4 warning (NPD vector)", source: probes.SourceKernel, line: "EXT4-fs warning (device sda1): ext4_dx_add_entry:2235: Directory index full!",
		want: []want{{Check: KernelPack, Reason: "Ext4Warning", Severity: probes.SeverityWarning, Subject: "sda1",
			Message: "ext4 warning on sda1: ext4_dx_add_entry:2235: Directory index full!"}}},
	{name: "ext4 warning end_bio", source: probes.SourceKernel, line: "EXT4-fs warning (device dm-0): ext4_end_bio:343: I/O error 10 writing to inode 1234 starting block 5678)",
		want: []want{{Check: KernelPack, Reason: "Ext4Warning", Severity: probes.SeverityWarning, Subject: "dm-0",
			Message: "ext4 warning on dm-0: ext4_end_bio:343: I/O error 10 writing to inode 1234 starting block 5678)"}}},
	{name: "ext4 warning MMP", source: probes.SourceKernel, line: "EXT4-fs warning (device sdb1): ext4_multi_mount_protect:326: MMP interval 42 higher than expected, please wait.",
		want: []want{{Check: KernelPack, Reason: "Ext4Warning", Severity: probes.SeverityWarning, Subject: "sdb1",
			Message: "ext4 warning on sdb1: ext4_multi_mount_protect:326: MMP interval 42 higher than expected, please wait."}}},
	{name: "ext4 error __ext4_std_error format (journal aborted)", source: probes.SourceKernel, line: "EXT4-fs error (device sda1) in ext4_reserve_inode_write:5775: Journal has aborted",
		want: []want{{Check: KernelPack, Reason: "Ext4Error", Severity: probes.SeverityWarning, Subject: "sda1",
			Message: "ext4 error on sda1: ext4_reserve_inode_write:5775: Journal has aborted", Evidence: ev("device", "sda1")}}},
	{name: "ext4 near miss: daily reminder of past errors (print_daily_error_info)", source: probes.SourceKernel, line: "EXT4-fs (sda1): error count since last fsck: 12",
		nearMissOf: []string{"ext4-error"}},
	{name: "ext4 near miss: maximal mount count reached", source: probes.SourceKernel, line: "EXT4-fs (sda1): warning: maximal mount count reached, running e2fsck is recommended",
		nearMissOf: []string{"ext4-warning"}},
	{name: "ext4 near miss: mount (NPD vector)", source: probes.SourceKernel, line: "EXT4-fs (nvme1n1): mounted filesystem with ordered data mode. Opts: (null)", nearMissOf: []string{"ext4-error", "ext4-warning", "readonly-remount"}},
	{name: "ext4 near miss: remount errors=remount-ro", source: probes.SourceKernel, line: "EXT4-fs (sda1): re-mounted. Opts: errors=remount-ro"},

	// Read-only remount and XFS shutdown (both ReadonlyFilesystem).
	{name: "remount ro sda1 (NPD vector)", source: probes.SourceKernel, line: "EXT4-fs (sda1): Remounting filesystem read-only",
		want: []want{{Check: KernelPack, Reason: "FilesystemIsReadOnly", Condition: "ReadonlyFilesystem", Severity: probes.SeverityProblem, Subject: "sda1",
			Message: "the kernel remounted sda1 read-only after an error; writes to it fail", Evidence: ev("fs", "EXT4-fs", "device", "sda1"), Clear: rebootClear}}},
	{name: "remount ro nvme", source: probes.SourceKernel, line: "EXT4-fs (nvme0n1p1): Remounting filesystem read-only",
		want: []want{{Check: KernelPack, Reason: "FilesystemIsReadOnly", Condition: "ReadonlyFilesystem", Severity: probes.SeverityProblem, Subject: "nvme0n1p1",
			Message: "the kernel remounted nvme0n1p1 read-only after an error; writes to it fail", Clear: rebootClear}}},
	{name: "remount ro nilfs", source: probes.SourceKernel, line: "NILFS (sdc1): Remounting filesystem read-only",
		want: []want{{Check: KernelPack, Reason: "FilesystemIsReadOnly", Condition: "ReadonlyFilesystem", Severity: probes.SeverityProblem, Subject: "sdc1",
			Message: "the kernel remounted sdc1 read-only after an error; writes to it fail", Clear: rebootClear}}},
	{name: "remount ro bare text", source: probes.SourceKernel, line: "Remounting filesystem read-only",
		want: []want{{Check: KernelPack, Reason: "FilesystemIsReadOnly", Condition: "ReadonlyFilesystem", Severity: probes.SeverityProblem,
			Message: "the kernel remounted a filesystem read-only after an error; writes to it fail", Clear: rebootClear}}},
	{name: "remount near miss: a filesystem mounted read-only on purpose", source: probes.SourceKernel,
		line: "EXT4-fs (sdb1): mounted filesystem 5b3c1a2e-7f4d-4c1b-9a8e-0d2f6c7b8a91 ro with ordered data mode. Quota mode: none.", nearMissOf: []string{"readonly-remount"}},
	{name: "remount near miss: aborting journal", source: probes.SourceKernel, line: "Aborting journal on device sdb7-8."},
	{name: "xfs shutdown I/O error (NPD vector)", source: probes.SourceKernel, line: "XFS (dm-4): I/O Error Detected. Shutting down filesystem",
		want: []want{{Check: KernelPack, Reason: "XfsShutdown", Condition: "ReadonlyFilesystem", Severity: probes.SeverityProblem, Subject: "dm-4",
			Message: `XFS shut down dm-4 after "I/O Error Detected."; all I/O to it fails`, Clear: rebootClear}}},
	{name: "xfs shutdown corruption (NPD vector)", source: probes.SourceKernel, line: "XFS (nvme0n1p1): Corruption of in-memory data detected.  Shutting down filesystem",
		want: []want{{Check: KernelPack, Reason: "XfsShutdown", Condition: "ReadonlyFilesystem", Severity: probes.SeverityProblem, Subject: "nvme0n1p1",
			Message: `XFS shut down nvme0n1p1 after "Corruption of in-memory data detected."; all I/O to it fails`, Clear: rebootClear}}},
	{name: "xfs shutdown 5.x format", source: probes.SourceKernel, line: "XFS (sda1): Log I/O Error (0x2) detected at xlog_ioend_work+0x7b/0x90 [xfs] (fs/xfs/xfs_log.c:1378).  Shutting down filesystem.",
		want: []want{{Check: KernelPack, Reason: "XfsShutdown", Condition: "ReadonlyFilesystem", Severity: probes.SeverityProblem, Subject: "sda1",
			Message: `XFS shut down sda1 after "Log I/O Error (0x2) detected at xlog_ioend_work+0x7b/0x90 [xfs] (fs/xfs/xfs_log.c:1378)."; all I/O to it fails`, Clear: rebootClear}}},
	{name: "xfs near miss: umount hint (NPD vector)", source: probes.SourceKernel, line: "XFS (dm-4): Please umount the filesystem and rectify the problem(s)", nearMissOf: []string{"xfs-shutdown"}},
	{name: "xfs near miss: clean unmount", source: probes.SourceKernel, line: "XFS (sda1): Unmounting Filesystem 1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d", nearMissOf: []string{"xfs-shutdown"}},
	{name: "xfs near miss: corruption detected (NPD vector)", source: probes.SourceKernel, line: "XFS (dm-4): Corruption detected. Unmount and run xfs_repair"},

	// Block I/O errors.
	{name: "io buffer error (NPD vector)", source: probes.SourceKernel, line: "Buffer I/O error on dev sdb1, logical block 0, async page read", want: []want{ioError("sdb1")}},
	{name: "io buffer error on device", source: probes.SourceKernel, line: "Buffer I/O error on device dm-3, logical block 1234", want: []want{ioError("dm-3")}},
	{name: "io blk_update_request (4.x)", source: probes.SourceKernel, line: "blk_update_request: I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0", want: []want{ioError("sdb")}},
	{name: "io 5.x+ format", source: probes.SourceKernel, line: "I/O error, dev nvme0n1, sector 123456 op 0x1:(WRITE) flags 0x8800 phys_seg 1 prio class 2", want: []want{ioError("nvme0n1")}},
	{name: "io print_req_error", source: probes.SourceKernel, line: "print_req_error: I/O error, dev xvda, sector 9876", want: []want{ioError("xvda")}},
	{name: "io near miss: operation not supported", source: probes.SourceKernel, line: "blk_update_request: operation not supported error, dev loop0, sector 0 op 0x9:(WRITE_ZEROES) flags 0x0 phys_seg 0 prio class 0", nearMissOf: []string{"io-error"}},
	{name: "io near miss: VM's empty floppy drive probed (blk_update_request)", source: probes.SourceKernel, line: "blk_update_request: I/O error, dev fd0, sector 0", nearMissOf: []string{"io-error"}},
	{name: "io near miss: VM's empty floppy drive probed (buffer)", source: probes.SourceKernel, line: "Buffer I/O error on dev fd0, logical block 0, async page read", nearMissOf: []string{"io-error"}},
	{name: "io near miss: VM's empty CD-ROM drive probed", source: probes.SourceKernel, line: "I/O error, dev sr0, sector 0 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0", nearMissOf: []string{"io-error"}},
	{name: "io near miss: attached disk", source: probes.SourceKernel, line: "sd 2:0:0:0: [sdb] Attached SCSI disk"},

	// NFS.
	{name: "nfs still trying", source: probes.SourceKernel, line: "nfs: server 10.0.0.5 not responding, still trying",
		want: []want{{Check: KernelPack, Reason: "NFSServerNotResponding", Condition: "NFSServerUnreachable", Severity: probes.SeverityProblem, Subject: "10.0.0.5",
			Message: "nfs server 10.0.0.5 is not responding (still trying); I/O on its mounts hangs or fails", Evidence: ev("program", "nfs", "server", "10.0.0.5"), Clear: rebootClear}}},
	{name: "nfs timed out", source: probes.SourceKernel, line: "nfs: server nfs.example.com not responding, timed out",
		want: []want{{Check: KernelPack, Reason: "NFSServerNotResponding", Condition: "NFSServerUnreachable", Severity: probes.SeverityProblem, Subject: "nfs.example.com",
			Message: "nfs server nfs.example.com is not responding (timed out); I/O on its mounts hangs or fails", Clear: rebootClear}}},
	{name: "nfs lockd", source: probes.SourceKernel, line: "lockd: server 10.0.0.5 not responding, still trying",
		want: []want{{Check: KernelPack, Reason: "NFSServerNotResponding", Condition: "NFSServerUnreachable", Severity: probes.SeverityProblem, Subject: "10.0.0.5",
			Message: "lockd server 10.0.0.5 is not responding (still trying); I/O on its mounts hangs or fails", Clear: rebootClear}}},
	{name: "nfs OK recovers", source: probes.SourceKernel, line: "nfs: server 10.0.0.5 OK",
		want: []want{{Check: KernelPack, Reason: "NFSServerNotResponding", Condition: "NFSServerUnreachable", Severity: probes.SeverityProblem, Subject: "10.0.0.5",
			Message: "recovered: nfs: server 10.0.0.5 OK", Clear: probes.ClearPolicy{Mode: probes.ClearOnReboot}, Recovered: true}}},
	{name: "nfs near miss: test script writing to /dev/kmsg", source: probes.SourceKmsgUser, line: "nfs: server 10.0.0.5 not responding, still trying", nearMissOf: []string{"nfs-server-not-responding"}},
	{name: "nfs near miss: id resolver", source: probes.SourceKernel, line: "NFS: Registering the id_resolver key type"},

	// Conntrack table full.
	{name: "conntrack nf", source: probes.SourceKernel, line: "nf_conntrack: table full, dropping packet", want: conntrackFull("nf", "")},
	{name: "conntrack doubled prefix (CentOS 8)", source: probes.SourceKernel, line: "nf_conntrack: nf_conntrack: table full, dropping packet", want: conntrackFull("nf", "")},
	{name: "conntrack ip_ (2.6)", source: probes.SourceKernel, line: "ip_conntrack: table full, dropping packet.", want: conntrackFull("ip", "")},
	{name: "conntrack in netns (6.18+)", source: probes.SourceKernel, line: "nf_conntrack: table full in netns 4026532481, dropping packet", want: conntrackFull("nf", "4026532481")},
	{name: "conntrack near miss: expectation table", source: probes.SourceKernel, line: "nf_conntrack: expectation table full", nearMissOf: []string{"conntrack-table-full", "conntrack-table-full-event"}},
	{name: "conntrack near miss: module load", source: probes.SourceKernel, line: "nf_conntrack version 0.5.0 (65536 buckets, 262144 max)", nearMissOf: []string{"conntrack-table-full", "conntrack-table-full-event"}},

	// SLUB allocation failures: the cache line after the header.
	{name: "slub old gfp format with memcg cache", source: probes.SourceKernel,
		before: []string{"SLUB: Unable to allocate memory on node -1 (gfp=0x8020)"},
		line:   "  cache: ip6_dst_cache(0:18479a49f7), object size: 448, buffer size: 448, default order: 2, min order: 0",
		want:   []want{kmem("ip6_dst_cache(0:18479a49f7)", "-1", "0x8020")}},
	{name: "slub new gfp format", source: probes.SourceKernel,
		before: []string{"SLUB: Unable to allocate memory on node -1, gfp=0x20(GFP_ATOMIC)"},
		line:   "  cache: kmalloc-256, object size: 256, buffer size: 256, default order: 1, min order: 0",
		want:   []want{kmem("kmalloc-256", "-1", "0x20")}},
	{name: "slub node 0", source: probes.SourceKernel,
		before: []string{"SLUB: Unable to allocate memory on node 0 (gfp=0x2088020)"},
		line:   "  cache: dentry(1234:b1e2c3), object size: 192, buffer size: 192, default order: 0, min order: 0",
		want:   []want{kmem("dentry(1234:b1e2c3)", "0", "0x2088020")}},
	{name: "slub 6.12+ header names the CPU", source: probes.SourceKernel,
		before: []string{"SLUB: Unable to allocate memory on CPU 3 (of node 0) on node -1, gfp=0x820(GFP_ATOMIC)"},
		line:   "  cache: skbuff_head_cache, object size: 232, buffer size: 256, default order: 2, min order: 0",
		want:   []want{kmem("skbuff_head_cache", "-1", "0x820")}},
	{name: "slub near miss: page allocator failure", source: probes.SourceKernel,
		line: "kworker/u8:2: page allocation failure: order:2, mode:0x40a20(GFP_ATOMIC|__GFP_COMP), nodemask=(null),cpuset=/,mems_allowed=0", nearMissOf: []string{"slub-alloc-failure"}},
	{name: "slub near miss: cache line without header", source: probes.SourceKernel, line: "  cache: kmalloc-256, object size: 256, buffer size: 256, default order: 1, min order: 0", nearMissOf: []string{"kmem-allocation-failed"}},
	{name: "slub near miss: boot banner", source: probes.SourceKernel, line: "SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=2, Nodes=1"},
}
