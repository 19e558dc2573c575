package cri

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/kubeletconfig"
)

// Condition, reasons and label of the sandbox-image check.
const (
	ConditionSandboxImageMissing = "SandboxImageMissing"
	ReasonSandboxImageNotPresent = "SandboxImageNotPresent"
	// ReasonSandboxImagePullFailing is the log-derived reason (rules engine)
	// that joins ConditionSandboxImageMissing; this check reads its latest
	// line back to say why the image is missing and pick a remedy that works
	// without the registry.
	ReasonSandboxImagePullFailing = "SandboxImagePullFailing"
	ReasonSandboxImageAtRisk      = "SandboxImageAtRisk"
	ReasonSandboxImagePinned      = "SandboxImagePinned"

	// ContainerdPinnedLabel is the image label containerd's CRI plugin reads
	// as Image.pinned (PinnedImageLabelKey, containerd ≥ 1.6.22 / 1.7.3).
	ContainerdPinnedLabel = "io.cri-containerd.pinned"
	containerdPinnedValue = "pinned"
)

// pinnedKubeletMinor is the first kubelet minor (1.29, kubernetes#118544 and
// #123144) whose image GC no longer protects the sandbox image by itself and
// deletes it unless the runtime reports it pinned.
const pinnedKubeletMinor = 29

// recentPullFailure is how far back a SandboxImagePullFailing log match
// still counts as "pulls are failing".
const recentPullFailure = time.Hour

// SandboxImageSpec is the sandbox-image check.
//
// It finds the sandbox (pause) image the runtime is configured with: the
// verbose CRI Status info config.sandboxImage (containerd 1.x, CRI-O ≥ 1.27,
// cri-dockerd); else containerd's config file with its imports (version 3
// [plugins."io.containerd.cri.v1.images".pinned_images] sandbox, a migrated
// version-2 sandbox_image); else CRI-O's crio.conf and crio.conf.d/*.conf
// (pause_image, later files win); else the runtime's built-in default, which
// the message then calls assumed. Then ImageStatus:
//
//   - absent ⇒ SandboxImageMissing True, SandboxImageNotPresent, with a remedy
//     for the runtime (pull through CRI, or import from a mirror when the
//     logs show pulls failing, then pin);
//   - the rules engine reports SandboxImagePullFailing from the kubelet,
//     containerd and CRI-O logs with the image as Subject. For the image
//     this check finds absent that is the same fault, and the agent folds
//     the log finding into this one (agent.SameFault: same condition and
//     subject), so the condition carries one finding per image. This check
//     uses the latest such line only to enrich its own finding: the message
//     says pulls fail and, in words that do not change from line to line,
//     why (DNS, timeout, TLS, credentials, rate limit, unknown image); the
//     line itself is evidence; the remedy turns to importing from a mirror;
//   - present and pinned ⇒ healthy;
//   - present, not pinned, kubelet ≥ 1.29 (nodeInfo.kubeletVersion; unknown ⇒
//     assumed, and said) and image filesystem usage (ImageFsInfo mountpoint,
//     statfs under the host root, computed like the kubelet:
//     100 − available·100/capacity) at or above imageGCHighThresholdPercent −
//     riskMarginPercent (kubelet config, default 85) ⇒ Event
//     SandboxImageAtRisk: the kubelet's next image GC deletes it
//     (pkg/kubelet/images/image_gc_manager.go skips only pinned and in-use
//     images, and sandbox images are not "in use").
//
// containerd before 1.6.22 / 1.7.3 never reports Image.pinned over CRI. On
// containerd the check therefore reads the image's io.cri-containerd.pinned
// label through containerd's own API when CRI says unpinned: a labelled
// image on a containerd that reports pins is pinned; a labelled image on an
// older containerd is still deleted by the kubelet, and the message says so;
// a label that cannot be read is said to be unknown, not guessed.
//
// With pinWhenUnpinned (off by default) an unpinned image on containerd gets
// the label through containerd's API, which is logged and reported as the
// info Event SandboxImagePinned.
//
// The condition clears when the image is present again (the log-derived
// SandboxImagePullFailing clears after its quiet window).
//
// Settings (checks.sandbox-image.settings):
//
//	containerdConfig   containerd's config file; default /etc/containerd/config.toml
//	                   (k3s: /var/lib/rancher/k3s/agent/etc/containerd/config.toml)
//	crioConfig         default /etc/crio/crio.conf
//	crioConfigDir      default /etc/crio/crio.conf.d
//	riskMarginPercent  points below the GC high threshold that count as near; default 5
//	pinWhenUnpinned    default false
func SandboxImageSpec() probes.Spec {
	return probes.Spec{
		Name:           "sandbox-image",
		Condition:      ConditionSandboxImageMissing,
		Interval:       time.Minute,
		Timeout:        20 * time.Second,
		DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{
			{Reason: ReasonSandboxImageNotPresent, Condition: ConditionSandboxImageMissing, Severity: probes.SeverityWarning,
				Summary: "the configured sandbox (pause) image is not in the runtime's image store; new pods must pull it first"},
			{Reason: ReasonSandboxImageAtRisk, Severity: probes.SeverityWarning,
				Summary: "the sandbox image is not pinned and the image filesystem is near the kubelet's image GC threshold"},
			{Reason: ReasonSandboxImagePinned, Severity: probes.SeverityInfo,
				Summary: "nodetriage pinned the sandbox image in containerd (pinWhenUnpinned)"},
		},
		New: newSandboxImageCheck,
	}
}

