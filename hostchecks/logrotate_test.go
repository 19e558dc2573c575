package hostchecks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/probes"
)

// TestLogRotationGolden runs the log-rotation check on a healthy fixture
// host root and on one root per fault.
func TestLogRotationGolden(t *testing.T) {
	tests := []struct {
		scenario string
		// statusAge is the age of logrotate's status file (0: no change
		// from the copy's 30 days).
		statusAge  time.Duration
		wantReason []string // problem kinds expected, in order
	}{
		{scenario: "healthy", statusAge: 6 * time.Hour},
		{scenario: "docker-no-max-size", statusAge: 6 * time.Hour, wantReason: []string{"docker-no-max-size"}},
		{scenario: "docker-no-copytruncate", statusAge: 6 * time.Hour, wantReason: []string{"docker-no-copytruncate"}},
		{scenario: "keeps-all", statusAge: 6 * time.Hour, wantReason: []string{"keeps-all"}},
		{scenario: "minsize-only", statusAge: 6 * time.Hour, wantReason: []string{"minsize-only"}},
		{scenario: "config-error", statusAge: 6 * time.Hour, wantReason: []string{"config-error"}},
		{scenario: "kubelet-rotation-disabled", statusAge: 6 * time.Hour, wantReason: []string{"kubelet-rotation-disabled"}},
		{scenario: "not-running", statusAge: 5 * 24 * time.Hour, wantReason: []string{"not-running"}},
		{scenario: "journal-over-limit", statusAge: 6 * time.Hour, wantReason: []string{"journal-over-limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			root := copyLogHostRoot(t, filepath.Join("testdata/log-rotation", tt.scenario))
			setLogMtime(t, root, "var/lib/logrotate/status", tt.statusAge)
			findings := hostTestFindings(t, LogRotationSpec(), hostTestEnv(t, "log-rotation", root, hostTestEnvOptions{}))
			checkLogFindingContract(t, findings)
			var kinds []string
			for _, f := range findings {
				kinds = append(kinds, f.Evidence["problem"])
			}
			if diff := cmp.Diff(tt.wantReason, kinds); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			hostTestGolden(t, filepath.Join("testdata/log-rotation", tt.scenario+".json"), findings)
		})
	}
}

// TestLogRotationNeverRan: a status file that is missing counts only once
// logrotate.conf has been there longer than statusMaxAge.
func TestLogRotationNeverRan(t *testing.T) {
	for _, tt := range []struct {
		name    string
		confAge time.Duration
		want    int
	}{
		{name: "fresh install", confAge: time.Hour, want: 0},
		{name: "configured long ago", confAge: 30 * 24 * time.Hour, want: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := copyLogHostRoot(t, "testdata/log-rotation/healthy")
			if err := os.Remove(filepath.Join(root, "var/lib/logrotate/status")); err != nil {
				t.Fatal(err)
			}
			setLogMtime(t, root, "etc/logrotate.conf", tt.confAge)
			findings := hostTestFindings(t, LogRotationSpec(), hostTestEnv(t, "log-rotation", root, hostTestEnvOptions{}))
			if len(findings) != tt.want {
				t.Fatalf("got %d findings, want %d: %+v", len(findings), tt.want, findings)
			}
			if tt.want == 1 && !strings.Contains(findings[0].Message, "logrotate has never run") {
				t.Errorf("message = %q", findings[0].Message)
			}
		})
	}
}

