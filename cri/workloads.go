package cri

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
)

// Reasons of the workloads check (events only).
const (
	ReasonContainerCrashLooping = "ContainerCrashLooping"
	ReasonContainerOOMKilled    = "ContainerOOMKilled"
)

// oomKilledReason is the CRI ContainerStatus.reason for a container killed
// by the cgroup OOM killer (api.proto: "Must be set to \"OOMKilled\"").
const oomKilledReason = "OOMKilled"

// maxAttemptPoints bounds the restart history kept per container.
const maxAttemptPoints = 32

// WorkloadsSpec is the workloads check: Events about this node's containers,
// no condition.
//
// Every 30 s it lists all CRI containers (ListContainers) and follows each
// kubelet container (pod UID + container name from the kubelet's labels)
// across its restart attempts (metadata.attempt, the kubelet's restart
// count, or the io.kubernetes.container.restartCount annotation when higher)
// with the attempts' creation times. Each exited instance is read once with
// ContainerStatus.
//
//   - ContainerCrashLooping: the container was restarted at least
//     restartThreshold times (default 3) within window (default 10m). The
//     kubelet's own CrashLoopBackOff starts after the first restart and backs
//     off 10 s doubling to 5 min (pkg/kubelet/kuberuntime), so three restarts
//     in ten minutes is a loop, not a blip. The Event names namespace/pod/
//     container and the last exit code and reason.
//   - ContainerOOMKilled: an instance exited with reason OOMKilled within the
//     window.
//
// Each is emitted once per container per window (Subject "ns/pod/container").
// State is bounded: at most maxAttemptPoints attempts per container, and
// containers the runtime no longer lists are forgotten.
//
// Settings (checks.workloads.settings): restartThreshold (≥ 1, default 3),
// window (a duration ≥ 1m, default "10m").
func WorkloadsSpec() probes.Spec {
	return probes.Spec{
		Name:           "workloads",
		Interval:       30 * time.Second,
		Timeout:        20 * time.Second,
		DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{
			{Reason: ReasonContainerCrashLooping, Severity: probes.SeverityWarning,
				Summary: "a container on this node keeps restarting (restart count climbing within the window)"},
			{Reason: ReasonContainerOOMKilled, Severity: probes.SeverityWarning,
				Summary: "a container on this node was killed by the cgroup OOM killer (memory limit reached)"},
		},
		New: newWorkloadsCheck,
	}
}

type workloadsConfig struct {
	RestartThreshold int             `json:"restartThreshold"`
	Window           metav1.Duration `json:"window"`
}

type workloadsCheck struct {
	cfg   workloadsConfig
	rt    probes.Runtime
	clock clock.PassiveClock
	// tracks follow containers across attempts, by pod UID + container name.
	tracks map[string]*containerTrack
	// exits caches what ContainerStatus said about exited instances, by
	// container ID, so each is read once.
	exits map[string]exitRecord
}

type attemptPoint struct {
	attempt uint32
	created time.Time
}

type containerTrack struct {
	namespace, pod, podUID, container string
	// points holds distinct attempts in ascending order.
	points             []attemptPoint
	lastCrashLoopEvent time.Time
	lastOOMEvent       time.Time
}

type exitRecord struct {
	containerID      string
	attempt          uint32
	exitCode         int32
	reason, message  string
	finished         time.Time
	memoryLimitBytes int64
}

func newWorkloadsCheck(env probes.Env) (probes.Check, error) {
	cfg := workloadsConfig{RestartThreshold: 3, Window: metav1.Duration{Duration: 10 * time.Minute}}
	if err := config.Decode(env.Settings, &cfg); err != nil {
		return nil, err
	}
	if cfg.RestartThreshold < 1 {
		return nil, env.Settings.Fieldf("restartThreshold", "must be at least 1, got %d", cfg.RestartThreshold)
	}
	if cfg.Window.Duration < time.Minute {
		return nil, env.Settings.Fieldf("window", "must be at least 1m, got %s", cfg.Window.Duration)
	}
	if env.Runtime == nil {
		return nil, fmt.Errorf("no CRI endpoint configured: %w", probes.ErrNotApplicable)
	}
	clk := env.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &workloadsCheck{
		cfg: cfg, rt: env.Runtime, clock: clk,
		tracks: map[string]*containerTrack{},
		exits:  map[string]exitRecord{},
	}, nil
}

