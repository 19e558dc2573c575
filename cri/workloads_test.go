package cri

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

// crashLoopSim plays the kubelet restarting one container: each restart
// creates attempt n and keeps only the previous instance (kubelet container
// GC keeps one dead instance).
type crashLoopSim struct {
	fake *Fake
	clk  *clocktesting.FakeClock
	n    uint32
}

func (s *crashLoopSim) restart(exitCode int32, reason string) {
	now := s.clk.Now()
	id := fmt.Sprintf("c%02d", s.n)
	prev := s.fake.Containers
	var kept []*runtimeapi.Container
	for _, c := range prev {
		if c.Metadata.Attempt+1 == s.n {
			c.State = runtimeapi.ContainerState_CONTAINER_EXITED
			s.fake.Statuses[c.Id] = &runtimeapi.ContainerStatus{Id: c.Id, State: c.State, ExitCode: exitCode, Reason: reason, FinishedAt: now.Add(-time.Second).UnixNano()}
			kept = append(kept, c)
		}
	}
	ctr := kubeletContainer(id, "uid-1", "shop", "api-7d9", "app", s.n, runtimeapi.ContainerState_CONTAINER_RUNNING, now)
	ctr.Annotations[annotationRestartCount] = fmt.Sprint(s.n)
	s.fake.Containers = append(kept, ctr)
	s.n++
}

func TestWorkloadsCrashLoopWindow(t *testing.T) {
	tests := []struct {
		name string
		// gaps between restarts, starting with attempt 0's creation.
		gaps []time.Duration
		// runAfterEach says when the check runs: after each restart.
		want []string // reasons emitted after each restart (and a final run)
	}{
		{
			name: "three restarts in 3 minutes",
			gaps: []time.Duration{0, time.Minute, time.Minute, time.Minute},
			want: []string{"", "", "", ReasonContainerCrashLooping},
		},
		{
			name: "three restarts spread over 15 minutes never fill the window",
			gaps: []time.Duration{0, 6 * time.Minute, 6 * time.Minute, 6 * time.Minute},
			want: []string{"", "", "", ""},
		},
		{
			name: "one event per window while the loop goes on",
			gaps: []time.Duration{0, 30 * time.Second, 30 * time.Second, 30 * time.Second, time.Minute, time.Minute, 8 * time.Minute},
			want: []string{"", "", "", ReasonContainerCrashLooping, "", "", ReasonContainerCrashLooping},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(t0)
			fake := NewFake()
			check := newCheck(t, WorkloadsSpec(), testEnv(t, fake, clk, ""))
			sim := &crashLoopSim{fake: fake, clk: clk}
			var got []string
			for _, gap := range tt.gaps {
				clk.Step(gap)
				sim.restart(1, "Error")
				clk.Step(5 * time.Second)
				findings, err := check.Check(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				reason := ""
				for _, f := range findings {
					reason += f.Reason
				}
				got = append(got, reason)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reasons per run (-want +got)\n%s", diff)
			}
		})
	}
}

