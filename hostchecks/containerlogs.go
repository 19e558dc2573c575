package hostchecks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/kubeletconfig"
)

const reasonOversizedContainerLog = "OversizedContainerLog"

// podLogsDir is the kubelet's CRI container log tree:
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log.
const podLogsDir = "/var/log/pods"

// containerLogsConfig is checks.container-logs.settings.
type containerLogsConfig struct {
	// SizeFactor: a log over SizeFactor × the rotation size is reported
	// (the kubelet checks sizes every 10s, so a log briefly over the limit
	// is normal; twice the limit is not).
	SizeFactor float64 `json:"sizeFactor"`
	// UnrotatedLimit is the absolute limit (a Kubernetes quantity) used when
	// nothing rotates the log: kubelet rotation disabled, or docker without
	// max-size.
	UnrotatedLimit string `json:"unrotatedLimit"`
	// MaxEntries bounds the directory entries visited per run.
	MaxEntries int `json:"maxEntries"`
	// MaxFindings bounds the findings per run (the biggest logs first).
	MaxFindings int `json:"maxFindings"`

	unrotatedLimitBytes int64
}

func defaultContainerLogsConfig() containerLogsConfig {
	return containerLogsConfig{SizeFactor: 2, UnrotatedLimit: "1Gi", MaxEntries: 20000, MaxFindings: 20}
}

func (c *containerLogsConfig) validate(s probes.Settings) error {
	if c.SizeFactor < 1 {
		return s.Fieldf("sizeFactor", "must be at least 1, got %v", c.SizeFactor)
	}
	q, err := resource.ParseQuantity(c.UnrotatedLimit)
	if err != nil || q.Value() <= 0 {
		return s.Fieldf("unrotatedLimit", "must be a positive quantity such as 1Gi, got %q", c.UnrotatedLimit)
	}
	c.unrotatedLimitBytes = q.Value()
	if c.MaxEntries < 1 {
		return s.Fieldf("maxEntries", "must be positive, got %d", c.MaxEntries)
	}
	if c.MaxFindings < 1 {
		return s.Fieldf("maxFindings", "must be positive, got %d", c.MaxFindings)
	}
	return nil
}

// ContainerLogsSpec is the container-logs check. It walks
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log and
// /var/lib/docker/containers/<id>/<id>-json.log (at most maxEntries
// directory entries per run) and reports OversizedContainerLog, on condition
// ContainerLogDiskPressure, for each container whose current log is over
// sizeFactor (default 2) × the size that should have rotated it: the
// kubelet's containerLogMaxSize (default 10Mi, k8s.io/kubelet
// config/v1beta1) for CRI logs, dockerd's log-opts max-size for json-file
// logs, or unrotatedLimit (default 1Gi) when rotation is off. The kubelet
// rotates only running containers, every containerLogMonitorInterval (10s),
// so a fast writer can pass the limit briefly but never by 2×. Subject is
// "namespace/pod/container".
//
// With a CRI runtime it also says whether the container is still running,
// which decides the remedy.
func ContainerLogsSpec() probes.Spec {
	return probes.Spec{
		Name:           "container-logs",
		Condition:      containerLogDiskPressure,
		Interval:       2 * time.Minute,
		Timeout:        30 * time.Second,
		DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{
			{Reason: reasonOversizedContainerLog, Condition: containerLogDiskPressure, Severity: probes.SeverityWarning,
				Summary: "a container's log file is far over the size at which it should have been rotated"},
		},
		New: newContainerLogsCheck,
	}
}

type containerLogsCheck struct {
	cfg     containerLogsConfig
	host    probes.FS
	runtime probes.Runtime
	logger  *slog.Logger

	mu sync.Mutex // guards the state below across runs
	// capped remembers whether the last walk hit maxEntries, to log the
	// change once.
	capped bool
	// Set during a run: whether dockerd has a max-size, which kubelet config
	// was read and whether it turns rotation off.
	dockerRotates      bool
	kubeletConfig      string
	kubeletRotationOff bool
}

