package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/internal/journalexport"
)

var update = flag.Bool("update", false, "rewrite golden files")

// now is the fake clock's time for the golden tests.
var now = time.Date(2026, 11, 22, 20, 0, 0, 0, time.UTC)

// lockedBuffer is safe to read while a command writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command in-process with env as the environment.
func runCLI(ctx context.Context, clk clock.WithTicker, env map[string]string, args ...string) result {
	var stdout, stderr lockedBuffer
	c := &cli{
		stdout: &stdout, stderr: &stderr,
		getenv:   func(k string) string { return env[k] },
		hostname: func() (string, error) { return "Test-Host", nil },
		clock:    clk, ctx: ctx,
	}
	code := c.main(args)
	return result{code, stdout.String(), stderr.String()}
}

// hostWithCert builds a host root whose kubelet client certificate (a
// symlink to a dated file, as the kubelet keeps it) expires after left.
// Generated per test: a checked-in certificate would expire.
func hostWithCert(t *testing.T, left time.Duration) string {
	t.Helper()
	root := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "system:node:node-a", Organization: []string{"system:nodes"}},
		NotBefore:    now.Add(-365 * 24 * time.Hour),
		NotAfter:     now.Add(left),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "var/lib/kubelet/pki")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dated := "kubelet-client-2025-11-22-20-00-00.pem"
	if err := os.WriteFile(filepath.Join(dir, dated), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/var/lib/kubelet/pki/"+dated, filepath.Join(dir, "kubelet-client-current.pem")); err != nil {
		t.Fatal(err)
	}
	return root
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with go test ./cmd/nodetriage -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestCheckJSONGolden(t *testing.T) {
	root := hostWithCert(t, 12*time.Hour)
	r := runCLI(context.Background(), testingclock.NewFakeClock(now), map[string]string{"NODE_NAME": "node-a"},
		"check", "--host-root", root, "--output", "json", "--config", "testdata/cert-only.yaml", "--checks", "kubelet-cert")
	if r.code != exitProblems {
		t.Errorf("exit code = %d, want %d (problems found); stderr:\n%s", r.code, exitProblems, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("stderr = %q", r.stderr)
	}
	checkGolden(t, "check-expiring.golden.json", r.stdout)

	var report struct {
		Node       string            `json:"node"`
		Findings   []json.RawMessage `json:"findings"`
		Conditions []struct {
			Type, Status, Reason, Message string
		} `json:"conditions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatal(err)
	}
	if report.Node != "node-a" || len(report.Findings) != 1 || len(report.Conditions) != 1 ||
		report.Conditions[0].Type != "KubeletUnhealthy" || report.Conditions[0].Status != "True" ||
		report.Conditions[0].Reason != "KubeletCertificateExpiring" {
		t.Errorf("report = %+v", report)
	}
}

func TestCheckTableGolden(t *testing.T) {
	root := hostWithCert(t, 12*time.Hour)
	r := runCLI(context.Background(), testingclock.NewFakeClock(now), nil, "check", "--host-root", root,
		"--config", "testdata/cert-only.yaml", "--checks", "kubelet-cert")
	if r.code != exitProblems {
		t.Errorf("exit code = %d, stderr:\n%s", r.code, r.stderr)
	}
	checkGolden(t, "check-expiring.golden.txt", r.stdout)
	checkWidth(t, r.stdout)
	if !strings.HasPrefix(r.stdout, "Node test-host: 1 problem, 0 warnings") {
		t.Errorf("node name not the lowercased hostname: %q", strings.SplitN(r.stdout, "\n", 2)[0])
	}
}

func TestCheckExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		left     time.Duration // 0: no certificate at all
		args     []string
		wantCode int
		wantOut  string
	}{
		{name: "healthy certificate", left: 300 * 24 * time.Hour, wantCode: exitOK,
			wantOut: `"status": "False"`},
		{name: "nothing applies", wantCode: exitOK, wantOut: `"conditions": []`},
		{name: "expired", left: -time.Hour, wantCode: exitProblems, wantOut: `expired 2026-11-22T19:00:00Z (1h ago)`},
		{name: "disabled by override", left: -time.Hour, args: []string{"--config", "testdata/disable-cert-reason.yaml"},
			wantCode: exitOK, wantOut: `"findings": []`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.left != 0 {
				root = hostWithCert(t, tc.left)
			}
			args := append([]string{"check", "--host-root", root, "--output", "json", "--checks", " kubelet-cert "}, tc.args...)
			if tc.args == nil {
				args = append(args, "--config", "testdata/cert-only.yaml")
			}
			r := runCLI(context.Background(), testingclock.NewFakeClock(now), nil, args...)
			if r.code != tc.wantCode || !strings.Contains(r.stdout, tc.wantOut) {
				t.Errorf("exit %d (want %d), stdout:\n%s\nstderr:\n%s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
		})
	}
}

func TestUsageErrorsExit2WithOneLine(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no command", nil, nil, "usage:"},
		{"unknown command", nil, []string{"serve"}, `nodetriage: unknown command "serve" (want run, check or version)`},
		{"unknown flag", nil, []string{"check", "--bogus"}, "nodetriage check: flag provided but not defined: -bogus"},
		{"bad output", nil, []string{"check", "--output", "yaml"}, `nodetriage check: --output must be table or json, got "yaml"`},
		{"bad since", nil, []string{"check", "--since", "soon"}, `nodetriage check: invalid value "soon" for flag -since: parse error`},
		{"negative since", nil, []string{"check", "--since", "-1h"}, "nodetriage check: --since must be positive, got -1h0m0s"},
		{"unknown check", nil, []string{"check", "--checks", "kubelet-cert,nope"}, `nodetriage check: unknown check "nope" (known: conntrack, container-logs, container-network, container-runtime, hairpin, kubelet-cert, kubelet-restarts, log-filesystem, log-rotation, memory-cgroups, sandbox-image, uninitialized-taint, workloads)`},
		{"missing kmsg dump", nil, []string{"check", "--kmsg-file", "/nonexistent/kmsg.txt"}, "nodetriage check: --kmsg-file: stat /nonexistent/kmsg.txt: no such file or directory"},
		{"journal dir is a file", nil, []string{"check", "--journal-dir", "testdata/cert-only.yaml"}, "nodetriage check: --journal-dir testdata/cert-only.yaml: want a directory of journal files"},
		{"bad config", nil, []string{"check", "--config", "testdata/bad-timeout.yaml"},
			"nodetriage check: config testdata/bad-timeout.yaml: checks.kubelet-cert.timeout: must be shorter than interval (1m), got 2m"},
		{"missing config", nil, []string{"check", "--config", "testdata/nope.yaml"}, "nodetriage check: read config: open testdata/nope.yaml: no such file or directory"},
		{"missing host root", nil, []string{"check", "--host-root", "/nonexistent/host"}, "nodetriage check: --host-root: stat /nonexistent/host: no such file or directory"},
		{"stray argument", nil, []string{"check", "now"}, `nodetriage check: unexpected argument "now" (flags start with --)`},
		{"run without an API", nil, []string{"run"}, "nodetriage run: no Kubernetes API configured: pass --kubeconfig FILE, run inside a pod, or use --standalone"},
		{"run with an empty kubeconfig", nil, []string{"run", "--kubeconfig", "/dev/null"}, "nodetriage run: load kubeconfig /dev/null: invalid configuration: no configuration has been provided"},
		{"run in a pod without its token", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, []string{"run"}, "nodetriage run: in-cluster config: unable to load in-cluster configuration"},
		{"run with a bad config", nil, []string{"run", "--standalone", "--config", "testdata/bad-timeout.yaml"},
			"nodetriage run: config testdata/bad-timeout.yaml: checks.kubelet-cert.timeout: must be shorter than interval (1m), got 2m"},
		{"version with an argument", nil, []string{"version", "x"}, `nodetriage version: unexpected argument "x" (flags start with --)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if h, ok := tc.env["KUBERNETES_SERVICE_HOST"]; ok {
				t.Setenv("KUBERNETES_SERVICE_HOST", h) // client-go's in-cluster loader reads the process environment
			}
			r := runCLI(context.Background(), clock.RealClock{}, tc.env, tc.args...)
			if r.code != exitUsage {
				t.Errorf("exit code = %d, want %d", r.code, exitUsage)
			}
			if !strings.HasPrefix(r.stderr, tc.want) {
				t.Errorf("stderr = %q\nwant     %q", r.stderr, tc.want)
			}
			if tc.args != nil && strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q", r.stdout)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	r := runCLI(context.Background(), clock.RealClock{}, nil, "check", "-h")
	if r.code != exitOK || !strings.Contains(r.stdout, "-kmsg-file") {
		t.Errorf("check -h: %d %q", r.code, r.stdout)
	}
	r = runCLI(context.Background(), clock.RealClock{}, nil, "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "nodetriage dev\ngo: go1.") || !strings.HasSuffix(r.stdout, "commit: unknown\n") {
		t.Errorf("version: %d %q", r.code, r.stdout)
	}
}

func TestRunStandaloneServesFindings(t *testing.T) {
	root := hostWithCert(t, time.Until(now)+12*time.Hour) // the agent runs on the real clock
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	config := filepath.Join(t.TempDir(), "config.yaml") // keeps the state dir inside the test's temp dir
	certOnly, err := os.ReadFile("testdata/cert-only.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, append(certOnly, "stateDir: "+t.TempDir()+"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		done <- runCLI(ctx, clock.RealClock{}, map[string]string{"NODE_NAME": "node-a"},
			"run", "--standalone", "--host-root", root, "--listen-address", addr, "--config", config)
	}()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/debug/findings")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if body = string(b); strings.Contains(body, `"status": "True"`) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(body, `"reason": "KubeletCertificateExpiring"`) || !strings.Contains(body, `"node": "node-a"`) {
		t.Fatalf("/debug/findings = %s", body)
	}
	cancel()
	select {
	case r := <-done:
		stopped = true
		if r.code != exitOK {
			t.Errorf("exit code after SIGTERM-equivalent = %d, stderr:\n%s", r.code, r.stderr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop within 5s")
	}
}

// TestBinaryExitCodes runs the built binary: exit codes and one-line errors
// through the real os.Exit path.
func TestBinaryExitCodes(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "nodetriage")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version=v9.9.9 -X main.commit=deadbeef", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, stdout.String(), stderr.String()
	}
	if code, out, _ := run("version"); code != 0 || !strings.Contains(out, "nodetriage v9.9.9") || !strings.Contains(out, "commit: deadbeef") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := run("check", "--output", "xml"); code != 2 || strings.Count(errOut, "\n") != 1 {
		t.Errorf("bad flag: %d %q", code, errOut)
	}
	// A real certificate expiring in 30 minutes (real clock this time).
	root := hostWithCert(t, time.Until(now)+30*time.Minute)
	certOnly := []string{"--config", "testdata/cert-only.yaml"}
	code, out, errOut := run(append([]string{"check", "--host-root", root}, certOnly...)...)
	if code != 1 || !strings.Contains(out, "KubeletCertificateExpiring") {
		t.Errorf("expiring cert: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, _ = run(append([]string{"check", "--host-root", t.TempDir(), "--output", "json"}, certOnly...)...)
	if code != 0 {
		t.Errorf("empty host: exit %d", code)
	}
	// A corrupt certificate: could not tell, which is not a problem found;
	// the report says why, and stderr (the run's own trouble) stays empty.
	code, out, errOut = run(append([]string{"check", "--host-root", "../../hostchecks/testdata/kubeletcert/corrupt"}, certOnly...)...)
	if code != 0 || !strings.Contains(out, "0 True, 0 False, 1 Unknown") || !strings.Contains(out, "Could not check:\n  KubeletUnhealthy: could not check: kubelet-cert:") ||
		!strings.Contains(out, "x509: malformed") || errOut != "" {
		t.Errorf("corrupt cert: exit %d\n%s\n%s", code, out, errOut)
	}
}

// logFedConditions are the condition types the default rules feed.
var logFedConditions = []string{"ConntrackProblem", "KernelDeadlock", "KubeletUnhealthy", "MemoryCgroupLeak",
	"NFSServerUnreachable", "ReadonlyFilesystem", "SandboxImageMissing"}

type jsonReport struct {
	Node     string `json:"node"`
	Findings []struct {
		Check, Condition, Reason string
		Evidence                 map[string]string
	} `json:"findings"`
	Conditions []struct {
		Type, Status, Reason, Message string
	} `json:"conditions"`
	Sources []struct {
		Name, State, Error string
		Sources            []string
		Lines              int
	} `json:"sources"`
}

func parseReport(t *testing.T, out string) jsonReport {
	t.Helper()
	var r jsonReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return r
}

// TestCheckEmptyHostRootReadsNoLogs: on a host root where no log can be
// read, no log-fed condition says "no problem"; each says why it could not
// tell, the Log sources section says what was not read, and stderr stays
// empty (the agent-only boot-ID and /dev/kmsg warnings are not given).
func TestCheckEmptyHostRootReadsNoLogs(t *testing.T) {
	root := t.TempDir()
	// kubelet-cert does not apply here; the other checks are left out so
	// that only the logs decide the log-fed conditions.
	args := []string{"check", "--host-root", root, "--checks", "kubelet-cert"}
	r := runCLI(context.Background(), testingclock.NewFakeClock(now), map[string]string{"NODE_NAME": "node-a"}, append(args, "--output", "json")...)
	if r.code != exitOK || r.stderr != "" {
		t.Errorf("exit %d (want %d), stderr:\n%s", r.code, exitOK, r.stderr)
	}
	report := parseReport(t, r.stdout)
	var types []string
	for _, c := range report.Conditions {
		types = append(types, c.Type)
		if c.Status != "Unknown" || c.Reason != "LogsNotRead" || !strings.Contains(c.Message, " log is being read: kmsg: ") ||
			!strings.Contains(c.Message, "; journal: no journal directory on this host") {
			t.Errorf("%s = %s %s %q", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	if diff := cmp.Diff(logFedConditions, types); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	var states []string
	for _, s := range report.Sources {
		states = append(states, s.Name+" "+s.State)
	}
	if diff := cmp.Diff([]string{"kmsg not-applicable", "journal not-applicable", "files read"}, states); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}

	r = runCLI(context.Background(), testingclock.NewFakeClock(now), map[string]string{"NODE_NAME": "node-a"}, args...)
	if r.stderr != "" {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	checkGolden(t, "check-empty-host.golden.txt", strings.ReplaceAll(r.stdout, root, "<host-root>"))
	checkWidth(t, r.stdout)
}

// journalEntry is one entry of systemd's journal export format.
type journalEntry struct {
	at     time.Time
	fields [][2]string
}

// writeJournalDir makes DIR/<machine-id>/system.journal from entries with
// systemd-journal-remote, as journald would have written them.
func writeJournalDir(t *testing.T, entries []journalEntry) string {
	t.Helper()
	export := make([]journalexport.Entry, len(entries))
	for i, e := range entries {
		export[i] = journalexport.Entry{Time: e.at, Fields: append([][2]string{
			{"_BOOT_ID", "0f2b3c4d5e6f47a8b9c0d1e2f3a4b5c6"}, {"_MACHINE_ID", "1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6"}, {"_HOSTNAME", "node-a"},
		}, e.fields...)}
	}
	dir := t.TempDir()
	machine := filepath.Join(dir, "1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6")
	if err := os.MkdirAll(machine, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := journalexport.Write(filepath.Join(machine, "system.journal"), export); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCheckKmsgFileWithJournalDirCountsKernelLinesOnce: journald keeps the
// kernel log too; with a kmsg dump given, the journal's copy must not count
// every kernel line a second time.
func TestCheckKmsgFileWithJournalDirCountsKernelLinesOnce(t *testing.T) {
	const hung = "INFO: task containerd:1234 blocked for more than 120 seconds."
	journalDir := writeJournalDir(t, []journalEntry{
		{at: now.Add(-30 * time.Minute), fields: [][2]string{{"_TRANSPORT", "kernel"}, {"PRIORITY", "3"}, {"SYSLOG_FACILITY", "0"},
			{"SYSLOG_IDENTIFIER", "kernel"}, {"MESSAGE", hung}}},
		{at: now.Add(-20 * time.Minute), fields: [][2]string{{"_TRANSPORT", "stdout"}, {"PRIORITY", "6"}, {"SYSLOG_IDENTIFIER", "kubelet"},
			{"_SYSTEMD_UNIT", "kubelet.service"}, {"MESSAGE", "I1122 19:40:00.000000    1234 kubelet.go:2400] SyncLoop ADD"}}},
	})
	dump := filepath.Join(t.TempDir(), "dmesg.txt")
	if err := os.WriteFile(dump, []byte("[ 8523.112233] "+hung+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		flags         []string
		wantJournal   []string
		wantHungCount string // Evidence["occurrences"]; "" = once
	}{
		{name: "journal alone reads the kernel transport", flags: []string{"--journal-dir", journalDir},
			wantJournal: []string{"kernel", "kmsg-user", "kubelet", "containerd", "crio", "dockerd", "kube-proxy", "systemd"}},
		{name: "with a kmsg dump it does not", flags: []string{"--journal-dir", journalDir, "--kmsg-file", dump},
			wantJournal: []string{"kubelet", "containerd", "crio", "dockerd", "kube-proxy", "systemd"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"check", "--host-root", t.TempDir(), "--checks", "kubelet-cert", "--since", "2h", "--output", "json"}, tc.flags...)
			r := runCLI(context.Background(), testingclock.NewFakeClock(now), nil, args...)
			if r.code != exitProblems || r.stderr != "" {
				t.Errorf("exit %d (want %d), stderr:\n%s", r.code, exitProblems, r.stderr)
			}
			report := parseReport(t, r.stdout)
			hungSeen := 0
			for _, f := range report.Findings {
				if f.Reason == "ContainerdHung" {
					hungSeen++
					if got := f.Evidence["occurrences"]; got != tc.wantHungCount {
						t.Errorf("ContainerdHung occurrences = %q, want %q", got, tc.wantHungCount)
					}
				}
			}
			if hungSeen != 1 {
				t.Errorf("%d ContainerdHung findings, want 1:\n%s", hungSeen, r.stdout)
			}
			for _, s := range report.Sources {
				if s.Name == "journal" {
					if diff := cmp.Diff(tc.wantJournal, s.Sources); diff != "" {
						t.Errorf("journal sources (-want +got):\n%s", diff)
					}
				}
			}
		})
	}
}

// checkWidth fails on a line wider than the table's width.
func checkWidth(t *testing.T, out string) {
	t.Helper()
	for i, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > tableWidth {
			t.Errorf("line %d is %d columns wide:\n%s", i+1, n, line)
		}
	}
}
