package hostchecks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/probes"
)

func TestParseMemcgProcCgroups(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]memcgController
		wantErr string
	}{
		{
			name: "v1 host",
			in:   "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\nmemory\t4\t14\t1\nnet_cls\t0\t1\t1\n",
			want: map[string]memcgController{
				"cpuset":  {hierarchy: 3, numCgroups: 1, enabled: true},
				"memory":  {hierarchy: 4, numCgroups: 14, enabled: true},
				"net_cls": {hierarchy: 0, numCgroups: 1, enabled: true},
			},
		},
		{
			name: "memory disabled on the command line",
			in:   "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t1\t0\n",
			want: map[string]memcgController{"memory": {hierarchy: 0, numCgroups: 1, enabled: false}},
		},
		{name: "only the header", in: "#subsys_name\thierarchy\tnum_cgroups\tenabled\n", wantErr: "no controllers listed"},
		{name: "short line", in: "memory\t4\t14\n", wantErr: "line 1: want 4 fields"},
		{name: "not a number", in: "#h\nmemory\t4\tmany\t1\n", wantErr: "line 2: field 3 is not a count"},
		{name: "negative", in: "memory\t4\t-3\t1\n", wantErr: "line 1: field 3 is not a count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMemcgProcCgroups(strings.NewReader(tt.in))
			hostTestParsed(t, got, err, tt.want, tt.wantErr, cmp.AllowUnexported(memcgController{}))
		})
	}
}

func TestParseMemcgCgroupStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]int
		wantErr string
	}{
		{
			name: "kernel with per-controller counts",
			in:   "nr_descendants 55\nnr_subsys_memory 56\nnr_dying_descendants 35\nnr_dying_subsys_memory 35\n",
			want: map[string]int{"nr_descendants": 55, "nr_subsys_memory": 56, "nr_dying_descendants": 35, "nr_dying_subsys_memory": 35},
		},
		{
			name: "older kernel",
			in:   "nr_descendants 3\nnr_dying_descendants 0\n",
			want: map[string]int{"nr_descendants": 3, "nr_dying_descendants": 0},
		},
		{name: "empty", in: "\n", wantErr: "empty"},
		{name: "no value", in: "nr_descendants\n", wantErr: `line 1: want "key value"`},
		{name: "bad value", in: "nr_descendants 3\nnr_dying_descendants x\n", wantErr: "line 2: nr_dying_descendants is not a count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMemcgCgroupStat(strings.NewReader(tt.in))
			hostTestParsed(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestMemcgKernelLeaksKmem(t *testing.T) {
	tests := []struct {
		release string
		want    bool
	}{
		{"3.10.0-1062.12.1.el7.x86_64", true},
		{"3.10.0-957.el7.x86_64", true},
		{"3.10.0-1075.el7.x86_64", false},
		{"3.10.0-1160.119.1.el7.x86_64", false},
		{"4.14.123-111.109.amzn2.x86_64", true},
		{"4.19.0-26-amd64", true},
		{"5.10.210-201.852.amzn2.x86_64", false},
		{"6.18.44-fc-v657", false},
		{"unknown (read failed)", false},
	}
	for _, tt := range tests {
		t.Run(tt.release, func(t *testing.T) {
			if got := memcgKernelLeaksKmem(tt.release); got != tt.want {
				t.Errorf("memcgKernelLeaksKmem(%q) = %v, want %v", tt.release, got, tt.want)
			}
		})
	}
}

func TestMemcgHasNokmem(t *testing.T) {
	tests := []struct {
		cmdline string
		want    bool
	}{
		{"ro quiet cgroup.memory=nokmem", true},
		{"ro cgroup.memory=nosocket,nokmem quiet", true},
		{"ro cgroup.memory=nosocket quiet", false},
		{"ro quiet nokmem", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.cmdline, func(t *testing.T) {
			if got := memcgHasNokmem(tt.cmdline); got != tt.want {
				t.Errorf("memcgHasNokmem(%q) = %v, want %v", tt.cmdline, got, tt.want)
			}
		})
	}
}

func TestMemcgRoughCount(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "0"}, {99, "99"}, {100, "≈100"}, {2612, "≈2,600"}, {2650, "≈2,700"}, {59870, "≈60,000"}, {123456, "≈120,000"},
	}
	for _, tt := range tests {
		if got := memcgRoughCount(tt.n); got != tt.want {
			t.Errorf("memcgRoughCount(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// TestMemcgGolden runs the check on each fixture host root under
// testdata/memory-cgroups and compares its result with the golden file.
func TestMemcgGolden(t *testing.T) {
	scenarios := []string{
		"healthy-v1", "dying-v1-el7", "dying-v1-nokmem", "healthy-v2", "dying-v2",
		"idlimit-v2-old-kernel", "hybrid-memory-on-unified", "memory-disabled", "corrupt-proc-cgroups",
	}
	for _, name := range scenarios {
		t.Run(name, func(t *testing.T) {
			root := filepath.Join("testdata", MemcgCheckName, name)
			c := hostTestNewCheck(t, MemcgSpec(), hostTestEnv(t, MemcgCheckName, root, hostTestEnvOptions{}))
			hostTestGolden(t, root+".golden.json", hostTestRun(t.Context(), c))
		})
	}
}

// TestMemcgThresholds covers each trigger on a v2 root built for the case.
func TestMemcgThresholds(t *testing.T) {
	tests := []struct {
		name         string
		live, dying  int
		settings     string
		wantSeverity probes.Severity // "" = healthy
		wantCrossed  string
	}{
		{name: "below every threshold", live: 400, dying: 1999},
		{name: "dying threshold", live: 1000, dying: 2000, wantSeverity: probes.SeverityWarning, wantCrossed: "2000 dying"},
		{name: "ratio", live: 100, dying: 500, wantSeverity: probes.SeverityWarning, wantCrossed: "5 dying per live memcg"},
		{name: "ratio needs ratioMinDying", live: 10, dying: 499},
		{name: "ratio with a lower floor", live: 10, dying: 60, settings: `{"ratioMinDying": 50}`, wantSeverity: probes.SeverityWarning, wantCrossed: "5 dying per live memcg"},
		{name: "ID limit", live: 40000, dying: 1000, settings: `{"idLimitPercent": 60}`, wantSeverity: probes.SeverityProblem, wantCrossed: "60% of the memcg IDs in use"},
		{name: "raised dying threshold", live: 1000, dying: 2500, settings: `{"dyingThreshold": 3000}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			hostTestWriteFiles(t, root, map[string]string{
				"/sys/fs/cgroup/cgroup.controllers": "memory\n",
				"/sys/fs/cgroup/cgroup.stat": fmt.Sprintf("nr_descendants %d\nnr_subsys_memory %d\nnr_dying_descendants %d\nnr_dying_subsys_memory %d\n",
					tt.live-1, tt.live, tt.dying, tt.dying),
				"/proc/sys/kernel/osrelease": "6.1.0-27-cloud-amd64\n",
				"/proc/cmdline":              "ro quiet\n",
			})
			c := hostTestNewCheck(t, MemcgSpec(), hostTestEnv(t, MemcgCheckName, root, hostTestEnvOptions{settings: tt.settings}))
			findings, err := c.Check(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantSeverity == "" {
				if len(findings) != 0 {
					t.Fatalf("findings = %+v, want none", findings)
				}
				return
			}
			if len(findings) != 1 {
				t.Fatalf("got %d findings, want 1: %+v", len(findings), findings)
			}
			f := findings[0]
			if f.Severity != tt.wantSeverity || !strings.Contains(f.Evidence["thresholdsCrossed"], tt.wantCrossed) {
				t.Errorf("severity %s, crossed %q; want %s containing %q", f.Severity, f.Evidence["thresholdsCrossed"], tt.wantSeverity, tt.wantCrossed)
			}
			if got, want := f.Evidence["dyingMemcgs"], strconv.Itoa(tt.dying); got != want {
				t.Errorf("dyingMemcgs = %s, want %s", got, want)
			}
		})
	}
}

func TestMemcgSettingsErrors(t *testing.T) {
	tests := []struct {
		settings string
		want     string
	}{
		{`{"dyingThreshold": 0}`, "checks.memory-cgroups.settings.dyingThreshold: must be at least 1, got 0"},
		{`{"dyingPerLiveRatio": -1}`, "checks.memory-cgroups.settings.dyingPerLiveRatio: must be greater than 0"},
		{`{"ratioMinDying": -1}`, "checks.memory-cgroups.settings.ratioMinDying: must not be negative"},
		{`{"idLimitPercent": 120}`, "checks.memory-cgroups.settings.idLimitPercent: must be in (0, 100], got 120"},
		{`{"dyingThreshhold": 10}`, `checks.memory-cgroups.settings.dyingThreshhold: unknown field`},
		{`{"dyingThreshold": "many"}`, "checks.memory-cgroups.settings.dyingThreshold: cannot use string as int"},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			_, err := MemcgSpec().New(hostTestEnv(t, MemcgCheckName, t.TempDir(), hostTestEnvOptions{settings: tt.settings}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestMemcgRealKernelDyingCgroups makes real dying memory cgroups: it creates
// cgroups under a test parent in the v1 memory hierarchy, charges each with
// page cache from a short-lived child process (sh moves itself into the
// cgroup, dd writes and fsyncs 1 MiB to a file on disk, both exit), removes
// them, and expects the check (on host root "/", with a lowered threshold) to
// see them.
func TestMemcgRealKernelDyingCgroups(t *testing.T) {
	hostTestRequireRoot(t)
	const hierarchy = "/sys/fs/cgroup/memory"
	if _, err := os.Stat(filepath.Join(hierarchy, "cgroup.procs")); err != nil {
		t.Fatalf("needs the cgroup v1 memory controller mounted at %s: %v", hierarchy, err)
	}
	for _, tool := range []string{"sh", "dd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("needs %s: apt-get install coreutils dash", tool)
		}
	}
	// Other processes on this machine create and release cgroups while the
	// test runs; 64 of ours dying is well above that noise.
	const children = 64
	dataDir := t.TempDir() // on disk, so the written pages are page cache

	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	parent := filepath.Join(hierarchy, "nodetriage-test-"+hex.EncodeToString(suffix))
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	child := func(i int) string { return filepath.Join(parent, fmt.Sprintf("c%d", i)) }
	t.Cleanup(func() {
		for i := range children {
			os.Remove(child(i)) // already gone unless the test failed midway
		}
		if err := os.Remove(parent); err != nil {
			t.Errorf("remove test cgroup %s: %v", parent, err)
		}
	})

	for i := range children {
		if err := os.Mkdir(child(i), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && exec dd if=/dev/zero of="$2" bs=1M count=1 conv=fsync status=none`,
			"sh", child(i), filepath.Join(dataDir, fmt.Sprintf("charge-%d", i)))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("charge %s: %v\n%s", child(i), err, out)
		}
		usage, err := os.ReadFile(filepath.Join(child(i), "memory.usage_in_bytes"))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := strconv.Atoi(strings.TrimSpace(string(usage))); n < 1<<20 {
			t.Fatalf("%s charged with %d bytes, want at least 1 MiB of page cache", child(i), n)
		}
	}

	counter := hostTestNewCheck(t, MemcgSpec(), hostTestEnv(t, MemcgCheckName, "/", hostTestEnvOptions{})).(*memcgCheck)
	before, err := counter.count(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if before.mode != "v1" {
		t.Fatalf("cgroup mode %s, want v1 on this machine", before.mode)
	}
	threshold := before.dying + children/2
	settings := fmt.Sprintf(`{"dyingThreshold": %d, "ratioMinDying": 1000000000, "idLimitPercent": 100}`, threshold)
	check := hostTestNewCheck(t, MemcgSpec(), hostTestEnv(t, MemcgCheckName, "/", hostTestEnvOptions{settings: settings}))
	if got := hostTestRun(t.Context(), check); got.Error != "" || len(got.Findings) != 0 {
		t.Fatalf("with the test cgroups alive: %+v, want healthy (threshold %d)", got, threshold)
	}

	for i := range children {
		if err := os.Remove(child(i)); err != nil {
			t.Fatal(err)
		}
	}
	got := hostTestRun(t.Context(), check)
	if got.Error != "" {
		t.Fatal(got.Error)
	}
	if len(got.Findings) != 1 || got.Findings[0].Reason != ReasonDyingMemoryCgroup {
		t.Fatalf("after removing %d charged cgroups: %+v, want one %s finding (threshold %d, dying before %d)",
			children, got.Findings, ReasonDyingMemoryCgroup, threshold, before.dying)
	}
	f := got.Findings[0]
	dying, _ := strconv.Atoi(f.Evidence["dyingMemcgs"])
	if dying < threshold {
		t.Errorf("dyingMemcgs = %d, want at least %d", dying, threshold)
	}
	for _, key := range []string{"kernelRelease", "nokmemOnCmdline", "kmemAccounting", "procCgroupsMemoryNumCgroups"} {
		if f.Evidence[key] == "" {
			t.Errorf("evidence lacks %s: %v", key, f.Evidence)
		}
	}
	t.Logf("dying memcgs %d (before %d); message: %s", dying, before.dying, f.Message)
}

func TestMemcgNotApplicableWithoutMemoryController(t *testing.T) {
	root := filepath.Join("testdata", MemcgCheckName, "memory-disabled")
	c := hostTestNewCheck(t, MemcgSpec(), hostTestEnv(t, MemcgCheckName, root, hostTestEnvOptions{}))
	_, err := c.Check(context.Background())
	if !errors.Is(err, probes.ErrNotApplicable) {
		t.Fatalf("error = %v, want ErrNotApplicable", err)
	}
}

// BenchmarkMemcgCountRealHierarchy times one run's counting on the real v1
// memory hierarchy with 2000 extra live cgroups under a test parent (each
// cgroupfs directory lists ~30 control files, which the walk must skip).
func BenchmarkMemcgCountRealHierarchy(b *testing.B) {
	const hierarchy = "/sys/fs/cgroup/memory"
	if _, err := os.Stat(filepath.Join(hierarchy, "cgroup.procs")); err != nil {
		b.Fatalf("needs the cgroup v1 memory controller mounted at %s: %v", hierarchy, err)
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		b.Fatal(err)
	}
	parent := filepath.Join(hierarchy, "nodetriage-bench-"+hex.EncodeToString(suffix))
	const groups, perGroup = 40, 50
	var dirs []string
	b.Cleanup(func() {
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
	})
	mk := func(d string) {
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	mk(parent)
	for g := range groups {
		gd := filepath.Join(parent, fmt.Sprintf("pod%d", g))
		mk(gd)
		for c := range perGroup - 1 {
			mk(filepath.Join(gd, fmt.Sprintf("c%d", c)))
		}
	}
	env := probes.Env{Host: probes.NewFS("/"), Settings: probes.Settings{Path: "checks.memory-cgroups.settings"}}
	c, err := newMemcgCheck(env)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		counts, err := c.(*memcgCheck).count(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if counts.live < groups*perGroup {
			b.Fatalf("counted %d live memcgs, want at least %d", counts.live, groups*perGroup)
		}
	}
}
