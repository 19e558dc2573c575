package hostchecks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
)

// Names of the memory-cgroups check, its condition and reason.
const (
	MemcgCheckName          = "memory-cgroups"
	MemcgCondition          = "MemoryCgroupLeak"
	ReasonDyingMemoryCgroup = "DyingMemoryCgroups"
)

// memcgIDLimit is the size of the memory cgroup ID space: MEM_CGROUP_ID_MAX is
// USHRT_MAX (include/linux/memcontrol.h). Live and dying memcgs both hold an
// ID; when they are used up, mkdir in the memory hierarchy fails with ENOSPC.
const memcgIDLimit = 65535

// Filesystem magic numbers (include/uapi/linux/magic.h).
const (
	memcgCgroup2Magic = 0x63677270 // CGROUP2_SUPER_MAGIC
	memcgTmpfsMagic   = 0x01021994 // TMPFS_MAGIC: the v1/hybrid /sys/fs/cgroup
)

// MemcgConfig is the memory-cgroups check's settings
// (checks.memory-cgroups.settings).
type MemcgConfig struct {
	// DyingThreshold raises the condition when this many memory cgroups are
	// dying (removed but still held by charged pages). Default 2000.
	DyingThreshold int `json:"dyingThreshold"`
	// DyingPerLiveRatio raises the condition when dying memcgs outnumber live
	// ones by this factor. Default 5.
	DyingPerLiveRatio float64 `json:"dyingPerLiveRatio"`
	// RatioMinDying keeps the ratio rule quiet on near-empty nodes, where ten
	// live and fifty dying cgroups are harmless. Default 500.
	RatioMinDying int `json:"ratioMinDying"`
	// IDLimitPercent raises the condition when live plus dying memcgs use
	// this share of the 65535 memcg IDs. Default 90.
	IDLimitPercent float64 `json:"idLimitPercent"`
}

// DefaultMemcgConfig returns the documented defaults.
func DefaultMemcgConfig() MemcgConfig {
	return MemcgConfig{DyingThreshold: 2000, DyingPerLiveRatio: 5, RatioMinDying: 500, IDLimitPercent: 90}
}

func (c MemcgConfig) validate(s probes.Settings) error {
	if c.DyingThreshold < 1 {
		return s.Fieldf("dyingThreshold", "must be at least 1, got %d", c.DyingThreshold)
	}
	if c.DyingPerLiveRatio <= 0 {
		return s.Fieldf("dyingPerLiveRatio", "must be greater than 0, got %v", c.DyingPerLiveRatio)
	}
	if c.RatioMinDying < 0 {
		return s.Fieldf("ratioMinDying", "must not be negative, got %d", c.RatioMinDying)
	}
	if c.IDLimitPercent <= 0 || c.IDLimitPercent > 100 {
		return s.Fieldf("idLimitPercent", "must be in (0, 100], got %v", c.IDLimitPercent)
	}
	return nil
}

// MemcgSpec is the memory-cgroups check.
//
// It counts dying ("zombie") memory cgroups: cgroups that were removed but
// still exist in the kernel because pages charged to them (page cache, or
// per-cgroup slab caches when kmem accounting is on) pin them. They pile up
// until new cgroups cannot be created and pods fail with "mkdir
// /sys/fs/cgroup/memory/…: cannot allocate memory" or "no space left on
// device".
//
// Reads: statfs(/sys/fs/cgroup) for the cgroup mode (CGROUP2_SUPER_MAGIC ⇒
// unified; tmpfs ⇒ v1 or hybrid; anything else is a captured host tree and
// the mode is taken from /sys/fs/cgroup/cgroup.controllers being present).
// On v1, /proc/cgroups (memory num_cgroups counts live and dying memcgs,
// kernel proc_cgroupstats_show) minus the directories under
// /sys/fs/cgroup/memory, root included; on v2, nr_dying_descendants or,
// where the kernel has it, nr_dying_subsys_memory in cgroup.stat
// (Documentation/admin-guide/cgroup-v2.rst). Evidence: the kernel release
// (/proc/sys/kernel/osrelease), cgroup.memory=nokmem on /proc/cmdline, and
// on v1 the kmem counters of the kubepods cgroup (memory.kmem.usage_in_bytes,
// memory.kmem.failcnt; absent files mean kmem accounting is not available).
//
// Condition MemoryCgroupLeak, reason DyingMemoryCgroups, when dying memcgs
// reach dyingThreshold (2000), or outnumber live ones dyingPerLiveRatio (5)
// times over (once at least ratioMinDying are dying), or live plus dying reach
// idLimitPercent (90 %) of the 65535 memcg IDs (MEM_CGROUP_ID_MAX,
// include/linux/memcontrol.h). The thresholds follow the failure reports in
// kubernetes/kubernetes#61937 and #96701, where nodes failed with tens of
// thousands of dying memcgs. The remedy depends on the kernel: 3.10 el7
// before 3.10.0-1075 and 4.x kernels leak through kmem accounting
// (cgroup.memory=nokmem or a kernel upgrade); newer kernels only keep
// page-cache-pinned memcgs (drain and reboot; drop_caches as relief).
func MemcgSpec() probes.Spec {
	return probes.Spec{
		Name:           MemcgCheckName,
		Condition:      MemcgCondition,
		Interval:       5 * time.Minute,
		Timeout:        time.Minute,
		DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{{
			Reason:    ReasonDyingMemoryCgroup,
			Condition: MemcgCondition,
			Severity:  probes.SeverityWarning,
			Summary:   "removed memory cgroups pile up in the kernel; creating pod cgroups will start failing (problem once the memcg IDs run short)",
		}},
		New: newMemcgCheck,
	}
}

