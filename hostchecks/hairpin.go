package hostchecks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/kubeletconfig"
)

// Names of the hairpin check, its condition and reasons.
const (
	HairpinCheckName           = "hairpin"
	HairpinCondition           = "HairpinMisconfigured"
	ReasonHairpinModeOff       = "HairpinModeOff"
	ReasonBridgeNotPromiscuous = "BridgeNotPromiscuous"
)

// hairpinIFFPromisc is IFF_PROMISC (include/uapi/linux/if.h).
const hairpinIFFPromisc = 0x100

// hairpinPortsInMessage caps the ports named in a message; the evidence has
// them all.
const hairpinPortsInMessage = 5

// HairpinConfig is the hairpin check's settings (checks.hairpin.settings).
type HairpinConfig struct {
	// CNIConfDir is the host directory holding the CNI network configs (the
	// container runtime's CNI conf_dir). Default /etc/cni/net.d.
	CNIConfDir string `json:"cniConfDir"`
}

// DefaultHairpinConfig returns the documented defaults.
func DefaultHairpinConfig() HairpinConfig {
	return HairpinConfig{CNIConfDir: "/etc/cni/net.d"}
}

func (c HairpinConfig) validate(s probes.Settings) error {
	return config.HostPath(s, "cniConfDir", c.CNIConfDir)
}

// HairpinSpec is the hairpin check.
//
// A pod that connects to a Service whose endpoint is itself sends the packet
// out of its veth and needs it back on the same bridge port. The bridge does
// that only for ports in hairpin mode, or, with kubenet's
// promiscuous-bridge, when the bridge itself is promiscuous; otherwise the
// traffic is silently dropped.
//
// Reads: bridges are the devices with /sys/class/net/<dev>/bridge; a bridge's
// ports are /sys/class/net/<br>/brif/<port>, each with hairpin_mode (0 or 1);
// promiscuity is IFF_PROMISC (0x100) in /sys/class/net/<br>/flags
// (Documentation/ABI/testing/sysfs-class-net). What is expected comes from
// the CNI config the runtime uses (the first *.conf, *.conflist or *.json in
// cniConfDir, lexically, as libcni picks it): the bridge plugin's bridge
// (default cni0), hairpinMode and promiscMode, also through flannel's
// delegate (containernetworking/plugins plugins/main/bridge). A bridge plugin
// that sets neither still needs one of them for hairpin traffic. On
// dockershim-era nodes (kubelet older than 1.24, or a cri-dockerd runtime) the
// kubelet's hairpinMode (hairpin-veth, promiscuous-bridge on cbr0) is also
// expected; elsewhere the kubelet setting has no effect and is ignored.
//
// Condition HairpinMisconfigured with reasons HairpinModeOff (ports of the
// pod bridge with hairpin_mode 0 where 1 is expected) and
// BridgeNotPromiscuous (promiscuous expected, flag unset). Bridges without
// ports carry no pod traffic and are not judged.
//
// No bridge at all (Calico, Cilium and other routed CNIs) is not applicable.
// Bridges that nothing expects anything of (docker0 next to a routed CNI) are
// not applicable either: the check cannot know what they should look like,
// and a False condition would claim a health it did not check.
//
// The check implements probes.Watched: the agent re-runs it when cniConfDir
// changes.
func HairpinSpec() probes.Spec {
	return probes.Spec{
		Name:           HairpinCheckName,
		Condition:      HairpinCondition,
		Interval:       5 * time.Minute,
		Timeout:        30 * time.Second,
		DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{
			{Reason: ReasonHairpinModeOff, Condition: HairpinCondition, Severity: probes.SeverityWarning,
				Summary: "pod bridge ports lack hairpin mode; pods cannot reach themselves through a Service"},
			{Reason: ReasonBridgeNotPromiscuous, Condition: HairpinCondition, Severity: probes.SeverityWarning,
				Summary: "the pod bridge is expected to be promiscuous and is not; hairpin traffic is dropped"},
		},
		New: newHairpinCheck,
	}
}

type hairpinCheck struct {
	env probes.Env
	cfg HairpinConfig
}

