package hostchecks

// Test helpers shared by every host check's tests: an Env over a fixture
// host root with a fake clock, building and running a check, golden files,
// parser table results, fixture trees, a fake CRI runtime and log recall.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/yaml"

	"github.com/nodetriage/nodetriage/probes"
)

// update rewrites the golden files under testdata/ instead of comparing:
// go test ./hostchecks -update.
var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// hostTestNow is the fake clock's start: fixture findings carry this time.
var hostTestNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// hostTestEnvOptions are the parts of an Env a test may set.
type hostTestEnvOptions struct {
	settings string // JSON of the check's settings section
	node     *corev1.Node
	runtime  probes.Runtime
	logs     probes.LogRecall
	// clock defaults to a *clocktesting.FakeClock at hostTestNow.
	clock clock.PassiveClock
	// statfs, when set, answers the host's statfs(2) (probes.FS.WithStatfs).
	statfs func(hostPath string) (probes.Usage, error)
	// logger defaults to the test's output at debug level.
	logger *slog.Logger
}

// hostTestEnv builds an Env over a host root for the named check.
func hostTestEnv(t testing.TB, check, root string, opts hostTestEnvOptions) probes.Env {
	t.Helper()
	clk := opts.clock
	if clk == nil {
		clk = clocktesting.NewFakeClock(hostTestNow)
	}
	host := probes.NewFS(root)
	if opts.statfs != nil {
		host = host.WithStatfs(opts.statfs)
	}
	logger := opts.logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	node := opts.node
	return probes.Env{
		Host:     host,
		Clock:    clk,
		Logger:   logger.With("check", check),
		Settings: probes.Settings{Path: "checks." + check + ".settings", Raw: json.RawMessage(opts.settings)},
		Runtime:  opts.runtime,
		Logs:     opts.logs,
		NodeName: "node-1",
		Node:     func() *corev1.Node { return node },
	}
}

// hostTestNewCheck builds a check from its Spec, failing the test on error.
func hostTestNewCheck(t testing.TB, spec probes.Spec, env probes.Env) probes.Check {
	t.Helper()
	c, err := spec.New(env)
	if err != nil {
		t.Fatalf("%s: New: %v", spec.Name, err)
	}
	return c
}

// hostTestCheck builds a check and runs it once.
func hostTestCheck(t testing.TB, spec probes.Spec, env probes.Env) ([]probes.Finding, error) {
	t.Helper()
	return hostTestNewCheck(t, spec, env).Check(context.Background())
}

// hostTestFindings builds a check and runs it once, failing the test when
// the run fails.
func hostTestFindings(t testing.TB, spec probes.Spec, env probes.Env) []probes.Finding {
	t.Helper()
	findings, err := hostTestCheck(t, spec, env)
	if err != nil {
		t.Fatalf("%s: Check: %v", spec.Name, err)
	}
	return findings
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

// hostTestGolden compares got, as indented JSON, with the golden file, or
// rewrites the file under -update. No findings are written as [].
func hostTestGolden(t testing.TB, goldenPath string, got any) {
	t.Helper()
	if findings, ok := got.([]probes.Finding); ok && findings == nil {
		got = []probes.Finding{}
	}
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
		t.Fatalf("read golden file (run go test ./hostchecks -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(data)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", goldenPath, diff)
	}
}

// hostTestParsed checks one row of a parser's table test: an error
// containing wantErr when it is set, else no error and got equal to want.
func hostTestParsed[T any](t *testing.T, got T, err error, want T, wantErr string, opts ...cmp.Option) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error = %v, want it to contain %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, opts...); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// hostTestLoadNode reads a Node from a YAML or JSON fixture.
func hostTestLoadNode(t testing.TB, path string) *corev1.Node {
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

// hostTestCopyTree copies a fixture tree (files with their permissions,
// directories, symlinks as they are) into dst. edit, when not nil, may
// rewrite a file's content; rel is its slash path under src.
func hostTestCopyTree(t testing.TB, src, dst string, edit func(rel string, data []byte) []byte) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if edit != nil {
			data = edit(filepath.ToSlash(rel), data)
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// hostTestWriteFiles writes host files (host path → content) under root.
func hostTestWriteFiles(t testing.TB, root string, files map[string]string) {
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

// copyLogHostRoot copies a fixture host root to a temp dir (so a test can
// set mtimes, which git does not keep) and sets every mtime to 30 days
// before hostTestNow.
func copyLogHostRoot(t testing.TB, src string) string {
	t.Helper()
	root := t.TempDir()
	hostTestCopyTree(t, src, root, nil)
	old := hostTestNow.Add(-30 * 24 * time.Hour)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		return os.Chtimes(p, old, old) // the copy is complete: nothing changes a directory's mtime now
	})
	if err != nil {
		t.Fatalf("age host root %s: %v", root, err)
	}
	return root
}

// setLogMtime sets a host path's mtime under root to hostTestNow minus age.
func setLogMtime(t testing.TB, root, hostPath string, age time.Duration) {
	t.Helper()
	ts := hostTestNow.Add(-age)
	if err := os.Chtimes(filepath.Join(root, hostPath), ts, ts); err != nil {
		t.Fatal(err)
	}
}

// checkLogFindingContract checks what every finding must carry.
func checkLogFindingContract(t *testing.T, findings []probes.Finding) {
	t.Helper()
	for _, f := range findings {
		if f.Check == "" || f.Condition != containerLogDiskPressure || f.Reason == "" || f.Message == "" || f.Remedy == "" || f.Subject == "" || len(f.Evidence) == 0 {
			t.Errorf("finding misses a required field: %+v", f)
		}
		if f.Severity != probes.SeverityWarning && f.Severity != probes.SeverityProblem {
			t.Errorf("finding %s has severity %q, want warning or problem", f.Reason, f.Severity)
		}
		for _, s := range []string{f.Message, f.Remedy} {
			for _, r := range s {
				if r == '\n' {
					t.Errorf("finding %s: message and remedy must be one line: %q", f.Reason, s)
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, f := range findings {
		if seen[f.Key()] {
			t.Errorf("two findings share the key %q: they would be deduplicated into one", f.Key())
		}
		seen[f.Key()] = true
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
