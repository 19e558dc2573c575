package hostchecks

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

// mountLogTmpfs mounts a small tmpfs on root/var/log (a fresh host root) and
// unmounts it when the test ends, whatever happens.
func mountLogTmpfs(t *testing.T, options string) (root, varLog string) {
	t.Helper()
	root = t.TempDir()
	varLog = filepath.Join(root, "var/log")
	if err := os.MkdirAll(varLog, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", varLog, "tmpfs", 0, options); err != nil {
		t.Fatalf("mount -t tmpfs -o %s on %s: %v (run the tests as root)", options, varLog, err)
	}
	// Registered after TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		if err := unix.Unmount(varLog, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", varLog, err)
		}
	})
	return root, varLog
}

// statfsTruth is what statfs(2) itself says, to judge the check by.
func statfsTruth(t *testing.T, dir string) (usedPct, inodesPct float64, avail uint64) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	used := (st.Blocks - st.Bfree) * uint64(st.Bsize)
	avail = st.Bavail * uint64(st.Bsize)
	return 100 * float64(used) / float64(used+avail), 100 * float64(st.Files-st.Ffree) / float64(st.Files), avail
}

func findingsByReason(findings []probes.Finding) map[string]probes.Finding {
	m := map[string]probes.Finding{}
	for _, f := range findings {
		m[f.Reason] = f
	}
	return m
}

// TestLogFilesystemOnRealTmpfs fills a real 16 MiB tmpfs standing in for
// /var/log in steps of 1.5 MiB, 5 fake minutes apart: the check must report
// NearFull exactly when statfs crosses 85 % / 95 %, forecast the fill once it
// has 3 samples over 10 minutes, and clear both when the files are deleted.
func TestLogFilesystemOnRealTmpfs(t *testing.T) {
	root, varLog := mountLogTmpfs(t, "size=16m,nr_inodes=2000")
	const step = 1536 << 10
	env := hostTestEnv(t, "log-filesystem", root, hostTestEnvOptions{settings: `{"paths":["/var/log","/var/log/pods"],"forecast":{"minSamples":3,"minSpan":"10m"}}`})
	clk := env.Clock.(*clocktesting.FakeClock)
	check, err := LogFilesystemSpec().New(env)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, step)
	sawNearFull, sawForecast := false, false
	for i := 0; ; i++ {
		_, _, avail := statfsTruth(t, varLog)
		if avail < step {
			break
		}
		if err := os.WriteFile(filepath.Join(varLog, fmt.Sprintf("app.log.%d", i)), chunk, 0o644); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		findings, err := check.Check(context.Background())
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		checkLogFindingContract(t, findings)
		usedPct, _, availNow := statfsTruth(t, varLog)
		got := findingsByReason(findings)

		nearFull, ok := got[reasonLogFilesystemNearFull]
		if wantNear := usedPct >= 85; ok != wantNear {
			t.Fatalf("step %d: statfs says %.1f%% used; NearFull reported = %v", i, usedPct, ok)
		}
		if ok {
			sawNearFull = true
			wantSev := probes.SeverityWarning
			if usedPct >= 95 {
				wantSev = probes.SeverityProblem
			}
			wantText := fmt.Sprintf("filesystem holding /var/log is %.0f%% full", math.Floor(usedPct))
			if nearFull.Severity != wantSev || !strings.Contains(nearFull.Message, wantText) {
				t.Errorf("step %d (%.1f%%): %s %q, want %s containing %q", i, usedPct, nearFull.Severity, nearFull.Message, wantSev, wantText)
			}
		}

		forecast, ok := got[reasonLogFilesystemFillForecast]
		if wantForecast := i >= 2 && availNow > 0; ok != wantForecast {
			t.Fatalf("step %d: forecast reported = %v, want %v (%+v)", i, ok, wantForecast, findings)
		}
		if ok {
			sawForecast = true
			perHour, _ := strconv.ParseFloat(forecast.Evidence["bytesPerHour"], 64)
			if want := float64(step) * 12; math.Abs(perHour-want) > want/100 {
				t.Errorf("step %d: forecast rate %v B/h, want %v (1.5 MiB per 5 minutes)", i, perHour, want)
			}
			secs, _ := strconv.ParseFloat(forecast.Evidence["secondsToFull"], 64)
			if want := float64(availNow) / (float64(step) / 300); math.Abs(secs-want) > 2 {
				t.Errorf("step %d: forecast %v s to full, want %v", i, secs, want)
			}
			if forecast.Severity != probes.SeverityProblem || !strings.Contains(forecast.Message, "filling at 18 MiB/h") {
				t.Errorf("step %d: forecast %s %q, want a problem filling at 18 MiB/h", i, forecast.Severity, forecast.Message)
			}
		}
		clk.Step(5 * time.Minute)
	}
	if !sawNearFull || !sawForecast {
		t.Fatalf("filled the tmpfs without seeing both reasons (nearFull %v, forecast %v)", sawNearFull, sawForecast)
	}

	// Clean up: every finding clears on the next run.
	entries, err := os.ReadDir(varLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(varLog, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	findings, err := check.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 0 {
		t.Errorf("after deleting the files: %+v, want no findings", findings)
	}
}

// TestLogFilesystemInodesOnRealTmpfs exhausts the inodes of a real tmpfs
// with empty files.
func TestLogFilesystemInodesOnRealTmpfs(t *testing.T) {
	root, varLog := mountLogTmpfs(t, "size=16m,nr_inodes=2000")
	env := hostTestEnv(t, "log-filesystem", root, hostTestEnvOptions{settings: `{"paths":["/var/log"]}`})
	check, err := LogFilesystemSpec().New(env)
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	for _, target := range []int{1500, 1750, 1950, 0} {
		if target == 0 {
			for i := range created {
				if err := os.Remove(filepath.Join(varLog, fmt.Sprintf("f%04d", i))); err != nil {
					t.Fatal(err)
				}
			}
			created = 0
		}
		for ; created < target; created++ {
			f, err := os.Create(filepath.Join(varLog, fmt.Sprintf("f%04d", created)))
			if err != nil {
				t.Fatalf("create file %d: %v", created, err)
			}
			f.Close()
		}
		findings, err := check.Check(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, inodesPct, _ := statfsTruth(t, varLog)
		var want probes.Severity
		switch {
		case inodesPct >= 95:
			want = probes.SeverityProblem
		case inodesPct >= 85:
			want = probes.SeverityWarning
		}
		f, ok := findingsByReason(findings)[reasonLogFilesystemNearFull]
		if ok != (want != "") || len(findings) > 1 {
			t.Fatalf("%d files (%.1f%% inodes): findings %+v, want severity %q", created, inodesPct, findings, want)
		}
		if ok {
			wantText := fmt.Sprintf("has used %.0f%% of its 2000 inodes", math.Floor(inodesPct))
			if f.Severity != want || !strings.Contains(f.Message, wantText) || !strings.Contains(f.Remedy, "find /var/log -xdev -type f | cut -d/ -f1-4") {
				t.Errorf("%d files: %s %q / %q, want %s containing %q", created, f.Severity, f.Message, f.Remedy, want, wantText)
			}
		}
	}
}
