package hostchecks

import (
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

// logTestNow is the fake "now" of the log-disk check tests.
var logTestNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// copyLogHostRoot copies a fixture host root to a temp dir (so a test can
// set mtimes, which git does not keep) and sets every mtime to 30 days
// before logTestNow.
func copyLogHostRoot(t testing.TB, src string) string {
	t.Helper()
	root := t.TempDir()
	old := logTestNow.Add(-30 * 24 * time.Hour)
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(root, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case d.IsDir():
			dirs = append(dirs, dst)
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
		return os.Chtimes(dst, old, old)
	})
	if err != nil {
		t.Fatalf("copy host root %s: %v", src, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- { // after their entries were written
		if err := os.Chtimes(dirs[i], old, old); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// setLogMtime sets a host path's mtime under root to logTestNow minus age.
func setLogMtime(t testing.TB, root, hostPath string, age time.Duration) {
	t.Helper()
	ts := logTestNow.Add(-age)
	if err := os.Chtimes(filepath.Join(root, hostPath), ts, ts); err != nil {
		t.Fatal(err)
	}
}

// logTestEnv is an Env over a host root with the fake clock and the given
// settings JSON ("" for defaults).
func logTestEnv(t testing.TB, host probes.FS, checkName, settings string) probes.Env {
	t.Helper()
	return probes.Env{
		Host:     host,
		Clock:    clocktesting.NewFakeClock(logTestNow),
		Logger:   slog.New(slog.DiscardHandler),
		Settings: probes.Settings{Path: "checks." + checkName + ".settings", Raw: json.RawMessage(settings)},
	}
}

// runLogCheck builds the check from its spec and runs it once.
func runLogCheck(t *testing.T, spec probes.Spec, env probes.Env) []probes.Finding {
	t.Helper()
	check, err := spec.New(env)
	if err != nil {
		t.Fatalf("%s: New: %v", spec.Name, err)
	}
	findings, err := check.Check(context.Background())
	if err != nil {
		t.Fatalf("%s: Check: %v", spec.Name, err)
	}
	return findings
}

// compareLogGolden compares findings with a golden JSON file, or rewrites it
// under -update.
func compareLogGolden(t *testing.T, golden string, findings []probes.Finding) {
	t.Helper()
	if findings == nil {
		findings = []probes.Finding{}
	}
	got, err := json.MarshalIndent(findings, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("findings differ from %s (-want +got):\n%s", golden, diff)
	}
}

// checkLogFindingContract checks what every finding must carry.
func checkLogFindingContract(t *testing.T, findings []probes.Finding) {
	t.Helper()
	for _, f := range findings {
		if f.Check == "" || f.Condition != containerLogDiskPressure || f.Reason == "" || f.Message == "" || f.Remedy == "" || f.Subject == "" || len(f.Evidence) == 0 {
			t.Errorf("finding misses a required field: %+v", f)
		}
		if f.Severity != probes.SeverityWarning && f.Severity != probes.SeverityProblem {
			t.Errorf("finding %s has severity %q, want warning or problem", f.Reason, f.Severity)
		}
		for _, s := range []string{f.Message, f.Remedy} {
			for _, r := range s {
				if r == '\n' {
					t.Errorf("finding %s: message and remedy must be one line: %q", f.Reason, s)
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, f := range findings {
		if seen[f.Key()] {
			t.Errorf("two findings share the key %q: they would be deduplicated into one", f.Key())
		}
		seen[f.Key()] = true
	}
}