func TestWorkloadsCrashLoopFinding(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	fake := NewFake()
	check := newCheck(t, WorkloadsSpec(), testEnv(t, fake, clk, `{"restartThreshold": 2, "window": "5m"}`))
	sim := &crashLoopSim{fake: fake, clk: clk}
	var findings []probes.Finding
	for i := 0; i < 3; i++ {
		sim.restart(1, "Error")
		clk.Step(20 * time.Second)
		var err error
		if findings, err = check.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	want := []probes.Finding{{
		Check:    "workloads",
		Reason:   ReasonContainerCrashLooping,
		Severity: probes.SeverityWarning,
		Message:  "Container app in pod shop/api-7d9 restarted 2 times within 5m0s (restart count now 2); last exit code 1 (Error)",
		Remedy:   "kubectl -n shop logs api-7d9 -c app --previous; kubectl -n shop describe pod api-7d9; fix the application or its configuration (command, env, probes, dependencies)",
		Evidence: map[string]string{
			"namespace": "shop", "pod": "api-7d9", "container": "app", "podUID": "uid-1",
			"restarts": "2", "window": "5m0s", "attempt": "2",
			"lastExitCode": "1", "lastExitReason": "Error", "lastContainerID": "c01",
		},
		Subject: "shop/api-7d9/app",
		Time:    clk.Now(),
	}}
	if diff := cmp.Diff(want, findings); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	// ContainerStatus is read once per exited instance, not per run.
	if got := fake.Calls("ContainerStatus"); got != 2 {
		t.Errorf("ContainerStatus calls = %d, want 2 (one per exited instance)", got)
	}
}

func TestWorkloadsOOMKilled(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	fake := NewFake()
	old := kubeletContainer("old", "uid-2", "batch", "etl-1", "worker", 0, runtimeapi.ContainerState_CONTAINER_EXITED, t0.Add(-2*time.Hour))
	fake.Containers = []*runtimeapi.Container{old}
	fake.Statuses["old"] = &runtimeapi.ContainerStatus{ExitCode: 137, Reason: "OOMKilled", FinishedAt: t0.Add(-time.Hour).UnixNano()}
	check := newCheck(t, WorkloadsSpec(), testEnv(t, fake, clk, ""))

	// An OOM kill older than the window (seen at agent start) is history.
	if findings, err := check.Check(t.Context()); err != nil || len(findings) != 0 {
		t.Fatalf("old OOM kill: findings %v, err %v", findings, err)
	}

	clk.Step(time.Minute)
	fresh := kubeletContainer("new", "uid-2", "batch", "etl-1", "worker", 1, runtimeapi.ContainerState_CONTAINER_EXITED, clk.Now().Add(-30*time.Second))
	fake.Containers = []*runtimeapi.Container{fresh}
	finished := clk.Now().Add(-10 * time.Second)
	fake.Statuses["new"] = &runtimeapi.ContainerStatus{
		ExitCode: 137, Reason: "OOMKilled", FinishedAt: finished.UnixNano(),
		Resources: &runtimeapi.ContainerResources{Linux: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 32 << 20}},
	}
	findings, err := check.Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []probes.Finding{{
		Check:    "workloads",
		Reason:   ReasonContainerOOMKilled,
		Severity: probes.SeverityWarning,
		Message:  "Container worker in pod batch/etl-1 was OOM-killed (exit code 137, restart count 1, memory limit 32 MiB)",
		Remedy:   "kubectl -n batch describe pod etl-1 (Last State: OOMKilled); raise resources.limits.memory for container worker or reduce its memory use; kubectl -n batch logs etl-1 -c worker --previous",
		Evidence: map[string]string{
			"namespace": "batch", "pod": "etl-1", "container": "worker", "podUID": "uid-2",
			"containerID": "new", "attempt": "1", "exitCode": "137",
			"finishedAt": finished.UTC().Format(time.RFC3339), "memoryLimitBytes": "33554432",
		},
		Subject: "batch/etl-1/worker",
		Time:    time.Unix(0, finished.UnixNano()),
	}}
	if diff := cmp.Diff(want, findings); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}

	// The next OOM kill of the same container within the window is not a
	// second Event.
	clk.Step(time.Minute)
	again := kubeletContainer("again", "uid-2", "batch", "etl-1", "worker", 2, runtimeapi.ContainerState_CONTAINER_EXITED, clk.Now())
	fake.Containers = []*runtimeapi.Container{fresh, again}
	fake.Statuses["again"] = &runtimeapi.ContainerStatus{ExitCode: 137, Reason: "OOMKilled", FinishedAt: clk.Now().UnixNano()}
	if findings, err := check.Check(t.Context()); err != nil || len(findings) != 0 {
		t.Fatalf("repeat within window: findings %v, err %v", findings, err)
	}
}