type sandboxImageConfig struct {
	ContainerdConfig  string `json:"containerdConfig"`
	CRIOConfig        string `json:"crioConfig"`
	CRIOConfigDir     string `json:"crioConfigDir"`
	RiskMarginPercent int    `json:"riskMarginPercent"`
	PinWhenUnpinned   bool   `json:"pinWhenUnpinned"`
}

type sandboxImageCheck struct {
	cfg    sandboxImageConfig
	rt     probes.Runtime
	host   probes.FS
	clock  clock.PassiveClock
	logger *slog.Logger
	logs   probes.LogRecall
	node   func() *corev1.Node
	// lastRiskErr and lastPinErr are the last reasons the risk could not be
	// evaluated or the image not pinned, logged at Warn once and at Debug
	// while they repeat.
	lastRiskErr, lastPinErr string
}

func newSandboxImageCheck(env probes.Env) (probes.Check, error) {
	cfg := sandboxImageConfig{
		CRIOConfig:        "/etc/crio/crio.conf",
		CRIOConfigDir:     "/etc/crio/crio.conf.d",
		RiskMarginPercent: 5,
	}
	if err := config.Decode(env.Settings, &cfg); err != nil {
		return nil, err
	}
	if cfg.RiskMarginPercent < 0 || cfg.RiskMarginPercent > 50 {
		return nil, env.Settings.Fieldf("riskMarginPercent", "must be between 0 and 50, got %d", cfg.RiskMarginPercent)
	}
	for _, p := range []struct{ field, path string }{
		{"containerdConfig", cfg.ContainerdConfig}, {"crioConfig", cfg.CRIOConfig}, {"crioConfigDir", cfg.CRIOConfigDir},
	} {
		if p.path != "" {
			if err := config.HostPath(env.Settings, p.field, p.path); err != nil {
				return nil, err
			}
		}
	}
	if env.Runtime == nil {
		return nil, fmt.Errorf("no CRI endpoint configured: %w", probes.ErrNotApplicable)
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	clk := env.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &sandboxImageCheck{cfg: cfg, rt: env.Runtime, host: env.Host, clock: clk, logger: logger, logs: env.Logs, node: env.Node}, nil
}

func (c *sandboxImageCheck) Check(ctx context.Context) ([]probes.Finding, error) {
	ver, err := c.rt.Version(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot check the sandbox image: %w", err)
	}
	kind := kindOf(ver.RuntimeName)
	setting, err := c.configured(ctx, ver, kind)
	if err != nil {
		return nil, err
	}
	st, err := c.rt.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: setting.Ref}, false)
	if err != nil {
		return nil, fmt.Errorf("sandbox image %s: %w", setting.Ref, err)
	}
	img := st.GetImage()
	if img == nil {
		return []probes.Finding{c.notPresent(ver, kind, setting)}, nil
	}
	if img.Pinned {
		return nil, nil
	}
	return c.unpinned(ctx, ver, kind, setting, img)
}

