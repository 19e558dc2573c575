package hostchecks

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

const conntrackTestNewHeader = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"

func TestParseConntrackStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    conntrackStat
		wantErr string
	}{
		{
			name: "current kernel, two CPUs",
			in: conntrackTestNewHeader +
				"0000012c  00000003 00000000 00000000 00000011 00000000 00000000 00000002 00000000 00000001 000004b0 00000320 00000000  00000000 00000000 00000000 00000005\n" +
				"0000012c  00000001 00000000 00000000 00000009 00000000 00000000 00000001 00000000 00000000 0000044c 000002bc 00000000  00000000 00000000 00000000 00000002\n",
			want: conntrackStat{Entries: 300, CPUs: 2, Totals: map[string]uint64{
				"clashres": 4, "found": 0, "new": 0, "invalid": 0x1a, "ignore": 0, "delete": 0, "chainlength": 3,
				"insert": 0, "insert_failed": 1, "drop": 0x4b0 + 0x44c, "early_drop": 0x320 + 0x2bc, "icmp_error": 0,
				"expect_new": 0, "expect_create": 0, "expect_delete": 0, "search_restart": 7,
			}},
		},
		{
			name: "old kernel without search_restart",
			in: "entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete\n" +
				"0000ea60  00000064 00000032 00000014 00000000 00000000 0000000a 0000000a 00000014 00000000 00000002 00000001 00000000  00000000 00000000 00000000\n",
			want: conntrackStat{Entries: 60000, CPUs: 1, Totals: map[string]uint64{
				"searched": 100, "found": 50, "new": 20, "invalid": 0, "ignore": 0, "delete": 10, "delete_list": 10,
				"insert": 20, "insert_failed": 0, "drop": 2, "early_drop": 1, "icmp_error": 0,
				"expect_new": 0, "expect_create": 0, "expect_delete": 0,
			}},
		},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "header only", in: conntrackTestNewHeader, wantErr: "no per-CPU lines"},
		{name: "not a conntrack stat file", in: "Ip: Forwarding DefaultTTL\n", wantErr: `header does not start with "entries"`},
		{name: "short line", in: "entries drop early_drop\n00000001 00000002\n", wantErr: "line 2: 2 values for 3 columns"},
		{name: "not hex", in: "entries drop early_drop\n00000001 0000000g 00000000\n", wantErr: `line 2: column drop: "0000000g" is not hex`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConntrackStat(strings.NewReader(tt.in))
			hostTestParsed(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestConntrackImageTagAndVersion(t *testing.T) {
	tests := []struct {
		ref          string
		wantTag      string
		wantOK       bool
		major, minor int
	}{
		{"registry.k8s.io/kube-proxy:v1.31.2", "v1.31.2", true, 1, 31},
		{"registry.k8s.io/kube-proxy:v1.32.0@sha256:0123abcd", "v1.32.0", true, 1, 32},
		{"602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.29.3-minimal-eksbuild.2", "v1.29.3-minimal-eksbuild.2", true, 1, 29},
		{"localhost:5000/kube-proxy:1.28.4", "1.28.4", true, 1, 28},
		{"localhost:5000/kube-proxy", "", false, 0, 0},
		{"sha256:4e1d2b9c0a", "4e1d2b9c0a", false, 0, 0},
		{"kube-proxy:latest", "latest", false, 0, 0},
		{"kube-proxy:v0.0.0-master", "v0.0.0-master", false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			tag := conntrackImageTag(tt.ref)
			if tag != tt.wantTag {
				t.Errorf("conntrackImageTag = %q, want %q", tag, tt.wantTag)
			}
			v, ok := parseConntrackKubeVersion(tag)
			if ok != tt.wantOK || v.Major != tt.major || v.Minor != tt.minor {
				t.Errorf("parseConntrackKubeVersion(%q) = %+v, %v; want %d.%d, %v", tag, v, ok, tt.major, tt.minor, tt.wantOK)
			}
		})
	}
}

func conntrackTestProxyContainer(image, userImage string, state runtimeapi.ContainerState, created int64) *runtimeapi.Container {
	return &runtimeapi.Container{
		Id:        "c" + strconv.FormatInt(created, 10),
		Labels:    map[string]string{"io.kubernetes.container.name": "kube-proxy", "io.kubernetes.pod.namespace": "kube-system"},
		Image:     &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: userImage},
		ImageId:   image,
		State:     state,
		CreatedAt: created,
	}
}

