package hostchecks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
)

// Reasons reported by the log-filesystem check.
const (
	reasonLogFilesystemNearFull     = "LogFilesystemNearFull"
	reasonLogFilesystemFillForecast = "LogFilesystemFillForecast"
)

// logFilesystemMaxSamples bounds the samples kept per filesystem: six hours
// at the default one-minute interval, whatever window is configured.
const logFilesystemMaxSamples = 360

// logFilesystemConfig is checks.log-filesystem.settings.
type logFilesystemConfig struct {
	// Paths are the host paths whose filesystems are checked; each distinct
	// filesystem is reported once, named by the paths it holds. Missing
	// paths are skipped.
	Paths []string `json:"paths"`
	// WarnPercent and ProblemPercent apply to blocks and inodes alike.
	WarnPercent    float64               `json:"warnPercent"`
	ProblemPercent float64               `json:"problemPercent"`
	Forecast       logFillForecastConfig `json:"forecast"`
}

// logFillForecastConfig tunes LogFilesystemFillForecast.
type logFillForecastConfig struct {
	// Window is how far back samples are kept for the fit.
	Window metav1.Duration `json:"window"`
	// MinSamples and MinSpan guard against forecasting from a burst: the fit
	// needs at least this many samples spread over at least this long.
	MinSamples int             `json:"minSamples"`
	MinSpan    metav1.Duration `json:"minSpan"`
	// Horizon: a filesystem that would be full within it is reported.
	Horizon metav1.Duration `json:"horizon"`
	// ProblemWithin: full this soon is severity problem, not warning.
	ProblemWithin metav1.Duration `json:"problemWithin"`
}

func defaultLogFilesystemConfig() logFilesystemConfig {
	return logFilesystemConfig{
		Paths:          []string{"/var/log", "/var/log/pods", "/var/lib/docker/containers", "/var/lib/containerd"},
		WarnPercent:    85,
		ProblemPercent: 95,
		Forecast: logFillForecastConfig{
			Window:        metav1.Duration{Duration: time.Hour},
			MinSamples:    6,
			MinSpan:       metav1.Duration{Duration: 15 * time.Minute},
			Horizon:       metav1.Duration{Duration: 24 * time.Hour},
			ProblemWithin: metav1.Duration{Duration: 2 * time.Hour},
		},
	}
}

func (c logFilesystemConfig) validate(s probes.Settings) error {
	if len(c.Paths) == 0 {
		return s.Fieldf("paths", "must list at least one path")
	}
	if err := config.HostPaths(s, "paths", c.Paths); err != nil {
		return err
	}
	if c.WarnPercent <= 0 || c.WarnPercent > 100 {
		return s.Fieldf("warnPercent", "must be in (0, 100], got %v", c.WarnPercent)
	}
	if c.ProblemPercent < c.WarnPercent || c.ProblemPercent > 100 {
		return s.Fieldf("problemPercent", "must be between warnPercent (%v) and 100, got %v", c.WarnPercent, c.ProblemPercent)
	}
	f := c.Forecast
	if f.Window.Duration <= 0 {
		return s.Fieldf("forecast.window", "must be positive, got %s", f.Window.Duration)
	}
	if f.MinSamples < 2 {
		return s.Fieldf("forecast.minSamples", "must be at least 2, got %d", f.MinSamples)
	}
	if f.MinSamples > logFilesystemMaxSamples {
		return s.Fieldf("forecast.minSamples", "must be at most %d, got %d", logFilesystemMaxSamples, f.MinSamples)
	}
	if f.MinSpan.Duration <= 0 || f.MinSpan.Duration > f.Window.Duration {
		return s.Fieldf("forecast.minSpan", "must be positive and at most forecast.window (%s), got %s", f.Window.Duration, f.MinSpan.Duration)
	}
	if f.Horizon.Duration <= 0 {
		return s.Fieldf("forecast.horizon", "must be positive, got %s", f.Horizon.Duration)
	}
	if f.ProblemWithin.Duration > f.Horizon.Duration {
		return s.Fieldf("forecast.problemWithin", "must be between 0 and forecast.horizon (%s), got %s", f.Horizon.Duration, f.ProblemWithin.Duration)
	}
	return nil
}