// configured finds the sandbox image the runtime uses.
func (c *sandboxImageCheck) configured(ctx context.Context, ver *runtimeapi.VersionResponse, kind runtimeKind) (sandboxSetting, error) {
	st, err := c.rt.Status(ctx, true)
	if err != nil {
		return sandboxSetting{}, fmt.Errorf("cannot tell the sandbox image: %w", err)
	}
	ref, infoErr := sandboxImageFromStatusInfo(st.GetInfo())
	if ref != "" {
		return sandboxSetting{Ref: ref, Source: "the runtime's CRI status (config.sandboxImage)"}, nil
	}
	var set sandboxSetting
	switch kind {
	case kindContainerd:
		set, err = loadContainerdSandboxImage(c.host, c.containerdConfigPath())
		if err != nil {
			return sandboxSetting{}, err
		}
		if set.Ref == "" {
			if pinned, ok := c.onlyPinnedPauseImage(ctx); ok {
				return sandboxSetting{Ref: pinned, Source: set.Source + "; taken as the only pinned pause image in the store"}, nil
			}
		}
	case kindCRIO:
		set, err = loadCRIOPauseImage(c.host, c.cfg.CRIOConfig, c.cfg.CRIOConfigDir)
		if err != nil {
			return sandboxSetting{}, err
		}
	case kindDocker:
		set.Source = "cri-dockerd did not report its --pod-infra-container-image"
	default:
		msg := fmt.Sprintf("cannot tell which sandbox image %s uses: its verbose CRI status has no config.sandboxImage", runtimeLabel(ver))
		if infoErr != nil {
			msg += " (" + infoErr.Error() + ")"
		}
		return sandboxSetting{}, errors.New(msg)
	}
	if set.Ref != "" {
		return set, nil
	}
	def, ok := defaultSandboxImage(kind, ver.RuntimeVersion)
	if !ok {
		return sandboxSetting{}, fmt.Errorf("cannot tell which sandbox image %s uses: %s, and its default is unknown for this version", runtimeLabel(ver), set.Source)
	}
	return sandboxSetting{Ref: def, Source: fmt.Sprintf("%s; assumed %s's built-in default", set.Source, runtimeLabel(ver)), Assumed: true}, nil
}

func (c *sandboxImageCheck) containerdConfigPath() string {
	if c.cfg.ContainerdConfig != "" {
		return c.cfg.ContainerdConfig
	}
	if strings.Contains(c.rt.Endpoint(), "/k3s/") {
		return "/var/lib/rancher/k3s/agent/etc/containerd/config.toml"
	}
	return "/etc/containerd/config.toml"
}

// onlyPinnedPauseImage is the fallback for containerd 2.x on its defaults:
// containerd pins the sandbox image it pulls, so a single pinned image named
// pause is the one in use.
func (c *sandboxImageCheck) onlyPinnedPauseImage(ctx context.Context) (string, bool) {
	imgs, err := c.rt.ListImages(ctx, nil)
	if err != nil {
		return "", false
	}
	var found []string
	for _, img := range imgs {
		if !img.Pinned {
			continue
		}
		for _, tag := range img.RepoTags {
			if strings.Contains(tag, "pause") {
				found = append(found, tag)
				break
			}
		}
	}
	if len(found) != 1 {
		return "", false
	}
	return found[0], true
}