func conntrackTestNode(kubeProxyVersion string) *corev1.Node {
	n := &corev1.Node{}
	n.Name = "node-1"
	n.Status.NodeInfo.KubeProxyVersion = kubeProxyVersion
	return n
}

// TestConntrackKubeProxyVersionSources checks the order in which the
// kube-proxy version is looked up, and that an unknown version never makes a
// ConntrackBinaryMissing finding.
func TestConntrackKubeProxyVersionSources(t *testing.T) {
	running, exited := runtimeapi.ContainerState_CONTAINER_RUNNING, runtimeapi.ContainerState_CONTAINER_EXITED
	tests := []struct {
		name        string
		opts        hostTestEnvOptions
		wantVersion string // "" = unknown
		wantSource  string
		wantMissing bool
	}{
		{
			name: "running container's user-specified image",
			opts: hostTestEnvOptions{runtime: &hostTestRuntime{containers: []*runtimeapi.Container{
				conntrackTestProxyContainer("sha256:old", "registry.k8s.io/kube-proxy:v1.33.0", exited, 200),
				conntrackTestProxyContainer("sha256:new", "registry.k8s.io/kube-proxy:v1.31.2", running, 100),
			}}},
			wantVersion: "v1.31.2", wantSource: "kube-proxy container image registry.k8s.io/kube-proxy:v1.31.2", wantMissing: true,
		},
		{
			name: "image ID only: tags from ImageStatus",
			opts: hostTestEnvOptions{runtime: &hostTestRuntime{
				containers: []*runtimeapi.Container{conntrackTestProxyContainer("sha256:4e1d", "", running, 1)},
				images: map[string]*runtimeapi.Image{"sha256:4e1d": {Id: "sha256:4e1d", RepoTags: []string{
					"602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.29.3-eksbuild.2"}}},
			}},
			wantVersion: "v1.29.3-eksbuild.2", wantSource: "kube-proxy container image 602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.29.3-eksbuild.2", wantMissing: true,
		},
		{
			name: "runtime knows 1.32: no binary needed, node status ignored",
			opts: hostTestEnvOptions{
				runtime: &hostTestRuntime{containers: []*runtimeapi.Container{conntrackTestProxyContainer("x", "registry.k8s.io/kube-proxy:v1.32.1", running, 1)}},
				node:    conntrackTestNode("v1.27.0"),
			},
			wantVersion: "v1.32.1", wantSource: "kube-proxy container image registry.k8s.io/kube-proxy:v1.32.1",
		},
		{
			name: "runtime unreachable: node status",
			opts: hostTestEnvOptions{
				runtime: &hostTestRuntime{listErr: errors.New("connection refused")},
				node:    conntrackTestNode("v1.30.1"),
			},
			wantVersion: "v1.30.1", wantSource: "node status.nodeInfo.kubeProxyVersion", wantMissing: true,
		},
		{
			name: "node status v0.0.0 is unset: kube-proxy log",
			opts: hostTestEnvOptions{
				node: conntrackTestNode("v0.0.0"),
				logs: hostTestLogs{"KubeProxyVersion": {Reason: "KubeProxyVersion", Captures: map[string]string{"version": "v1.28.4"},
					Line: probes.Line{Origin: "/var/log/pods/kube-system_kube-proxy-x/kube-proxy/0.log"}}},
			},
			wantVersion: "v1.28.4", wantSource: "kube-proxy log (/var/log/pods/kube-system_kube-proxy-x/kube-proxy/0.log)", wantMissing: true,
		},
		{name: "nothing knows", opts: hostTestEnvOptions{node: conntrackTestNode("")}},
		{name: "no node, no runtime, no logs"},
	}
	root := filepath.Join("testdata", ConntrackCheckName, "binary-missing")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := hostTestNewCheck(t, ConntrackSpec(), hostTestEnv(t, ConntrackCheckName, root, tt.opts)).(*conntrackCheck)
			v, ok := c.kubeProxyVersion(t.Context())
			if ok != (tt.wantVersion != "") || v.Raw != tt.wantVersion || v.Source != tt.wantSource {
				t.Errorf("kubeProxyVersion = %+v, %v; want %q from %q", v, ok, tt.wantVersion, tt.wantSource)
			}
			findings, err := c.Check(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			missing := false
			for _, f := range findings {
				missing = missing || f.Reason == ReasonConntrackBinaryMissing
			}
			if missing != tt.wantMissing {
				t.Errorf("ConntrackBinaryMissing reported %v, want %v: %+v", missing, tt.wantMissing, findings)
			}
		})
	}
}