func newHairpinCheck(env probes.Env) (probes.Check, error) {
	cfg := DefaultHairpinConfig()
	if err := config.Decode(env.Settings, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(env.Settings); err != nil {
		return nil, err
	}
	return &hairpinCheck{env: env, cfg: cfg}, nil
}

// WatchPaths implements probes.Watched.
func (c *hairpinCheck) WatchPaths() []string { return []string{c.cfg.CNIConfDir} }

// hairpinExpectation is what one bridge should look like, and who says so.
type hairpinExpectation struct {
	bridge string
	// hairpin and promisc are what the config asks for; neither means the
	// config asks for nothing, so hairpin traffic needs either of them.
	hairpin, promisc bool
	sources          []string
	// cniFile is the CNI config behind the expectation, "" when it comes
	// only from the kubelet.
	cniFile string
}

func (c *hairpinCheck) Check(ctx context.Context) ([]probes.Finding, error) {
	bridges, err := c.bridges()
	if err != nil {
		return nil, err
	}
	if len(bridges) == 0 {
		return nil, fmt.Errorf("no bridge under /sys/class/net (a routed CNI such as Calico or Cilium): %w", probes.ErrNotApplicable)
	}
	expected, err := c.expectations(ctx, bridges)
	if err != nil {
		return nil, err
	}
	if len(expected) == 0 {
		return nil, fmt.Errorf("found bridges (%s), but no CNI bridge config in %s (and no dockershim-era kubelet) says how they should be set up: %w",
			strings.Join(bridges, ", "), c.cfg.CNIConfDir, probes.ErrNotApplicable)
	}
	findings := []probes.Finding{}
	now := c.env.Clock.Now()
	for _, exp := range expected {
		if !slices.Contains(bridges, exp.bridge) {
			// The bridge plugin creates its bridge with the first pod.
			c.env.Logger.Debug("expected bridge does not exist yet", "bridge", exp.bridge)
			continue
		}
		bridgeFindings, err := c.inspect(ctx, exp, now)
		if err != nil {
			return nil, err
		}
		findings = append(findings, bridgeFindings...)
	}
	return findings, nil
}

// bridges lists the bridge devices.
func (c *hairpinCheck) bridges() ([]string, error) {
	entries, err := c.env.Host.ReadDir("/sys/class/net")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list /sys/class/net: %w", err)
	}
	var out []string
	for _, e := range entries {
		fi, err := c.env.Host.Stat("/sys/class/net/" + e.Name() + "/bridge")
		if err == nil && fi.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// expectations merges what the CNI config and, on dockershim-era nodes, the
// kubelet expect, per bridge, in a stable order.
func (c *hairpinCheck) expectations(ctx context.Context, bridges []string) ([]hairpinExpectation, error) {
	byBridge := map[string]*hairpinExpectation{}
	var order []string
	add := func(bridge string, hairpin, promisc bool, source, cniFile string) {
		e, ok := byBridge[bridge]
		if !ok {
			e = &hairpinExpectation{bridge: bridge}
			byBridge[bridge] = e
			order = append(order, bridge)
		}
		e.hairpin = e.hairpin || hairpin
		e.promisc = e.promisc || promisc
		e.sources = append(e.sources, source)
		if e.cniFile == "" {
			e.cniFile = cniFile
		}
	}

	network, found, err := loadCNINetwork(c.env.Host, c.cfg.CNIConfDir)
	if err != nil {
		return nil, err
	}
	if found {
		for _, b := range network.Bridges {
			add(b.Bridge, b.HairpinMode, b.PromiscMode,
				fmt.Sprintf("%s plugin in %s (hairpinMode %t, promiscMode %t)", b.Type, network.File, b.HairpinMode, b.PromiscMode), network.File)
		}
	}

	dockershim, why := c.dockershimEra(ctx)
	if dockershim {
		kc, err := kubeletconfig.Load(c.env.Host)
		if err != nil {
			return nil, err
		}
		source := fmt.Sprintf("kubelet hairpinMode %s (%s; %s)", kc.HairpinMode, hairpinOr(kc.Path, "kubelet default"), why)
		// The bridge dockershim's pods sit on: the CNI bridge, else
		// kubenet's cbr0, else docker's own.
		podBridge := ""
		if found && len(network.Bridges) > 0 {
			podBridge = network.Bridges[0].Bridge
		} else {
			for _, b := range []string{"cbr0", "docker0"} {
				if slices.Contains(bridges, b) {
					podBridge = b
					break
				}
			}
		}
		switch kc.HairpinMode {
		case "promiscuous-bridge":
			if slices.Contains(bridges, "cbr0") {
				add("cbr0", false, true, source, "")
				break
			}
			// Without kubenet's cbr0 the kubelet falls back to
			// hairpin-veth (effectiveHairpinMode).
			fallthrough
		case "hairpin-veth":
			if podBridge != "" {
				add(podBridge, true, false, source, "")
			}
		}
	} else if why != "" {
		c.env.Logger.Debug("kubelet hairpinMode is informational on this node", "reason", why)
	}

	out := make([]hairpinExpectation, 0, len(order))
	for _, b := range order {
		out = append(out, *byBridge[b])
	}
	return out, nil
}

// dockershimEra reports whether the kubelet (through dockershim or
// cri-dockerd) still sets hairpin mode itself, and why it thinks so.
func (c *hairpinCheck) dockershimEra(ctx context.Context) (bool, string) {
	if c.env.Runtime != nil {
		if strings.Contains(c.env.Runtime.Endpoint(), "cri-dockerd") {
			return true, "runtime endpoint " + c.env.Runtime.Endpoint()
		}
		if v, err := c.env.Runtime.Version(ctx); err == nil && strings.EqualFold(v.GetRuntimeName(), "docker") {
			return true, "runtime " + v.GetRuntimeName() + " " + v.GetRuntimeVersion()
		}
	}
	if c.env.Node != nil {
		if node := c.env.Node(); node != nil {
			raw := node.Status.NodeInfo.KubeletVersion
			if v, ok := parseConntrackKubeVersion(raw); ok {
				if v.Major == 1 && v.Minor < 24 {
					return true, "kubelet " + raw + " predates the dockershim removal in 1.24"
				}
				return false, "kubelet " + raw + " leaves hairpin to the CNI plugin"
			}
		}
	}
	return false, ""
}

func hairpinOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// inspect compares one bridge with its expectation.
func (c *hairpinCheck) inspect(ctx context.Context, exp hairpinExpectation, now time.Time) ([]probes.Finding, error) {
	brDir := "/sys/class/net/" + exp.bridge
	flagsRaw, err := c.env.Host.ReadFile(brDir + "/flags")
	if err != nil {
		return nil, fmt.Errorf("read %s/flags: %w", brDir, err)
	}
	flags, err := parseHairpinSysfsFlags(flagsRaw)
	if err != nil {
		return nil, fmt.Errorf("parse %s/flags: %w", brDir, err)
	}
	promisc := flags&hairpinIFFPromisc != 0

	entries, err := c.env.Host.ReadDir(brDir + "/brif")
	if err != nil {
		return nil, fmt.Errorf("list %s/brif: %w", brDir, err)
	}
	var ports, off []string
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := brDir + "/brif/" + e.Name() + "/hairpin_mode"
		raw, err := c.env.Host.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the pod went away while we looked
		}
		if err != nil {
			return nil, err
		}
		on, err := parseHairpinSysfsBool(raw)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", p, err)
		}
		ports = append(ports, e.Name())
		if !on {
			off = append(off, e.Name())
		}
	}
	if len(ports) == 0 {
		c.env.Logger.Debug("bridge has no ports; nothing to judge", "bridge", exp.bridge)
		return nil, nil
	}

	ev := func() map[string]string {
		return map[string]string{
			"bridge":          exp.bridge,
			"expectedBy":      strings.Join(exp.sources, "; "),
			"flags":           fmt.Sprintf("%#x", flags),
			"flagsPath":       brDir + "/flags",
			"promiscuous":     strconv.FormatBool(promisc),
			"brifPath":        brDir + "/brif",
			"portCount":       strconv.Itoa(len(ports)),
			"hairpinOffCount": strconv.Itoa(len(off)),
			"hairpinOffPorts": strings.Join(off, ","),
		}
	}
	var out []probes.Finding
	neither := !exp.hairpin && !exp.promisc
	if len(off) > 0 && (exp.hairpin || (neither && !promisc)) {
		var why string
		if exp.hairpin {
			why = "expected by " + strings.Join(exp.sources, "; ")
		} else {
			why = "and the bridge is not promiscuous; " + strings.Join(exp.sources, "; ") + " enables neither"
		}
		out = append(out, probes.Finding{
			Check:     HairpinCheckName,
			Condition: HairpinCondition,
			Reason:    ReasonHairpinModeOff,
			Severity:  probes.SeverityWarning,
			Message: fmt.Sprintf("hairpin mode is off on %d of %d ports of bridge %s (%s), %s: pods there cannot reach themselves through a Service",
				len(off), len(ports), exp.bridge, hairpinPortList(off), why),
			Remedy:   hairpinRemedy(exp),
			Evidence: ev(),
			Subject:  exp.bridge,
			Time:     now,
		})
	}
	if exp.promisc && !promisc {
		out = append(out, probes.Finding{
			Check:     HairpinCheckName,
			Condition: HairpinCondition,
			Reason:    ReasonBridgeNotPromiscuous,
			Severity:  probes.SeverityWarning,
			Message: fmt.Sprintf("bridge %s with %d ports is not promiscuous (flags %#x), expected by %s: hairpin traffic to Services is dropped",
				exp.bridge, len(ports), flags, strings.Join(exp.sources, "; ")),
			Remedy:   fmt.Sprintf("Turn it on now: `ip link set %s promisc on` (the bridge plugin sets it again on each pod start; if something keeps turning it off, watch for it with `ip monitor link`).", exp.bridge),
			Evidence: ev(),
			Subject:  exp.bridge,
			Time:     now,
		})
	}
	return out, nil
}

