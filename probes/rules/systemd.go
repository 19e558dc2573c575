package rules

import (
	"time"

	"github.com/nodetriage/nodetriage/probes"
)

// systemdRules is the systemd-log pack. It reads systemd's own unit messages
// (SYSLOG_IDENTIFIER=systemd) and reports restart loops under the condition
// KubeletUnhealthy: KubeletRestartLoop and ContainerdRestartLoop, when the
// unit restarted at least restartLoopCount times within restartLoopWindow
// (NPD's log-counter uses --count=5 --lookback=20m, systemd-monitor-counter.json).
// The condition clears after one window without restarts.
//
// Two kinds of lines are counted separately (each restart prints both, so
// counting them together would double):
//   - systemd's restart scheduling (src/core/service.c): "kubelet.service:
//     Scheduled restart job, restart counter is at 7." (systemd ≥ 236),
//     "kubelet.service: Service hold-off time over, scheduling restart."
//     (229–235) and "kubelet.service holdoff time over, scheduling restart."
//     (≤ 228). These catch crash loops.
//   - start lines, as NPD counts them: kubelet "Started Kubernetes kubelet.",
//     "Started kubelet.service.", "Started kubelet.service - <description>."
//     (systemd ≥ 252 prints unit and description), "Started kubelet: The
//     Kubernetes Node Agent."; containerd "Starting containerd container
//     runtime...", "Starting containerd.service - containerd container
//     runtime...". These also catch restarts by a supervisor or config
//     management that systemd does not schedule.
func systemdRules() []Rule {
	return []Rule{
		restartLoopRule("kubelet-restart-scheduled", "kubelet", "KubeletRestartLoop",
			`(?P<unit>kubelet\.service):? (?:Scheduled restart job, restart counter is at (?P<restart_counter>\d+)|(?:Service )?hold-?off time over, scheduling restart)`),
		restartLoopRule("kubelet-started", "kubelet", "KubeletRestartLoop",
			`Started (?:Kubernetes [Kk]ubelet|kubelet: The Kubernetes Node Agent|kubelet\.service(?: - [^\n]*)?)\.`),
		restartLoopRule("containerd-restart-scheduled", "containerd", "ContainerdRestartLoop",
			`(?P<unit>containerd\.service):? (?:Scheduled restart job, restart counter is at (?P<restart_counter>\d+)|(?:Service )?hold-?off time over, scheduling restart)`),
		restartLoopRule("containerd-starting", "containerd", "ContainerdRestartLoop",
			`Starting (?:containerd container runtime|containerd\.service(?: - [^\n]*)?)\.\.\.`),
	}
}

const (
	restartLoopCount  = 5
	restartLoopWindow = 20 * time.Minute
)

func restartLoopRule(name, unit, reason, pattern string) Rule {
	remedy := map[string]string{
		"kubelet": `see why it exits: journalctl -u kubelet -n 200 --no-pager (bad config or flags, expired certificates, swap on, ` +
			`cgroup driver different from the runtime's); fix the cause, then systemctl reset-failed kubelet && systemctl restart kubelet`,
		"containerd": `see why it exits: journalctl -u containerd -n 200 --no-pager (bad /etc/containerd/config.toml, full disk under ` +
			`/var/lib/containerd, plugin errors); fix the cause, then systemctl reset-failed containerd && systemctl restart containerd`,
	}[unit]
	return Rule{
		Name:           name,
		Sources:        sources(probes.SourceSystemd),
		Pattern:        pattern,
		Kind:           KindPermanent,
		Condition:      "KubeletUnhealthy",
		Reason:         reason,
		Severity:       probes.SeverityProblem,
		Summary:        unit + ".service restarted at least 5 times within 20m",
		Message:        unit + `.service restarted at least 5 times within 20m: it keeps failing`,
		Remedy:         remedy,
		Subject:        unit + ".service",
		MinOccurrences: restartLoopCount,
		Window:         D(restartLoopWindow),
		Clear:          Clear{Quiet: D(restartLoopWindow)},
	}
}