func (c *sandboxImageCheck) notPresent(ver *runtimeapi.VersionResponse, kind runtimeKind, set sandboxSetting) probes.Finding {
	ref := set.Ref
	assumed := ""
	if set.Assumed {
		assumed = " (assumed default; set it explicitly in the runtime config)"
	}
	ev := map[string]string{
		"sandboxImage":   ref,
		"source":         set.Source,
		"endpoint":       c.rt.Endpoint(),
		"runtimeName":    ver.RuntimeName,
		"runtimeVersion": ver.RuntimeVersion,
	}
	msg := fmt.Sprintf("Sandbox (pause) image %s%s is not in %s's image store: every new pod on this node must pull it first and fails with FailedCreatePodSandBox while that pull fails",
		ref, assumed, runtimeLabel(ver))
	m, pullFailing := c.recentPullFailure(ref)
	if pullFailing {
		why := string(m.Line.Source) + " log"
		if cause := pullFailureCause(m.Line.Text); cause != "" {
			why = cause + "; " + why
		}
		msg = fmt.Sprintf("Sandbox (pause) image %s%s is not in %s's image store and pulling it fails (%s): every new pod on this node fails with FailedCreatePodSandBox until the image is there",
			ref, assumed, runtimeLabel(ver), why)
		ev["lastPullFailure"] = m.Line.Text
		ev["lastPullFailureSource"] = string(m.Line.Source)
		ev["lastPullFailureTime"] = m.Line.Time.UTC().Format(time.RFC3339)
	}
	return probes.Finding{
		Check:     "sandbox-image",
		Condition: ConditionSandboxImageMissing,
		Reason:    ReasonSandboxImageNotPresent,
		Severity:  probes.SeverityWarning,
		Message:   msg,
		Remedy:    missingRemedy(kind, ver.RuntimeVersion, ref, pullFailing),
		Evidence:  ev,
		Subject:   ref,
	}
}

// recentPullFailure is the latest SandboxImagePullFailing line about ref
// within recentPullFailure. A line about another image (the kubelet's
// --pod-infra-container-image differing from the runtime's) is another
// fault, which the rule reports by itself.
func (c *sandboxImageCheck) recentPullFailure(ref string) (probes.Match, bool) {
	if c.logs == nil {
		return probes.Match{}, false
	}
	m, ok := c.logs.LastMatch(ReasonSandboxImagePullFailing)
	if !ok || c.clock.Since(m.Line.Time) >= recentPullFailure {
		return probes.Match{}, false
	}
	if img := m.Captures["image"]; img != ref && (img != "" || !strings.Contains(m.Line.Text, ref)) {
		return probes.Match{}, false
	}
	return m, true
}

// pullFailureCauses maps what registry pull errors say (containerd, CRI-O,
// the kubelet all pass the registry client's error on) to a cause in words
// that stay the same from one failed pull to the next, unlike the addresses
// and timestamps in the line. First match wins.
var pullFailureCauses = []struct{ needle, cause string }{
	{"toomanyrequests", "registry rate limit"},
	{"no such host", "registry name does not resolve"},
	{"server misbehaving", "registry name does not resolve"},
	{"x509:", "registry TLS certificate not trusted"},
	{"tls:", "TLS handshake with the registry failed"},
	{"401 unauthorized", "registry refused the credentials"},
	{"unauthorized", "registry refused the credentials"},
	{"403 forbidden", "registry denied access"},
	{"access denied", "registry denied access"},
	{"denied: ", "registry denied access"},
	{"manifest unknown", "image not found in the registry"},
	{"not found", "image not found in the registry"},
	{"connection refused", "registry refused the connection"},
	{"i/o timeout", "registry timed out"},
	{"deadline exceeded", "registry timed out"},
	{"network is unreachable", "registry unreachable"},
	{"no route to host", "registry unreachable"},
	{"no space left on device", "image filesystem full"},
}

// pullFailureCause names why a pull failed, or "" when the line does not
// say in a way it knows.
func pullFailureCause(line string) string {
	lower := strings.ToLower(line)
	for _, c := range pullFailureCauses {
		if strings.Contains(lower, c.needle) {
			return c.cause
		}
	}
	return ""
}