func hairpinRemedy(exp hairpinExpectation) string {
	now := fmt.Sprintf("Fix the running pods now: `for p in /sys/class/net/%s/brif/*; do echo 1 > $p/hairpin_mode; done`.", exp.bridge)
	switch {
	case exp.cniFile != "" && exp.hairpin:
		return now + " New pods get it from `\"hairpinMode\": true` in " + exp.cniFile + "; recreate pods started before that setting (`kubectl delete pod` them)."
	case exp.cniFile != "":
		return "Set `\"hairpinMode\": true` in the bridge plugin of " + exp.cniFile + " and recreate the pods on this node (`kubectl delete pod` them). " + now
	default:
		return now + " dockershim (or cri-dockerd) sets hairpin mode when a container starts; recreate the pods on this node (`kubectl delete pod` them) and check the kubelet log for \"hairpin\" errors."
	}
}

func hairpinPortList(ports []string) string {
	if len(ports) <= hairpinPortsInMessage {
		return strings.Join(ports, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ports[:hairpinPortsInMessage], ", "), len(ports)-hairpinPortsInMessage)
}

// parseHairpinSysfsFlags parses /sys/class/net/<dev>/flags: the interface
// flags as a hexadecimal bitmask ("0x1103").
func parseHairpinSysfsFlags(raw []byte) (uint64, error) {
	s := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(s, "0x") {
		return 0, fmt.Errorf("want a 0x-prefixed hex bitmask, got %q", s)
	}
	v, err := strconv.ParseUint(s[2:], 16, 64)
	if err != nil {
		return 0, fmt.Errorf("want a 0x-prefixed hex bitmask, got %q", s)
	}
	return v, nil
}

// parseHairpinSysfsBool parses a 0/1 sysfs attribute such as
// brport/hairpin_mode.
func parseHairpinSysfsBool(raw []byte) (bool, error) {
	switch s := strings.TrimSpace(string(raw)); s {
	case "0":
		return false, nil
	case "1":
		return true, nil
	default:
		return false, fmt.Errorf("want 0 or 1, got %q", s)
	}
}