// TestConntrackGolden runs the check on each fixture host root under
// testdata/conntrack and compares its result with the golden file. Scenarios
// with a second sample run twice: once on the root, once after the files of
// <scenario>.second are laid over it.
func TestConntrackGolden(t *testing.T) {
	oldProxy := hostTestEnvOptions{node: conntrackTestNode("v1.31.2")}
	tests := []struct {
		scenario string
		golden   string // defaults to the scenario
		second   bool
		opts     hostTestEnvOptions
	}{
		{scenario: "healthy", opts: oldProxy},
		{scenario: "near-full", opts: oldProxy},
		{scenario: "table-full", opts: oldProxy},
		{scenario: "table-full", golden: "table-full-second-run", second: true, opts: oldProxy},
		{scenario: "binary-missing", opts: oldProxy},
		{scenario: "binary-missing", golden: "binary-missing-new-kube-proxy", opts: hostTestEnvOptions{node: conntrackTestNode("v1.33.2")}},
		{scenario: "alternatives-link", opts: oldProxy},
		{scenario: "legacy-ip-conntrack", opts: oldProxy},
		{scenario: "no-stat-file", opts: oldProxy},
		{scenario: "not-loaded", opts: oldProxy},
		{scenario: "corrupt-stat", opts: oldProxy},
	}
	for _, tt := range tests {
		golden := tt.golden
		if golden == "" {
			golden = tt.scenario
		}
		t.Run(golden, func(t *testing.T) {
			root := filepath.Join("testdata", ConntrackCheckName, tt.scenario)
			if tt.second {
				root = t.TempDir()
				hostTestCopyTree(t, filepath.Join("testdata", ConntrackCheckName, tt.scenario), root, nil)
			}
			clk := clocktesting.NewFakePassiveClock(hostTestNow)
			tt.opts.clock = clk
			c := hostTestNewCheck(t, ConntrackSpec(), hostTestEnv(t, ConntrackCheckName, root, tt.opts))
			got := hostTestRun(t.Context(), c)
			if tt.second {
				if got.Error != "" {
					t.Fatal(got.Error)
				}
				for _, f := range got.Findings {
					if f.Reason == ReasonConntrackTableFull {
						t.Fatalf("first run reported %s; the first sample is only the baseline", f.Reason)
					}
				}
				hostTestCopyTree(t, filepath.Join("testdata", ConntrackCheckName, tt.scenario+".second"), root, nil)
				clk.SetTime(hostTestNow.Add(time.Minute))
				got = hostTestRun(t.Context(), c)
			}
			hostTestGolden(t, filepath.Join("testdata", ConntrackCheckName, golden+".golden.json"), got)
		})
	}
}