func newContainerLogsCheck(env probes.Env) (probes.Check, error) {
	cfg := defaultContainerLogsConfig()
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
	return &containerLogsCheck{cfg: cfg, host: env.Host, runtime: env.Runtime, logger: logger}, nil
}

// podLogDir is the identity in a /var/log/pods directory name.
type podLogDir struct {
	Namespace, Pod, UID string
}

// parsePodLogDir splits "<namespace>_<pod>_<uid>". Namespaces and pod names
// are DNS names and UIDs are UUIDs, so none holds an underscore.
func parsePodLogDir(name string) (podLogDir, bool) {
	parts := strings.Split(name, "_")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return podLogDir{}, false
	}
	return podLogDir{Namespace: parts[0], Pod: parts[1], UID: parts[2]}, true
}

// parseContainerLogName reads the restart count from "<n>.log"; rotated
// files (<n>.log.<timestamp>[.gz]) and anything else are not current logs.
func parseContainerLogName(name string) (restart int, ok bool) {
	num, found := strings.CutSuffix(name, ".log")
	if !found || num == "" {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// containerLog is one current container log file.
type containerLog struct {
	Path  string
	Bytes int64
	// ID is the Kubernetes identity; Unknown is set when it could not be
	// told (a docker container without Kubernetes labels).
	ID      kubernetesContainerID
	Unknown bool
	// For CRI logs: the pod UID and restart count, to find the container.
	PodUID  string
	Restart int
	Docker  bool
	// DockerID is the docker container ID for json-file logs.
	DockerID string
}

// Subject is "namespace/pod/container", or "docker/<id>".
func (l containerLog) Subject() string {
	if l.Unknown {
		return "docker/" + l.DockerID
	}
	return l.ID.String()
}

// containerLogWalk bounds the directory entries visited. It lists local
// directories under a base resolved once through the host root: it descends
// only into entries readdir reports as real directories and looks only at
// regular files, so no symlink is ever followed and the walk cannot leave
// the host root, without paying a secure path resolution per directory.
type containerLogWalk struct {
	left    int
	capped  bool
	visited int
}

// readDir lists the local directory local. Its errors carry the local path:
// callers name the host path (built only then, to keep the walk cheap).
func (w *containerLogWalk) readDir(ctx context.Context, local string) ([]fs.DirEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if w.left <= 0 {
		w.capped = true
		return nil, nil
	}
	entries, err := os.ReadDir(local)
	if err != nil {
		return nil, err
	}
	if len(entries) > w.left {
		entries, w.capped = entries[:w.left], true
	}
	w.left -= len(entries)
	w.visited += len(entries)
	return entries, nil
}

// containerLogWalkError names the host directory the walk could not read.
func containerLogWalkError(hostDir string, err error) error {
	return fmt.Errorf("read %s: %w", hostDir, pathErrorCause(err))
}

func (c *containerLogsCheck) Check(ctx context.Context) ([]probes.Finding, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	podsFI, podsErr := c.host.Stat(podLogsDir)
	dockerFI, dockerErr := c.host.Stat(dockerContainersDir)
	havePods := podsErr == nil && podsFI.IsDir()
	haveDocker := dockerErr == nil && dockerFI.IsDir()
	for _, err := range []error{podsErr, dockerErr} {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("stat container log directory: %w", err)
		}
	}
	if !havePods && !haveDocker {
		return nil, fmt.Errorf("neither %s nor %s exists under the host root: %w", podLogsDir, dockerContainersDir, probes.ErrNotApplicable)
	}

	kc, err := kubeletconfig.Load(c.host)
	if err != nil {
		return nil, err
	}
	criLimit, criLimitWhy := c.criLimit(kc)

	walk := &containerLogWalk{left: c.cfg.MaxEntries}
	var oversized []containerLog
	if havePods {
		logs, err := c.podLogs(ctx, walk, criLimit)
		if err != nil {
			return nil, err
		}
		oversized = append(oversized, logs...)
	}
	var dockerLimit int64
	var dockerLimitWhy string
	if haveDocker {
		dc, err := readDockerLogConfig(c.host)
		if err != nil {
			return nil, err
		}
		dockerLimit, dockerLimitWhy = c.dockerLimit(dc)
		logs, err := c.dockerLogs(ctx, walk, dockerLimit)
		if err != nil {
			return nil, err
		}
		oversized = append(oversized, logs...)
	}
	if walk.capped != c.capped {
		c.capped = walk.capped
		if walk.capped {
			c.logger.Info("container log walk stopped at its entry limit; some logs were not checked", "maxEntries", c.cfg.MaxEntries)
		} else {
			c.logger.Info("container log walk no longer hits its entry limit", "maxEntries", c.cfg.MaxEntries)
		}
	}

	// The biggest first; one finding per container (the biggest of its logs).
	sort.Slice(oversized, func(i, j int) bool {
		if oversized[i].Bytes != oversized[j].Bytes {
			return oversized[i].Bytes > oversized[j].Bytes
		}
		return oversized[i].Path < oversized[j].Path
	})
	seen := map[string]bool{}
	var unique []containerLog
	for _, l := range oversized {
		if !seen[l.Subject()] {
			seen[l.Subject()] = true
			unique = append(unique, l)
		}
	}
	states := c.containerStates(ctx, unique)
	var findings []probes.Finding
	for i, l := range unique {
		if i == c.cfg.MaxFindings {
			break
		}
		limit, why := criLimit, criLimitWhy
		if l.Docker {
			limit, why = dockerLimit, dockerLimitWhy
		}
		findings = append(findings, c.finding(l, limit, why, states[l.Path], len(unique), walk))
	}
	return findings, nil
}

// criLimit is the size over which a CRI log is reported, and how it was
// derived (for the message).
func (c *containerLogsCheck) criLimit(kc kubeletconfig.Config) (int64, string) {
	c.kubeletConfig, c.kubeletRotationOff = kc.Path, kc.ContainerLogMaxBytes < 0
	if c.kubeletConfig == "" {
		c.kubeletConfig = "the kubelet config"
	}
	if c.kubeletRotationOff {
		return c.cfg.unrotatedLimitBytes, fmt.Sprintf("unrotatedLimit: kubelet rotation is off, containerLogMaxSize %s", kc.ContainerLogMaxSize)
	}
	limit := int64(c.cfg.SizeFactor * float64(kc.ContainerLogMaxBytes))
	return limit, fmt.Sprintf("%g × containerLogMaxSize %s", c.cfg.SizeFactor, kc.ContainerLogMaxSize)
}

// dockerLimit is the same for dockerd's json-file logs.
func (c *containerLogsCheck) dockerLimit(dc dockerLogConfig) (int64, string) {
	maxSize, _ := dc.MaxSizeBytes()
	c.dockerRotates = dc.Driver() == dockerDefaultLogDriver && maxSize > 0
	if !c.dockerRotates {
		return c.cfg.unrotatedLimitBytes, "unrotatedLimit: dockerd sets no log-opts max-size"
	}
	return int64(c.cfg.SizeFactor * float64(maxSize)), fmt.Sprintf("%g × dockerd log-opts max-size %s", c.cfg.SizeFactor, dc.LogOpts["max-size"])
}

// podLogs walks the kubelet's log tree for current logs over limit.
func (c *containerLogsCheck) podLogs(ctx context.Context, walk *containerLogWalk, limit int64) ([]containerLog, error) {
	base, err := c.host.Path(podLogsDir)
	if err != nil {
		return nil, err
	}
	pods, err := walk.readDir(ctx, base)
	if err != nil {
		return nil, containerLogWalkError(podLogsDir, err)
	}
	var out []containerLog
	for _, pod := range pods {
		id, ok := parsePodLogDir(pod.Name())
		if !ok || !pod.IsDir() {
			continue
		}
		containers, err := walk.readDir(ctx, filepath.Join(base, pod.Name()))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // the pod went away while we looked
			}
			return nil, containerLogWalkError(path.Join(podLogsDir, pod.Name()), err)
		}
		for _, ctr := range containers {
			if !ctr.IsDir() {
				continue
			}
			files, err := walk.readDir(ctx, filepath.Join(base, pod.Name(), ctr.Name()))
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return nil, containerLogWalkError(path.Join(podLogsDir, pod.Name(), ctr.Name()), err)
			}
			for _, f := range files {
				restart, ok := parseContainerLogName(f.Name())
				if !ok || !f.Type().IsRegular() {
					continue
				}
				fi, err := f.Info()
				if err != nil || fi.Size() <= limit {
					continue
				}
				out = append(out, containerLog{
					Path: path.Join(podLogsDir, pod.Name(), ctr.Name(), f.Name()), Bytes: fi.Size(),
					ID:     kubernetesContainerID{Namespace: id.Namespace, Pod: id.Pod, Container: ctr.Name()},
					PodUID: id.UID, Restart: restart,
				})
			}
		}
	}
	return out, nil
}

