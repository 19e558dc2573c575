package hostchecks

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
	"go.uber.org/goleak"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

// kubeletRestartsTestBus starts a real dbus-daemon listening on the system
// bus socket path under a fresh host root, with a policy that lets root own
// and call anything. It returns the host root.
func kubeletRestartsTestBus(t *testing.T) string {
	t.Helper()
	hostTestRequireRoot(t)
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Fatal("needs dbus-daemon: apt-get install dbus")
	}
	// Not t.TempDir: its path holds the test name, and a unix socket path
	// must stay under 108 bytes.
	root, err := os.MkdirTemp("", "nt-dbus-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	socket := filepath.Join(root, "run", "dbus", "system_bus_socket")
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "bus.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`, socket), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--nopidfile", "--nosyslog")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.After(10 * time.Second)
	for {
		if fi, err := os.Stat(socket); err == nil && fi.Mode().Type() == os.ModeSocket {
			return root
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("dbus-daemon exited: %v: %s", err, stderr.String())
		case <-deadline:
			t.Fatalf("dbus-daemon did not create %s within 10s: %s", socket, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// kubeletRestartsFakeSystemd owns org.freedesktop.systemd1 on the bus and
// serves unit objects with the Unit.LoadState and Service.NRestarts
// properties, the only things the check reads.
type kubeletRestartsFakeSystemd struct {
	units map[string]*prop.Properties
}

func kubeletRestartsStartFakeSystemd(t *testing.T, root string, loadStates map[string]string) *kubeletRestartsFakeSystemd {
	t.Helper()
	conn, err := godbus.Dial("unix:path=" + filepath.Join(root, "run", "dbus", "system_bus_socket"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Auth(nil); err != nil {
		t.Fatal(err)
	}
	if err := conn.Hello(); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName("org.freedesktop.systemd1", godbus.NameFlagDoNotQueue)
	if err != nil || reply != godbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own org.freedesktop.systemd1: reply %v, %v", reply, err)
	}
	fake := &kubeletRestartsFakeSystemd{units: map[string]*prop.Properties{}}
	for unit, state := range loadStates {
		// go-systemd's unitPath: the escaped name under .../unit/.
		path := godbus.ObjectPath("/org/freedesktop/systemd1/unit/" + sddbus.PathBusEscape(unit))
		props, err := prop.Export(conn, path, prop.Map{
			"org.freedesktop.systemd1.Unit":    {"LoadState": {Value: state, Emit: prop.EmitFalse}},
			"org.freedesktop.systemd1.Service": {"NRestarts": {Value: uint32(0), Emit: prop.EmitFalse}},
		})
		if err != nil {
			t.Fatal(err)
		}
		fake.units[unit] = props
	}
	return fake
}

func (f *kubeletRestartsFakeSystemd) setRestarts(unit string, n uint32) {
	f.units[unit].SetMust("org.freedesktop.systemd1.Service", "NRestarts", n)
}

// TestKubeletRestartsOverRealDBus drives the check through a real
// dbus-daemon against a fake systemd: NRestarts rising by 3 within 20m is a
// restart loop, a steady counter for a whole window clears it, and a counter
// reset starts over.
func TestKubeletRestartsOverRealDBus(t *testing.T) {
	root := kubeletRestartsTestBus(t)
	fake := kubeletRestartsStartFakeSystemd(t, root, map[string]string{
		"kubelet.service":    "loaded",
		"containerd.service": "loaded",
		"crio.service":       "not-found",
	})
	leaksBefore := goleak.IgnoreCurrent()

	clk := clocktesting.NewFakePassiveClock(hostTestNow)
	c := hostTestNewCheck(t, KubeletRestartsSpec(), hostTestEnv(t, KubeletRestartsCheckName, root, hostTestEnvOptions{
		clock:    clk,
		settings: `{"units": ["kubelet.service", "containerd.service", "crio.service"]}`,
	}))

	type sample struct {
		at                 time.Duration
		kubelet, container uint32
		want               []string // reasons
	}
	steps := []sample{
		{at: 0, kubelet: 5},           // baseline (restarts from before the agent)
		{at: time.Minute, kubelet: 7}, // +2 in the window
		{at: 2 * time.Minute, kubelet: 8, want: []string{ReasonKubeletRestartLoop}},
		{at: 10 * time.Minute, kubelet: 8, container: 3, want: []string{ReasonKubeletRestartLoop, ReasonContainerdRestartLoop}},
		{at: 21 * time.Minute, kubelet: 8, container: 3, want: []string{ReasonContainerdRestartLoop}}, // kubelet's rise left the window
		{at: 31 * time.Minute, kubelet: 8, container: 3},                                              // steady for 20m: cleared
		{at: 32 * time.Minute, kubelet: 0, container: 3},                                              // reset by a manual restart
		{at: 33 * time.Minute, kubelet: 2, container: 3},
	}
	for _, step := range steps {
		fake.setRestarts("kubelet.service", step.kubelet)
		fake.setRestarts("containerd.service", step.container)
		clk.SetTime(hostTestNow.Add(step.at))
		got := hostTestRun(t.Context(), c)
		if got.Error != "" {
			t.Fatalf("at %v: %s", step.at, got.Error)
		}
		var reasons []string
		for _, f := range got.Findings {
			reasons = append(reasons, f.Reason)
		}
		if strings.Join(reasons, ",") != strings.Join(step.want, ",") {
			t.Errorf("at %v (kubelet NRestarts %d, containerd %d): reasons %v, want %v", step.at, step.kubelet, step.container, reasons, step.want)
		}
		if step.at == 10*time.Minute {
			hostTestGolden(t, filepath.Join("testdata", KubeletRestartsCheckName, "restart-loop.golden.json"), got)
		}
	}
	// Each run closes its connection: nothing of go-systemd or godbus
	// outlives it.
	if err := goleak.Find(leaksBefore); err != nil {
		t.Errorf("goroutines left behind by the check's runs: %v", err)
	}
}

func TestKubeletRestartsNotApplicable(t *testing.T) {
	t.Run("no socket under the host root", func(t *testing.T) {
		c := hostTestNewCheck(t, KubeletRestartsSpec(), hostTestEnv(t, KubeletRestartsCheckName, t.TempDir(), hostTestEnvOptions{}))
		_, err := c.Check(t.Context())
		if !errors.Is(err, probes.ErrNotApplicable) || !strings.Contains(err.Error(), "no D-Bus socket under the host root") {
			t.Fatalf("error = %v, want ErrNotApplicable naming the missing socket", err)
		}
	})
	t.Run("none of the units is loaded", func(t *testing.T) {
		root := kubeletRestartsTestBus(t)
		kubeletRestartsStartFakeSystemd(t, root, map[string]string{"kubelet.service": "not-found", "containerd.service": "not-found"})
		c := hostTestNewCheck(t, KubeletRestartsSpec(), hostTestEnv(t, KubeletRestartsCheckName, root, hostTestEnvOptions{}))
		_, err := c.Check(t.Context())
		if !errors.Is(err, probes.ErrNotApplicable) {
			t.Fatalf("error = %v, want ErrNotApplicable", err)
		}
	})
}

func TestKubeletRestartsCouldNotTell(t *testing.T) {
	t.Run("socket path is a regular file", func(t *testing.T) {
		root := t.TempDir()
		hostTestWriteFiles(t, root, map[string]string{"/run/dbus/system_bus_socket": ""})
		c := hostTestNewCheck(t, KubeletRestartsSpec(), hostTestEnv(t, KubeletRestartsCheckName, root, hostTestEnvOptions{}))
		_, err := c.Check(t.Context())
		if err == nil || errors.Is(err, probes.ErrNotApplicable) || !strings.Contains(err.Error(), "/run/dbus/system_bus_socket is not a socket") {
			t.Fatalf("error = %v, want a could-not-tell error naming the socket", err)
		}
	})
	t.Run("nobody owns org.freedesktop.systemd1", func(t *testing.T) {
		root := kubeletRestartsTestBus(t)
		c := hostTestNewCheck(t, KubeletRestartsSpec(), hostTestEnv(t, KubeletRestartsCheckName, root, hostTestEnvOptions{}))
		_, err := c.Check(t.Context())
		if err == nil || errors.Is(err, probes.ErrNotApplicable) || !strings.Contains(err.Error(), "kubelet.service over D-Bus socket /run/dbus/system_bus_socket") {
			t.Fatalf("error = %v, want a could-not-tell error naming the unit and socket", err)
		}
		t.Logf("error: %v", err)
	})
}

func TestKubeletRestartsSettingsErrors(t *testing.T) {
	tests := []struct {
		settings string
		want     string
	}{
		{`{"units": []}`, "checks.kubelet-restarts.settings.units: must list at least one unit"},
		{`{"units": ["kubelet"]}`, `checks.kubelet-restarts.settings.units[0]: must be a service unit name like kubelet.service, got "kubelet"`},
		{`{"minRestarts": 0}`, "checks.kubelet-restarts.settings.minRestarts: must be at least 1, got 0"},
		{`{"window": "20 minutes"}`, `checks.kubelet-restarts.settings.window: not a duration (like "90s" or "10m"): "20 minutes"`},
		{`{"window": "0s"}`, `checks.kubelet-restarts.settings.window: must be a positive duration like 20m, got 0s`},
		{`{"window": 1200}`, "checks.kubelet-restarts.settings.window: cannot use number as string"},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			_, err := KubeletRestartsSpec().New(hostTestEnv(t, KubeletRestartsCheckName, t.TempDir(), hostTestEnvOptions{settings: tt.settings}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestKubeletRestartsSamplesStayBounded feeds a fast-rising counter with a
// window far longer than the samples' span.
func TestKubeletRestartsSamplesStayBounded(t *testing.T) {
	c := hostTestNewCheck(t, KubeletRestartsSpec(), hostTestEnv(t, KubeletRestartsCheckName, t.TempDir(), hostTestEnvOptions{settings: `{"window": "1000h"}`})).(*kubeletRestartsCheck)
	for i := range 3 * kubeletRestartsMaxSamples {
		c.record("kubelet.service", hostTestNow.Add(time.Duration(i)*time.Second), uint32(i))
	}
	if n := len(c.samples["kubelet.service"]); n != kubeletRestartsMaxSamples {
		t.Errorf("kept %d samples, want %d", n, kubeletRestartsMaxSamples)
	}
}