// TestConntrackTableFullFollowsCounters runs the check on a sequence of
// samples: a rise raises ConntrackTableFull, a steady sample clears it, a
// counter reset is a new baseline.
func TestConntrackTableFullFollowsCounters(t *testing.T) {
	root := t.TempDir()
	hostTestWriteFiles(t, root, map[string]string{
		"/proc/sys/net/netfilter/nf_conntrack_count": "100\n",
		"/proc/sys/net/netfilter/nf_conntrack_max":   "262144\n",
	})
	sample := func(drop, earlyDrop uint64) {
		hostTestWriteFiles(t, root, map[string]string{"/proc/net/stat/nf_conntrack": "entries drop early_drop\n" +
			"00000064 " + conntrackTestHex(drop) + " " + conntrackTestHex(earlyDrop) + "\n" +
			"00000064 00000000 00000000\n"})
	}
	clk := clocktesting.NewFakePassiveClock(hostTestNow)
	c := hostTestNewCheck(t, ConntrackSpec(), hostTestEnv(t, ConntrackCheckName, root, hostTestEnvOptions{clock: clk}))
	steps := []struct {
		drop, earlyDrop uint64
		wantFull        bool
		wantDropDelta   string
	}{
		{drop: 10, earlyDrop: 5},                                        // baseline
		{drop: 10, earlyDrop: 5},                                        // steady
		{drop: 12, earlyDrop: 5, wantFull: true, wantDropDelta: "2"},    // drop rises
		{drop: 12, earlyDrop: 9, wantFull: true, wantDropDelta: "0"},    // early_drop rises
		{drop: 12, earlyDrop: 9},                                        // steady: clears
		{drop: 1, earlyDrop: 0},                                         // reset (reboot): new baseline
		{drop: 300, earlyDrop: 0, wantFull: true, wantDropDelta: "299"}, // rises from the new baseline
	}
	for i, step := range steps {
		sample(step.drop, step.earlyDrop)
		clk.SetTime(hostTestNow.Add(time.Duration(i) * time.Minute))
		findings, err := c.Check(t.Context())
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		var full *probes.Finding
		for j := range findings {
			if findings[j].Reason == ReasonConntrackTableFull {
				full = &findings[j]
			}
		}
		if (full != nil) != step.wantFull {
			t.Fatalf("step %d (drop %d, early_drop %d): ConntrackTableFull %v, want %v", i, step.drop, step.earlyDrop, full != nil, step.wantFull)
		}
		if full != nil && full.Evidence["dropDelta"] != step.wantDropDelta {
			t.Errorf("step %d: dropDelta %s, want %s", i, full.Evidence["dropDelta"], step.wantDropDelta)
		}
	}
}

func conntrackTestHex(v uint64) string {
	s := strconv.FormatUint(v, 16)
	return strings.Repeat("0", max(0, 8-len(s))) + s
}