// LogFilesystemSpec is the log-filesystem check.
//
// It reads statfs(2) of each distinct filesystem holding /var/log,
// /var/log/pods, /var/lib/docker/containers and /var/lib/containerd (the list
// is configurable; missing paths are skipped, filesystems are told apart by
// f_fsid) and reports on condition ContainerLogDiskPressure:
//
//   - LogFilesystemNearFull when blocks (used/(used+avail), as df shows) or
//     inodes reach warnPercent (default 85, severity warning) or
//     problemPercent (default 95, severity problem). 85 % is the kubelet's
//     default imageGCHighThresholdPercent and comes before its default hard
//     eviction thresholds nodefs.available<10 % and nodefs.inodesFree<5 %
//     (https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/);
//     at 95 % the kubelet is evicting pods from the node (if the log
//     filesystem is its nodefs) or is about to.
//   - LogFilesystemFillForecast when a least-squares line through the
//     available bytes of the last forecast.window (default 1h, at least
//     forecast.minSamples samples over forecast.minSpan) reaches zero within
//     forecast.horizon (default 24h); severity problem within
//     forecast.problemWithin (default 2h).
//
// Messages carry whole percentages and two-digit rates so that they only
// change when the state really moves.
func LogFilesystemSpec() probes.Spec {
	return probes.Spec{
		Name:           "log-filesystem",
		Condition:      containerLogDiskPressure,
		Interval:       time.Minute,
		Timeout:        20 * time.Second,
		DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{
			{Reason: reasonLogFilesystemNearFull, Condition: containerLogDiskPressure, Severity: probes.SeverityWarning,
				Summary: "a filesystem holding logs is nearly out of blocks or inodes"},
			{Reason: reasonLogFilesystemFillForecast, Condition: containerLogDiskPressure, Severity: probes.SeverityWarning,
				Summary: "a filesystem holding logs is filling fast enough to be full within the forecast horizon"},
		},
		New: newLogFilesystemCheck,
	}
}

type logFilesystemCheck struct {
	cfg   logFilesystemConfig
	host  probes.FS
	clock clock.PassiveClock

	mu     sync.Mutex
	series map[string]*fillSeries // by filesystem key
}

func newLogFilesystemCheck(env probes.Env) (probes.Check, error) {
	cfg := defaultLogFilesystemConfig()
	if err := config.Decode(env.Settings, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(env.Settings); err != nil {
		return nil, err
	}
	clk := env.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &logFilesystemCheck{cfg: cfg, host: env.Host, clock: clk, series: map[string]*fillSeries{}}, nil
}

// logFilesystem is one filesystem and the configured paths it holds.
type logFilesystem struct {
	key   string
	paths []string
	usage probes.Usage
}

func (c *logFilesystemCheck) Check(ctx context.Context) ([]probes.Finding, error) {
	filesystems, err := c.statLogFilesystems(ctx)
	if err != nil {
		return nil, err
	}
	if len(filesystems) == 0 {
		return nil, fmt.Errorf("none of %s exists under the host root: %w", strings.Join(c.cfg.Paths, ", "), probes.ErrNotApplicable)
	}
	now := c.clock.Now()
	var findings []probes.Finding
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	for _, lfs := range filesystems {
		seen[lfs.key] = true
		if f, ok := c.nearFull(lfs); ok {
			findings = append(findings, f)
		}
		if f, ok := c.fillForecast(lfs, now); ok {
			findings = append(findings, f)
		}
	}
	for key := range c.series {
		if !seen[key] {
			delete(c.series, key)
		}
	}
	return findings, nil
}

// statLogFilesystems groups the configured paths by filesystem, in the order
// the paths are configured.
func (c *logFilesystemCheck) statLogFilesystems(ctx context.Context) ([]*logFilesystem, error) {
	var out []*logFilesystem
	byKey := map[string]*logFilesystem{}
	for _, p := range c.cfg.Paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		u, err := c.host.Statfs(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		key := c.filesystemKey(p, u)
		if lfs, ok := byKey[key]; ok {
			lfs.paths = append(lfs.paths, p)
			continue
		}
		lfs := &logFilesystem{key: key, paths: []string{p}, usage: u}
		byKey[key] = lfs
		out = append(out, lfs)
	}
	return out, nil
}

// filesystemKey tells filesystems apart by f_fsid, or by st_dev for the
// filesystems that report a zero fsid.
func (c *logFilesystemCheck) filesystemKey(p string, u probes.Usage) string {
	if u.ID != [2]int32{} {
		return fmt.Sprintf("fsid:%08x%08x", uint32(u.ID[0]), uint32(u.ID[1]))
	}
	if fi, err := c.host.Stat(p); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			return fmt.Sprintf("dev:%d", st.Dev)
		}
	}
	return "path:" + p
}

