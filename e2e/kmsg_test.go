package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// spoofedHungTask is the kernel's hung-task text for containerd, which a
// kernel record would turn into KernelDeadlock/ContainerdHung.
const spoofedHungTask = "INFO: task containerd:1234 blocked for more than 120 seconds."

// hungTaskReasons are what the text would be reported as if the kernel had
// written it. The fixture has no container runtime, so the CRI checks'
// findings and Events are there too and are not the test's business.
var hungTaskReasons = map[string]bool{"TaskHung": true, "ContainerdHung": true}

// spoofSettle is how long the test watches for a KernelDeadlock that must
// not come after the agent has read the spoofed line: the line is matched
// within milliseconds of being read and the reporter writes every 1 s, so
// a spoof that got through would show well within it.
const spoofSettle = 5 * time.Second

// TestKmsgUserWriteCannotSpoofKernelDeadlock runs the binary on the real
// kernel log and writes the hung-task text to /dev/kmsg from user space:
// the agent reads and counts the line, but it carries facility user, so no
// KernelDeadlock may appear. The agent's host root is a fixture whose only
// link to the host is dev/kmsg, a device node for the kernel log (see
// mknodKmsg), so it reads no other host file.
func TestKmsgUserWriteCannotSpoofKernelDeadlock(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Shared(t)
	const node = "e2e-kmsg"
	cluster.CreateNode(t, node)
	root := newHostRoot(t)
	root.mknodKmsg()
	b := startBinary(t, binaryArgs{
		kubeconfig: cluster.KubeconfigPath, node: node, hostRoot: root.dir,
		// Start at the end of the ring buffer: what the host's kernel logged
		// before the test is none of its business.
		config: agentConfig(t, nil, "sources:\n  kmsg:\n    settings:\n      lookback: 0s\n"),
	})
	b.waitReady()
	// The kernel-log condition is published, so the kmsg source runs.
	waitNode(t, cluster.Client, node, "KernelDeadlock False", hasCondition(condKernelDeadlock, corev1.ConditionFalse, reasonNoProblem))
	before := kmsgLinesRead(t, b)

	record := writeKmsgAndReadBack(t, spoofedHungTask)
	if facility := record.priority >> 3; facility != 1 {
		t.Fatalf("the kernel stored the user-space write with facility %d (priority %d), want 1 (user)", facility, record.priority)
	}
	waitFor(t, "the agent reads the written line", apiDeadline, func() error {
		if n := kmsgLinesRead(t, b); n <= before {
			return fmt.Errorf("nodetriage_log_lines_total{source=kmsg} = %v, was %v before the write", n, before)
		}
		return nil
	})

	end := time.Now().Add(spoofSettle)
	for time.Now().Before(end) {
		node := waitNode(t, cluster.Client, node, "readable", func(*corev1.Node) error { return nil })
		if c := findCondition(node, condKernelDeadlock); c == nil || c.Status != corev1.ConditionFalse {
			t.Fatalf("KernelDeadlock after a user-space write: %+v", c)
		}
		if spoofed := spoofedFindings(t, b); len(spoofed) > 0 {
			t.Fatalf("the user-space write produced findings: %v", spoofed)
		}
		time.Sleep(pollInterval)
	}
	m, err := b.metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, reason := range m.labelValues("nodetriage_findings_total", "reason") {
		if hungTaskReasons[reason] {
			t.Errorf("nodetriage_findings_total counts %s after a user-space write", reason)
		}
	}
	events, err := nodeEvents(cluster.Client, node)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if hungTaskReasons[e.Reason] {
			t.Errorf("Event after a user-space write: %s %s: %s", e.Reason, e.Action, e.Note)
		}
	}

	// Control: the same record is a kernel fault when the kernel writes it
	// (facility 0), so it is the facility, not the text, that stopped it.
	for _, tt := range []struct {
		name     string
		priority int
		want     string
	}{
		{name: "as written (user)", priority: record.priority, want: "False/" + reasonNoProblem},
		{name: "from the kernel", priority: 3, want: "True/ContainerdHung"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dump := filepath.Join(t.TempDir(), "kmsg.txt")
			line := fmt.Sprintf("%d,%d,%d,-;%s\n", tt.priority, record.seq, record.usec, record.message)
			if err := os.WriteFile(dump, []byte(line), 0o644); err != nil {
				t.Fatal(err)
			}
			r := checkKmsgDump(t, dump)
			if err := wantStatuses(r, map[string]string{condKernelDeadlock: tt.want}); err != nil {
				t.Errorf("check --kmsg-file with %q: %v", strings.TrimSpace(line), err)
			}
		})
	}
}