func TestConntrackSettingsErrors(t *testing.T) {
	tests := []struct {
		settings string
		want     string
	}{
		{`{"nearFullPercent": 0}`, "checks.conntrack.settings.nearFullPercent: must be in (0, 100], got 0"},
		{`{"binaryDirs": []}`, "checks.conntrack.settings.binaryDirs: must list at least one directory"},
		{`{"binaryDirs": ["/usr/sbin", "sbin"]}`, `checks.conntrack.settings.binaryDirs[1]: must be an absolute host path, got "sbin"`},
		{`{"nearFull": 80}`, `checks.conntrack.settings.nearFull: unknown field`},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			_, err := ConntrackSpec().New(hostTestEnv(t, ConntrackCheckName, t.TempDir(), hostTestEnvOptions{settings: tt.settings}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestConntrackRealStatFile parses this machine's own
// /proc/net/stat/nf_conntrack (read only): one line per possible CPU, and the
// columns the check needs.
func TestConntrackRealStatFile(t *testing.T) {
	data, err := os.ReadFile("/proc/net/stat/nf_conntrack")
	if err != nil {
		t.Fatalf("needs the nf_conntrack module loaded (modprobe nf_conntrack): %v", err)
	}
	st, err := parseConntrackStat(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("parse /proc/net/stat/nf_conntrack: %v\n%s", err, data)
	}
	possible, err := os.ReadFile("/sys/devices/system/cpu/possible")
	if err != nil {
		t.Fatal(err)
	}
	if want := conntrackTestCountCPUs(t, strings.TrimSpace(string(possible))); st.CPUs != want {
		t.Errorf("parsed %d per-CPU lines, want %d (cpu/possible %s)", st.CPUs, want, possible)
	}
	for _, col := range []string{"drop", "early_drop", "insert_failed"} {
		if _, ok := st.Totals[col]; !ok {
			t.Errorf("column %s missing; header: %s", col, strings.SplitN(string(data), "\n", 2)[0])
		}
	}

	// The whole check on this host: it must read the real files without
	// error, and with no kube-proxy anywhere it must not judge the binary.
	c := hostTestNewCheck(t, ConntrackSpec(), hostTestEnv(t, ConntrackCheckName, "/", hostTestEnvOptions{}))
	for run := range 2 {
		findings, err := c.Check(t.Context())
		if err != nil {
			t.Fatalf("run %d on this host: %v", run, err)
		}
		for _, f := range findings {
			if f.Reason == ReasonConntrackBinaryMissing {
				t.Errorf("run %d: %s without a known kube-proxy version", run, f.Reason)
			}
		}
	}
}

// conntrackTestCountCPUs counts a sysfs CPU list such as "0-3,8,10-11".
func conntrackTestCountCPUs(t *testing.T, list string) int {
	n := 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			t.Fatalf("cpu list %q: %v", list, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				t.Fatalf("cpu list %q: %v", list, err)
			}
		}
		n += b - a + 1
	}
	return n
}

// TestConntrackRealBinaryUnderFixtureRoot copies this machine's real
// conntrack executable into a fixture host root and takes it away again.
func TestConntrackRealBinaryUnderFixtureRoot(t *testing.T) {
	const real = "/usr/sbin/conntrack"
	bin, err := os.ReadFile(real)
	if err != nil {
		t.Fatalf("needs the conntrack binary at %s: apt-get install conntrack (%v)", real, err)
	}
	root := t.TempDir()
	hostTestWriteFiles(t, root, map[string]string{
		"/proc/sys/net/netfilter/nf_conntrack_count": "10\n",
		"/proc/sys/net/netfilter/nf_conntrack_max":   "262144\n",
	})
	binDir := filepath.Join(root, "usr", "sbin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Debian's merged /usr: /sbin is a link to usr/sbin.
	if err := os.Symlink("usr/sbin", filepath.Join(root, "sbin")); err != nil {
		t.Fatal(err)
	}
	install := func(mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(binDir, "conntrack"), bin, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(binDir, "conntrack"), mode); err != nil {
			t.Fatal(err)
		}
	}
	remove := func() {
		if err := os.Remove(filepath.Join(binDir, "conntrack")); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name        string
		change      func()
		proxy       string
		settings    string
		wantMissing bool
	}{
		{name: "installed, kube-proxy 1.31", change: func() { install(0o755) }, proxy: "v1.31.2"},
		{name: "removed, kube-proxy 1.31", change: remove, proxy: "v1.31.2", wantMissing: true},
		{name: "removed, kube-proxy 1.32", change: func() {}, proxy: "v1.32.0"},
		{name: "installed without exec bits", change: func() { install(0o644) }, proxy: "v1.31.2", wantMissing: true},
		{name: "reached only through the /sbin link", change: func() { install(0o755) }, proxy: "v1.31.2", settings: `{"binaryDirs": ["/sbin"]}`},
	}
	for _, step := range steps {
		step.change()
		c := hostTestNewCheck(t, ConntrackSpec(), hostTestEnv(t, ConntrackCheckName, root, hostTestEnvOptions{
			node: conntrackTestNode(step.proxy), settings: step.settings}))
		findings, err := c.Check(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		missing := len(findings) == 1 && findings[0].Reason == ReasonConntrackBinaryMissing
		if missing != step.wantMissing || (!step.wantMissing && len(findings) != 0) {
			t.Errorf("%s: findings %+v, want ConntrackBinaryMissing %v", step.name, findings, step.wantMissing)
		}
	}
}

// BenchmarkParseConntrackStat parses a 64-CPU /proc/net/stat/nf_conntrack.
func BenchmarkParseConntrackStat(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(conntrackTestNewHeader)
	for range 64 {
		sb.WriteString("0003a5f1  00000003 00000000 00000000 00000011 00000000 00000000 00000002 00000000 00000001 000004b0 00000320 00000000  00000000 00000000 00000000 00000005\n")
	}
	data := sb.String()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := parseConntrackStat(strings.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
