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
	for i, line := range strings.Split(r.stdout, "\n") {
		if n := utf8.RuneCountInString(line); n > tableWidth {
			t.Errorf("line %d is %d columns wide:\n%s", i+1, n, line)
		}
	}
	if !strings.HasPrefix(r.stdout, "Node test-host: 1 problem(s) found") {
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
	// A corrupt certificate: could not tell, which is not a problem found.
	code, out, errOut = run(append([]string{"check", "--host-root", "../../hostchecks/testdata/kubeletcert/corrupt"}, certOnly...)...)
	if code != 0 || !strings.Contains(out, "1 condition(s) could not be checked") || !strings.Contains(errOut, "malformed certificate") {
		t.Errorf("corrupt cert: exit %d\n%s\n%s", code, out, errOut)
	}
}