// TestLogRotationClearsWhenFixed: each fault fixed on the same check
// instance (as the agent keeps it) makes its finding go away, and the cached
// logrotate config is re-read when a file changes.
func TestLogRotationClearsWhenFixed(t *testing.T) {
	root := copyLogHostRoot(t, "testdata/log-rotation/keeps-all")
	setLogMtime(t, root, "var/lib/logrotate/status", time.Hour)
	check, err := LogRotationSpec().New(hostTestEnv(t, "log-rotation", root, hostTestEnvOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	run := func() []probes.Finding {
		t.Helper()
		f, err := check.Check(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if got := run(); len(got) != 1 {
		t.Fatalf("before the fix: %d findings, want 1", len(got))
	}
	if got := run(); len(got) != 1 { // from the cached config
		t.Fatalf("second run: %d findings, want 1", len(got))
	}
	rule := filepath.Join(root, "etc/logrotate.d/billing")
	data, err := os.ReadFile(rule)
	if err != nil {
		t.Fatal(err)
	}
	fixed := strings.Replace(string(data), "rotate -1", "rotate 14", 1)
	if err := os.WriteFile(rule, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := run(); len(got) != 0 {
		t.Fatalf("after the fix: %+v, want none", got)
	}
	// A new file in /etc/logrotate.d is noticed through the directory.
	if err := os.WriteFile(filepath.Join(root, "etc/logrotate.d/late"), []byte("/var/log/syslog.1 {\n rotate -1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/log/syslog.1"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "etc/logrotate.d")
	future := time.Now().Add(time.Minute) // the dir mtime must differ from the cached one
	if err := os.Chtimes(dir, future, future); err != nil {
		t.Fatal(err)
	}
	if got := run(); len(got) != 1 || got[0].Evidence["problem"] != "keeps-all" {
		t.Fatalf("after adding a rule file: %+v, want one keeps-all", got)
	}
}

func TestLogRotationWatchPaths(t *testing.T) {
	check, err := LogRotationSpec().New(hostTestEnv(t, "log-rotation", t.TempDir(), hostTestEnvOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	w, ok := check.(probes.Watched)
	if !ok {
		t.Fatal("log-rotation does not implement probes.Watched")
	}
	want := []string{"/etc/logrotate.conf", "/etc/logrotate.d", "/etc/docker/daemon.json", "/etc/systemd/journald.conf", "/etc/systemd/journald.conf.d"}
	if diff := cmp.Diff(want, w.WatchPaths()); diff != "" {
		t.Errorf("WatchPaths (-want +got):\n%s", diff)
	}
}

func TestLogRotationSettings(t *testing.T) {
	tests := []struct {
		settings string
		wantErr  string
	}{
		{settings: `{"statusMaxAge":"72h"}`},
		{settings: `{"statusMaxAge":"10m"}`, wantErr: "checks.log-rotation.settings.statusMaxAge: must be at least 1h"},
		{settings: `{"statusMaxAge":"two days"}`, wantErr: "checks.log-rotation.settings"},
		{settings: `{"statusMaxAgeDays":2}`, wantErr: `statusMaxAgeDays: unknown field`},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			_, err := LogRotationSpec().New(hostTestEnv(t, "log-rotation", t.TempDir(), hostTestEnvOptions{settings: tt.settings}))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New: %v, want an error containing %q", err, tt.wantErr)
			}
			var fe *probes.FieldError
			if strings.Contains(tt.wantErr, "must be") && !errors.As(err, &fe) {
				t.Errorf("validation error %v is not a FieldError", err)
			}
		})
	}
}

// TestLogRotationBadKubeletConfig: a kubelet config that cannot be parsed is
// "could not tell", naming the file.
func TestLogRotationBadKubeletConfig(t *testing.T) {
	root := copyLogHostRoot(t, "testdata/log-rotation/healthy")
	if err := os.WriteFile(filepath.Join(root, "var/lib/kubelet/config.yaml"), []byte("containerLogMaxSize: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	check, err := LogRotationSpec().New(hostTestEnv(t, "log-rotation", root, hostTestEnvOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = check.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/var/lib/kubelet/config.yaml") || strings.Contains(err.Error(), root) {
		t.Fatalf("Check error = %v, want one naming /var/lib/kubelet/config.yaml (a host path)", err)
	}
}

// TestLogRotationGroupWritableRuleFile: logrotate ignores a rule file others
// can write, so its rules do not count.
func TestLogRotationGroupWritableRuleFile(t *testing.T) {
	root := copyLogHostRoot(t, "testdata/log-rotation/healthy")
	p := filepath.Join(root, "etc/logrotate.d/apt")
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	setLogMtime(t, root, "var/lib/logrotate/status", time.Hour)
	findings := hostTestFindings(t, LogRotationSpec(), hostTestEnv(t, "log-rotation", root, hostTestEnvOptions{}))
	if len(findings) != 1 || findings[0].Subject != "/etc/logrotate.d/apt#config-error" ||
		!strings.Contains(findings[0].Message, "writable by group or others") || !strings.Contains(findings[0].Remedy, "chmod 644 /etc/logrotate.d/apt") {
		t.Fatalf("findings = %+v, want one config-error about /etc/logrotate.d/apt", findings)
	}
}

func TestLogRotationSubjectsAreDistinct(t *testing.T) {
	// Several faults at once still give one finding each.
	root := copyLogHostRoot(t, "testdata/log-rotation/docker-no-max-size")
	for _, name := range []string{"etc/logrotate.d/billing", "var/log/billing/billing.log"} {
		src := filepath.Join("testdata/log-rotation/keeps-all", name)
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	findings := hostTestFindings(t, LogRotationSpec(), hostTestEnv(t, "log-rotation", root, hostTestEnvOptions{}))
	checkLogFindingContract(t, findings)
	var kinds []string
	for _, f := range findings {
		kinds = append(kinds, f.Evidence["problem"])
	}
	slices.Sort(kinds)
	if diff := cmp.Diff([]string{"docker-no-max-size", "keeps-all", "not-running"}, kinds); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestLogRotationNotApplicable(t *testing.T) {
	check, err := LogRotationSpec().New(hostTestEnv(t, "log-rotation", t.TempDir(), hostTestEnvOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check.Check(context.Background()); !errors.Is(err, probes.ErrNotApplicable) {
		t.Fatalf("Check on an empty host root: %v, want ErrNotApplicable", err)
	}
}
