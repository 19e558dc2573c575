package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/probes"
)

// richReport has every part of the table: findings of both severities on a
// condition and as events, a storm of one event, an info finding, Unknown
// conditions sharing a message, and log sources in every state.
func richReport() agent.Report {
	oom := func(i int) probes.Finding {
		return probes.Finding{Check: "kernel-log", Reason: "OOMKilling", Severity: probes.SeverityWarning,
			Message: "the kernel OOM killer killed java (pid " + strconv.Itoa(1000+i) + ") in memory cgroup /kubepods/burstable/pod" + strconv.Itoa(i),
			Remedy:  "raise that container's memory limit (kubectl set resources … --limits=memory=…)", Subject: "pod" + strconv.Itoa(i)}
	}
	findings := []probes.Finding{
		{Check: "container-runtime", Condition: "ContainerRuntimeUnhealthy", Reason: "RuntimeUnreachable", Severity: probes.SeverityProblem,
			Message: "Container runtime at /run/containerd/containerd.sock does not answer: connection refused",
			Remedy:  "systemctl status containerd; journalctl -u containerd -n 200 --no-pager; systemctl restart containerd"},
		{Check: "kubelet-log", Condition: "KubeletUnhealthy", Reason: "PLEGUnhealthy", Severity: probes.SeverityProblem,
			Message:  "PLEG is not healthy: pleg was last seen active 3m0s ago; threshold is 3m0s",
			Remedy:   "the runtime is too slow to list containers: check containerd (crictl ps takes how long?) and disk I/O",
			Evidence: map[string]string{"occurrences": "12"}},
		{Check: "sandbox-image", Reason: "SandboxImagePinned", Severity: probes.SeverityInfo, Message: "Pinned registry.k8s.io/pause:3.10.", Remedy: "Nothing to do."},
	}
	for i := range 7 {
		findings = append(findings, oom(i))
	}
	findings = append(findings, probes.Finding{Check: "kubelet-log", Reason: "ImagePullRateLimited", Severity: probes.SeverityWarning,
		Message: "Docker Hub refused a pull of docker.io/library/nginx:1.27: toomanyrequests", Remedy: "use a registry mirror or authenticate pulls"})
	first := time.Date(2026, 11, 22, 19, 0, 0, 0, time.UTC)
	return agent.Report{
		Node:     "node-a",
		Findings: findings,
		Conditions: []agent.ConditionStatus{
			{Type: "ContainerRuntimeUnhealthy", Status: "True", Reason: "RuntimeUnreachable"},
			{Type: "KernelDeadlock", Status: "Unknown", Reason: agent.ReasonLogsNotRead, Message: "no kernel log is being read: kmsg: open /dev/kmsg: permission denied; journal: does not read it"},
			{Type: "KubeletUnhealthy", Status: "True", Reason: "PLEGUnhealthy"},
			{Type: "NFSServerUnreachable", Status: "Unknown", Reason: agent.ReasonLogsNotRead, Message: "no kernel log is being read: kmsg: open /dev/kmsg: permission denied; journal: does not read it"},
			{Type: "ReadonlyFilesystem", Status: "False", Reason: agent.ReasonNoProblem, Message: "No problem found by mounts."},
		},
		Sources: []agent.SourceStatus{
			{Name: "kmsg", State: agent.SourceFailed, Error: "open /dev/kmsg: permission denied"},
			{Name: "journal", State: agent.SourceRead, Sources: []probes.Source{probes.SourceKubelet, probes.SourceContainerd, probes.SourceSystemd},
				Lines: 1234, FirstLine: first, LastLine: first.Add(time.Hour),
				Warnings: []string{"skipping unreadable journal files: dir=/var/log/journal, files=user-1000.journal: not a journal file (bad signature)"}},
			{Name: "files", State: agent.SourceRead},
			{Name: "extra", State: agent.SourceDisabled},
			{Name: "more", State: agent.SourceDisabled},
		},
	}
}

func TestWriteTableGolden(t *testing.T) {
	var b strings.Builder
	writeTable(&b, richReport(), tableWidth)
	checkGolden(t, "table-rich.golden.txt", b.String())
	checkWidth(t, b.String())

	b.Reset()
	writeTable(&b, richReport(), minTableWidth)
	checkGolden(t, "table-rich-narrow.golden.txt", b.String())
	for i, line := range strings.Split(b.String(), "\n") {
		if n := len([]rune(line)); n > minTableWidth {
			t.Errorf("narrow line %d is %d columns wide: %s", i+1, n, line)
		}
	}
}

func TestTerminalWidth(t *testing.T) {
	for columns, want := range map[string]int{"": tableWidth, "abc": tableWidth, "0": tableWidth, "80": 80, "200": tableWidth, "20": minTableWidth} {
		if got := terminalWidth(columns); got != want {
			t.Errorf("terminalWidth(%q) = %d, want %d", columns, got, want)
		}
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		name        string
		text        string
		first, rest int
		want        []string
	}{
		{name: "fits", text: "a b c", first: 20, rest: 20, want: []string{"a b c"}},
		{name: "breaks at spaces", text: "aaaa bbbb cccc dddd eeee ffff", first: 20, rest: 20, want: []string{"aaaa bbbb cccc dddd", "eeee ffff"}},
		{name: "first line narrower", text: "aaaa bbbb cccc dddd eeee ffff gggg", first: 20, rest: 30,
			want: []string{"aaaa bbbb cccc dddd", "eeee ffff gggg"}},
		{name: "long word split", text: "/var/lib/kubelet/pki/kubelet-client-current.pem ok", first: 20, rest: 20,
			want: []string{"/var/lib/kubelet/pki", "/kubelet-client-curr", "ent.pem ok"}},
		{name: "empty", text: "", first: 20, rest: 20, want: []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, wrap(tc.text, tc.first, tc.rest)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
