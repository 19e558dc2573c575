package hostchecks

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

const logTestGiB = 1 << 30

// fakeLogUsage is a filesystem of totalGiB with usedPct of its blocks and
// inodesUsedPct of 1,000,000 inodes in use, no root reserve.
func fakeLogUsage(id int32, totalGiB uint64, usedPct, inodesUsedPct float64) probes.Usage {
	total := totalGiB * logTestGiB
	free := total - uint64(usedPct/100*float64(total))
	const inodes = 1_000_000
	return probes.Usage{
		TotalBytes: total, FreeBytes: free, AvailBytes: free,
		Inodes: inodes, InodesFree: inodes - uint64(inodesUsedPct/100*inodes),
		ID: [2]int32{id, id},
	}
}

// fakeLogStatfs answers statfs for paths that exist under root from a table
// keyed by host path; a path that exists but is not in the table is on the
// filesystem of its nearest listed parent.
func fakeLogStatfs(root string, table map[string]probes.Usage) func(string) (probes.Usage, error) {
	return func(hostPath string) (probes.Usage, error) {
		if _, err := os.Stat(filepath.Join(root, hostPath)); err != nil {
			return probes.Usage{}, &fs.PathError{Op: "statfs", Path: hostPath, Err: syscall.ENOENT}
		}
		for p := hostPath; ; p = filepath.Dir(p) {
			if u, ok := table[p]; ok {
				return u, nil
			}
			if p == "/" {
				return probes.Usage{}, errors.New("fakeLogStatfs: no filesystem for " + hostPath)
			}
		}
	}
}

// TestLogFilesystemGolden runs log-filesystem on the fixture node with
// statfs answers that put the log filesystems in each state.
func TestLogFilesystemGolden(t *testing.T) {
	const root = "testdata/log-filesystem/node"
	tests := []struct {
		scenario string
		statfs   map[string]probes.Usage
		reasons  []string
		severity []probes.Severity
	}{
		{scenario: "healthy", statfs: map[string]probes.Usage{"/": fakeLogUsage(1, 100, 40, 10)}},
		{scenario: "near-full-warning", statfs: map[string]probes.Usage{"/": fakeLogUsage(1, 100, 88.4, 10)},
			reasons: []string{reasonLogFilesystemNearFull}, severity: []probes.Severity{probes.SeverityWarning}},
		{scenario: "near-full-problem", statfs: map[string]probes.Usage{"/": fakeLogUsage(1, 100, 97, 30)},
			reasons: []string{reasonLogFilesystemNearFull}, severity: []probes.Severity{probes.SeverityProblem}},
		{scenario: "inodes", statfs: map[string]probes.Usage{"/": fakeLogUsage(1, 100, 50, 96)},
			reasons: []string{reasonLogFilesystemNearFull}, severity: []probes.Severity{probes.SeverityProblem}},
		{scenario: "blocks-and-inodes", statfs: map[string]probes.Usage{"/": fakeLogUsage(1, 100, 90, 86)},
			reasons: []string{reasonLogFilesystemNearFull}, severity: []probes.Severity{probes.SeverityWarning}},
		{scenario: "separate-filesystems", statfs: map[string]probes.Usage{
			"/":              fakeLogUsage(1, 100, 20, 5),
			"/var/log/pods":  fakeLogUsage(2, 50, 91, 5),
			"/var/lib/other": fakeLogUsage(3, 50, 99, 99), // not a log path: never looked at
		}, reasons: []string{reasonLogFilesystemNearFull}, severity: []probes.Severity{probes.SeverityWarning}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			env := hostTestEnv(t, "log-filesystem", root, hostTestEnvOptions{statfs: fakeLogStatfs(root, tt.statfs)})
			findings := hostTestFindings(t, LogFilesystemSpec(), env)
			checkLogFindingContract(t, findings)
			var reasons []string
			var sevs []probes.Severity
			for _, f := range findings {
				reasons = append(reasons, f.Reason)
				sevs = append(sevs, f.Severity)
			}
			if diff := cmp.Diff(tt.reasons, reasons); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.severity, sevs); diff != "" {
				t.Errorf("severities (-want +got):\n%s", diff)
			}
			hostTestGolden(t, filepath.Join("testdata/log-filesystem", tt.scenario+".json"), findings)
		})
	}
}

// TestLogFilesystemFillForecastGolden feeds the check a filesystem filling
// at 1 GiB every 5 minutes (12 GiB/h) with 50 GiB free: full in about 4h.
func TestLogFilesystemFillForecastGolden(t *testing.T) {
	const root = "testdata/log-filesystem/node"
	used := 50.0
	env := hostTestEnv(t, "log-filesystem", root, hostTestEnvOptions{statfs: func(p string) (probes.Usage, error) {
		return fakeLogStatfs(root, map[string]probes.Usage{"/": fakeLogUsage(1, 100, used, 10)})(p)
	}})
	clk := env.Clock.(*clocktesting.FakeClock)
	check, err := LogFilesystemSpec().New(env)
	if err != nil {
		t.Fatal(err)
	}
	var findings []probes.Finding
	for i := range 7 { // defaults: 6 samples over at least 15m
		if findings, err = check.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
		if i < 5 && len(findings) != 0 {
			t.Fatalf("sample %d: forecast before minSamples/minSpan: %+v", i, findings)
		}
		used++
		clk.Step(5 * time.Minute)
	}
	checkLogFindingContract(t, findings)
	if len(findings) != 1 || findings[0].Reason != reasonLogFilesystemFillForecast || findings[0].Severity != probes.SeverityWarning {
		t.Fatalf("findings = %+v, want one warning LogFilesystemFillForecast", findings)
	}
	hostTestGolden(t, "testdata/log-filesystem/fill-forecast.json", findings)
}