type memcgCheck struct {
	env probes.Env
	cfg MemcgConfig
}

func newMemcgCheck(env probes.Env) (probes.Check, error) {
	cfg := DefaultMemcgConfig()
	if err := config.Decode(env.Settings, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(env.Settings); err != nil {
		return nil, err
	}
	return &memcgCheck{env: env, cfg: cfg}, nil
}

// memcgCounts is what the kernel says about memory cgroups.
type memcgCounts struct {
	mode   string // "v1" or "v2"
	live   int
	dying  int
	source map[string]string // evidence: where the numbers came from
}

func (c *memcgCheck) Check(ctx context.Context) ([]probes.Finding, error) {
	counts, err := c.count(ctx)
	if err != nil {
		return nil, err
	}
	total := counts.live + counts.dying
	idUsePercent := 100 * float64(total) / memcgIDLimit

	var triggers []string
	if counts.dying >= c.cfg.DyingThreshold {
		triggers = append(triggers, fmt.Sprintf("%d dying", c.cfg.DyingThreshold))
	}
	if counts.dying >= c.cfg.RatioMinDying && counts.live > 0 &&
		float64(counts.dying) >= c.cfg.DyingPerLiveRatio*float64(counts.live) {
		triggers = append(triggers, fmt.Sprintf("%s dying per live memcg", strconv.FormatFloat(c.cfg.DyingPerLiveRatio, 'f', -1, 64)))
	}
	if idUsePercent >= c.cfg.IDLimitPercent {
		triggers = append(triggers, fmt.Sprintf("%s%% of the memcg IDs in use", strconv.FormatFloat(c.cfg.IDLimitPercent, 'f', -1, 64)))
	}
	c.env.Logger.Debug("memory cgroups counted", "mode", counts.mode, "live", counts.live, "dying", counts.dying)
	if len(triggers) == 0 {
		return []probes.Finding{}, nil
	}

	ev := c.evidence(counts)
	ev["liveMemcgs"] = strconv.Itoa(counts.live)
	ev["dyingMemcgs"] = strconv.Itoa(counts.dying)
	ev["memcgIDsUsedPercent"] = strconv.FormatFloat(idUsePercent, 'f', 1, 64)
	ev["thresholdsCrossed"] = strings.Join(triggers, "; ")

	severity := probes.SeverityWarning
	if idUsePercent >= c.cfg.IDLimitPercent {
		severity = probes.SeverityProblem
	}
	// Counts move by a few every run while pods come and go; the message
	// rounds them and leaves the live count out (exact values are in the
	// evidence) so an unchanged fault does not rewrite the condition on every
	// run.
	msg := fmt.Sprintf("%s dying memory cgroups held by the kernel (cgroup %s, %s of the %d memcg IDs in use); over the limit of %s",
		memcgRoughCount(counts.dying), counts.mode, memcgRoughCount(total), memcgIDLimit, strings.Join(triggers, ", "))
	return []probes.Finding{{
		Check:     MemcgCheckName,
		Condition: MemcgCondition,
		Reason:    ReasonDyingMemoryCgroup,
		Severity:  severity,
		Message:   msg,
		Remedy:    memcgRemedy(ev),
		Evidence:  ev,
		Time:      c.env.Clock.Now(),
	}}, nil
}

// count finds the cgroup mode and reads the live and dying memcg numbers.
func (c *memcgCheck) count(ctx context.Context) (memcgCounts, error) {
	v2, err := c.unified()
	if err != nil {
		return memcgCounts{}, err
	}
	if v2 {
		return c.countV2("/sys/fs/cgroup/cgroup.stat")
	}
	data, err := c.env.Host.ReadFile("/proc/cgroups")
	if err != nil {
		return memcgCounts{}, fmt.Errorf("read /proc/cgroups: %w", err)
	}
	controllers, err := parseMemcgProcCgroups(bytes.NewReader(data))
	if err != nil {
		return memcgCounts{}, fmt.Errorf("parse /proc/cgroups: %w", err)
	}
	mem, ok := controllers["memory"]
	switch {
	case !ok:
		return memcgCounts{}, fmt.Errorf("the kernel has no memory cgroup controller (/proc/cgroups): %w", probes.ErrNotApplicable)
	case !mem.enabled:
		return memcgCounts{}, fmt.Errorf("the memory cgroup controller is disabled (cgroup_disable=memory): %w", probes.ErrNotApplicable)
	case mem.hierarchy == 0:
		// Hybrid layout with memory bound to the unified hierarchy.
		return c.countV2("/sys/fs/cgroup/unified/cgroup.stat")
	}
	live, err := c.countLiveV1(ctx, "/sys/fs/cgroup/memory")
	if err != nil {
		return memcgCounts{}, err
	}
	// num_cgroups and the walk are not one atomic snapshot: a cgroup created
	// in between can make live exceed the total for a moment.
	dying := max(mem.numCgroups-live, 0)
	return memcgCounts{
		mode:  "v1",
		live:  live,
		dying: dying,
		source: map[string]string{
			"procCgroupsMemoryNumCgroups": strconv.Itoa(mem.numCgroups),
			"memoryHierarchy":             "/sys/fs/cgroup/memory",
		},
	}, nil
}

// unified reports whether /sys/fs/cgroup is the cgroup v2 unified hierarchy.
func (c *memcgCheck) unified() (bool, error) {
	usage, err := c.env.Host.Statfs("/sys/fs/cgroup")
	if err != nil {
		return false, fmt.Errorf("statfs /sys/fs/cgroup: %w", err)
	}
	switch usage.Type {
	case memcgCgroup2Magic:
		return true, nil
	case memcgTmpfsMagic:
		return false, nil
	}
	// Not a live cgroup mount: a host tree captured to disk (check
	// --host-root). Only the unified hierarchy has cgroup.controllers at its
	// root.
	_, err = c.env.Host.Stat("/sys/fs/cgroup/cgroup.controllers")
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("stat /sys/fs/cgroup/cgroup.controllers: %w", err)
}

func (c *memcgCheck) countV2(statPath string) (memcgCounts, error) {
	data, err := c.env.Host.ReadFile(statPath)
	if err != nil {
		return memcgCounts{}, err
	}
	stat, err := parseMemcgCgroupStat(bytes.NewReader(data))
	if err != nil {
		return memcgCounts{}, fmt.Errorf("parse %s: %w", statPath, err)
	}
	src := map[string]string{"cgroupStat": statPath}
	// nr_subsys_memory counts the root cgroup itself (it is 1 on an empty
	// hierarchy); nr_descendants does not.
	if dying, ok := stat["nr_dying_subsys_memory"]; ok {
		live, ok := stat["nr_subsys_memory"]
		if !ok {
			return memcgCounts{}, fmt.Errorf("%s has nr_dying_subsys_memory but no nr_subsys_memory", statPath)
		}
		src["counter"] = "nr_dying_subsys_memory"
		return memcgCounts{mode: "v2", live: live, dying: dying, source: src}, nil
	}
	descendants, ok1 := stat["nr_descendants"]
	dying, ok2 := stat["nr_dying_descendants"]
	if !ok1 || !ok2 {
		return memcgCounts{}, fmt.Errorf("%s lacks nr_descendants or nr_dying_descendants", statPath)
	}
	src["counter"] = "nr_dying_descendants"
	return memcgCounts{mode: "v2", live: descendants + 1, dying: dying, source: src}, nil
}

// countLiveV1 counts the directories of the v1 memory hierarchy, its root
// included. A live hierarchy cannot hold more memcgs than there are IDs, so a
// walk past that bound means this is not a memory hierarchy at all.
func (c *memcgCheck) countLiveV1(ctx context.Context, hostDir string) (int, error) {
	if _, err := c.env.Host.Stat(hostDir); err != nil {
		return 0, fmt.Errorf("memory cgroup hierarchy: %w", err)
	}
	local, err := c.env.Host.Path(hostDir)
	if err != nil {
		return 0, err
	}
	n, err := memcgCountDirs(ctx, local, hostDir, memcgIDLimit+1)
	if err != nil {
		return 0, fmt.Errorf("walk %s: %w", hostDir, err)
	}
	return n, nil
}

// memcgCountDirs counts root and the directories below it, giving up after
// limit. Hand-written rather than filepath.WalkDir because WalkDir sorts every
// directory listing and cannot stop at a bound; cgroupfs listings are long
// (dozens of control files per cgroup) and the order does not matter. root is
// a local path; errors name the directory as hostRoot shows it on the host.
func memcgCountDirs(ctx context.Context, root, hostRoot string, limit int) (int, error) {
	hostName := func(dir string) string {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			return dir
		}
		return path.Join(hostRoot, filepath.ToSlash(rel))
	}
	count := 0
	pending := []string{root}
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			return count, err
		}
		dir := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		count++
		if count > limit {
			return count, fmt.Errorf("more than %d directories", limit)
		}
		f, err := os.Open(dir)
		if errors.Is(err, fs.ErrNotExist) {
			count-- // removed while we walked
			continue
		}
		if err != nil {
			return count, fmt.Errorf("list %s: %w", hostName(dir), pathErrorCause(err))
		}
		entries, err := f.ReadDir(-1)
		f.Close()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return count, fmt.Errorf("list %s: %w", hostName(dir), pathErrorCause(err))
		}
		for _, e := range entries {
			if e.IsDir() {
				pending = append(pending, filepath.Join(dir, e.Name()))
			}
		}
	}
	return count, nil
}