func (c *logFilesystemCheck) severityFor(percent float64) probes.Severity {
	switch {
	case percent >= c.cfg.ProblemPercent:
		return probes.SeverityProblem
	case percent >= c.cfg.WarnPercent:
		return probes.SeverityWarning
	}
	return ""
}

func (c *logFilesystemCheck) nearFull(lfs *logFilesystem) (probes.Finding, bool) {
	u := lfs.usage
	blocksPct, inodesPct := u.UsedPercent(), u.InodesUsedPercent()
	blocksSev, inodesSev := c.severityFor(blocksPct), c.severityFor(inodesPct)
	if blocksSev == "" && inodesSev == "" {
		return probes.Finding{}, false
	}
	sev := blocksSev
	if inodesSev.Rank() > sev.Rank() {
		sev = inodesSev
	}
	where := strings.Join(lfs.paths, ", ")
	capacity := u.UsedBytes() + u.AvailBytes
	blocksWhole, inodesWhole := math.Floor(blocksPct), math.Floor(inodesPct)
	// "about N GiB" is derived from the whole percentage so that it changes
	// only when the percentage does.
	aboutUsed := formatLogBytes(uint64(blocksWhole / 100 * float64(capacity)))
	var msg, remedy string
	switch {
	case blocksSev != "" && inodesSev != "":
		msg = fmt.Sprintf("filesystem holding %s is %.0f%% full (about %s of %s used) and has used %.0f%% of its %d inodes; warning at %v%%, problem at %v%%",
			where, blocksWhole, aboutUsed, formatLogBytes(capacity), inodesWhole, u.Inodes, c.cfg.WarnPercent, c.cfg.ProblemPercent)
		remedy = logSpaceRemedy(lfs.paths) + " " + logInodesRemedy(lfs.paths[0])
	case blocksSev != "":
		msg = fmt.Sprintf("filesystem holding %s is %.0f%% full (about %s of %s used; inodes %.0f%% used); warning at %v%%, problem at %v%%",
			where, blocksWhole, aboutUsed, formatLogBytes(capacity), inodesWhole, c.cfg.WarnPercent, c.cfg.ProblemPercent)
		remedy = logSpaceRemedy(lfs.paths)
	default:
		msg = fmt.Sprintf("filesystem holding %s has used %.0f%% of its %d inodes (blocks %.0f%% used); warning at %v%%, problem at %v%%",
			where, inodesWhole, u.Inodes, blocksWhole, c.cfg.WarnPercent, c.cfg.ProblemPercent)
		remedy = logInodesRemedy(lfs.paths[0])
	}
	return probes.Finding{
		Check:     "log-filesystem",
		Condition: containerLogDiskPressure,
		Reason:    reasonLogFilesystemNearFull,
		Severity:  sev,
		Message:   msg,
		Remedy:    remedy,
		Subject:   lfs.paths[0],
		Evidence: map[string]string{
			"paths":             where,
			"totalBytes":        strconv.FormatUint(u.TotalBytes, 10),
			"usedBytes":         strconv.FormatUint(u.UsedBytes(), 10),
			"availBytes":        strconv.FormatUint(u.AvailBytes, 10),
			"usedPercent":       strconv.FormatFloat(blocksPct, 'f', 1, 64),
			"inodes":            strconv.FormatUint(u.Inodes, 10),
			"inodesFree":        strconv.FormatUint(u.InodesFree, 10),
			"inodesUsedPercent": strconv.FormatFloat(inodesPct, 'f', 1, 64),
		},
	}, true
}

