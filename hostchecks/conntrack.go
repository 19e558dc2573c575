package hostchecks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
)

// Names of the conntrack check, its condition and reasons.
const (
	ConntrackCheckName           = "conntrack"
	ConntrackCondition           = "ConntrackProblem"
	ReasonConntrackTableNearFull = "ConntrackTableNearFull"
	ReasonConntrackTableFull     = "ConntrackTableFull"
	ReasonConntrackBinaryMissing = "ConntrackBinaryMissing"
)

// ConntrackConfig is the conntrack check's settings
// (checks.conntrack.settings).
type ConntrackConfig struct {
	// NearFullPercent raises ConntrackTableNearFull when nf_conntrack_count
	// reaches this share of nf_conntrack_max. Default 90, the threshold of
	// node-problem-detector's network_problem.sh.
	NearFullPercent float64 `json:"nearFullPercent"`
	// BinaryDirs are the host directories searched for the conntrack
	// executable. Default /usr/sbin, /sbin, /usr/bin, /bin.
	BinaryDirs []string `json:"binaryDirs"`
}

// DefaultConntrackConfig returns the documented defaults.
func DefaultConntrackConfig() ConntrackConfig {
	return ConntrackConfig{NearFullPercent: 90, BinaryDirs: []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"}}
}

func (c ConntrackConfig) validate(s probes.Settings) error {
	if c.NearFullPercent <= 0 || c.NearFullPercent > 100 {
		return s.Fieldf("nearFullPercent", "must be in (0, 100], got %v", c.NearFullPercent)
	}
	if len(c.BinaryDirs) == 0 {
		return s.Fieldf("binaryDirs", "must list at least one directory")
	}
	if err := config.HostPaths(s, "binaryDirs", c.BinaryDirs); err != nil {
		return err
	}
	return nil
}

// ConntrackSpec is the conntrack check.
//
// Reads (all per network namespace; the DaemonSet runs with hostNetwork so
// they are the host's): /proc/sys/net/netfilter/nf_conntrack_{count,max}
// (legacy /proc/sys/net/ipv4/netfilter/ip_conntrack_{count,max}),
// /proc/net/stat/nf_conntrack (legacy ip_conntrack) and the conntrack
// executable in the host's /usr/sbin, /sbin, /usr/bin, /bin (looked up,
// never run). kube-proxy's version comes from the CRI (the kube-proxy
// container's image tag), the Node's nodeInfo.kubeProxyVersion, or the
// KubeProxyVersion log fact.
//
// Condition ConntrackProblem with reasons:
//   - ConntrackTableNearFull: count/max ≥ nearFullPercent (90 %, as
//     node-problem-detector's ConntrackFull; kernel
//     Documentation/networking/nf_conntrack-sysctl.rst);
//   - ConntrackTableFull: the drop or early_drop counters rose since the
//     previous run (the first run is the baseline); it clears on the first
//     run without a rise;
//   - ConntrackBinaryMissing: no conntrack executable while kube-proxy is
//     older than 1.32 (1.32 dropped the dependency,
//     kubernetes/kubernetes#126847). An unknown version never reports it.
//
// Without nf_conntrack_max the conntrack module is not loaded and the check
// does not apply.
func ConntrackSpec() probes.Spec {
	return probes.Spec{
		Name:           ConntrackCheckName,
		Condition:      ConntrackCondition,
		Interval:       time.Minute,
		Timeout:        15 * time.Second,
		DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{
			{Reason: ReasonConntrackTableNearFull, Condition: ConntrackCondition, Severity: probes.SeverityWarning,
				Summary: "the conntrack table is nearly full; new connections will be dropped when it fills"},
			{Reason: ReasonConntrackTableFull, Condition: ConntrackCondition, Severity: probes.SeverityProblem,
				Summary: "the kernel is dropping packets because the conntrack table is full"},
			{Reason: ReasonConntrackBinaryMissing, Condition: ConntrackCondition, Severity: probes.SeverityWarning,
				Summary: "kube-proxy before 1.32 needs the conntrack binary to clear stale UDP entries, and it is missing"},
		},
		New: newConntrackCheck,
	}
}

// conntrackPaths is one generation of the kernel's conntrack files.
type conntrackPaths struct {
	count, max, stat string
}

var conntrackPathSets = []conntrackPaths{
	{"/proc/sys/net/netfilter/nf_conntrack_count", "/proc/sys/net/netfilter/nf_conntrack_max", "/proc/net/stat/nf_conntrack"},
	{"/proc/sys/net/ipv4/netfilter/ip_conntrack_count", "/proc/sys/net/ipv4/netfilter/ip_conntrack_max", "/proc/net/stat/ip_conntrack"},
}

// conntrackDropSample is the drop counters of one run.
type conntrackDropSample struct {
	drop, earlyDrop uint64
	at              time.Time
}

type conntrackCheck struct {
	env probes.Env
	cfg ConntrackConfig

	mu   sync.Mutex
	prev *conntrackDropSample // nil until the first run with a stat file
}

func newConntrackCheck(env probes.Env) (probes.Check, error) {
	cfg := DefaultConntrackConfig()
	if err := config.Decode(env.Settings, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(env.Settings); err != nil {
		return nil, err
	}
	return &conntrackCheck{env: env, cfg: cfg}, nil
}

func (c *conntrackCheck) Check(ctx context.Context) ([]probes.Finding, error) {
	c.mu.Lock()
	defer c.mu.Unlock()

	paths, limit, err := c.tablePaths()
	if err != nil {
		return nil, err
	}
	count, err := conntrackReadUint(c.env.Host, paths.count)
	if err != nil {
		return nil, err
	}
	now := c.env.Clock.Now()
	findings := []probes.Finding{}
	if f, ok := c.nearFull(paths, count, limit, now); ok {
		findings = append(findings, f)
	}
	f, ok, err := c.tableFull(paths, limit, now)
	if err != nil {
		return nil, err
	}
	if ok {
		findings = append(findings, f)
	}
	if f, ok := c.binaryMissing(ctx, now); ok {
		findings = append(findings, f)
	}
	return findings, nil
}

// tablePaths picks the file generation this kernel has and reads the limit.
func (c *conntrackCheck) tablePaths() (conntrackPaths, uint64, error) {
	for _, p := range conntrackPathSets {
		limit, err := conntrackReadUint(c.env.Host, p.max)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return p, 0, err
		}
		if limit == 0 {
			return p, 0, fmt.Errorf("%s is 0", p.max)
		}
		return p, limit, nil
	}
	return conntrackPaths{}, 0, fmt.Errorf("the nf_conntrack module is not loaded (no %s): %w", conntrackPathSets[0].max, probes.ErrNotApplicable)
}

func (c *conntrackCheck) nearFull(paths conntrackPaths, count, limit uint64, now time.Time) (probes.Finding, bool) {
	usedPercent := 100 * float64(count) / float64(limit)
	if usedPercent < c.cfg.NearFullPercent {
		return probes.Finding{}, false
	}
	return probes.Finding{
		Check:     ConntrackCheckName,
		Condition: ConntrackCondition,
		Reason:    ReasonConntrackTableNearFull,
		Severity:  probes.SeverityWarning,
		// The whole percent changes slowly; the exact count is evidence.
		Message: fmt.Sprintf("conntrack table is %d%% full (nf_conntrack_max %d, threshold %s%%); when it fills the kernel drops new connections",
			int(usedPercent), limit, strconv.FormatFloat(c.cfg.NearFullPercent, 'f', -1, 64)),
		Remedy: conntrackTableRemedy(paths.max, limit),
		Evidence: map[string]string{
			"countPath":   paths.count,
			"maxPath":     paths.max,
			"count":       strconv.FormatUint(count, 10),
			"max":         strconv.FormatUint(limit, 10),
			"usedPercent": strconv.FormatFloat(usedPercent, 'f', 1, 64),
		},
		Time: now,
	}, true
}

// tableFull compares the drop counters with the previous run's.
func (c *conntrackCheck) tableFull(paths conntrackPaths, limit uint64, now time.Time) (probes.Finding, bool, error) {
	data, err := c.env.Host.ReadFile(paths.stat)
	if errors.Is(err, fs.ErrNotExist) {
		// Kernels without CONFIG_NF_CONNTRACK_PROCFS only answer over
		// ctnetlink; the kmsg "table full" rule still covers them.
		c.env.Logger.Debug("no conntrack statistics file; drop counters not watched", "path", paths.stat)
		return probes.Finding{}, false, nil
	}
	if err != nil {
		return probes.Finding{}, false, err
	}
	st, err := parseConntrackStat(bytes.NewReader(data))
	if err != nil {
		return probes.Finding{}, false, fmt.Errorf("parse %s: %w", paths.stat, err)
	}
	drop, ok1 := st.Totals["drop"]
	earlyDrop, ok2 := st.Totals["early_drop"]
	if !ok1 || !ok2 {
		return probes.Finding{}, false, fmt.Errorf("%s has no drop or early_drop column", paths.stat)
	}
	cur := conntrackDropSample{drop: drop, earlyDrop: earlyDrop, at: now}
	prev := c.prev
	c.prev = &cur
	// First run, or counters went backwards (reboot, CPU unplugged): this
	// sample is the new baseline.
	if prev == nil || cur.drop < prev.drop || cur.earlyDrop < prev.earlyDrop {
		return probes.Finding{}, false, nil
	}
	dropDelta, earlyDelta := cur.drop-prev.drop, cur.earlyDrop-prev.earlyDrop
	if dropDelta == 0 && earlyDelta == 0 {
		return probes.Finding{}, false, nil
	}
	return probes.Finding{
		Check:     ConntrackCheckName,
		Condition: ConntrackCondition,
		Reason:    ReasonConntrackTableFull,
		Severity:  probes.SeverityProblem,
		Message: fmt.Sprintf("conntrack table is full: the kernel dropped or evicted connections since the previous check (drop and early_drop rising in %s; nf_conntrack_max %d)",
			paths.stat, limit),
		Remedy: conntrackTableRemedy(paths.max, limit),
		Evidence: map[string]string{
			"statPath":       paths.stat,
			"dropDelta":      strconv.FormatUint(dropDelta, 10),
			"earlyDropDelta": strconv.FormatUint(earlyDelta, 10),
			"drop":           strconv.FormatUint(cur.drop, 10),
			"earlyDrop":      strconv.FormatUint(cur.earlyDrop, 10),
			"interval":       now.Sub(prev.at).String(),
			"entries":        strconv.FormatUint(st.Entries, 10),
			"max":            strconv.FormatUint(limit, 10),
		},
		Time: now,
	}, true, nil
}

// binaryMissing reports a missing conntrack executable, but only when
// kube-proxy is known to need it.
func (c *conntrackCheck) binaryMissing(ctx context.Context, now time.Time) (probes.Finding, bool) {
	version, known := c.kubeProxyVersion(ctx)
	if !known {
		c.env.Logger.Debug("kube-proxy version unknown; not judging the conntrack binary")
		return probes.Finding{}, false
	}
	if !version.needsConntrackBinary() {
		c.env.Logger.Debug("kube-proxy does not need the conntrack binary", "version", version.Raw, "source", version.Source)
		return probes.Finding{}, false
	}
	for _, dir := range c.cfg.BinaryDirs {
		candidate := path.Join(dir, "conntrack")
		fi, err := c.env.Host.Stat(candidate)
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			c.env.Logger.Debug("conntrack binary present", "path", candidate)
			return probes.Finding{}, false
		}
	}
	return probes.Finding{
		Check:     ConntrackCheckName,
		Condition: ConntrackCondition,
		Reason:    ReasonConntrackBinaryMissing,
		Severity:  probes.SeverityWarning,
		Message: fmt.Sprintf("kube-proxy %s needs the conntrack binary, but there is none in %s: stale UDP conntrack entries (DNS, NodePorts) are not cleared when Service endpoints change",
			version.Raw, strings.Join(c.cfg.BinaryDirs, ", ")),
		Remedy: "Install it on the node: `apt-get install conntrack` (Debian/Ubuntu) or `yum install conntrack-tools` (RHEL, Amazon Linux), then restart kube-proxy (`kubectl -n kube-system delete pod -l k8s-app=kube-proxy --field-selector spec.nodeName=<node>`); kube-proxy 1.32 and later no longer need it.",
		Evidence: map[string]string{
			"kubeProxyVersion":       version.Raw,
			"kubeProxyVersionSource": version.Source,
			"searchedDirs":           strings.Join(c.cfg.BinaryDirs, ","),
		},
		Time: now,
	}, true
}

// conntrackTableRemedy names the sysctl behind maxPath
// (/proc/sys/net/netfilter/nf_conntrack_max → net.netfilter.nf_conntrack_max).
func conntrackTableRemedy(maxPath string, limit uint64) string {
	sysctl := strings.ReplaceAll(strings.TrimPrefix(maxPath, "/proc/sys/"), "/", ".")
	return fmt.Sprintf("Raise the limit: `sysctl -w %s=%d` and persist it in /etc/sysctl.d/; kube-proxy sets it at start to conntrack.maxPerCore × CPUs, so raise `conntrack.maxPerCore` in the kube-proxy config too. Find the top talkers: `conntrack -L 2>/dev/null | awk '{for(i=1;i<=NF;i++) if($i ~ /^src=/){print $i; break}}' | sort | uniq -c | sort -rn | head`.",
		sysctl, 2*limit)
}

func conntrackReadUint(host probes.FS, name string) (uint64, error) {
	data, err := host.ReadFile(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %q is not a count", name, strings.TrimSpace(string(data)))
	}
	return n, nil
}
