package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nodetriage/nodetriage/probes"
)

// Condition and reasons of the log-filesystem check, as the product writes
// them.
const (
	condContainerLogDiskPressure = "ContainerLogDiskPressure"
	reasonLogFilesystemNearFull  = "LogFilesystemNearFull"
)

// logTmpfsSize is the size of the tmpfs standing in for the host's /var/log:
// small, so filling it past 85 % costs a few MiB of memory.
const logTmpfsSize = 8 << 20

// TestCheckLogFilesystemAndKubeletCert runs `nodetriage check --host-root
// DIR --output json` on a host whose /var/log is a real 8 MiB tmpfs filled
// to about 90 % and whose kubelet client certificate expires in 12 h: the
// report holds both findings, each with the numbers in its message, in the
// documented schema, and the command exits 1. After the files are deleted
// and the certificate renewed, the same command exits 0 with both
// conditions False.
func TestCheckLogFilesystemAndKubeletCert(t *testing.T) {
	t.Parallel()
	const node = "e2e-check-host"
	root := newHostRoot(t)
	varLog := root.mountTmpfs("/var/log", fmt.Sprintf("size=%d,nr_inodes=1000", logTmpfsSize))
	fillFilesystem(t, varLog, 88, 93)
	notAfter := time.Now().Add(12 * time.Hour).Truncate(time.Second)
	root.installKubeletCert(node, notAfter)
	// The check's own defaults (paths, 85 % / 95 %): only enabled here.
	config := agentConfig(t, map[string]string{logFilesystemCheck: "{enabled: true}"}, "")
	check := func() checkRun {
		t.Helper()
		return runCheckCommand(t, node, "--host-root", root.dir, "--config", config,
			"--checks", logFilesystemCheck+",kubelet-cert", "--output", "json")
	}

	run := check()
	// statfs(2) right after the run is the truth to judge the numbers by:
	// nothing else writes to the tmpfs.
	usedPct, inodesPct, st := statfsPercent(t, varLog)
	if run.exitCode != 1 {
		t.Errorf("exit code %d, want 1 (problems found); stderr:\n%s", run.exitCode, run.stderr)
	}
	checkReportSchema(t, run.stdout, node)

	byReason := map[string]probes.Finding{}
	for _, f := range run.report.Findings {
		byReason[f.Reason] = f
	}
	if len(run.report.Findings) != 2 {
		t.Errorf("%d findings, want the two of this host (LogFilesystemNearFull, KubeletCertificateExpiring):\n%s", len(run.report.Findings), run.stdout)
	}

	logFS, ok := byReason[reasonLogFilesystemNearFull]
	if !ok {
		t.Fatalf("no %s finding:\n%s", reasonLogFilesystemNearFull, run.stdout)
	}
	wantMsg := fmt.Sprintf("filesystem holding /var/log is %.0f%% full (about %s of 8 MiB used; inodes %.0f%% used); warning at 85%%, problem at 95%%",
		math.Floor(usedPct), aboutMiB(math.Floor(usedPct)/100*logTmpfsSize), math.Floor(inodesPct))
	if logFS.Check != logFilesystemCheck || logFS.Condition != condContainerLogDiskPressure || logFS.Severity != probes.SeverityWarning ||
		logFS.Message != wantMsg || logFS.Subject != "/var/log" {
		t.Errorf("log-filesystem finding = %s %s/%s %s %q (subject %q), want %s %s/%s warning %q (subject /var/log)",
			logFS.Check, logFS.Condition, logFS.Reason, logFS.Severity, logFS.Message, logFS.Subject,
			logFilesystemCheck, condContainerLogDiskPressure, reasonLogFilesystemNearFull, wantMsg)
	}
	if !strings.Contains(logFS.Remedy, "du -xh --max-depth=3 /var/log") || !strings.Contains(logFS.Remedy, "journalctl --vacuum-size=") {
		t.Errorf("log-filesystem remedy %q lacks the du and journalctl --vacuum-size commands", logFS.Remedy)
	}
	for key, want := range map[string]string{
		"paths":       "/var/log",
		"totalBytes":  strconv.FormatUint(st.Blocks*uint64(st.Bsize), 10),
		"availBytes":  strconv.FormatUint(st.Bavail*uint64(st.Bsize), 10),
		"usedPercent": strconv.FormatFloat(usedPct, 'f', 1, 64),
		"inodes":      strconv.FormatUint(st.Files, 10),
	} {
		if got := logFS.Evidence[key]; got != want {
			t.Errorf("log-filesystem evidence %s = %q, want %q (statfs)", key, got, want)
		}
	}

	cert, ok := byReason[reasonCertExpiring]
	if !ok {
		t.Fatalf("no %s finding:\n%s", reasonCertExpiring, run.stdout)
	}
	if cert.Check != "kubelet-cert" || cert.Condition != condKubeletUnhealthy || cert.Severity != probes.SeverityProblem ||
		!strings.HasPrefix(cert.Message, expiringCertMessage(notAfter)) {
		t.Errorf("kubelet-cert finding = %s %s/%s %s %q, want kubelet-cert %s/%s problem starting %q",
			cert.Check, cert.Condition, cert.Reason, cert.Severity, cert.Message, condKubeletUnhealthy, reasonCertExpiring, expiringCertMessage(notAfter))
	}
	if !strings.Contains(cert.Remedy, "rotateCertificates: true") || !strings.Contains(cert.Remedy, "kubectl certificate approve") {
		t.Errorf("kubelet-cert remedy %q lacks rotateCertificates: true and kubectl certificate approve", cert.Remedy)
	}
	if got, want := cert.Evidence["notAfter"], notAfter.UTC().Format(time.RFC3339); got != want {
		t.Errorf("kubelet-cert evidence notAfter = %q, want %q", got, want)
	}

	checkConditions(t, run, map[string]string{
		condContainerLogDiskPressure: "True/" + reasonLogFilesystemNearFull,
		condKubeletUnhealthy:         "True/" + reasonCertExpiring,
	})
	for _, c := range run.report.Conditions {
		if c.Status != "True" {
			continue
		}
		want := map[string]probes.Finding{condContainerLogDiskPressure: logFS, condKubeletUnhealthy: cert}[c.Type]
		if wantMsg := want.Message + " Fix: " + want.Remedy; c.Message != wantMsg {
			t.Errorf("condition %s message = %q, want the finding's message and remedy %q", c.Type, c.Message, wantMsg)
		}
	}

	// Repair both: free the space, renew the certificate.
	entries, err := os.ReadDir(varLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(varLog, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	root.installKubeletCert(node, time.Now().Add(365*24*time.Hour))
	run = check()
	if run.exitCode != 0 {
		t.Errorf("after the repair: exit code %d, want 0; stderr:\n%s", run.exitCode, run.stderr)
	}
	checkReportSchema(t, run.stdout, node)
	if len(run.report.Findings) != 0 {
		t.Errorf("after the repair: findings remain:\n%s", run.stdout)
	}
	checkConditions(t, run, map[string]string{
		condContainerLogDiskPressure: "False/" + reasonNoProblem,
		condKubeletUnhealthy:         "False/" + reasonNoProblem,
	})
}

// fillFilesystem writes files into dir until statfs says between minPct
// and maxPct of its blocks are used (used/(used+avail), as df shows).
func fillFilesystem(t *testing.T, dir string, minPct, maxPct float64) {
	t.Helper()
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	for i := 0; ; i++ {
		used, _, _ := statfsPercent(t, dir)
		if used >= minPct {
			if used >= maxPct {
				t.Fatalf("filling %s overshot: %.1f%% used, want %v–%v%%", dir, used, minPct, maxPct)
			}
			return
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("app.log.%d", i)), buf, 0o644); err != nil {
			t.Fatalf("fill %s: %v", dir, err)
		}
	}
}

// statfsPercent is what statfs(2) says of dir: the used share of blocks and
// of inodes, and the raw numbers.
func statfsPercent(t *testing.T, dir string) (usedPct, inodesPct float64, st unix.Statfs_t) {
	t.Helper()
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	used := float64(st.Blocks - st.Bfree)
	return 100 * used / (used + float64(st.Bavail)), 100 * float64(st.Files-st.Ffree) / float64(st.Files), st
}

// aboutMiB formats a byte count from 1 to 10 MiB the way the check's
// messages do (two significant digits).
func aboutMiB(n float64) string {
	return strconv.FormatFloat(math.Round(n/(1<<20)*10)/10, 'f', -1, 64) + " MiB"
}

// checkConditions checks the status/reason of the given condition types in
// a check report.
func checkConditions(t *testing.T, run checkRun, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, c := range run.report.Conditions {
		got[c.Type] = c.Status + "/" + c.Reason
	}
	for typ, w := range want {
		if got[typ] != w {
			t.Errorf("condition %s = %q, want %q; report:\n%s", typ, got[typ], w, run.stdout)
		}
	}
}

// checkReportSchema checks the JSON field names and types of a check
// report against the documented schema (README "The command line"):
// {"node", "findings": [{"check", "condition", "reason", "severity",
// "message", "remedy", "evidence"}], "conditions": [{"type", "status",
// "reason", "message"}]}. It reads the raw JSON, so a renamed or retyped
// field fails here even where the Go structs would still decode it.
func checkReportSchema(t *testing.T, stdout []byte, node string) {
	t.Helper()
	var report map[string]any
	if err := json.Unmarshal(stdout, &report); err != nil {
		t.Fatalf("report is not a JSON object: %v\n%s", err, stdout)
	}
	if report["node"] != node {
		t.Errorf(`report "node" = %v, want %q`, report["node"], node)
	}
	findings, ok := report["findings"].([]any)
	if !ok {
		t.Errorf(`report "findings" = %T, want an array (empty when there are none)`, report["findings"])
	}
	for i, f := range findings {
		obj, _ := f.(map[string]any)
		for _, key := range []string{"check", "reason", "severity", "message", "remedy"} {
			if s, ok := obj[key].(string); !ok || s == "" {
				t.Errorf("findings[%d].%s = %v, want a non-empty string", i, key, obj[key])
			}
		}
		if c, ok := obj["condition"]; ok {
			if _, isString := c.(string); !isString {
				t.Errorf("findings[%d].condition = %v, want a string", i, c)
			}
		}
		evidence, ok := obj["evidence"].(map[string]any)
		if !ok || len(evidence) == 0 {
			t.Errorf("findings[%d].evidence = %v, want an object of strings", i, obj["evidence"])
		}
		for k, v := range evidence {
			if _, ok := v.(string); !ok {
				t.Errorf("findings[%d].evidence.%s = %v, want a string", i, k, v)
			}
		}
	}
	conditions, ok := report["conditions"].([]any)
	if !ok || len(conditions) == 0 {
		t.Errorf(`report "conditions" = %v, want a non-empty array`, report["conditions"])
	}
	for i, c := range conditions {
		obj, _ := c.(map[string]any)
		for _, key := range []string{"type", "status", "reason", "message"} {
			if s, ok := obj[key].(string); !ok || s == "" {
				t.Errorf("conditions[%d].%s = %v, want a non-empty string", i, key, obj[key])
			}
		}
		if s := obj["status"]; !slices.Contains([]any{"True", "False", "Unknown"}, s) {
			t.Errorf("conditions[%d].status = %v, want True, False or Unknown", i, s)
		}
	}
}
