package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/probes"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// checkRun is one `nodetriage check` run.
type checkRun struct {
	exitCode int
	report   agent.Report
	stdout   []byte
	stderr   string
}

// runCheck runs the built binary's check command on a fixture host root
// (only the boot ID in it) with the kernel log dump testdata/<kmsgFile> and
// a journal directory made from the testdata/<journalExports> by
// systemd-journal-remote, its newest entry a minute old. Only the
// kubelet-cert check runs (not applicable here): the point is the log side,
// and the other checks would look at the fixture's missing runtime socket.
func runCheck(t *testing.T, kmsgFile string, journalExports ...string) checkRun {
	t.Helper()
	root := newHostRoot(t)
	journalDir := t.TempDir()
	writeJournal(t, journalDir, time.Now().Add(-time.Minute), journalExports...)
	return runCheckCommand(t, "e2e-check",
		"--host-root", root.dir,
		"--config", agentConfig(t, nil, ""),
		"--checks", "kubelet-cert",
		"--kmsg-file", filepath.Join("testdata", kmsgFile),
		"--journal-dir", journalDir,
		"--output", "json")
}

// runCheckCommand runs `nodetriage check args...` (which must include
// --output json) as node, and decodes its report.
func runCheckCommand(t *testing.T, node string, args ...string) checkRun {
	t.Helper()
	cmd := exec.Command(nodetriageBinary(t), append([]string{"check"}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_NAME="+node)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	run := checkRun{}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		run.exitCode = exit.ExitCode()
	case err != nil:
		t.Fatalf("nodetriage check: %v", err)
	}
	run.stdout, run.stderr = stdout.Bytes(), stderr.String()
	if err := json.Unmarshal(run.stdout, &run.report); err != nil {
		t.Fatalf("nodetriage check --output json (exit %d) printed no report: %v\nstdout:\n%s\nstderr:\n%s", run.exitCode, err, run.stdout, run.stderr)
	}
	return run
}

// goldenFinding is the part of a finding that does not depend on when the
// test runs (times, journal cursors and the fixture's paths are left out).
type goldenFinding struct {
	Check     string          `json:"check"`
	Condition string          `json:"condition,omitempty"`
	Reason    string          `json:"reason"`
	Severity  probes.Severity `json:"severity"`
	Subject   string          `json:"subject,omitempty"`
	Message   string          `json:"message"`
	Remedy    string          `json:"remedy"`
}

type goldenReport struct {
	Node       string                  `json:"node"`
	Findings   []goldenFinding         `json:"findings"`
	Conditions []agent.ConditionStatus `json:"conditions"`
}

func toGolden(r agent.Report) goldenReport {
	g := goldenReport{Node: r.Node, Conditions: r.Conditions, Findings: []goldenFinding{}}
	for _, f := range r.Findings {
		g.Findings = append(g.Findings, goldenFinding{
			Check: f.Check, Condition: f.Condition, Reason: f.Reason, Severity: f.Severity,
			Subject: f.Subject, Message: f.Message, Remedy: f.Remedy,
		})
	}
	return g
}

func compareGolden(t *testing.T, name string, got goldenReport) {
	t.Helper()
	path := filepath.Join("testdata", name)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // remedies hold <node> placeholders and shell
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(data)); diff != "" {
		t.Errorf("report differs from %s (-want +got):\n%s", path, diff)
	}
}

