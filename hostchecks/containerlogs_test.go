package hostchecks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nodetriage/nodetriage/probes"
)

func TestParsePodLogDir(t *testing.T) {
	tests := []struct {
		name   string
		want   podLogDir
		wantOK bool
	}{
		{name: "default_web-6d4cf56db6-x2x7n_0b8e2c1a-5d3f-4e6b-9a7c-1f2e3d4c5b6a",
			want: podLogDir{Namespace: "default", Pod: "web-6d4cf56db6-x2x7n", UID: "0b8e2c1a-5d3f-4e6b-9a7c-1f2e3d4c5b6a"}, wantOK: true},
		{name: "kube-system_kube-proxy-abcde_11111111-2222-3333-4444-555555555555",
			want: podLogDir{Namespace: "kube-system", Pod: "kube-proxy-abcde", UID: "11111111-2222-3333-4444-555555555555"}, wantOK: true},
		{name: "static_etcd-node.example.com_6f1c", want: podLogDir{Namespace: "static", Pod: "etcd-node.example.com", UID: "6f1c"}, wantOK: true},
		{name: "no-underscores"},
		{name: "only_two"},
		{name: "a_b_c_d"},
		{name: "_pod_uid"},
		{name: "ns__uid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parsePodLogDir(tt.name)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseContainerLogName(t *testing.T) {
	tests := []struct {
		name    string
		restart int
		ok      bool
	}{
		{"0.log", 0, true},
		{"12.log", 12, true},
		{"0.log.20250601-110000", 0, false},
		{"0.log.20250601-110000.gz", 0, false},
		{"0.log.20250601-110000.tmp", 0, false},
		{".log", 0, false},
		{"app.log", 0, false},
		{"-1.log", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			restart, ok := parseContainerLogName(tt.name)
			if restart != tt.restart || ok != tt.ok {
				t.Errorf("parseContainerLogName(%q) = %d, %v; want %d, %v", tt.name, restart, ok, tt.restart, tt.ok)
			}
		})
	}
}

func TestContainerLogsGolden(t *testing.T) {
	tests := []struct {
		scenario string
		settings string
		subjects []string
	}{
		{scenario: "healthy"},
		// containerLogMaxSize 1Ki: a 3.9 KiB log is over 2 × 1Ki; the
		// rotated .gz beside it and the 1.9 KiB coredns log are not.
		{scenario: "oversized", subjects: []string{"default/web-6d4cf56db6-x2x7n/app"}},
		// Rotation off: the absolute limit applies.
		{scenario: "rotation-disabled", settings: `{"unrotatedLimit":"2Ki"}`, subjects: []string{"default/web-6d4cf56db6-x2x7n/app"}},
		// dockerd max-size 1k: both json logs are over 2 KiB; one has no
		// Kubernetes labels.
		{scenario: "docker", subjects: []string{"shop/cart-7c9d8-qwert/cart", "docker/9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			root := filepath.Join("testdata/container-logs", tt.scenario)
			findings := hostTestFindings(t, ContainerLogsSpec(), hostTestEnv(t, "container-logs", root, hostTestEnvOptions{settings: tt.settings}))
			checkLogFindingContract(t, findings)
			var subjects []string
			for _, f := range findings {
				subjects = append(subjects, f.Subject)
			}
			if diff := cmp.Diff(tt.subjects, subjects); diff != "" {
				t.Errorf("subjects (-want +got):\n%s", diff)
			}
			hostTestGolden(t, filepath.Join("testdata/container-logs", tt.scenario+".json"), findings)
		})
	}
}

// writeTestPodLog writes a pod log of size bytes under root.
func writeTestPodLog(t testing.TB, root, podDir, container, file string, size int) string {
	t.Helper()
	p := filepath.Join(root, "var/log/pods", podDir, container, file)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.Repeat("x", size)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeTestKubeletConfig(t testing.TB, root, maxSize string) {
	t.Helper()
	p := filepath.Join(root, "var/lib/kubelet/config.yaml")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("kind: KubeletConfiguration\ncontainerLogMaxSize: "+maxSize+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestContainerLogsWalkIsBounded: the walk stops at maxEntries and says so
// in the evidence.
func TestContainerLogsWalkIsBounded(t *testing.T) {
	root := t.TempDir()
	writeTestKubeletConfig(t, root, "1Ki")
	for i := range 30 {
		writeTestPodLog(t, root, fmt.Sprintf("ns_pod%02d_uid%02d", i, i), "c", "0.log", 4096)
	}
	tests := []struct {
		maxEntries   int
		wantFindings int
		wantCapped   bool
	}{
		// pods dir (30 entries) + per pod: its dir (1) + its container dir (1).
		{maxEntries: 1000, wantFindings: 20, wantCapped: false},
		{maxEntries: 30 + 2*5, wantFindings: 5, wantCapped: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.maxEntries), func(t *testing.T) {
			findings := hostTestFindings(t, ContainerLogsSpec(), hostTestEnv(t, "container-logs", root, hostTestEnvOptions{settings: fmt.Sprintf(`{"maxEntries":%d}`, tt.maxEntries)}))
			if len(findings) != tt.wantFindings { // 20 = maxFindings
				t.Fatalf("got %d findings, want %d", len(findings), tt.wantFindings)
			}
			_, capped := findings[0].Evidence["walk"]
			if capped != tt.wantCapped {
				t.Errorf("capped = %v, want %v (evidence %v)", capped, tt.wantCapped, findings[0].Evidence)
			}
			if !tt.wantCapped && findings[0].Evidence["oversizedLogs"] != "30" {
				t.Errorf("oversizedLogs = %q, want 30", findings[0].Evidence["oversizedLogs"])
			}
		})
	}
}

// TestContainerLogsOneFindingPerContainer: two oversized logs of the same
// container (restarts) are one finding about the bigger one.
func TestContainerLogsOneFindingPerContainer(t *testing.T) {
	root := t.TempDir()
	writeTestKubeletConfig(t, root, "1Ki")
	writeTestPodLog(t, root, "ns_pod_uid", "app", "0.log", 5000)
	big := writeTestPodLog(t, root, "ns_pod_uid", "app", "1.log", 9000)
	findings := hostTestFindings(t, ContainerLogsSpec(), hostTestEnv(t, "container-logs", root, hostTestEnvOptions{}))
	if len(findings) != 1 || findings[0].Evidence["path"] != "/var/log/pods/ns_pod_uid/app/1.log" {
		t.Fatalf("findings = %+v, want one about %s", findings, big)
	}
}

func TestContainerLogsContainerState(t *testing.T) {
	root := t.TempDir()
	writeTestKubeletConfig(t, root, "1Ki")
	writeTestPodLog(t, root, "ns_web_uid-1", "app", "2.log", 5000)
	ctr := func(state runtimeapi.ContainerState, attempt uint32) *runtimeapi.Container {
		return &runtimeapi.Container{
			Metadata: &runtimeapi.ContainerMetadata{Name: "app", Attempt: attempt},
			Labels:   map[string]string{"io.kubernetes.pod.uid": "uid-1"},
			State:    state,
		}
	}
	tests := []struct {
		name       string
		runtime    probes.Runtime
		wantState  string
		wantRemedy string
	}{
		{name: "no runtime", wantState: "", wantRemedy: "containerLogMonitorInterval"},
		{name: "running", runtime: &hostTestRuntime{containers: []*runtimeapi.Container{ctr(runtimeapi.ContainerState_CONTAINER_RUNNING, 2)}},
			wantState: "running", wantRemedy: "containerLogMonitorInterval"},
		{name: "exited", runtime: &hostTestRuntime{containers: []*runtimeapi.Container{ctr(runtimeapi.ContainerState_CONTAINER_EXITED, 2)}},
			wantState: "exited", wantRemedy: "kubectl delete pod -n ns web"},
		{name: "an older attempt runs, this one is gone", runtime: &hostTestRuntime{containers: []*runtimeapi.Container{ctr(runtimeapi.ContainerState_CONTAINER_RUNNING, 1)}},
			wantState: "removed", wantRemedy: "kubectl delete pod -n ns web"},
		{name: "runtime fails", runtime: &hostTestRuntime{listErr: errors.New("connection refused")}, wantState: "", wantRemedy: "containerLogMonitorInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			findings := hostTestFindings(t, ContainerLogsSpec(), hostTestEnv(t, "container-logs", root, hostTestEnvOptions{runtime: tt.runtime}))
			if len(findings) != 1 {
				t.Fatalf("got %d findings, want 1", len(findings))
			}
			f := findings[0]
			if got := f.Evidence["containerState"]; got != tt.wantState {
				t.Errorf("containerState = %q, want %q", got, tt.wantState)
			}
			if !strings.Contains(f.Remedy, tt.wantRemedy) {
				t.Errorf("remedy %q does not contain %q", f.Remedy, tt.wantRemedy)
			}
		})
	}
}

func TestContainerLogsNotApplicable(t *testing.T) {
	check, err := ContainerLogsSpec().New(hostTestEnv(t, "container-logs", t.TempDir(), hostTestEnvOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = check.Check(context.Background())
	if !errors.Is(err, probes.ErrNotApplicable) {
		t.Fatalf("Check on a root without log directories: %v, want ErrNotApplicable", err)
	}
}

func TestContainerLogsSettings(t *testing.T) {
	tests := []struct {
		settings string
		wantErr  string
	}{
		{settings: `{"sizeFactor":3,"unrotatedLimit":"500Mi","maxEntries":100,"maxFindings":5}`},
		{settings: `{"sizeFactor":0.5}`, wantErr: "checks.container-logs.settings.sizeFactor: must be at least 1"},
		{settings: `{"unrotatedLimit":"lots"}`, wantErr: "checks.container-logs.settings.unrotatedLimit"},
		{settings: `{"unrotatedLimit":"-1Gi"}`, wantErr: "checks.container-logs.settings.unrotatedLimit"},
		{settings: `{"maxEntries":0}`, wantErr: "checks.container-logs.settings.maxEntries"},
		{settings: `{"maxFindings":-1}`, wantErr: "checks.container-logs.settings.maxFindings"},
		{settings: `{"limit":"1Gi"}`, wantErr: `limit: unknown field`},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			_, err := ContainerLogsSpec().New(hostTestEnv(t, "container-logs", t.TempDir(), hostTestEnvOptions{settings: tt.settings}))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestContainerLogsDoesNotFollowSymlinks: a symlinked pod directory,
// container directory or log file is never followed, so the walk cannot
// leave the host root.
func TestContainerLogsDoesNotFollowSymlinks(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir() // stands for the agent's own filesystem
	writeTestPodLog(t, outside, "ns_big_uid", "c", "0.log", 1<<20)
	writeTestKubeletConfig(t, root, "1Ki")
	writeTestPodLog(t, root, "ns_ok_uid", "c", "0.log", 10)
	pods := filepath.Join(root, "var/log/pods")
	links := map[string]string{
		filepath.Join(pods, "ns_podlink_uid"):            filepath.Join(outside, "var/log/pods/ns_big_uid"),
		filepath.Join(pods, "ns_ok_uid", "ctrlink"):      filepath.Join(outside, "var/log/pods/ns_big_uid/c"),
		filepath.Join(pods, "ns_ok_uid", "c", "1.log"):   filepath.Join(outside, "var/log/pods/ns_big_uid/c/0.log"),
		filepath.Join(root, "var/lib/docker/containers"): filepath.Join(outside, "var/log/pods"),
	}
	if err := os.MkdirAll(filepath.Join(root, "var/lib/docker"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range links {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	findings := hostTestFindings(t, ContainerLogsSpec(), hostTestEnv(t, "container-logs", root, hostTestEnvOptions{}))
	if len(findings) != 0 {
		t.Errorf("findings = %+v, want none: every oversized log is behind a symlink", findings)
	}
}