// missingRemedy restores the image the way that works on this node: through
// the runtime when the registry is reachable, from a mirror's tarball when
// the logs show pulls failing; then pinned.
func missingRemedy(kind runtimeKind, runtimeVersion, ref string, pullFailing bool) string {
	switch kind {
	case kindCRIO:
		pull := "crictl pull " + ref
		load := "skopeo copy docker-archive:pause.tar containers-storage:" + ref + " (pause.tar saved from your internal mirror)"
		if pullFailing {
			return "Pulls are failing on this node: " + load + "; or fix registry access and " + pull + ". CRI-O ≥ 1.28 pins its pause_image itself."
		}
		return pull + "; if the registry is unreachable: " + load + ". CRI-O ≥ 1.28 pins its pause_image itself."
	case kindDocker:
		pull := "docker pull " + ref
		load := "docker load -i pause.tar && docker tag <mirror ref> " + ref + " (pause.tar saved from your internal mirror)"
		if pullFailing {
			return "Pulls are failing on this node: " + load + "; or fix registry access and " + pull + "."
		}
		return pull + "; if the registry is unreachable: " + load + "."
	}
	pull := "crictl pull " + ref
	load := "ctr -n k8s.io images import pause.tar (saved from your internal mirror) && ctr -n k8s.io images tag <mirror ref> " + ref
	pin := "; then pin it: ctr -n k8s.io images label " + ref + " " + ContainerdPinnedLabel + "=" + containerdPinnedValue
	if reports, known := containerdReportsPins(runtimeVersion); !known || !reports {
		pin += ", and upgrade containerd to ≥ 1.6.22 / 1.7.3 so the kubelet sees the pin"
	} else {
		pin += " (a crictl pull of the configured image is pinned by containerd itself)"
	}
	if pullFailing {
		return "Pulls are failing on this node: " + load + "; or fix registry access and " + pull + pin + "."
	}
	return pull + "; if the registry is unreachable: " + load + pin + "."
}

// pinState is what is known about the pin of an image CRI reports unpinned.
type pinState int

const (
	pinAbsent pinState = iota
	// pinLabelledUnreported: containerd carries the label but is too old to
	// report it over CRI, so the kubelet does not see it.
	pinLabelledUnreported
	// pinLabelled: labelled on a containerd that honours it.
	pinLabelled
	pinUnknown
)

func (c *sandboxImageCheck) unpinned(ctx context.Context, ver *runtimeapi.VersionResponse, kind runtimeKind, set sandboxSetting, img *runtimeapi.Image) ([]probes.Finding, error) {
	ref := set.Ref
	names := img.RepoTags
	if len(names) == 0 {
		names = []string{ref}
	}
	var findings []probes.Finding
	state, pinDetail := pinAbsent, ""
	labeler, isLabeler := c.rt.(ImageLabeler)
	if kind == kindContainerd {
		reports, known := containerdReportsPins(ver.RuntimeVersion)
		if !isLabeler {
			state, pinDetail = pinUnknown, "this runtime client cannot read containerd's image labels"
		} else {
			labelled, err := anyPinnedLabel(ctx, labeler, names)
			switch {
			case err != nil:
				state, pinDetail = pinUnknown, "could not read containerd's "+ContainerdPinnedLabel+" label: "+err.Error()
			case labelled:
				state = pinLabelled
			case c.cfg.PinWhenUnpinned:
				if f, err := c.pin(ctx, labeler, ver, ref, names, reports && known); err != nil {
					c.logOnce(&c.lastPinErr, "pinning the sandbox image failed", err)
					pinDetail = "pinning it failed: " + err.Error()
				} else {
					c.lastPinErr = ""
					findings = append(findings, f)
					state = pinLabelled
				}
			}
		}
		if state == pinLabelled && !(reports && known) {
			state = pinLabelledUnreported
			pinDetail = fmt.Sprintf("it carries %s=%s, but %s does not report pins over CRI (that needs ≥ 1.6.22 / 1.7.3), so the kubelet does not see it",
				ContainerdPinnedLabel, containerdPinnedValue, runtimeLabel(ver))
		}
	}
	if state == pinLabelled {
		return findings, nil
	}
	risk, err := c.gcRisk(ctx)
	if err != nil {
		c.logOnce(&c.lastRiskErr, "cannot evaluate the sandbox image's image-GC risk", err)
		return findings, nil
	}
	c.lastRiskErr = ""
	if !risk.near {
		return findings, nil
	}
	return append(findings, c.atRisk(ver, kind, set, state, pinDetail, risk)), nil
}

