package hostchecks

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/nodetriage/nodetriage/probes"
)

func TestParseCNIConfig(t *testing.T) {
	tests := []struct {
		name    string
		ext     string
		in      string
		want    cniNetwork
		wantErr string
	}{
		{
			name: "single bridge conf with defaults",
			ext:  ".conf",
			in:   `{"cniVersion": "0.4.0", "name": "mynet", "type": "bridge", "isGateway": true}`,
			want: cniNetwork{Name: "mynet", Bridges: []cniBridgePlugin{{Type: "bridge", Bridge: "cni0"}}},
		},
		{
			name: "json extension is a single conf",
			ext:  ".json",
			in:   `{"name": "mynet", "type": "bridge", "bridge": "br-pods", "hairpinMode": true}`,
			want: cniNetwork{Name: "mynet", Bridges: []cniBridgePlugin{{Type: "bridge", Bridge: "br-pods", HairpinMode: true}}},
		},
		{
			name: "conflist with bridge and portmap",
			ext:  ".conflist",
			in:   `{"name": "containerd-net", "plugins": [{"type": "bridge", "bridge": "cni0", "promiscMode": true}, {"type": "portmap"}]}`,
			want: cniNetwork{Name: "containerd-net", Bridges: []cniBridgePlugin{{Type: "bridge", Bridge: "cni0", PromiscMode: true}}},
		},
		{
			name: "flannel delegates to the bridge plugin",
			ext:  ".conflist",
			in:   `{"name": "cbr0", "plugins": [{"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}}]}`,
			want: cniNetwork{Name: "cbr0", Bridges: []cniBridgePlugin{{Type: "flannel", Bridge: "cni0", HairpinMode: true}}},
		},
		{
			name: "flannel without delegate",
			ext:  ".conf",
			in:   `{"name": "cbr0", "type": "flannel"}`,
			want: cniNetwork{Name: "cbr0", Bridges: []cniBridgePlugin{{Type: "flannel", Bridge: "cni0"}}},
		},
		{
			name: "flannel delegating to ipvlan has no bridge",
			ext:  ".conf",
			in:   `{"name": "n", "type": "flannel", "delegate": {"type": "ipvlan", "master": "eth0"}}`,
			want: cniNetwork{Name: "n"},
		},
		{
			name: "routed CNI has no bridge",
			ext:  ".conflist",
			in:   `{"name": "k8s-pod-network", "plugins": [{"type": "calico"}, {"type": "bandwidth"}]}`,
			want: cniNetwork{Name: "k8s-pod-network"},
		},
		{
			name: "conf file holding a plugin list",
			ext:  ".conf",
			in:   `{"name": "n", "plugins": [{"type": "bridge", "hairpinMode": true}]}`,
			want: cniNetwork{Name: "n", Bridges: []cniBridgePlugin{{Type: "bridge", Bridge: "cni0", HairpinMode: true}}},
		},
		{name: "truncated JSON", ext: ".conflist", in: `{"name": "n", "plugins": [`, wantErr: "parse JSON"},
		{name: "empty plugin list", ext: ".conflist", in: `{"name": "n", "plugins": []}`, wantErr: "plugin list is empty"},
		{name: "plugin without type", ext: ".conflist", in: `{"name": "n", "plugins": [{"bridge": "cni0"}]}`, wantErr: "plugin 0 has no type"},
		{name: "hairpinMode as a string", ext: ".conf", in: `{"name": "n", "type": "bridge", "hairpinMode": "yes"}`, wantErr: "plugin 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCNIConfig(tt.ext, []byte(tt.in))
			hostTestParsed(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestLoadCNINetworkPicksFirstFileLexically(t *testing.T) {
	root := t.TempDir()
	hostTestWriteFiles(t, root, map[string]string{
		"/etc/cni/net.d/20-second.conflist": `{"name": "second", "plugins": [{"type": "bridge", "bridge": "br2"}]}`,
		"/etc/cni/net.d/10-first.conf":      `{"name": "first", "type": "bridge", "bridge": "br1", "hairpinMode": true}`,
		"/etc/cni/net.d/05-notes.txt":       "not a config",
		"/etc/cni/net.d/00-backup.conf.bak": "{",
	})
	got, found, err := loadCNINetwork(probes.NewFS(root), "/etc/cni/net.d")
	if err != nil || !found {
		t.Fatalf("loadCNINetwork = %v, %v", found, err)
	}
	want := cniNetwork{File: "/etc/cni/net.d/10-first.conf", Name: "first", Bridges: []cniBridgePlugin{{Type: "bridge", Bridge: "br1", HairpinMode: true}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	if _, found, err := loadCNINetwork(probes.NewFS(root), "/etc/cni/missing.d"); found || err != nil {
		t.Errorf("missing dir: found %v, err %v; want not found, no error", found, err)
	}
}

func TestParseHairpinSysfs(t *testing.T) {
	flagTests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{"0x1003\n", 0x1003, false},
		{"0x1103\n", 0x1103, false},
		{"0x9", 0x9, false},
		{"4099\n", 0, true},
		{"0xzz\n", 0, true},
		{"", 0, true},
	}
	for _, tt := range flagTests {
		got, err := parseHairpinSysfsFlags([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseHairpinSysfsFlags(%q) = %#x, %v; want %#x, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	boolTests := []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{"1\n", true, false},
		{"0\n", false, false},
		{"2\n", false, true},
		{"", false, true},
	}
	for _, tt := range boolTests {
		got, err := parseHairpinSysfsBool([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseHairpinSysfsBool(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func hairpinTestNode(kubeletVersion string) *corev1.Node {
	n := &corev1.Node{}
	n.Name = "node-1"
	n.Status.NodeInfo.KubeletVersion = kubeletVersion
	return n
}

// TestHairpinGolden runs the check on each fixture host root under
// testdata/hairpin and compares its result with the golden file.
func TestHairpinGolden(t *testing.T) {
	tests := []struct {
		scenario string
		golden   string // defaults to the scenario
		opts     hostTestEnvOptions
	}{
		{scenario: "healthy"},
		{scenario: "hairpin-off"},
		{scenario: "not-promiscuous"},
		{scenario: "promiscuous"},
		{scenario: "neither-configured"},
		{scenario: "flannel-hairpin-off"},
		{scenario: "no-bridge"},
		{scenario: "unmanaged-bridge"},
		{scenario: "corrupt-cni-config"},
		{scenario: "dockershim-hairpin-veth", opts: hostTestEnvOptions{node: hairpinTestNode("v1.23.17")}},
		{scenario: "dockershim-hairpin-veth", golden: "dockershim-hairpin-veth-cri-dockerd",
			opts: hostTestEnvOptions{runtime: &hostTestRuntime{endpoint: "unix:///var/run/cri-dockerd.sock"}}},
		// A current kubelet leaves hairpin to the CNI plugin: nothing
		// expects anything of docker0.
		{scenario: "dockershim-hairpin-veth", golden: "dockershim-hairpin-veth-new-kubelet", opts: hostTestEnvOptions{node: hairpinTestNode("v1.30.4")}},
	}
	for _, tt := range tests {
		golden := tt.golden
		if golden == "" {
			golden = tt.scenario
		}
		t.Run(golden, func(t *testing.T) {
			root := filepath.Join("testdata", HairpinCheckName, tt.scenario)
			c := hostTestNewCheck(t, HairpinSpec(), hostTestEnv(t, HairpinCheckName, root, tt.opts))
			hostTestGolden(t, filepath.Join("testdata", HairpinCheckName, golden+".golden.json"), hostTestRun(t.Context(), c))
		})
	}
}

func TestHairpinWatchesCNIConfDir(t *testing.T) {
	c := hostTestNewCheck(t, HairpinSpec(), hostTestEnv(t, HairpinCheckName, t.TempDir(), hostTestEnvOptions{settings: `{"cniConfDir": "/opt/cni/conf"}`}))
	w, ok := c.(probes.Watched)
	if !ok {
		t.Fatal("the hairpin check does not implement probes.Watched")
	}
	if diff := cmp.Diff([]string{"/opt/cni/conf"}, w.WatchPaths()); diff != "" {
		t.Errorf("WatchPaths (-want +got):\n%s", diff)
	}
	_, err := HairpinSpec().New(hostTestEnv(t, HairpinCheckName, t.TempDir(), hostTestEnvOptions{settings: `{"cniConfDir": "etc/cni"}`}))
	if want := "checks.hairpin.settings.cniConfDir: must be an absolute host path"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("relative cniConfDir: error %v, want %q", err, want)
	}
}

// TestHairpinRealBridgeInNetns builds a bridge with veth ports in a network
// namespace of its own, toggles hairpin and promiscuous mode with ip(8), and
// runs the check inside the namespace (ip netns exec remounts /sys for it)
// after each change.
func TestHairpinRealBridgeInNetns(t *testing.T) {
	hostTestRequireRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("needs ip(8): apt-get install iproute2")
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	ns := "nt-" + hex.EncodeToString(suffix)
	hairpinTestIP(t, "netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	inNS := func(args ...string) { hairpinTestIP(t, append([]string{"-n", ns}, args...)...) }
	inNS("link", "add", "cni0", "type", "bridge")
	inNS("link", "set", "cni0", "up")
	ports := []string{"veth0", "veth1", "veth2"}
	for _, p := range ports {
		inNS("link", "add", p, "type", "veth", "peer", "name", p+"p")
		inNS("link", "set", p, "master", "cni0")
		inNS("link", "set", p, "up")
	}

	confDir := t.TempDir()
	writeConf := func(field string) {
		conf := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "test", "plugins": [{"type": "bridge", "bridge": "cni0", %s "ipam": {}}]}`, field)
		if err := os.WriteFile(filepath.Join(confDir, "10-bridge.conflist"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func() hostTestResult {
		t.Helper()
		out := filepath.Join(t.TempDir(), "result.json")
		cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestHostHelperProcess$")
		cmd.Env = append(os.Environ(), "NT_HOST_HELPER=hairpin-check", "NT_HAIRPIN_CONF_DIR="+confDir, "NT_HAIRPIN_OUT="+out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("check inside %s: %v\n%s", ns, err, b)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var r hostTestResult
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	type want struct {
		reasons    []string
		hairpinOff string
	}
	summarize := func(r hostTestResult) want {
		if r.Error != "" {
			t.Fatalf("check error: %s", r.Error)
		}
		var w want
		for _, f := range r.Findings {
			w.reasons = append(w.reasons, f.Reason)
			if f.Reason == ReasonHairpinModeOff {
				w.hairpinOff = f.Evidence["hairpinOffPorts"]
			}
		}
		return w
	}
	steps := []struct {
		name   string
		change func()
		want   want
	}{
		{
			name:   "hairpinMode expected, new ports have it off",
			change: func() { writeConf(`"hairpinMode": true,`) },
			want:   want{reasons: []string{ReasonHairpinModeOff}, hairpinOff: "veth0,veth1,veth2"},
		},
		{
			name: "hairpin turned on everywhere",
			change: func() {
				for _, p := range ports {
					inNS("link", "set", "dev", p, "type", "bridge_slave", "hairpin", "on")
				}
			},
		},
		{
			name:   "hairpin off again on one port",
			change: func() { inNS("link", "set", "dev", "veth1", "type", "bridge_slave", "hairpin", "off") },
			want:   want{reasons: []string{ReasonHairpinModeOff}, hairpinOff: "veth1"},
		},
		{
			name:   "config switched to promiscMode, bridge not promiscuous",
			change: func() { writeConf(`"promiscMode": true,`) },
			want:   want{reasons: []string{ReasonBridgeNotPromiscuous}},
		},
		{
			name:   "bridge made promiscuous",
			change: func() { inNS("link", "set", "cni0", "promisc", "on") },
		},
		{
			name:   "promiscuous turned off again",
			change: func() { inNS("link", "set", "cni0", "promisc", "off") },
			want:   want{reasons: []string{ReasonBridgeNotPromiscuous}},
		},
	}
	for _, step := range steps {
		step.change()
		got := summarize(run())
		if diff := cmp.Diff(step.want, got, cmp.AllowUnexported(want{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", step.name, diff)
		}
	}
}

func hairpinTestIP(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// hairpinTestRunInNetns is the helper process side of
// TestHairpinRealBridgeInNetns: it runs the check on host root "/" (this
// namespace's /sys) with the test's CNI conf dir and writes the result.
func hairpinTestRunInNetns(t *testing.T) error {
	settings, err := json.Marshal(HairpinConfig{CNIConfDir: os.Getenv("NT_HAIRPIN_CONF_DIR")})
	if err != nil {
		return err
	}
	c, err := HairpinSpec().New(hostTestEnv(t, HairpinCheckName, "/", hostTestEnvOptions{settings: string(settings)}))
	if err != nil {
		return err
	}
	data, err := json.Marshal(hostTestRun(t.Context(), c))
	if err != nil {
		return err
	}
	return os.WriteFile(os.Getenv("NT_HAIRPIN_OUT"), data, 0o644)
}

func TestHairpinNotApplicableWithoutBridge(t *testing.T) {
	root := filepath.Join("testdata", HairpinCheckName, "no-bridge")
	c := hostTestNewCheck(t, HairpinSpec(), hostTestEnv(t, HairpinCheckName, root, hostTestEnvOptions{}))
	if _, err := c.Check(t.Context()); !errors.Is(err, probes.ErrNotApplicable) {
		t.Fatalf("error = %v, want ErrNotApplicable", err)
	}
}