func (c *logFilesystemCheck) fillForecast(lfs *logFilesystem, now time.Time) (probes.Finding, bool) {
	u := lfs.usage
	capacity := u.UsedBytes() + u.AvailBytes
	series := c.series[lfs.key]
	if series == nil {
		series = &fillSeries{}
		c.series[lfs.key] = series
	}
	fcfg := c.cfg.Forecast
	series.add(fillSample{At: now, Avail: u.AvailBytes}, capacity, fcfg.Window.Duration, logFilesystemMaxSamples)
	fc, ok := series.forecast(fcfg.MinSamples, fcfg.MinSpan.Duration)
	// A full filesystem is LogFilesystemNearFull's business; a forecast of
	// "full in 0s" would only repeat it.
	if !ok || fc.BytesPerSecond <= 0 || u.AvailBytes == 0 || fc.TimeToFull > fcfg.Horizon.Duration {
		return probes.Finding{}, false
	}
	sev := probes.SeverityWarning
	if fc.TimeToFull <= fcfg.ProblemWithin.Duration {
		sev = probes.SeverityProblem
	}
	perHour := fc.BytesPerSecond * 3600
	where := strings.Join(lfs.paths, ", ")
	return probes.Finding{
		Check:     "log-filesystem",
		Condition: containerLogDiskPressure,
		Reason:    reasonLogFilesystemFillForecast,
		Severity:  sev,
		Message: fmt.Sprintf("filesystem holding %s (%s) is filling at %s/h and will be full in about %s at this rate",
			where, formatLogBytes(capacity), formatLogBytes(uint64(perHour)), formatAboutDuration(fc.TimeToFull)),
		Remedy:  "To see what grows, run the du below twice a few minutes apart. " + logSpaceRemedy(lfs.paths),
		Subject: lfs.paths[0],
		Evidence: map[string]string{
			"paths":         where,
			"bytesPerHour":  strconv.FormatInt(int64(perHour), 10),
			"availBytes":    strconv.FormatUint(u.AvailBytes, 10),
			"secondsToFull": strconv.FormatInt(int64(fc.TimeToFull/time.Second), 10),
			"samples":       strconv.Itoa(fc.Samples),
			"sampleSpan":    fc.Span.String(),
		},
	}, true
}

// logSpaceRemedy says how to free space on a filesystem holding the given
// log paths; every command is safe for what lives there (never a blanket
// delete under /var/lib/containerd, which holds container filesystems).
func logSpaceRemedy(paths []string) string {
	has := func(prefix string) bool {
		for _, p := range paths {
			if p == prefix || strings.HasPrefix(p, prefix+"/") {
				return true
			}
		}
		return false
	}
	parts := []string{fmt.Sprintf("Find what takes the space: du -xh --max-depth=3 %s | sort -h | tail.", paths[0])}
	switch {
	case slices.Contains(paths, "/var/log"):
		parts = append(parts, "Free space now: journalctl --vacuum-size=500M; delete rotated logs: find /var/log -xdev -name '*.gz' -delete.")
	case has("/var/log/pods"):
		parts = append(parts, "Free space now: delete rotated container logs: find /var/log/pods -xdev -name '*.gz' -delete.")
	}
	if has("/var/log/pods") || has("/var/lib/containerd") || has(dockerContainersDir) {
		parts = append(parts, "Remove stopped pods: crictl pods --state NotReady -q | xargs -r crictl rmp.")
	}
	if has("/var/lib/containerd") {
		parts = append(parts, "Remove unused images: crictl rmi --prune.")
	}
	if has(dockerContainersDir) {
		parts = append(parts, fmt.Sprintf("Empty the biggest container logs: find %s -name '*-json.log' -size +100M -exec truncate -s 0 {} +.", dockerContainersDir))
	}
	parts = append(parts, "Then fix the rotation that let it grow (see LogRotationMisconfigured and OversizedContainerLog).")
	return strings.Join(parts, " ")
}

func logInodesRemedy(p string) string {
	return fmt.Sprintf("Find the directories with the most files: find %s -xdev -type f | cut -d/ -f1-4 | sort | uniq -c | sort -n | tail; "+
		"remove the small files piling up there (often rotated logs of crash-looping containers, or leftovers of deleted pods: crictl pods --state NotReady -q | xargs -r crictl rmp).", p)
}