// anyPinnedLabel says whether any of the image's names carries the pin.
func anyPinnedLabel(ctx context.Context, labeler ImageLabeler, names []string) (bool, error) {
	var firstErr error
	for _, name := range names {
		labels, err := labeler.ImageLabels(ctx, name)
		if errors.Is(err, ErrImageNotFound) {
			continue
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if labels[ContainerdPinnedLabel] == containerdPinnedValue {
			return true, nil
		}
	}
	return false, firstErr
}

// pin labels every name of the image (the opt-in remediation).
func (c *sandboxImageCheck) pin(ctx context.Context, labeler ImageLabeler, ver *runtimeapi.VersionResponse, ref string, names []string, reported bool) (probes.Finding, error) {
	var pinned []string
	for _, name := range names {
		err := labeler.SetImageLabel(ctx, name, ContainerdPinnedLabel, containerdPinnedValue)
		if errors.Is(err, ErrImageNotFound) {
			continue
		}
		if err != nil {
			return probes.Finding{}, fmt.Errorf("label %s: %w", name, err)
		}
		pinned = append(pinned, name)
	}
	if len(pinned) == 0 {
		return probes.Finding{}, fmt.Errorf("containerd has no image record named %s", strings.Join(names, " or "))
	}
	c.logger.Info("pinned the sandbox image in containerd", "image", ref, "names", pinned, "label", ContainerdPinnedLabel)
	note := ""
	if !reported {
		note = fmt.Sprintf("; %s reports the pin to the kubelet only after an upgrade to ≥ 1.6.22 / 1.7.3", runtimeLabel(ver))
	}
	return probes.Finding{
		Check:    "sandbox-image",
		Reason:   ReasonSandboxImagePinned,
		Severity: probes.SeverityInfo,
		Message: fmt.Sprintf("Pinned sandbox image %s in containerd (%s=%s on %s) because pinWhenUnpinned is on%s",
			ref, ContainerdPinnedLabel, containerdPinnedValue, strings.Join(pinned, ", "), note),
		Remedy:   "Nothing to do. To undo: ctr -n k8s.io images label " + ref + " " + ContainerdPinnedLabel + "=",
		Evidence: map[string]string{"sandboxImage": ref, "labelled": strings.Join(pinned, ",")},
		Subject:  ref,
		Time:     c.clock.Now(),
	}, nil
}

// gcRiskState is the kubelet's image GC outlook for the image filesystem.
type gcRiskState struct {
	near           bool
	usagePercent   int
	highThreshold  int
	mountpoint     string
	kubeletVersion string // "" when unknown
	kubeletConfig  string
}

// gcRisk decides whether the kubelet's image GC is about to run: kubelet ≥
// 1.29 (or unknown) and usage within the margin of the high threshold.
func (c *sandboxImageCheck) gcRisk(ctx context.Context) (gcRiskState, error) {
	var r gcRiskState
	if c.node != nil {
		if n := c.node(); n != nil {
			r.kubeletVersion = n.Status.NodeInfo.KubeletVersion
		}
	}
	if v := parseVersion(r.kubeletVersion); v != nil && v.Major() == 1 && v.Minor() < pinnedKubeletMinor {
		return r, nil // the kubelet still protects the sandbox image itself
	}
	kc, err := kubeletconfig.Load(c.host)
	if err != nil {
		return r, err
	}
	r.kubeletConfig = kc.Path
	r.highThreshold = kc.ImageGCHighThresholdPercent
	if r.highThreshold >= 100 {
		return r, nil // image GC disabled
	}
	fsInfo, err := c.rt.ImageFsInfo(ctx)
	if err != nil {
		return r, err
	}
	imageFS := fsInfo.GetImageFilesystems()
	if len(imageFS) == 0 || imageFS[0].GetFsId().GetMountpoint() == "" {
		return r, errors.New("ImageFsInfo names no image filesystem")
	}
	r.mountpoint = imageFS[0].GetFsId().GetMountpoint()
	usage, err := c.statImageFS(r.mountpoint)
	if err != nil {
		return r, fmt.Errorf("image filesystem %s: %w", r.mountpoint, err)
	}
	if usage.TotalBytes == 0 {
		return r, fmt.Errorf("image filesystem %s reports capacity 0", r.mountpoint)
	}
	// The kubelet's own arithmetic (image_gc_manager.go GarbageCollect).
	r.usagePercent = 100 - int(usage.AvailBytes*100/usage.TotalBytes)
	r.near = r.usagePercent >= r.highThreshold-c.cfg.RiskMarginPercent
	return r, nil
}

// statImageFS statfs's the runtime's image filesystem. The runtime names a
// host path, resolved under the host root, unless it already is a path under
// the host root (a runtime running inside the same root, as in tests).
func (c *sandboxImageCheck) statImageFS(mountpoint string) (probes.Usage, error) {
	root := c.host.Root()
	if root != "/" && strings.HasPrefix(mountpoint, root+"/") {
		return probes.NewFS("/").Statfs(mountpoint)
	}
	return c.host.Statfs(mountpoint)
}

// logOnce logs a failure at Warn when it first appears (or changes) and at
// Debug while it repeats, remembering it in *last.
func (c *sandboxImageCheck) logOnce(last *string, msg string, err error) {
	if err.Error() != *last {
		c.logger.Warn(msg, "err", err)
		*last = err.Error()
		return
	}
	c.logger.Debug(msg, "err", err)
}

func (c *sandboxImageCheck) atRisk(ver *runtimeapi.VersionResponse, kind runtimeKind, set sandboxSetting, state pinState, pinDetail string, r gcRiskState) probes.Finding {
	ref := set.Ref
	pinText := "is not pinned"
	switch state {
	case pinLabelledUnreported:
		pinText = "is not pinned for the kubelet (" + pinDetail + ")"
	case pinUnknown:
		pinText = "is reported unpinned over CRI and its containerd pin is unknown (" + pinDetail + ")"
	default:
		if pinDetail != "" {
			pinText += " (" + pinDetail + ")"
		}
	}
	kubelet := "kubelet " + r.kubeletVersion
	if r.kubeletVersion == "" {
		kubelet = "the kubelet (version unknown; assuming ≥ 1.29, which no longer protects it)"
	}
	ev := map[string]string{
		"sandboxImage":                ref,
		"source":                      set.Source,
		"imageFilesystem":             r.mountpoint,
		"usagePercent":                fmt.Sprint(r.usagePercent),
		"imageGCHighThresholdPercent": fmt.Sprint(r.highThreshold),
		"riskMarginPercent":           fmt.Sprint(c.cfg.RiskMarginPercent),
		"runtimeName":                 ver.RuntimeName,
		"runtimeVersion":              ver.RuntimeVersion,
	}
	if r.kubeletVersion != "" {
		ev["kubeletVersion"] = r.kubeletVersion
	}
	if r.kubeletConfig != "" {
		ev["kubeletConfig"] = r.kubeletConfig
	}
	var remedy string
	switch {
	case kind == kindContainerd && state == pinLabelledUnreported:
		remedy = "Upgrade containerd to ≥ 1.6.22 / 1.7.3 so the kubelet sees the pin (the label is already set). "
	case kind == kindContainerd:
		remedy = "Pin it: ctr -n k8s.io images label " + ref + " " + ContainerdPinnedLabel + "=" + containerdPinnedValue +
			" (or set checks.sandbox-image.settings.pinWhenUnpinned: true)"
		if reports, known := containerdReportsPins(ver.RuntimeVersion); !known || !reports {
			remedy += ", and upgrade containerd to ≥ 1.6.22 / 1.7.3 so the kubelet sees the pin"
		}
		remedy += ". "
	case kind == kindCRIO:
		remedy = "Upgrade CRI-O to ≥ 1.28, which pins its pause_image. "
	default:
		remedy = "Make the runtime report the sandbox image as pinned (upgrade it). "
	}
	remedy += fmt.Sprintf("Meanwhile free space on %s by removing unused images other than %s (crictl images; crictl rmi <image>).", r.mountpoint, ref)
	return probes.Finding{
		Check:    "sandbox-image",
		Reason:   ReasonSandboxImageAtRisk,
		Severity: probes.SeverityWarning,
		Message: fmt.Sprintf("Sandbox image %s %s and image filesystem %s is %d%% full (image GC starts at %d%%): once GC runs, %s deletes it and new pods need a registry pull to start",
			ref, pinText, r.mountpoint, r.usagePercent, r.highThreshold, kubelet),
		Remedy:   remedy,
		Evidence: ev,
		Subject:  ref,
		Time:     c.clock.Now(),
	}
}