func TestWorkloadsForgetsRemovedContainers(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	fake := NewFake()
	check := newCheck(t, WorkloadsSpec(), testEnv(t, fake, clk, ""))
	w := check.(*workloadsCheck)
	for i := 0; i < 50; i++ {
		id := fmt.Sprintf("c%d", i)
		fake.Containers = append(fake.Containers, kubeletContainer(id, fmt.Sprintf("uid-%d", i), "ns", fmt.Sprintf("p%d", i), "app", 0, runtimeapi.ContainerState_CONTAINER_EXITED, clk.Now()))
		fake.Statuses[id] = &runtimeapi.ContainerStatus{ExitCode: 0, Reason: "Completed"}
	}
	if _, err := check.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(w.tracks) != 50 || len(w.exits) != 50 {
		t.Fatalf("tracks %d, exits %d; want 50 each", len(w.tracks), len(w.exits))
	}
	fake.Containers = fake.Containers[:1]
	clk.Step(30 * time.Second)
	if _, err := check.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(w.tracks) != 1 || len(w.exits) != 1 {
		t.Errorf("after removal: tracks %d, exits %d; want 1 each", len(w.tracks), len(w.exits))
	}
}

func TestWorkloadsAttemptHistoryBounded(t *testing.T) {
	tr := &containerTrack{}
	for i := 0; i < 3*maxAttemptPoints; i++ {
		tr.observe(uint32(i), t0.Add(time.Duration(i)*time.Second))
	}
	if len(tr.points) != maxAttemptPoints {
		t.Fatalf("points = %d, want %d", len(tr.points), maxAttemptPoints)
	}
	if got := tr.points[len(tr.points)-1].attempt; got != 3*maxAttemptPoints-1 {
		t.Errorf("newest attempt = %d", got)
	}
}

func TestWorkloadsRestartsSince(t *testing.T) {
	tests := []struct {
		name   string
		points []attemptPoint
		want   int
	}{
		{"nothing", nil, 0},
		{"first start is no restart", []attemptPoint{{0, t0}}, 0},
		{"attempt 0 to 3", []attemptPoint{{0, t0}, {1, t0}, {3, t0}}, 3},
		{"creation of attempt 5 is a restart", []attemptPoint{{5, t0}}, 1},
		{"old attempts do not count", []attemptPoint{{4, t0.Add(-time.Hour)}, {5, t0}, {7, t0}}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &containerTrack{points: tt.points}
			if got := tr.restartsSince(t0.Add(-time.Minute)); got != tt.want {
				t.Errorf("restarts = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestWorkloadsSettings(t *testing.T) {
	tests := []struct {
		settings, wantErr string
	}{
		{`{"restartThreshold": 0}`, "checks.workloads.settings.restartThreshold: must be at least 1, got 0"},
		{`{"window": "30s"}`, "checks.workloads.settings.window: must be at least 1m, got 30s"},
		{`{"window": "soon"}`, `checks.workloads.settings.window: not a duration (like "90s" or "10m"): "soon"`},
		{`{"window": "-5m"}`, `checks.workloads.settings.window: must not be negative, got -5m0s`},
		{`{"restartTreshold": 5}`, `checks.workloads.settings.restartTreshold: unknown field`},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			env := testEnv(t, NewFake(), clocktesting.NewFakeClock(t0), tt.settings)
			env.Settings.Path = "checks.workloads.settings"
			_, err := WorkloadsSpec().New(env)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestWorkloadsListError(t *testing.T) {
	fake := NewFake()
	fake.Errs = map[string]error{"ListContainers": fake.Unreachable("ListContainers")}
	check := newCheck(t, WorkloadsSpec(), testEnv(t, fake, clocktesting.NewFakeClock(t0), ""))
	_, err := check.Check(t.Context())
	want := "list containers: CRI ListContainers on unix:///run/containerd/containerd.sock: socket /run/containerd/containerd.sock does not exist"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}