// TestCheckCommand runs `nodetriage check --kmsg-file F --journal-dir D
// --output json` end to end: a kernel log with an OOM kill (and its
// oom-kill summary), an ext4 read-only remount and a hung containerd, and a
// journal with PLEG trouble, a Docker Hub rate limit, a kubelet restart
// loop, and containerd failing to pull the sandbox image and runc failing
// to create a container cgroup, report those findings and conditions and
// exit 1; clean logs (which include a user-space write of the hung-task
// text to /dev/kmsg) exit 0.
func TestCheckCommand(t *testing.T) {
	t.Parallel()
	t.Run("faults", func(t *testing.T) {
		t.Parallel()
		run := runCheck(t, "kmsg-faults.txt", "journal-faults.export", "containerd-faults.export")
		if run.exitCode != 1 {
			t.Errorf("exit code %d, want 1 (problems found); stderr:\n%s", run.exitCode, run.stderr)
		}
		type key struct{ Condition, Reason string }
		found := map[key]probes.Finding{}
		for _, f := range run.report.Findings {
			found[key{f.Condition, f.Reason}] = f
		}
		for _, want := range []key{
			{"", "OOMKilling"}, {"", "Ext4Error"}, {"ReadonlyFilesystem", "FilesystemIsReadOnly"},
			{"", "TaskHung"}, {"KernelDeadlock", "ContainerdHung"},
			{"KubeletUnhealthy", "PLEGUnhealthy"}, {"", "ImagePullRateLimited"}, {"KubeletUnhealthy", "KubeletRestartLoop"},
			{condSandboxImageMissing, reasonSandboxPullFailing}, {"", reasonOCICreateFailed},
			{condMemoryCgroupLeak, reasonCgroupCreate}, {"", "CgroupCreateFailed"},
		} {
			if _, ok := found[want]; !ok {
				t.Errorf("no finding %s/%s", want.Condition, want.Reason)
			}
		}
		// The containerd entries reach the containerd rule pack through the
		// journal (SYSLOG_IDENTIFIER=containerd): nothing else in the
		// fixtures says these things.
		for _, want := range []key{
			{condSandboxImageMissing, reasonSandboxPullFailing}, {"", reasonOCICreateFailed},
			{condMemoryCgroupLeak, reasonCgroupCreate}, {"", "CgroupCreateFailed"},
		} {
			if f, ok := found[want]; ok && f.Check != "containerd-log" {
				t.Errorf("finding %s/%s from check %q, want containerd-log", want.Condition, want.Reason, f.Check)
			}
		}
		if got := found[key{condSandboxImageMissing, reasonSandboxPullFailing}].Subject; got != pauseImage {
			t.Errorf("SandboxImagePullFailing subject = %q, want %q", got, pauseImage)
		}
		// The OOM kill names the victim's memory cgroup from the oom-kill
		// summary line that came before it: that is how the pod is found.
		const memcg = "/kubepods/burstable/pod5b1e6f9a-2c3d-4e5f-8a9b-0c1d2e3f4a5b/3f2a9c1b7d4e6f8a0b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a"
		if got := found[key{"", "OOMKilling"}].Evidence["memcg"]; got != memcg {
			t.Errorf("OOMKilling evidence memcg = %q, want %q", got, memcg)
		}
		status := map[string]string{}
		for _, c := range run.report.Conditions {
			status[c.Type] = c.Status + "/" + c.Reason
		}
		for typ, want := range map[string]string{
			"KernelDeadlock":        "True/ContainerdHung",
			"ReadonlyFilesystem":    "True/FilesystemIsReadOnly",
			"KubeletUnhealthy":      "True/PLEGUnhealthy", // the most recent; the restart loop is listed in its message
			"ConntrackProblem":      "False/" + reasonNoProblem,
			condSandboxImageMissing: "True/" + reasonSandboxPullFailing,
			condMemoryCgroupLeak:    "True/" + reasonCgroupCreate,
		} {
			if status[typ] != want {
				t.Errorf("condition %s = %q, want %q", typ, status[typ], want)
			}
		}
		compareGolden(t, "check-faults.golden.json", toGolden(run.report))
	})
	t.Run("clean", func(t *testing.T) {
		t.Parallel()
		run := runCheck(t, "kmsg-clean.txt", "journal-clean.export")
		if run.exitCode != 0 {
			t.Errorf("exit code %d, want 0 (no problem); stderr:\n%s", run.exitCode, run.stderr)
		}
		if len(run.report.Findings) != 0 {
			t.Errorf("findings on clean logs:\n%s", run.stdout)
		}
		if len(run.report.Conditions) == 0 {
			t.Errorf("no conditions reported: the log-fed ones should be False")
		}
		for _, c := range run.report.Conditions {
			if c.Status != "False" {
				t.Errorf("condition %s = %s/%s %q, want False", c.Type, c.Status, c.Reason, c.Message)
			}
		}
	})
}
