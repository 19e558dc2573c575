package hostchecks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
)

// Names of the kubelet-restarts check, its condition and reasons.
const (
	KubeletRestartsCheckName    = "kubelet-restarts"
	KubeletRestartsCondition    = "KubeletUnhealthy"
	ReasonKubeletRestartLoop    = "KubeletRestartLoop"
	ReasonContainerdRestartLoop = "ContainerdRestartLoop"
	ReasonServiceRestartLoop    = "ServiceRestartLoop"
)

// kubeletRestartsMaxSamples bounds the samples kept per unit whatever the
// window and interval.
const kubeletRestartsMaxSamples = 1024

// kubeletRestartsSockets are where systemd answers, in the order tried: the
// system bus (dbus-daemon or dbus-broker, which needs Hello), then systemd's
// private socket (peer to peer, root only, works even when the bus is down).
var kubeletRestartsSockets = []struct {
	path  string
	hello bool
}{
	{"/run/dbus/system_bus_socket", true},
	{"/run/systemd/private", false},
}

// KubeletRestartsConfig is the kubelet-restarts check's settings
// (checks.kubelet-restarts.settings).
type KubeletRestartsConfig struct {
	// Units are the systemd services watched. Default kubelet.service and
	// containerd.service.
	Units []string `json:"units"`
	// MinRestarts is how many automatic restarts within Window make a
	// restart loop. Default 3.
	MinRestarts int `json:"minRestarts"`
	// Window: default 20m, the look-back of node-problem-detector's
	// FrequentKubeletRestart.
	Window metav1.Duration `json:"window"`
}

// DefaultKubeletRestartsConfig returns the documented defaults.
func DefaultKubeletRestartsConfig() KubeletRestartsConfig {
	return KubeletRestartsConfig{Units: []string{"kubelet.service", "containerd.service"}, MinRestarts: 3, Window: metav1.Duration{Duration: 20 * time.Minute}}
}

func (c KubeletRestartsConfig) validate(s probes.Settings) error {
	if len(c.Units) == 0 {
		return s.Fieldf("units", "must list at least one unit")
	}
	for i, u := range c.Units {
		if !strings.HasSuffix(u, ".service") || len(u) == len(".service") {
			return s.Fieldf(fmt.Sprintf("units[%d]", i), "must be a service unit name like kubelet.service, got %q", u)
		}
	}
	if c.MinRestarts < 1 {
		return s.Fieldf("minRestarts", "must be at least 1, got %d", c.MinRestarts)
	}
	if c.Window.Duration <= 0 {
		return s.Fieldf("window", "must be a positive duration like 20m, got %s", config.FormatDuration(c.Window.Duration))
	}
	return nil
}

// KubeletRestartsSpec is the kubelet-restarts check.
//
// Reads systemd's NRestarts (automatic restarts of a service, systemd 235+)
// and LoadState of each configured unit over D-Bus
// (github.com/coreos/go-systemd/v22/dbus), through the host's system bus
// socket /run/dbus/system_bus_socket or systemd's private /run/systemd/private
// under the host root, authenticating with EXTERNAL as the agent's uid
// (root). Samples are kept in the check between runs.
//
// Condition KubeletUnhealthy, subject the unit, with reason
// KubeletRestartLoop (kubelet.service), ContainerdRestartLoop
// (containerd.service) or ServiceRestartLoop (any other unit), when NRestarts
// rose by minRestarts (3) or more within window (20m), the thresholds of
// node-problem-detector's FrequentKubeletRestart log counter and the AWS node
// monitoring agent's RepeatedRestart. It clears once NRestarts has not risen
// for a whole window. The window is measured between samples, so the check's
// interval must be shorter than it.
//
// No socket under the host root: not applicable (the journal restart rule
// covers restart loops). Units not loaded in systemd are skipped.
//
// Tested against a real dbus-daemon serving a fake systemd (the unit objects
// and their properties); real systemd is not exercised here because this
// test machine does not run it.
func KubeletRestartsSpec() probes.Spec {
	return probes.Spec{
		Name:           KubeletRestartsCheckName,
		Condition:      KubeletRestartsCondition,
		Interval:       time.Minute,
		Timeout:        15 * time.Second,
		DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{
			{Reason: ReasonKubeletRestartLoop, Condition: KubeletRestartsCondition, Severity: probes.SeverityProblem,
				Summary: "systemd keeps restarting kubelet.service"},
			{Reason: ReasonContainerdRestartLoop, Condition: KubeletRestartsCondition, Severity: probes.SeverityProblem,
				Summary: "systemd keeps restarting containerd.service"},
			{Reason: ReasonServiceRestartLoop, Condition: KubeletRestartsCondition, Severity: probes.SeverityWarning,
				Summary: "systemd keeps restarting a watched service"},
		},
		New: newKubeletRestartsCheck,
	}
}

