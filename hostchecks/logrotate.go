package hostchecks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/kubeletconfig"
)

const reasonLogRotationMisconfigured = "LogRotationMisconfigured"

// logrotate's files on the host.
const (
	logrotateMainConfig = "/etc/logrotate.conf"
	logrotateConfigDir  = "/etc/logrotate.d"
	logrotateStateDir   = "/var/lib/logrotate"
)

// logrotateStatusFiles are where logrotate records its runs: Debian's
// compiled-in default first, then RHEL's (its cron job passes -s).
var logrotateStatusFiles = []string{"/var/lib/logrotate/status", "/var/lib/logrotate/logrotate.status"}

// containerLogDirs hold container logs: the kubelet's CRI log tree, its
// legacy symlink directory, and dockerd's json-file logs.
var containerLogDirs = []string{"/var/log/pods", "/var/log/containers", dockerContainersDir}

// logRotationConfig is checks.log-rotation.settings.
type logRotationConfig struct {
	// StatusMaxAge: logrotate runs daily, and rewrites its status file on
	// every run; an older status file means it stopped running.
	StatusMaxAge metav1.Duration `json:"statusMaxAge"`
}

func defaultLogRotationConfig() logRotationConfig {
	return logRotationConfig{StatusMaxAge: metav1.Duration{Duration: 48 * time.Hour}}
}

func (c logRotationConfig) validate(s probes.Settings) error {
	if c.StatusMaxAge.Duration < time.Hour {
		return s.Fieldf("statusMaxAge", "must be at least 1h, got %s", c.StatusMaxAge.Duration)
	}
	return nil
}

// LogRotationSpec is the log-rotation check: configuration that lets logs
// grow without bound. It reads /etc/logrotate.conf and everything it
// includes (see logrotateconf.go), logrotate's status file, dockerd's
// /etc/docker/daemon.json and json-file logs, the kubelet config, and
// journald.conf with its drop-ins and the journal directories. On condition
// ContainerLogDiskPressure it reports LogRotationMisconfigured, one finding
// per problem, Subject "<file or path>#<problem>":
//
//   - docker-no-max-size: json-file logs under /var/lib/docker/containers
//     while daemon.json sets no log-opts.max-size (json-file's default is
//     unlimited, docs.docker.com json-file driver) and no logrotate rule with
//     size or maxsize covers them;
//   - docker-no-copytruncate: a logrotate rule rotates those logs without
//     copytruncate (dockerd keeps the file open, so renaming frees nothing);
//   - keeps-all: a rule with rotate -1 and no maxage (man logrotate: "old
//     logs are not removed at all") that matches existing logs;
//   - minsize-only: a time-based rule with minsize but no maxsize on
//     container logs (minsize never rotates before the interval);
//   - config-error: logrotate drops rules or whole files (bad values, stray
//     braces, group-writable files);
//   - kubelet-rotation-disabled: containerLogMaxSize is negative, which turns
//     the kubelet's container log rotation off;
//   - not-running: logrotate is configured but its status file is older than
//     statusMaxAge (default 48h; logrotate normally runs daily);
//   - journal-over-limit: journal files in /var/log/journal or
//     /run/log/journal exceed SystemMaxUse/RuntimeMaxUse (default 10 % of the
//     filesystem, at most 4G, man journald.conf) by more than one journal
//     file (1/8 of the limit, at most 128M), which journald's own vacuuming
//     would never allow.
//
// It implements probes.Watched, so the agent re-runs it when those configs
// change; between changes it reuses the parsed logrotate configuration.
func LogRotationSpec() probes.Spec {
	return probes.Spec{
		Name:           "log-rotation",
		Condition:      containerLogDiskPressure,
		Interval:       5 * time.Minute,
		Timeout:        30 * time.Second,
		DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{
			{Reason: reasonLogRotationMisconfigured, Condition: containerLogDiskPressure, Severity: probes.SeverityWarning,
				Summary: "log rotation (logrotate, dockerd, kubelet or journald) is configured so that logs grow without bound"},
		},
		New: newLogRotationCheck,
	}
}

