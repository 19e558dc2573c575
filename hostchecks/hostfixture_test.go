package hostchecks

// Test helpers shared by the memory-cgroups, conntrack, hairpin,
// kubelet-restarts and uninitialized-taint tests: an Env over a fixture host
// root with a fake clock, golden files, a fake CRI runtime and tree copies.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/yaml"

	"github.com/nodetriage/nodetriage/probes"
)

// hostTestNow is the fake clock's start: fixture findings carry this time.
var hostTestNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// hostTestEnvOptions are the parts of an Env a test may set.
type hostTestEnvOptions struct {
	settings string // JSON of the check's settings section
	node     *corev1.Node
	runtime  probes.Runtime
	logs     probes.LogRecall
	clock    *clocktesting.FakePassiveClock
}

// hostTestEnv builds an Env over a host root for the named check.
func hostTestEnv(t *testing.T, check, root string, opts hostTestEnvOptions) probes.Env {
	t.Helper()
	clk := opts.clock
	if clk == nil {
		clk = clocktesting.NewFakePassiveClock(hostTestNow)
	}
	node := opts.node
	return probes.Env{
		Host:     probes.NewFS(root),
		Clock:    clk,
		Logger:   slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})).With("check", check),
		Settings: probes.Settings{Path: "checks." + check + ".settings", Raw: json.RawMessage(opts.settings)},
		Runtime:  opts.runtime,
		Logs:     opts.logs,
		NodeName: "node-1",
		Node:     func() *corev1.Node { return node },
	}
}

// hostTestNewCheck builds a check from its Spec, failing the test on error.
func hostTestNewCheck(t *testing.T, spec probes.Spec, env probes.Env) probes.Check {
	t.Helper()
	c, err := spec.New(env)
	if err != nil {
		t.Fatalf("%s: New: %v", spec.Name, err)
	}
	return c
}

// hostTestResult is what a golden file holds: the findings of a run, or its
// error.
type hostTestResult struct {
	Findings      []probes.Finding `json:"findings"`
	Error         string           `json:"error,omitempty"`
	NotApplicable bool             `json:"notApplicable,omitempty"`
}

func hostTestRun(ctx context.Context, c probes.Check) hostTestResult {
	findings, err := c.Check(ctx)
	r := hostTestResult{Findings: findings}
	if err != nil {
		r.Error = err.Error()
		r.NotApplicable = errors.Is(err, probes.ErrNotApplicable)
	}
	return r
}

// hostTestGolden compares got with the golden file, or rewrites it under
// -update.
func hostTestGolden(t *testing.T, goldenPath string, got hostTestResult) {
	t.Helper()
	data, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(data)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", goldenPath, diff)
	}
}

// hostTestLoadNode reads a Node from a YAML or JSON fixture.
func hostTestLoadNode(t *testing.T, path string) *corev1.Node {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var node corev1.Node
	if err := yaml.UnmarshalStrict(data, &node); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &node
}

// hostTestCopyTree copies a fixture tree (files, dirs, modes, symlinks) into
// dst.
func hostTestCopyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// hostTestWriteFiles writes host files (host path → content) under root.
func hostTestWriteFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(name, "/")))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// hostTestRuntime is a fake CRI runtime holding containers and images.
type hostTestRuntime struct {
	endpoint   string
	version    *runtimeapi.VersionResponse
	containers []*runtimeapi.Container
	images     map[string]*runtimeapi.Image // by image ID
	listErr    error
}

var _ probes.Runtime = (*hostTestRuntime)(nil)

var errHostTestUnused = errors.New("not used by host checks")

func (r *hostTestRuntime) Endpoint() string {
	if r.endpoint == "" {
		return "unix:///run/containerd/containerd.sock"
	}
	return r.endpoint
}

func (r *hostTestRuntime) Version(context.Context) (*runtimeapi.VersionResponse, error) {
	if r.version == nil {
		return &runtimeapi.VersionResponse{RuntimeName: "containerd", RuntimeVersion: "v1.7.22"}, nil
	}
	return r.version, nil
}

func (r *hostTestRuntime) Status(context.Context, bool) (*runtimeapi.StatusResponse, error) {
	return nil, errHostTestUnused
}

func (r *hostTestRuntime) ListPodSandbox(context.Context, *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	return nil, errHostTestUnused
}

func (r *hostTestRuntime) ListContainers(_ context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	if r.listErr != nil {
		return nil, r.listErr
	}
	var out []*runtimeapi.Container
	for _, c := range r.containers {
		match := true
		for k, v := range filter.GetLabelSelector() {
			if c.GetLabels()[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, c)
		}
	}
	return out, nil
}

func (r *hostTestRuntime) ContainerStatus(context.Context, string, bool) (*runtimeapi.ContainerStatusResponse, error) {
	return nil, errHostTestUnused
}

func (r *hostTestRuntime) ListImages(context.Context, *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error) {
	return nil, errHostTestUnused
}

func (r *hostTestRuntime) ImageStatus(_ context.Context, spec *runtimeapi.ImageSpec, _ bool) (*runtimeapi.ImageStatusResponse, error) {
	return &runtimeapi.ImageStatusResponse{Image: r.images[spec.GetImage()]}, nil
}

func (r *hostTestRuntime) ImageFsInfo(context.Context) (*runtimeapi.ImageFsInfoResponse, error) {
	return nil, errHostTestUnused
}

// hostTestLogs is a fake LogRecall.
type hostTestLogs map[string]probes.Match

func (l hostTestLogs) LastMatch(reason string) (probes.Match, bool) {
	m, ok := l[reason]
	return m, ok
}

// hostTestRequireRoot fails the test when it cannot touch kernel objects.
func hostTestRequireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this integration test creates kernel objects and must run as root")
	}
}

// TestHostHelperProcess is not a test: integration tests re-execute the test
// binary with NT_HOST_HELPER set to run one step in another process (inside a
// network namespace).
func TestHostHelperProcess(t *testing.T) {
	var err error
	switch mode := os.Getenv("NT_HOST_HELPER"); mode {
	case "":
		return
	case "hairpin-check":
		err = hairpinTestRunInNetns(t)
	default:
		err = fmt.Errorf("unknown NT_HOST_HELPER %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}