func kmsgLinesRead(t *testing.T, b *runningBinary) float64 {
	t.Helper()
	m, err := b.metrics()
	if err != nil {
		t.Fatal(err)
	}
	v, _ := m.value("nodetriage_log_lines_total", "source", "kmsg")
	return v
}

// spoofedFindings lists the agent's current findings about hung tasks, from
// /debug/findings.
func spoofedFindings(t *testing.T, b *runningBinary) []string {
	t.Helper()
	body, err := b.get("/debug/findings")
	if err != nil {
		t.Fatal(err)
	}
	var r agent.Report
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("/debug/findings: %v\n%s", err, body)
	}
	var out []string
	for _, f := range r.Findings {
		if f.Condition == condKernelDeadlock || hungTaskReasons[f.Reason] {
			out = append(out, f.Reason+": "+f.Message)
		}
	}
	return out
}

// kmsgRecord is one /dev/kmsg record header and text.
type kmsgRecord struct {
	priority int
	seq      uint64
	usec     uint64
	message  string
}

// writeKmsgAndReadBack writes text to the real /dev/kmsg and reads the
// record the kernel made of it from a reader opened at the end before the
// write.
func writeKmsgAndReadBack(t *testing.T, text string) kmsgRecord {
	t.Helper()
	// Raw non-blocking reads: an *os.File would park a read on the
	// runtime poller instead of returning EAGAIN.
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/kmsg for reading (needs root): %v", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		t.Fatalf("seek /dev/kmsg: %v", err)
	}
	w, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open /dev/kmsg for writing (needs root): %v", err)
	}
	_, err = w.WriteString(text + "\n")
	w.Close()
	if err != nil {
		t.Fatalf("write /dev/kmsg: %v", err)
	}
	buf := make([]byte, 8192)
	var found kmsgRecord
	waitFor(t, "the written record in /dev/kmsg", apiDeadline, func() error {
		for {
			n, err := unix.Read(fd, buf)
			if errors.Is(err, unix.EAGAIN) {
				return errors.New("not read back yet")
			}
			if errors.Is(err, unix.EPIPE) {
				continue // overrun by other writers: the reader moved on
			}
			if err != nil {
				return err
			}
			rec, err := parseKmsgRecord(buf[:n])
			if err != nil {
				return err
			}
			if rec.message == text {
				found = rec
				return nil
			}
		}
	})
	return found
}

// parseKmsgRecord parses "prio,seq,usec,flag[,…];text\n[ KEY=value\n…]".
func parseKmsgRecord(b []byte) (kmsgRecord, error) {
	header, rest, ok := bytes.Cut(b, []byte(";"))
	if !ok {
		return kmsgRecord{}, fmt.Errorf("kmsg record without ';': %q", b)
	}
	fields := strings.Split(string(header), ",")
	if len(fields) < 4 {
		return kmsgRecord{}, fmt.Errorf("kmsg header %q has fewer than 4 fields", header)
	}
	prio, err1 := strconv.Atoi(fields[0])
	seq, err2 := strconv.ParseUint(fields[1], 10, 64)
	usec, err3 := strconv.ParseUint(fields[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return kmsgRecord{}, fmt.Errorf("kmsg header %q: %w", header, err)
	}
	text, _, _ := bytes.Cut(rest, []byte("\n"))
	return kmsgRecord{priority: prio, seq: seq, usec: usec, message: string(text)}, nil
}

// checkKmsgDump runs `nodetriage check --kmsg-file dump` on an empty
// fixture root and returns its report.
func checkKmsgDump(t *testing.T, dump string) agent.Report {
	t.Helper()
	root := newHostRoot(t)
	cmd := exec.Command(nodetriageBinary(t), "check", "--host-root", root.dir, "--config", agentConfig(t, nil, ""),
		"--checks", "kubelet-cert", "--kmsg-file", dump, "--output", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("nodetriage check: %v", err)
	}
	var r agent.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("nodetriage check printed no report: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return r
}