func (c *workloadsCheck) Check(ctx context.Context) ([]probes.Finding, error) {
	now := c.clock.Now()
	containers, err := c.rt.ListContainers(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	groups := map[string][]*runtimeapi.Container{}
	listed := map[string]bool{}
	for _, ctr := range containers {
		listed[ctr.Id] = true
		key := trackKey(ctr)
		groups[key] = append(groups[key], ctr)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var findings []probes.Finding
	for _, key := range keys {
		group := groups[key]
		tr, ok := c.tracks[key]
		if !ok {
			tr = newTrack(group[0])
			c.tracks[key] = tr
		}
		var latestExit *exitRecord
		var fresh []exitRecord
		for _, ctr := range group {
			tr.observe(attemptOf(ctr), createdAt(ctr, now))
			if ctr.State != runtimeapi.ContainerState_CONTAINER_EXITED {
				continue
			}
			rec, seen := c.exits[ctr.Id]
			if !seen {
				resp, err := c.rt.ContainerStatus(ctx, ctr.Id, false)
				if IsNotFound(err) {
					continue // removed since the list
				}
				if err != nil {
					return nil, fmt.Errorf("status of container %s (%s): %w", ctr.Id, tr.subject(), err)
				}
				rec = exitFrom(ctr, resp.GetStatus())
				c.exits[ctr.Id] = rec
				fresh = append(fresh, rec)
			}
			if latestExit == nil || rec.attempt > latestExit.attempt {
				r := rec
				latestExit = &r
			}
		}
		cutoff := now.Add(-c.cfg.Window.Duration)
		for _, rec := range fresh {
			if rec.reason == oomKilledReason && !rec.finished.Before(cutoff) && tr.quiet(tr.lastOOMEvent, now, c.cfg.Window.Duration) {
				tr.lastOOMEvent = now
				findings = append(findings, c.oomKilled(tr, rec))
			}
		}
		tr.prune(cutoff)
		if restarts := tr.restartsSince(cutoff); restarts >= c.cfg.RestartThreshold && tr.quiet(tr.lastCrashLoopEvent, now, c.cfg.Window.Duration) {
			tr.lastCrashLoopEvent = now
			findings = append(findings, c.crashLooping(tr, restarts, latestExit, now))
		}
	}
	for key := range c.tracks {
		if _, ok := groups[key]; !ok {
			delete(c.tracks, key)
		}
	}
	for id := range c.exits {
		if !listed[id] {
			delete(c.exits, id)
		}
	}
	return findings, nil
}

// trackKey identifies a container across restarts: pod UID and container
// name, or the sandbox ID for containers without the kubelet's labels.
func trackKey(ctr *runtimeapi.Container) string {
	pod := ctr.Labels[labelPodUID]
	if pod == "" {
		pod = "sandbox:" + ctr.PodSandboxId
	}
	name := ctr.Labels[labelContainerName]
	if name == "" {
		name = ctr.GetMetadata().GetName()
	}
	return pod + "/" + name
}

func newTrack(ctr *runtimeapi.Container) *containerTrack {
	tr := &containerTrack{
		namespace: ctr.Labels[labelPodNamespace],
		pod:       ctr.Labels[labelPodName],
		podUID:    ctr.Labels[labelPodUID],
		container: ctr.Labels[labelContainerName],
	}
	if tr.container == "" {
		tr.container = ctr.GetMetadata().GetName()
	}
	if tr.pod == "" {
		tr.pod = "sandbox " + shortID(ctr.PodSandboxId)
	}
	return tr
}

// subject is "ns/pod/container" (the finding's Subject).
func (tr *containerTrack) subject() string {
	return tr.namespace + "/" + tr.pod + "/" + tr.container
}

// attemptOf is the container's restart count as the kubelet numbered it.
func attemptOf(ctr *runtimeapi.Container) uint32 {
	attempt := ctr.GetMetadata().GetAttempt()
	if s, ok := ctr.Annotations[annotationRestartCount]; ok {
		if n, err := strconv.ParseUint(s, 10, 32); err == nil && uint32(n) > attempt {
			attempt = uint32(n)
		}
	}
	return attempt
}

// createdAt is the instance's creation time, clamped to now against clock
// skew; now when the runtime does not say.
func createdAt(ctr *runtimeapi.Container, now time.Time) time.Time {
	if ctr.CreatedAt <= 0 {
		return now
	}
	t := time.Unix(0, ctr.CreatedAt)
	if t.After(now) {
		return now
	}
	return t
}

// observe records an attempt; a known attempt keeps its first creation time.
func (tr *containerTrack) observe(attempt uint32, created time.Time) {
	i := sort.Search(len(tr.points), func(i int) bool { return tr.points[i].attempt >= attempt })
	if i < len(tr.points) && tr.points[i].attempt == attempt {
		return
	}
	tr.points = append(tr.points, attemptPoint{})
	copy(tr.points[i+1:], tr.points[i:])
	tr.points[i] = attemptPoint{attempt: attempt, created: created}
	if len(tr.points) > maxAttemptPoints {
		tr.points = tr.points[len(tr.points)-maxAttemptPoints:]
	}
}

// prune drops attempts created before cutoff.
func (tr *containerTrack) prune(cutoff time.Time) {
	kept := tr.points[:0]
	for _, p := range tr.points {
		if !p.created.Before(cutoff) {
			kept = append(kept, p)
		}
	}
	tr.points = kept
}

// restartsSince counts restarts whose new attempt was created at or after
// cutoff. Attempts only rise, so every attempt between the lowest and the
// highest seen in the window was created in it, unseen ones included; and
// the creation of the lowest one is itself a restart unless it is attempt 0.
func (tr *containerTrack) restartsSince(cutoff time.Time) int {
	var lowest, highest uint32
	found := false
	for _, p := range tr.points {
		if p.created.Before(cutoff) {
			continue
		}
		if !found || p.attempt < lowest {
			lowest = p.attempt
		}
		if !found || p.attempt > highest {
			highest = p.attempt
		}
		found = true
	}
	if !found {
		return 0
	}
	restarts := int(highest - lowest)
	if lowest > 0 {
		restarts++
	}
	return restarts
}

// quiet says whether the last event of a kind is at least a window old.
func (tr *containerTrack) quiet(last, now time.Time, window time.Duration) bool {
	return last.IsZero() || now.Sub(last) >= window
}

func exitFrom(ctr *runtimeapi.Container, st *runtimeapi.ContainerStatus) exitRecord {
	rec := exitRecord{
		containerID: ctr.Id,
		attempt:     attemptOf(ctr),
		exitCode:    st.GetExitCode(),
		reason:      st.GetReason(),
		message:     st.GetMessage(),
	}
	if st.GetFinishedAt() > 0 {
		rec.finished = time.Unix(0, st.GetFinishedAt())
	}
	rec.memoryLimitBytes = st.GetResources().GetLinux().GetMemoryLimitInBytes()
	return rec
}

func (c *workloadsCheck) crashLooping(tr *containerTrack, restarts int, last *exitRecord, now time.Time) probes.Finding {
	highest := tr.points[len(tr.points)-1].attempt
	ev := tr.evidence()
	ev["restarts"] = strconv.Itoa(restarts)
	ev["window"] = c.cfg.Window.Duration.String()
	ev["attempt"] = strconv.FormatUint(uint64(highest), 10)
	lastExit := "last exit unknown (the exited instance is gone)"
	remedy := fmt.Sprintf("kubectl -n %[1]s logs %[2]s -c %[3]s --previous; kubectl -n %[1]s describe pod %[2]s; fix the application or its configuration (command, env, probes, dependencies)",
		tr.namespace, tr.pod, tr.container)
	if last != nil {
		lastExit = fmt.Sprintf("last exit code %d", last.exitCode)
		if last.reason != "" {
			lastExit += " (" + last.reason + ")"
		}
		ev["lastExitCode"] = strconv.Itoa(int(last.exitCode))
		ev["lastExitReason"] = last.reason
		ev["lastContainerID"] = last.containerID
		if last.message != "" {
			ev["lastExitMessage"] = last.message
		}
		if last.reason == oomKilledReason || last.exitCode == 137 {
			remedy += fmt.Sprintf("; it was killed (137/OOMKilled): raise resources.limits.memory for %s or reduce its memory use", tr.container)
		}
	}
	return probes.Finding{
		Check:    "workloads",
		Reason:   ReasonContainerCrashLooping,
		Severity: probes.SeverityWarning,
		Message: fmt.Sprintf("Container %s in pod %s/%s restarted %d times within %s (restart count now %d); %s",
			tr.container, tr.namespace, tr.pod, restarts, c.cfg.Window.Duration, highest, lastExit),
		Remedy:   remedy,
		Evidence: ev,
		Subject:  tr.subject(),
		Time:     now,
	}
}

func (c *workloadsCheck) oomKilled(tr *containerTrack, rec exitRecord) probes.Finding {
	ev := tr.evidence()
	ev["containerID"] = rec.containerID
	ev["attempt"] = strconv.FormatUint(uint64(rec.attempt), 10)
	ev["exitCode"] = strconv.Itoa(int(rec.exitCode))
	ev["finishedAt"] = rec.finished.UTC().Format(time.RFC3339)
	limit := ""
	if rec.memoryLimitBytes > 0 {
		limit = fmt.Sprintf(", memory limit %d MiB", rec.memoryLimitBytes>>20)
		ev["memoryLimitBytes"] = strconv.FormatInt(rec.memoryLimitBytes, 10)
	}
	return probes.Finding{
		Check:    "workloads",
		Reason:   ReasonContainerOOMKilled,
		Severity: probes.SeverityWarning,
		Message: fmt.Sprintf("Container %s in pod %s/%s was OOM-killed (exit code %d, restart count %d%s)",
			tr.container, tr.namespace, tr.pod, rec.exitCode, rec.attempt, limit),
		Remedy: fmt.Sprintf("kubectl -n %[1]s describe pod %[2]s (Last State: OOMKilled); raise resources.limits.memory for container %[3]s or reduce its memory use; kubectl -n %[1]s logs %[2]s -c %[3]s --previous",
			tr.namespace, tr.pod, tr.container),
		Evidence: ev,
		Subject:  tr.subject(),
		Time:     rec.finished,
	}
}

func (tr *containerTrack) evidence() map[string]string {
	ev := map[string]string{"namespace": tr.namespace, "pod": tr.pod, "container": tr.container}
	if tr.podUID != "" {
		ev["podUID"] = tr.podUID
	}
	return ev
}

// shortID is the 13-character prefix crictl prints.
func shortID(id string) string {
	if len(id) > 13 {
		return id[:13]
	}
	return id
}