// evidence gathers the kernel facts that decide the remedy.
func (c *memcgCheck) evidence(counts memcgCounts) map[string]string {
	ev := map[string]string{"cgroupMode": counts.mode}
	for k, v := range counts.source {
		ev[k] = v
	}
	if release, err := c.env.Host.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		ev["kernelRelease"] = strings.TrimSpace(string(release))
	} else {
		ev["kernelRelease"] = "unknown (" + err.Error() + ")"
	}
	if cmdline, err := c.env.Host.ReadFile("/proc/cmdline"); err == nil {
		ev["nokmemOnCmdline"] = strconv.FormatBool(memcgHasNokmem(string(cmdline)))
	} else {
		ev["nokmemOnCmdline"] = "unknown (" + err.Error() + ")"
	}
	if counts.mode == "v1" {
		c.kmemEvidence(ev)
	} else {
		ev["kmemAccounting"] = "always on in cgroup v2 unless cgroup.memory=nokmem"
	}
	return ev
}

// kmemEvidence reads the kmem counters of the kubepods cgroup (cgroupfs or
// systemd driver layout). On kernels built without kmem or after
// kmem.limit_in_bytes removal the files are absent, which only means kmem
// accounting cannot be seen here.
func (c *memcgCheck) kmemEvidence(ev map[string]string) {
	for _, dir := range []string{"/sys/fs/cgroup/memory/kubepods.slice", "/sys/fs/cgroup/memory/kubepods"} {
		if _, err := c.env.Host.Stat(dir); err != nil {
			continue
		}
		usage, uerr := memcgReadUint(c.env.Host, dir+"/memory.kmem.usage_in_bytes")
		failcnt, ferr := memcgReadUint(c.env.Host, dir+"/memory.kmem.failcnt")
		if errors.Is(uerr, fs.ErrNotExist) {
			ev["kmemAccounting"] = "not available (no memory.kmem.usage_in_bytes in " + dir + ")"
			return
		}
		if uerr != nil {
			ev["kmemAccounting"] = "unknown (" + uerr.Error() + ")"
			return
		}
		ev["kmemUsageBytes"] = strconv.FormatUint(usage, 10)
		if ferr == nil {
			ev["kmemFailcnt"] = strconv.FormatUint(failcnt, 10)
		}
		if usage > 0 {
			ev["kmemAccounting"] = "active in " + dir
		} else {
			ev["kmemAccounting"] = "inactive in " + dir
		}
		return
	}
	ev["kmemAccounting"] = "unknown (no kubepods memory cgroup)"
}