type logRotationCheck struct {
	cfg    logRotationConfig
	host   probes.FS
	clock  clock.PassiveClock
	logger *slog.Logger

	mu sync.Mutex
	// logrotate is the parsed configuration, reused while the signature of
	// its source files stays the same.
	logrotate          *logrotateConfig
	logrotateSignature string
}

func newLogRotationCheck(env probes.Env) (probes.Check, error) {
	cfg := defaultLogRotationConfig()
	if err := config.Decode(env.Settings, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(env.Settings); err != nil {
		return nil, err
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	clk := env.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &logRotationCheck{cfg: cfg, host: env.Host, clock: clk, logger: logger}, nil
}

// WatchPaths implements probes.Watched.
func (c *logRotationCheck) WatchPaths() []string {
	return []string{logrotateMainConfig, logrotateConfigDir, dockerDaemonConfigPath, journaldMainConfig, journaldDropInDirs[0]}
}

func (c *logRotationCheck) Check(ctx context.Context) ([]probes.Finding, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var findings []probes.Finding

	kc, err := kubeletconfig.Load(c.host)
	if err != nil {
		return nil, err
	}
	if kc.ContainerLogMaxBytes < 0 {
		findings = append(findings, kubeletRotationDisabledFinding(kc))
	}

	lr, err := c.loadLogrotate()
	if err != nil {
		return nil, err
	}
	if lr != nil {
		findings = append(findings, logrotateConfigErrorFindings(lr)...)
		ruleFindings, err := c.logrotateRuleFindings(ctx, lr)
		if err != nil {
			return nil, err
		}
		findings = append(findings, ruleFindings...)
		stale, err := c.logrotateNotRunning()
		if err != nil {
			return nil, err
		}
		findings = append(findings, stale...)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	dockerFindings, dockerInUse, err := c.dockerFindings(lr)
	if err != nil {
		return nil, err
	}
	findings = append(findings, dockerFindings...)

	journal, journaldPresent, err := c.journaldFindings()
	if err != nil {
		return nil, err
	}
	findings = append(findings, journal...)
	if kc.Path == "" && lr == nil && !dockerInUse && !journaldPresent {
		return nil, fmt.Errorf("no kubelet config, logrotate config, dockerd json-file logs or journald under the host root: %w", probes.ErrNotApplicable)
	}
	return findings, nil
}

func logRotationFinding(subject, problem, msg, remedy string, evidence map[string]string) probes.Finding {
	if evidence == nil {
		evidence = map[string]string{}
	}
	evidence["problem"] = problem
	return probes.Finding{
		Check:     "log-rotation",
		Condition: containerLogDiskPressure,
		Reason:    reasonLogRotationMisconfigured,
		Severity:  probes.SeverityWarning,
		Message:   msg,
		Remedy:    remedy,
		Evidence:  evidence,
		Subject:   subject + "#" + problem,
	}
}

func kubeletRotationDisabledFinding(kc kubeletconfig.Config) probes.Finding {
	return logRotationFinding(kc.Path, "kubelet-rotation-disabled",
		fmt.Sprintf("kubelet container log rotation is off: containerLogMaxSize is %q in %s, so logs under /var/log/pods grow until their container is removed",
			kc.ContainerLogMaxSize, kc.Path),
		fmt.Sprintf("Set containerLogMaxSize: %s and containerLogMaxFiles: %d in %s, then restart the kubelet (systemctl restart kubelet).",
			kubeletconfig.DefaultContainerLogMaxSize, kubeletconfig.DefaultContainerLogMaxFiles, kc.Path),
		map[string]string{"kubeletConfig": kc.Path, "containerLogMaxSize": kc.ContainerLogMaxSize})
}

// loadLogrotate returns the parsed logrotate configuration, or nil when
// logrotate is not configured on the host (no /etc/logrotate.conf).
func (c *logRotationCheck) loadLogrotate() (*logrotateConfig, error) {
	if c.logrotate != nil && c.sourcesSignature(c.logrotate.Sources) == c.logrotateSignature {
		return c.logrotate, nil
	}
	cfg, err := readLogrotateConfig(c.host, logrotateMainConfig)
	if errors.Is(err, fs.ErrNotExist) {
		c.logrotate, c.logrotateSignature = nil, ""
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.logrotate, c.logrotateSignature = cfg, c.sourcesSignature(cfg.Sources)
	c.logger.Debug("read logrotate config", "path", logrotateMainConfig, "rules", len(cfg.Rules), "issues", len(cfg.Issues))
	return cfg, nil
}

// sourcesSignature is a cheap fingerprint of config files and directories:
// path, mtime, size and mode of each (a directory's mtime changes when an
// entry is added or removed).
func (c *logRotationCheck) sourcesSignature(sources []string) string {
	var b strings.Builder
	for _, s := range sources {
		fi, err := c.host.Stat(s)
		if err != nil {
			fmt.Fprintf(&b, "%s -;", s)
			continue
		}
		fmt.Fprintf(&b, "%s %d %d %o;", s, fi.ModTime().UnixNano(), fi.Size(), fi.Mode())
	}
	return b.String()
}

// logrotateConfigErrorFindings reports files from which logrotate loses
// rules, one finding per file.
func logrotateConfigErrorFindings(cfg *logrotateConfig) []probes.Finding {
	var files []string
	byFile := map[string][]logrotateIssue{}
	for _, iss := range cfg.Issues {
		if !iss.Serious() {
			continue
		}
		if _, seen := byFile[iss.File]; !seen {
			files = append(files, iss.File)
		}
		byFile[iss.File] = append(byFile[iss.File], iss)
	}
	var out []probes.Finding
	for _, file := range files {
		issues := byFile[file]
		var parts []string
		for i, iss := range issues {
			if i == 3 {
				parts = append(parts, fmt.Sprintf("and %d more", len(issues)-3))
				break
			}
			parts = append(parts, describeLogrotateIssue(iss))
		}
		remedy := fmt.Sprintf("Fix %s; logrotate -d %s shows what logrotate makes of it and changes nothing.", file, logrotateMainConfig)
		if issues[0].IgnoredFile {
			remedy = fmt.Sprintf("Make %s owned by root and not writable by others: chown root:root %s && chmod 644 %s.", file, file, file)
		}
		out = append(out, logRotationFinding(file, "config-error",
			fmt.Sprintf("logrotate loses rules from %s: %s", file, strings.Join(parts, "; ")),
			remedy,
			map[string]string{"file": file, "errors": strconv.Itoa(len(issues)), "firstError": issues[0].Error()}))
	}
	return out
}

func describeLogrotateIssue(iss logrotateIssue) string {
	var what string
	if iss.Line > 0 {
		what = fmt.Sprintf("line %d: %s", iss.Line, iss.Msg)
	} else {
		what = iss.Msg
	}
	switch {
	case iss.StopsFile && len(iss.Dropped) > 0:
		return fmt.Sprintf("%s (drops %s and stops reading the file there)", what, summarizeLogPatterns(iss.Dropped))
	case iss.StopsFile:
		return what + " (stops reading the file there)"
	case len(iss.Dropped) > 0:
		return fmt.Sprintf("%s (drops %s)", what, summarizeLogPatterns(iss.Dropped))
	}
	return what
}

// summarizeLogPatterns names at most three patterns.
func summarizeLogPatterns(patterns []string) string {
	if len(patterns) <= 3 {
		return strings.Join(patterns, " ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(patterns[:3], " "), len(patterns)-3)
}

// logrotateRuleFindings judges each rule: unbounded retention, and
// time-only rotation of container logs.
func (c *logRotationCheck) logrotateRuleFindings(ctx context.Context, cfg *logrotateConfig) ([]probes.Finding, error) {
	var out []probes.Finding
	for _, r := range cfg.Rules {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if r.Rotate == -1 && r.MaxAge == 0 {
			if matched := c.ruleMatchesFiles(r); matched > 0 {
				out = append(out, logRotationFinding(r.Where(), "keeps-all",
					fmt.Sprintf("logrotate rule at %s keeps every rotated copy of %s forever (rotate -1 without maxage)", r.Where(), summarizeLogPatterns(r.Patterns)),
					fmt.Sprintf("In %s replace rotate -1 with a count (e.g. rotate 7) or add maxage 14, then delete the rotated copies it kept (ls -l %s.*).", r.Where(), r.Patterns[0]),
					map[string]string{"rule": r.Where(), "patterns": strings.Join(r.Patterns, " "), "matchingFiles": strconv.Itoa(matched)}))
			}
		}
		if r.Criterion.isTimeBased() && r.MinSize > 0 && r.MaxSize == 0 && coversContainerLogs(r) {
			out = append(out, logRotationFinding(r.Where(), "minsize-only",
				fmt.Sprintf("logrotate rule at %s rotates container logs %s only %s and only once over %s (minsize without maxsize), so they grow without limit in between",
					r.Where(), summarizeLogPatterns(r.Patterns), r.Criterion, formatLogBytes(r.MinSize)),
				fmt.Sprintf("In %s use maxsize %s instead of minsize (maxsize rotates at the next logrotate run once the size is passed; minsize also waits for the interval) and run logrotate hourly for container logs (systemctl edit logrotate.timer: OnCalendar=hourly).",
					r.Where(), formatLogrotateSize(r.MinSize)),
				map[string]string{"rule": r.Where(), "patterns": strings.Join(r.Patterns, " "), "criterion": string(r.Criterion), "minsize": strconv.FormatUint(r.MinSize, 10)}))
		}
	}
	return out, nil
}

// ruleMatchesFiles counts existing host files named by the rule's patterns.
func (c *logRotationCheck) ruleMatchesFiles(r logrotateRule) int {
	n := 0
	for _, pat := range r.Patterns {
		if !path.IsAbs(pat) {
			continue
		}
		matches, err := c.host.Glob(pat)
		if err != nil {
			continue // a malformed glob matches nothing, for logrotate too
		}
		for _, m := range matches {
			if fi, err := c.host.Stat(m); err == nil && fi.Mode().IsRegular() {
				n++
			}
		}
	}
	return n
}

// coversContainerLogs says whether a rule's patterns lie under a container
// log directory.
func coversContainerLogs(r logrotateRule) bool {
	for _, pat := range r.Patterns {
		for _, dir := range containerLogDirs {
			if strings.HasPrefix(pat, dir+"/") {
				return true
			}
		}
	}
	return false
}

// formatLogrotateSize writes a size the way a logrotate config would.
func formatLogrotateSize(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dG", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dk", n>>10)
	}
	return strconv.FormatUint(n, 10)
}

// logrotateNotRunning reports a status file older than statusMaxAge, or
// none at all on a host where logrotate has long been configured.
func (c *logRotationCheck) logrotateNotRunning() ([]probes.Finding, error) {
	if _, err := c.host.Stat(logrotateStateDir); errors.Is(err, fs.ErrNotExist) {
		// Not installed the usual way, or not mounted into the agent: we
		// cannot tell, so we do not guess.
		return nil, nil
	}
	now := c.clock.Now()
	maxAge := c.cfg.StatusMaxAge.Duration
	var newest time.Time
	var newestPath string
	for _, p := range logrotateStatusFiles {
		fi, err := c.host.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if fi.ModTime().After(newest) {
			newest, newestPath = fi.ModTime(), p
		}
	}
	remedy := fmt.Sprintf("Check what runs logrotate: systemctl status logrotate.timer logrotate.service (enable it with systemctl enable --now logrotate.timer), or the cron job /etc/cron.daily/logrotate and that cron runs; then run logrotate -v %s once and fix what it reports.", logrotateMainConfig)
	if newestPath == "" {
		conf, err := c.host.Stat(logrotateMainConfig)
		if err != nil {
			return nil, err
		}
		if now.Sub(conf.ModTime()) <= maxAge {
			return nil, nil // freshly installed: the first daily run may not have happened yet
		}
		return []probes.Finding{logRotationFinding(logrotateStateDir, "not-running",
			fmt.Sprintf("logrotate has never run: %s exists but there is no status file (%s)", logrotateMainConfig, strings.Join(logrotateStatusFiles, " or ")),
			remedy, map[string]string{"statusFiles": strings.Join(logrotateStatusFiles, " ")})}, nil
	}
	if age := now.Sub(newest); age > maxAge {
		return []probes.Finding{logRotationFinding(newestPath, "not-running",
			fmt.Sprintf("logrotate has not run since %s (last write of %s), more than %s ago; it normally runs daily",
				newest.UTC().Format("2006-01-02 15:04 MST"), newestPath, formatLogAge(maxAge)),
			remedy, map[string]string{"statusFile": newestPath, "lastRun": newest.UTC().Format(time.RFC3339)})}, nil
	}
	return nil, nil
}

// formatSystemdSize writes a size the way journalctl --vacuum-size takes it
// (systemd's upper-case K, M, G suffixes).
func formatSystemdSize(n uint64) string {
	return strings.ToUpper(formatLogrotateSize(n))
}

// formatLogAge shows a configured age in days or hours.
func formatLogAge(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return fmt.Sprintf("%gh", d.Hours())
}

// dockerFindings judges dockerd's json-file logs: a size limit from
// daemon.json or logrotate, and copytruncate in logrotate rules that rotate
// them. inUse says whether there are any such logs.
func (c *logRotationCheck) dockerFindings(lr *logrotateConfig) (findings []probes.Finding, inUse bool, err error) {
	logs, err := c.host.Glob(dockerJSONLogGlob)
	if err != nil {
		return nil, false, err
	}
	if len(logs) == 0 {
		return nil, false, nil
	}
	out, err := c.dockerLogFindings(lr, logs)
	return out, true, err
}

func (c *logRotationCheck) dockerLogFindings(lr *logrotateConfig, logs []string) ([]probes.Finding, error) {
	data, err := readHostFileLimited(c.host, dockerDaemonConfigPath, dockerConfigMaxBytes)
	var dc dockerLogConfig
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if dc, err = parseDockerDaemonConfig(data); err != nil {
			return []probes.Finding{logRotationFinding(dockerDaemonConfigPath, "config-error",
				fmt.Sprintf("dockerd cannot use %s: %v", dockerDaemonConfigPath, err),
				fmt.Sprintf("Fix %s (python3 -m json.tool %s shows where it breaks), then systemctl restart docker.", dockerDaemonConfigPath, dockerDaemonConfigPath),
				map[string]string{"file": dockerDaemonConfigPath})}, nil
		}
	}
	var out []probes.Finding
	var rules []*logrotateRule
	var uncovered []string
	for _, p := range logs {
		var rule *logrotateRule
		if lr != nil {
			rule = lr.RuleFor(p)
		}
		if rule != nil && !slices.Contains(rules, rule) {
			rules = append(rules, rule)
		}
		if rule == nil || (rule.Criterion != rotateBySize && rule.MaxSize == 0) {
			uncovered = append(uncovered, p)
		}
	}
	maxSize, _ := dc.MaxSizeBytes() // validated by parseDockerDaemonConfig
	if dc.Driver() == dockerDefaultLogDriver && maxSize < 0 && len(uncovered) > 0 {
		why := fmt.Sprintf("%s sets no log-opts.max-size", dockerDaemonConfigPath)
		switch {
		case !dc.Exists:
			why = fmt.Sprintf("there is no %s, so json-file's default (no size limit) applies", dockerDaemonConfigPath)
		case dc.LogOpts["max-size"] != "":
			why = fmt.Sprintf("%s sets log-opts.max-size to -1 (no limit)", dockerDaemonConfigPath)
		}
		out = append(out, logRotationFinding(dockerDaemonConfigPath, "docker-no-max-size",
			fmt.Sprintf("dockerd's json-file container logs under %s grow without limit: %s and no logrotate rule with size or maxsize covers them", dockerContainersDir, why),
			fmt.Sprintf(`Add "log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "5"} to %s and run systemctl restart docker. It applies only to containers created afterwards: recreate the pods (kubectl delete pod ...), and truncate the biggest logs now (truncate -s 0 %s/<id>/<id>-json.log).`, dockerDaemonConfigPath, dockerContainersDir),
			map[string]string{"jsonLogs": strconv.Itoa(len(logs)), "uncoveredLogs": strconv.Itoa(len(uncovered)), "example": uncovered[0]}))
	}
	for _, r := range rules {
		if r.CopyTruncate {
			continue
		}
		out = append(out, logRotationFinding(r.Where(), "docker-no-copytruncate",
			fmt.Sprintf("logrotate rule at %s rotates dockerd's json logs without copytruncate: dockerd keeps writing to the renamed file, so rotating frees no space", r.Where()),
			fmt.Sprintf("Add copytruncate to the rule at %s, or drop the rule and set log-opts.max-size in %s instead (systemctl restart docker; new containers only). Renamed files dockerd still writes show in ls -l /proc/$(pidof dockerd)/fd | grep json.log.", r.Where(), dockerDaemonConfigPath),
			map[string]string{"rule": r.Where(), "patterns": strings.Join(r.Patterns, " ")}))
	}
	return out, nil
}

// journaldFindings compares the journal files on disk with journald's
// limits. present says whether there is any journald config or journal.
func (c *logRotationCheck) journaldFindings() (findings []probes.Finding, present bool, err error) {
	jc, err := readJournaldConfig(c.host)
	if err != nil {
		return nil, false, err
	}
	present = len(jc.Sources) > 0
	machineID := ""
	if data, err := c.host.ReadFile("/etc/machine-id"); err == nil {
		machineID = strings.TrimSpace(string(data))
	}
	for _, store := range []struct {
		dir, key string
		setting  journaldSetting
	}{
		{journaldPersistentDir, "SystemMaxUse", jc.SystemMaxUse},
		{journaldVolatileDir, "RuntimeMaxUse", jc.RuntimeMaxUse},
	} {
		usage, err := readJournalUsage(c.host, store.dir)
		if err != nil {
			return nil, false, err
		}
		if usage.Bytes == 0 {
			continue
		}
		present = true
		limit, from := store.setting.Bytes, store.setting.From
		if from == "" {
			u, err := c.host.Statfs(store.dir)
			if err != nil {
				return nil, false, err
			}
			limit = journaldDefaultMaxUse(u.TotalBytes)
		}
		if usage.Bytes <= limit+journaldSlack(limit) {
			continue
		}
		setBy := "journald's default: 10% of the filesystem, at most 4G"
		if from != "" {
			setBy = "set at " + from
		}
		evidence := map[string]string{
			"dir": store.dir, "bytes": strconv.FormatUint(usage.Bytes, 10), "files": strconv.Itoa(usage.Files),
			"limitBytes": strconv.FormatUint(limit, 10), "limitFrom": setBy,
		}
		var foreign []string
		for sub, n := range usage.BySubdir {
			if machineID != "" && sub != machineID && !strings.HasPrefix(sub, machineID+".") && n > 0 {
				foreign = append(foreign, sub)
			}
		}
		remedy := fmt.Sprintf("Free it now: journalctl --vacuum-size=%s. After changing %s, restart journald (systemctl restart systemd-journald): it applies limits when it starts.",
			formatSystemdSize(limit), store.key)
		if len(foreign) > 0 {
			slices.Sort(foreign)
			evidence["otherMachineIDs"] = strings.Join(foreign, " ")
			var dirs []string
			for _, id := range foreign {
				dirs = append(dirs, path.Join(store.dir, id))
			}
			remedy += fmt.Sprintf(" journald only vacuums the directory of its own machine ID (%s); remove those left by other installs: rm -r %s.", machineID, strings.Join(dirs, " "))
		}
		findings = append(findings, logRotationFinding(store.dir, "journal-over-limit",
			fmt.Sprintf("journal files in %s take %s, over its %s of %s (%s)", store.dir, formatLogBytes(usage.Bytes), store.key, formatLogBytes(limit), setBy),
			remedy, evidence))
	}
	return findings, present, nil
}