// dockerLogs checks each /var/lib/docker/containers/<id>/<id>-json.log.
func (c *containerLogsCheck) dockerLogs(ctx context.Context, walk *containerLogWalk, limit int64) ([]containerLog, error) {
	base, err := c.host.Path(dockerContainersDir)
	if err != nil {
		return nil, err
	}
	dirs, err := walk.readDir(ctx, base)
	if err != nil {
		return nil, containerLogWalkError(dockerContainersDir, err)
	}
	var out []containerLog
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		fi, err := os.Lstat(filepath.Join(base, d.Name(), d.Name()+"-json.log"))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() <= limit {
			continue
		}
		l := containerLog{Path: path.Join(dockerContainersDir, d.Name(), d.Name()+"-json.log"), Bytes: fi.Size(), Docker: true, DockerID: d.Name(), Unknown: true}
		cfgPath := path.Join(dockerContainersDir, d.Name(), dockerContainerConfigV2)
		if data, err := readHostFileLimited(c.host, cfgPath, dockerConfigMaxBytes); err == nil {
			if id, ok, err := parseDockerContainerConfig(data); err == nil && ok {
				l.ID, l.Unknown = id, false
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// containerStates asks the runtime, when there is one, whether the
// containers behind the CRI logs still run. Keyed by log path; empty when it
// cannot tell.
func (c *containerLogsCheck) containerStates(ctx context.Context, logs []containerLog) map[string]string {
	states := map[string]string{}
	if c.runtime == nil || len(logs) == 0 {
		return states
	}
	containers, err := c.runtime.ListContainers(ctx, nil)
	if err != nil {
		c.logger.Debug("list containers for log ownership", "err", err)
		return states
	}
	type key struct {
		uid, name string
		attempt   uint32
	}
	byKey := map[key]runtimeapi.ContainerState{}
	for _, ctr := range containers {
		k := key{uid: ctr.GetLabels()["io.kubernetes.pod.uid"], name: ctr.GetMetadata().GetName(), attempt: ctr.GetMetadata().GetAttempt()}
		byKey[k] = ctr.GetState()
	}
	for _, l := range logs {
		if l.Docker {
			continue
		}
		st, ok := byKey[key{uid: l.PodUID, name: l.ID.Container, attempt: uint32(l.Restart)}]
		switch {
		case !ok:
			states[l.Path] = "removed"
		case st == runtimeapi.ContainerState_CONTAINER_RUNNING:
			states[l.Path] = "running"
		case st == runtimeapi.ContainerState_CONTAINER_EXITED:
			states[l.Path] = "exited"
		}
	}
	return states
}

func (c *containerLogsCheck) finding(l containerLog, limit int64, why, state string, oversized int, walk *containerLogWalk) probes.Finding {
	who := "container " + l.Subject()
	if l.Unknown {
		who = "docker container " + shortDockerID(l.DockerID)
	}
	// The size is shown on a coarse 1-2-5 scale so the message does not
	// change on every run while the log grows.
	var msg string
	if shown := floorLogBytesStep(uint64(l.Bytes)); shown > uint64(limit) {
		msg = fmt.Sprintf("log of %s is over %s, above its %s limit (%s): %s", who, formatLogBytes(shown), formatLogBytes(uint64(limit)), why, l.Path)
	} else {
		msg = fmt.Sprintf("log of %s is over its %s limit (%s): %s", who, formatLogBytes(uint64(limit)), why, l.Path)
	}
	switch state {
	case "exited":
		msg += "; the container has exited, and the kubelet rotates only running containers"
	case "removed":
		msg += "; the runtime no longer knows the container"
	}
	var remedy string
	switch {
	case l.Docker && c.dockerRotates:
		remedy = fmt.Sprintf("dockerd applies log-opts only to containers created after they were set, so this container predates max-size (or was started with its own --log-opt): recreate it (%s). Free the space now with truncate -s 0 %s. If the app is just noisy, lower its log level.", dockerRecreateHint(l), l.Path)
	case l.Docker:
		remedy = fmt.Sprintf("Set log-opts max-size in %s and restart dockerd; it applies to containers created afterwards, so recreate this one (%s). Free the space now with truncate -s 0 %s. If the app is just noisy, lower its log level.", dockerDaemonConfigPath, dockerRecreateHint(l), l.Path)
	case c.kubeletRotationOff:
		remedy = fmt.Sprintf("The kubelet's log rotation is off: set containerLogMaxSize: 10Mi and containerLogMaxFiles: 5 in %s and restart the kubelet (systemctl restart kubelet). Free the space now by deleting the pod (kubectl delete pod -n %s %s) if it can be recreated. If the app is just noisy, lower its log level.", c.kubeletConfig, l.ID.Namespace, l.ID.Pod)
	case state == "exited" || state == "removed":
		remedy = fmt.Sprintf("The kubelet does not rotate logs of stopped containers: delete the pod (kubectl delete pod -n %s %s) or the container (crictl ps -a --pod <pod-id>, then crictl rm <id>), which removes the log. If the app is just noisy, lower its log level.", l.ID.Namespace, l.ID.Pod)
	default:
		remedy = fmt.Sprintf("The kubelet rotates logs of running containers every containerLogMonitorInterval (10s): check containerLogMaxSize and containerLogMaxWorkers in %s, and the kubelet log for \"Failed to rotate log for container\" (the runtime must support ReopenContainerLog). "+
			"If the container has exited, delete the pod (kubectl delete pod -n %s %s) or crictl rm it. If the app is just noisy, lower its log level.", c.kubeletConfig, l.ID.Namespace, l.ID.Pod)
	}
	evidence := map[string]string{
		"path":           l.Path,
		"bytes":          strconv.FormatInt(l.Bytes, 10),
		"limitBytes":     strconv.FormatInt(limit, 10),
		"oversizedLogs":  strconv.Itoa(oversized),
		"entriesVisited": strconv.Itoa(walk.visited),
	}
	if state != "" {
		evidence["containerState"] = state
	}
	if walk.capped {
		evidence["walk"] = fmt.Sprintf("stopped after %d entries (maxEntries); other logs were not checked", c.cfg.MaxEntries)
	}
	if l.Docker {
		evidence["dockerID"] = l.DockerID
	} else {
		evidence["restartCount"] = strconv.Itoa(l.Restart)
		evidence["podUID"] = l.PodUID
	}
	return probes.Finding{
		Check:     "container-logs",
		Condition: containerLogDiskPressure,
		Reason:    reasonOversizedContainerLog,
		Severity:  probes.SeverityWarning,
		Message:   msg,
		Remedy:    remedy,
		Evidence:  evidence,
		Subject:   l.Subject(),
	}
}

// dockerRecreateHint is the command that recreates a docker container.
func dockerRecreateHint(l containerLog) string {
	if l.Unknown {
		return "docker rm -f " + shortDockerID(l.DockerID) + " and start it again"
	}
	return fmt.Sprintf("kubectl delete pod -n %s %s", l.ID.Namespace, l.ID.Pod)
}

func shortDockerID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