type kubeletRestartSample struct {
	at        time.Time
	nRestarts uint32
}

type kubeletRestartsCheck struct {
	env    probes.Env
	cfg    KubeletRestartsConfig
	window time.Duration

	mu      sync.Mutex
	samples map[string][]kubeletRestartSample // by unit, oldest first
}

func newKubeletRestartsCheck(env probes.Env) (probes.Check, error) {
	cfg := DefaultKubeletRestartsConfig()
	if err := config.Decode(env.Settings, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(env.Settings); err != nil {
		return nil, err
	}
	return &kubeletRestartsCheck{env: env, cfg: cfg, window: cfg.Window.Duration, samples: map[string][]kubeletRestartSample{}}, nil
}

func (c *kubeletRestartsCheck) Check(ctx context.Context) ([]probes.Finding, error) {
	c.mu.Lock()
	defer c.mu.Unlock()

	// One connection per run: go-systemd's connection runs goroutines of its
	// own, and the Check interface has no Close to stop them between runs.
	conn, socket, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	now := c.env.Clock.Now()
	findings := []probes.Finding{}
	loaded := 0
	for _, unit := range c.cfg.Units {
		n, ok, err := c.nRestarts(ctx, conn, unit)
		if err != nil {
			return nil, fmt.Errorf("%s over D-Bus socket %s: %w", unit, socket, err)
		}
		if !ok {
			delete(c.samples, unit)
			continue
		}
		loaded++
		rise, since := c.record(unit, now, n)
		if rise < c.cfg.MinRestarts {
			continue
		}
		findings = append(findings, c.finding(unit, n, rise, since, socket, now))
	}
	if loaded == 0 {
		return nil, fmt.Errorf("none of %s is loaded in systemd: %w", strings.Join(c.cfg.Units, ", "), probes.ErrNotApplicable)
	}
	return findings, nil
}

// record adds a sample and returns how much NRestarts rose within the window
// and since when.
func (c *kubeletRestartsCheck) record(unit string, now time.Time, n uint32) (int, time.Time) {
	samples := c.samples[unit]
	// systemd zeroes NRestarts when the unit is started or stopped by hand;
	// earlier samples then say nothing about the new run.
	if len(samples) > 0 && n < samples[len(samples)-1].nRestarts {
		samples = nil
	}
	samples = append(samples, kubeletRestartSample{at: now, nRestarts: n})
	cutoff := now.Add(-c.window)
	first := 0
	for first < len(samples)-1 && samples[first].at.Before(cutoff) {
		first++
	}
	first = max(first, len(samples)-kubeletRestartsMaxSamples)
	samples = append(samples[:0:0], samples[first:]...)
	c.samples[unit] = samples
	return int(n - samples[0].nRestarts), samples[0].at
}

func (c *kubeletRestartsCheck) finding(unit string, n uint32, rise int, since time.Time, socket string, now time.Time) probes.Finding {
	reason, severity := ReasonServiceRestartLoop, probes.SeverityWarning
	name := strings.TrimSuffix(unit, ".service")
	remedy := fmt.Sprintf("See why it exits: `journalctl -u %s -n 200 --no-pager` and `systemctl status %s`.", name, unit)
	switch unit {
	case "kubelet.service":
		reason, severity = ReasonKubeletRestartLoop, probes.SeverityProblem
		remedy = "See why the kubelet exits: `journalctl -u kubelet -n 200 --no-pager` (usual causes: an invalid flag or field in /var/lib/kubelet/config.yaml, an expired client certificate in /var/lib/kubelet/pki, the container runtime socket missing, swap enabled with failSwapOn), fix it, then `systemctl restart kubelet`."
	case "containerd.service":
		reason, severity = ReasonContainerdRestartLoop, probes.SeverityProblem
		remedy = "See why containerd exits: `journalctl -u containerd -n 200 --no-pager`; check /etc/containerd/config.toml with `containerd config dump`, and free space under /var/lib/containerd; then `systemctl restart containerd`."
	}
	return probes.Finding{
		Check:     KubeletRestartsCheckName,
		Condition: KubeletRestartsCondition,
		Reason:    reason,
		Severity:  severity,
		// The rise and NRestarts grow with every restart; the message keeps
		// to the threshold so a continuing loop is one condition write.
		Message: fmt.Sprintf("%s is in a restart loop: systemd restarted it automatically %d or more times within %s",
			unit, c.cfg.MinRestarts, config.FormatDuration(c.window)),
		Remedy: remedy,
		Evidence: map[string]string{
			"unit":           unit,
			"nRestarts":      strconv.FormatUint(uint64(n), 10),
			"restartsRise":   strconv.Itoa(rise),
			"riseSince":      since.UTC().Format(time.RFC3339),
			"window":         config.FormatDuration(c.window),
			"dbusSocketPath": socket,
		},
		Subject: unit,
		Time:    now,
	}
}

// nRestarts reads a unit's NRestarts; ok is false when systemd does not know
// the unit or is too old to count restarts.
func (c *kubeletRestartsCheck) nRestarts(ctx context.Context, conn *sddbus.Conn, unit string) (uint32, bool, error) {
	load, err := conn.GetUnitPropertyContext(ctx, unit, "LoadState")
	if err != nil {
		return 0, false, fmt.Errorf("read LoadState: %w", err)
	}
	if state, _ := load.Value.Value().(string); state != "loaded" {
		c.env.Logger.Debug("unit not loaded; skipped", "unit", unit, "loadState", state)
		return 0, false, nil
	}
	prop, err := conn.GetServicePropertyContext(ctx, unit, "NRestarts")
	if kubeletRestartsUnknownProperty(err) {
		c.env.Logger.Debug("systemd has no NRestarts (needs 235+); unit skipped", "unit", unit)
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read NRestarts: %w", err)
	}
	n, ok := prop.Value.Value().(uint32)
	if !ok {
		return 0, false, fmt.Errorf("NRestarts is %s, want uint32", prop.Value.Signature())
	}
	return n, true, nil
}

func kubeletRestartsUnknownProperty(err error) bool {
	var dbusErr godbus.Error
	if errors.As(err, &dbusErr) {
		return dbusErr.Name == "org.freedesktop.DBus.Error.UnknownProperty" ||
			dbusErr.Name == "org.freedesktop.DBus.Properties.Error.PropertyNotFound"
	}
	return false
}

// connect opens a systemd connection through the first socket under the host
// root that answers.
func (c *kubeletRestartsCheck) connect(ctx context.Context) (*sddbus.Conn, string, error) {
	var errs []error
	for _, s := range kubeletRestartsSockets {
		local, err := c.env.Host.Path(s.path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fi, err := c.env.Host.Stat(s.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if fi.Mode().Type() != fs.ModeSocket {
			errs = append(errs, fmt.Errorf("%s is not a socket", s.path))
			continue
		}
		hello := s.hello
		conn, err := sddbus.NewConnection(func() (*godbus.Conn, error) {
			return kubeletRestartsDial(ctx, local, hello)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("connect to systemd over %s: %w", s.path, err))
			continue
		}
		return conn, s.path, nil
	}
	if len(errs) == 0 {
		return nil, "", fmt.Errorf("no D-Bus socket under the host root (%s, %s); the journal restart rule covers restart loops: %w",
			kubeletRestartsSockets[0].path, kubeletRestartsSockets[1].path, probes.ErrNotApplicable)
	}
	return nil, "", errors.Join(errs...)
}

// kubeletRestartsDial connects to a D-Bus socket at a local path and
// authenticates with EXTERNAL as our uid. It dials the socket itself (rather
// than through a bus address) so the run's deadline bounds the handshake and
// every call: a hung bus cannot stall the check past its timeout.
func kubeletRestartsDial(ctx context.Context, localPath string, hello bool) (*godbus.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", localPath)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		if err := nc.SetDeadline(deadline); err != nil {
			nc.Close()
			return nil, err
		}
	}
	conn, err := godbus.NewConn(nc, godbus.WithContext(ctx))
	if err != nil {
		nc.Close()
		return nil, err
	}
	if err := conn.Auth([]godbus.Auth{godbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if hello {
		if err := conn.Hello(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("hello: %w", err)
		}
	}
	return conn, nil
}