// TestLogFilesystemMessageIsStable: runs with slightly different usage in
// the same whole percent give the same message (each change is an API write).
func TestLogFilesystemMessageIsStable(t *testing.T) {
	const root = "testdata/log-filesystem/node"
	var msgs []string
	for _, used := range []float64{91.1, 91.5, 91.9} {
		statfs := fakeLogStatfs(root, map[string]probes.Usage{"/": fakeLogUsage(1, 100, used, 10.5)})
		findings := hostTestFindings(t, LogFilesystemSpec(), hostTestEnv(t, "log-filesystem", root, hostTestEnvOptions{statfs: statfs}))
		if len(findings) != 1 {
			t.Fatalf("used %v%%: %d findings, want 1", used, len(findings))
		}
		msgs = append(msgs, findings[0].Message)
	}
	if msgs[0] != msgs[1] || msgs[1] != msgs[2] {
		t.Errorf("messages differ for the same whole percentage:\n%s", strings.Join(msgs, "\n"))
	}
}

func TestLogFilesystemThresholds(t *testing.T) {
	const root = "testdata/log-filesystem/node"
	tests := []struct {
		name              string
		settings          string
		usedPct, inodePct float64
		want              probes.Severity // "" = no finding
	}{
		{name: "below", usedPct: 84.9, inodePct: 84.9},
		{name: "at warn", usedPct: 85, inodePct: 0, want: probes.SeverityWarning},
		{name: "inodes at problem", usedPct: 10, inodePct: 95, want: probes.SeverityProblem},
		{name: "custom thresholds", settings: `{"warnPercent":70,"problemPercent":80}`, usedPct: 75, want: probes.SeverityWarning},
		{name: "custom problem", settings: `{"warnPercent":70,"problemPercent":80}`, usedPct: 80, want: probes.SeverityProblem},
		{name: "full", usedPct: 100, want: probes.SeverityProblem},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			statfs := fakeLogStatfs(root, map[string]probes.Usage{"/": fakeLogUsage(1, 100, tt.usedPct, tt.inodePct)})
			findings := hostTestFindings(t, LogFilesystemSpec(), hostTestEnv(t, "log-filesystem", root, hostTestEnvOptions{settings: tt.settings, statfs: statfs}))
			var got probes.Severity
			if len(findings) > 0 {
				got = findings[0].Severity
			}
			if got != tt.want || len(findings) > 1 {
				t.Errorf("findings = %+v, want one of severity %q", findings, tt.want)
			}
		})
	}
}

func TestLogFilesystemSettings(t *testing.T) {
	tests := []struct {
		settings string
		wantErr  string
	}{
		{settings: `{"paths":["/var/log"],"warnPercent":80,"problemPercent":90,"forecast":{"window":"2h","minSamples":3,"minSpan":"10m","horizon":"12h","problemWithin":"1h"}}`},
		{settings: `{"forecast":{"horizon":"48h"}}`},
		{settings: `{"paths":[]}`, wantErr: "checks.log-filesystem.settings.paths: must list at least one path"},
		{settings: `{"paths":["var/log"]}`, wantErr: "checks.log-filesystem.settings.paths[0]: must be an absolute host path"},
		{settings: `{"warnPercent":0}`, wantErr: "checks.log-filesystem.settings.warnPercent"},
		{settings: `{"warnPercent":90,"problemPercent":80}`, wantErr: "checks.log-filesystem.settings.problemPercent"},
		{settings: `{"problemPercent":120}`, wantErr: "checks.log-filesystem.settings.problemPercent"},
		{settings: `{"forecast":{"window":"0s"}}`, wantErr: "checks.log-filesystem.settings.forecast.window"},
		{settings: `{"forecast":{"minSamples":1}}`, wantErr: "checks.log-filesystem.settings.forecast.minSamples"},
		{settings: `{"forecast":{"minSpan":"2h"}}`, wantErr: "checks.log-filesystem.settings.forecast.minSpan"},
		{settings: `{"forecast":{"horizon":"1h"}}`, wantErr: "checks.log-filesystem.settings.forecast.problemWithin"},
		{settings: `{"forecast":{"window":"soon"}}`, wantErr: "checks.log-filesystem.settings"},
		{settings: `{"usagePercent":80}`, wantErr: `usagePercent: unknown field`},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			_, err := LogFilesystemSpec().New(hostTestEnv(t, "log-filesystem", t.TempDir(), hostTestEnvOptions{settings: tt.settings}))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLogFilesystemNotApplicableAndErrors(t *testing.T) {
	check, err := LogFilesystemSpec().New(hostTestEnv(t, "log-filesystem", t.TempDir(), hostTestEnvOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check.Check(context.Background()); !errors.Is(err, probes.ErrNotApplicable) {
		t.Errorf("no log paths: %v, want ErrNotApplicable", err)
	}

	const root = "testdata/log-filesystem/node"
	statfs := func(string) (probes.Usage, error) {
		return probes.Usage{}, &fs.PathError{Op: "statfs", Path: "/var/log", Err: syscall.EACCES}
	}
	check, err = LogFilesystemSpec().New(hostTestEnv(t, "log-filesystem", root, hostTestEnvOptions{statfs: statfs}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check.Check(context.Background()); err == nil || errors.Is(err, probes.ErrNotApplicable) || !strings.Contains(err.Error(), "statfs /var/log") {
		t.Errorf("statfs denied: %v, want an error naming statfs /var/log", err)
	}
}