func memcgReadUint(host probes.FS, name string) (uint64, error) {
	data, err := host.ReadFile(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", name, err)
	}
	return n, nil
}

// memcgHasNokmem reports whether the kernel command line disables kmem
// accounting (cgroup.memory takes a comma list: nosocket, nokmem, nobpf).
func memcgHasNokmem(cmdline string) bool {
	for _, arg := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(arg, "cgroup.memory="); ok {
			for _, opt := range strings.Split(v, ",") {
				if opt == "nokmem" {
					return true
				}
			}
		}
	}
	return false
}

// memcgKernelLeaksKmem says whether a kernel release is one where kmem
// accounting leaks memcgs: RHEL/CentOS 7 kernels before 3.10.0-1075.el7
// (Red Hat bugzilla 1507149) and upstream 3.x/4.x.
func memcgKernelLeaksKmem(release string) bool {
	m := memcgReleaseRE.FindStringSubmatch(release)
	if m == nil {
		return false
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major == 3 && minor == 10 && strings.Contains(release, ".el7") {
		build, err := strconv.Atoi(m[3])
		return err != nil || build < 1075
	}
	return major < 5
}

// memcgReleaseRE splits a kernel release into major, minor and, for
// distribution kernels, the build number after the dash (3.10.0-1062.el7).
var memcgReleaseRE = regexp.MustCompile(`^(\d+)\.(\d+)\.\d+(?:-(\d+))?`)

// memcgRemedy picks the fix for the kernel in the evidence.
func memcgRemedy(ev map[string]string) string {
	relief := "For temporary relief run `echo 3 > /proc/sys/vm/drop_caches` on the node."
	if ev["nokmemOnCmdline"] != "true" && memcgKernelLeaksKmem(ev["kernelRelease"]) &&
		!strings.HasPrefix(ev["kmemAccounting"], "inactive") && !strings.HasPrefix(ev["kmemAccounting"], "not available") {
		return "Kernel " + ev["kernelRelease"] + " leaks memory cgroups through kmem accounting: add cgroup.memory=nokmem to GRUB_CMDLINE_LINUX in /etc/default/grub, run `grub2-mkconfig -o /boot/grub2/grub.cfg`, then drain and reboot the node (or upgrade to kernel 3.10.0-1075.el7 or later on RHEL/CentOS 7, or a 5.x+ kernel). " + relief
	}
	return "The dying memory cgroups are pinned by page cache charged to deleted pod cgroups: `kubectl drain <node> --ignore-daemonsets --delete-emptydir-data`, reboot the node, then `kubectl uncordon <node>`. " + relief
}

// memcgRoughCount rounds a count to two significant digits ("≈2,500") so it
// can sit in a message without changing on every run; small counts stay exact.
func memcgRoughCount(n int) string {
	if n < 100 {
		return strconv.Itoa(n)
	}
	scale := 1
	for n/scale >= 100 {
		scale *= 10
	}
	rounded := (n + scale/2) / scale * scale
	return "≈" + memcgThousands(rounded)
}

func memcgThousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// memcgController is one /proc/cgroups line.
type memcgController struct {
	hierarchy  int
	numCgroups int
	enabled    bool
}

// parseMemcgProcCgroups parses /proc/cgroups: a "#subsys_name hierarchy
// num_cgroups enabled" header, then one tab-separated line per controller
// (kernel proc_cgroupstats_show).
func parseMemcgProcCgroups(r io.Reader) (map[string]memcgController, error) {
	sc := bufio.NewScanner(r)
	out := map[string]memcgController{}
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: want 4 fields (subsys_name hierarchy num_cgroups enabled), got %q", lineNo, line)
		}
		var nums [3]int
		for i := range nums {
			n, err := strconv.Atoi(f[i+1])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("line %d: field %d is not a count: %q", lineNo, i+2, line)
			}
			nums[i] = n
		}
		out[f[0]] = memcgController{hierarchy: nums[0], numCgroups: nums[1], enabled: nums[2] != 0}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no controllers listed")
	}
	return out, nil
}

// parseMemcgCgroupStat parses a cgroup v2 cgroup.stat file ("key value"
// lines).
func parseMemcgCgroupStat(r io.Reader) (map[string]int, error) {
	sc := bufio.NewScanner(r)
	out := map[string]int{}
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, " ")
		if !ok || strings.ContainsFunc(key, unicode.IsControl) {
			return nil, fmt.Errorf("line %d: want \"key value\", got %q", lineNo, line)
		}
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("line %d: %s is not a count: %q", lineNo, key, value)
		}
		out[key] = n
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}
