package cri

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/rules"
)

const (
	testPause      = "registry.k8s.io/pause:3.8"
	testImageFS    = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs"
	statusInfoJSON = `{"sandboxImage":"registry.k8s.io/pause:3.8","containerd":{"snapshotter":"overlayfs"}}`
)

// sandboxFixture is a containerd that reports its sandbox image in verbose
// status, holds it unpinned, and an image filesystem usedPercent full.
func sandboxFixture(runtimeVersion string, usedPercent uint64) *Fake {
	f := NewFake()
	f.VersionResp.RuntimeVersion = runtimeVersion
	f.StatusResp.Info = map[string]string{"config": statusInfoJSON}
	f.Images = []*runtimeapi.Image{{Id: "sha256:4873874c08ef", RepoTags: []string{testPause}, Size: 311278}}
	f.Labels[testPause] = map[string]string{"io.cri-containerd.image": "managed"}
	f.ImageFsRes = &runtimeapi.ImageFsInfoResponse{ImageFilesystems: []*runtimeapi.FilesystemUsage{
		{FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: testImageFS}},
	}}
	return f
}

// usageStatfs answers statfs for the image filesystem only.
func usageStatfs(t *testing.T, usedPercent uint64) func(string) (probes.Usage, error) {
	return func(p string) (probes.Usage, error) {
		if p != testImageFS {
			t.Errorf("statfs of %s, want %s", p, testImageFS)
			return probes.Usage{}, errors.New("unexpected path")
		}
		const total = 100 << 30
		avail := total * (100 - usedPercent) / 100
		return probes.Usage{TotalBytes: total, FreeBytes: avail, AvailBytes: avail}, nil
	}
}

func nodeWithKubelet(v string) func() *corev1.Node {
	return func() *corev1.Node {
		return &corev1.Node{Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: v}}}
	}
}

type recall map[string]probes.Match

func (r recall) LastMatch(reason string) (probes.Match, bool) {
	m, ok := r[reason]
	return m, ok
}

// pullTimeoutLine is containerd 1.6's log of a failed sandbox image pull.
const pullTimeoutLine = `level=error msg="RunPodSandbox for &PodSandboxMetadata{Name:web-0,} failed, error" error="failed to get sandbox image \"registry.k8s.io/pause:3.8\": ` +
	`failed to pull image \"registry.k8s.io/pause:3.8\": failed to pull and unpack image \"registry.k8s.io/pause:3.8\": failed to resolve reference ` +
	`\"registry.k8s.io/pause:3.8\": failed to do request: Head \"https://registry.k8s.io/v2/pause/manifests/3.8\": dial tcp 34.96.108.209:443: i/o timeout"`

// plainNotPresent is the finding for the missing image on containerd 1.7.3
// without a pull failure in the logs.
var plainNotPresent = probes.Finding{
	Check: "sandbox-image", Condition: ConditionSandboxImageMissing, Reason: ReasonSandboxImageNotPresent,
	Severity: probes.SeverityWarning,
	Message:  "Sandbox (pause) image registry.k8s.io/pause:3.8 is not in containerd 1.7.3's image store: every new pod on this node must pull it first and fails with FailedCreatePodSandBox while that pull fails",
	Remedy: "crictl pull registry.k8s.io/pause:3.8; if the registry is unreachable: ctr -n k8s.io images import pause.tar (saved from your internal mirror) && " +
		"ctr -n k8s.io images tag <mirror ref> registry.k8s.io/pause:3.8; then pin it: ctr -n k8s.io images label registry.k8s.io/pause:3.8 io.cri-containerd.pinned=pinned " +
		"(a crictl pull of the configured image is pinned by containerd itself).",
	Evidence: map[string]string{
		"sandboxImage": testPause, "source": "the runtime's CRI status (config.sandboxImage)",
		"endpoint": "unix:///run/containerd/containerd.sock", "runtimeName": "containerd", "runtimeVersion": "v1.7.3",
	},
	Subject: testPause,
}

func TestPullFailureCause(t *testing.T) {
	tests := []struct{ line, want string }{
		{pullTimeoutLine, "registry timed out"},
		{`failed to pull image "registry.k8s.io/pause:3.9": rpc error: code = Unknown desc = failed to resolve reference: dial tcp: lookup registry.k8s.io on 10.0.0.2:53: no such host`,
			"registry name does not resolve"},
		{`PullImage "registry.example.com/pause:3.9" failed: unexpected status from HEAD request: 401 Unauthorized`, "registry refused the credentials"},
		{`failed to pull and unpack image "docker.io/library/pause:3.9": toomanyrequests: You have reached your pull rate limit`, "registry rate limit"},
		{`failed pulling image "quay.io/x/pause:1": x509: certificate signed by unknown authority`, "registry TLS certificate not trusted"},
		{`failed to pull image "registry.k8s.io/pause:9.9": registry.k8s.io/pause:9.9: not found`, "image not found in the registry"},
		{`failed to pull image "internal/pause:1": pull access denied, repository does not exist or may require authorization`, "registry denied access"},
		{`failed to get sandbox image "registry.k8s.io/pause:3.8": write /var/lib/containerd/tmpmounts: permission denied`, ""},
		{`failed to get sandbox image "registry.k8s.io/pause:3.8": something new`, ""},
	}
	for _, tc := range tests {
		if got := pullFailureCause(tc.line); got != tc.want {
			t.Errorf("pullFailureCause(%.60q…) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestSandboxImageNotPresent(t *testing.T) {
	tests := []struct {
		name           string
		runtimeVersion string
		logs           probes.LogRecall
		want           probes.Finding
	}{
		{
			name:           "containerd that pins",
			runtimeVersion: "v1.7.3",
			want:           plainNotPresent,
		},
		{
			name:           "old containerd, pulls failing",
			runtimeVersion: "1.6.20~ds1",
			logs: recall{ReasonSandboxImagePullFailing: {Reason: ReasonSandboxImagePullFailing, Captures: map[string]string{"image": testPause}, Line: probes.Line{
				Source: probes.SourceContainerd, Time: t0.Add(-10 * time.Minute), Text: pullTimeoutLine}}},
			want: probes.Finding{
				Check: "sandbox-image", Condition: ConditionSandboxImageMissing, Reason: ReasonSandboxImageNotPresent,
				Severity: probes.SeverityWarning,
				Message: "Sandbox (pause) image registry.k8s.io/pause:3.8 is not in containerd 1.6.20~ds1's image store and pulling it fails " +
					"(registry timed out; containerd log): every new pod on this node fails with FailedCreatePodSandBox until the image is there",
				Remedy: "Pulls are failing on this node: ctr -n k8s.io images import pause.tar (saved from your internal mirror) && ctr -n k8s.io images tag <mirror ref> registry.k8s.io/pause:3.8; " +
					"or fix registry access and crictl pull registry.k8s.io/pause:3.8; then pin it: ctr -n k8s.io images label registry.k8s.io/pause:3.8 io.cri-containerd.pinned=pinned, " +
					"and upgrade containerd to ≥ 1.6.22 / 1.7.3 so the kubelet sees the pin.",
				Evidence: map[string]string{
					"sandboxImage": testPause, "source": "the runtime's CRI status (config.sandboxImage)",
					"endpoint": "unix:///run/containerd/containerd.sock", "runtimeName": "containerd", "runtimeVersion": "1.6.20~ds1",
					"lastPullFailure": pullTimeoutLine, "lastPullFailureSource": "containerd", "lastPullFailureTime": t0.Add(-10 * time.Minute).Format(time.RFC3339),
				},
				Subject: testPause,
			},
		},
		{
			name:           "pulls of another pause image failing are another fault",
			runtimeVersion: "v1.7.3",
			logs: recall{ReasonSandboxImagePullFailing: {Reason: ReasonSandboxImagePullFailing, Captures: map[string]string{"image": "registry.k8s.io/pause:3.10"}, Line: probes.Line{
				Source: probes.SourceKubelet, Time: t0.Add(-10 * time.Minute), Text: `failed to pull image "registry.k8s.io/pause:3.10": i/o timeout`}}},
			want: plainNotPresent,
		},
		{
			name:           "a pull failure over an hour old no longer counts",
			runtimeVersion: "v1.7.3",
			logs: recall{ReasonSandboxImagePullFailing: {Reason: ReasonSandboxImagePullFailing, Captures: map[string]string{"image": testPause}, Line: probes.Line{
				Source: probes.SourceContainerd, Time: t0.Add(-61 * time.Minute), Text: pullTimeoutLine}}},
			want: plainNotPresent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := sandboxFixture(tt.runtimeVersion, 0)
			fake.Images = nil
			env := testEnv(t, fake, clocktesting.NewFakeClock(t0), "")
			env.Logs = tt.logs
			got, err := newCheck(t, SandboxImageSpec(), env).Check(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]probes.Finding{tt.want}, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestSandboxImageRisk(t *testing.T) {
	tests := []struct {
		name           string
		runtimeVersion string
		usedPercent    uint64
		kubelet        string // "" = Node unknown
		labels         map[string]string
		labelErr       error
		criPinned      bool
		settings       string
		wantReasons    []string
		wantMessage    map[string]string // reason → message
		wantLabel      string            // the pinned label after the run
	}{
		{name: "pinned over CRI", runtimeVersion: "v1.7.3", usedPercent: 84, kubelet: "v1.31.2", criPinned: true},
		{
			name: "unpinned near the threshold", runtimeVersion: "v1.7.3", usedPercent: 82, kubelet: "v1.31.2",
			wantReasons: []string{ReasonSandboxImageAtRisk},
			wantMessage: map[string]string{ReasonSandboxImageAtRisk: "Sandbox image registry.k8s.io/pause:3.8 is not pinned and image filesystem " + testImageFS +
				" is 82% full (image GC starts at 85%): once GC runs, kubelet v1.31.2 deletes it and new pods need a registry pull to start"},
		},
		{name: "unpinned far from the threshold", runtimeVersion: "v1.7.3", usedPercent: 79, kubelet: "v1.31.2"},
		{name: "kubelet before 1.29 protects it", runtimeVersion: "v1.7.3", usedPercent: 90, kubelet: "v1.28.9"},
		{
			name: "kubelet version unknown", runtimeVersion: "v1.7.3", usedPercent: 90,
			wantReasons: []string{ReasonSandboxImageAtRisk},
			wantMessage: map[string]string{ReasonSandboxImageAtRisk: "Sandbox image registry.k8s.io/pause:3.8 is not pinned and image filesystem " + testImageFS +
				" is 90% full (image GC starts at 85%): once GC runs, the kubelet (version unknown; assuming ≥ 1.29, which no longer protects it) deletes it and new pods need a registry pull to start"},
		},
		{
			name: "labelled on a containerd that reports pins", runtimeVersion: "v1.7.3", usedPercent: 90, kubelet: "v1.31.2",
			labels: map[string]string{ContainerdPinnedLabel: "pinned"},
		},
		{
			name: "labelled on containerd 1.6.20, which hides the pin", runtimeVersion: "1.6.20~ds1", usedPercent: 90, kubelet: "v1.31.2",
			labels:      map[string]string{ContainerdPinnedLabel: "pinned"},
			wantReasons: []string{ReasonSandboxImageAtRisk},
			wantMessage: map[string]string{ReasonSandboxImageAtRisk: "Sandbox image registry.k8s.io/pause:3.8 is not pinned for the kubelet (it carries io.cri-containerd.pinned=pinned, " +
				"but containerd 1.6.20~ds1 does not report pins over CRI (that needs ≥ 1.6.22 / 1.7.3), so the kubelet does not see it) and image filesystem " + testImageFS +
				" is 90% full (image GC starts at 85%): once GC runs, kubelet v1.31.2 deletes it and new pods need a registry pull to start"},
		},
		{
			name: "label unreadable", runtimeVersion: "v1.7.3", usedPercent: 90, kubelet: "v1.31.2",
			labelErr:    errors.New("CRI containerd Images.Get on unix:///run/containerd/containerd.sock: permission denied"),
			wantReasons: []string{ReasonSandboxImageAtRisk},
			wantMessage: map[string]string{ReasonSandboxImageAtRisk: "Sandbox image registry.k8s.io/pause:3.8 is reported unpinned over CRI and its containerd pin is unknown " +
				"(could not read containerd's io.cri-containerd.pinned label: CRI containerd Images.Get on unix:///run/containerd/containerd.sock: permission denied) and image filesystem " +
				testImageFS + " is 90% full (image GC starts at 85%): once GC runs, kubelet v1.31.2 deletes it and new pods need a registry pull to start"},
		},
		{
			name: "remediation on a containerd that reports pins", runtimeVersion: "v1.7.3", usedPercent: 90, kubelet: "v1.31.2",
			settings:    `{"pinWhenUnpinned": true}`,
			wantReasons: []string{ReasonSandboxImagePinned},
			wantMessage: map[string]string{ReasonSandboxImagePinned: "Pinned sandbox image registry.k8s.io/pause:3.8 in containerd (io.cri-containerd.pinned=pinned on registry.k8s.io/pause:3.8) because pinWhenUnpinned is on"},
			wantLabel:   "pinned",
		},
		{
			name: "remediation on containerd 1.6.20", runtimeVersion: "1.6.20~ds1", usedPercent: 90, kubelet: "v1.31.2",
			settings:    `{"pinWhenUnpinned": true}`,
			wantReasons: []string{ReasonSandboxImagePinned, ReasonSandboxImageAtRisk},
			wantLabel:   "pinned",
		},
		{
			name: "remediation off by default", runtimeVersion: "v1.7.3", usedPercent: 90, kubelet: "v1.31.2",
			wantReasons: []string{ReasonSandboxImageAtRisk},
		},
		{
			name: "wider margin", runtimeVersion: "v1.7.3", usedPercent: 75, kubelet: "v1.31.2", settings: `{"riskMarginPercent": 10}`,
			wantReasons: []string{ReasonSandboxImageAtRisk},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := sandboxFixture(tt.runtimeVersion, tt.usedPercent)
			fake.Images[0].Pinned = tt.criPinned
			for k, v := range tt.labels {
				fake.Labels[testPause][k] = v
			}
			if tt.labelErr != nil {
				fake.Errs = map[string]error{"ImageLabels": tt.labelErr}
			}
			env := testEnv(t, fake, clocktesting.NewFakeClock(t0), tt.settings)
			env.Host = env.Host.WithStatfs(usageStatfs(t, tt.usedPercent))
			if tt.kubelet != "" {
				env.Node = nodeWithKubelet(tt.kubelet)
			}
			got, err := newCheck(t, SandboxImageSpec(), env).Check(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, f := range got {
				reasons = append(reasons, f.Reason)
				if want, ok := tt.wantMessage[f.Reason]; ok && f.Message != want {
					t.Errorf("%s message:\n got %s\nwant %s", f.Reason, f.Message, want)
				}
				if f.Condition != "" {
					t.Errorf("%s must be event-only, got condition %s", f.Reason, f.Condition)
				}
			}
			if diff := cmp.Diff(tt.wantReasons, reasons); diff != "" {
				t.Errorf("reasons (-want +got)\n%s", diff)
			}
			if got := fake.Labels[testPause][ContainerdPinnedLabel]; got != tt.wantLabel && (tt.wantLabel != "" || tt.labels == nil) {
				t.Errorf("pinned label after run = %q, want %q", got, tt.wantLabel)
			}
		})
	}
}

func TestSandboxImageRiskEvidence(t *testing.T) {
	fake := sandboxFixture("1.6.20~ds1", 0)
	env := testEnv(t, fake, clocktesting.NewFakeClock(t0), "")
	env.Host = env.Host.WithStatfs(usageStatfs(t, 88))
	env.Node = nodeWithKubelet("v1.30.1")
	got, err := newCheck(t, SandboxImageSpec(), env).Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []probes.Finding{{
		Check: "sandbox-image", Reason: ReasonSandboxImageAtRisk, Severity: probes.SeverityWarning,
		Message: "Sandbox image registry.k8s.io/pause:3.8 is not pinned and image filesystem " + testImageFS +
			" is 88% full (image GC starts at 85%): once GC runs, kubelet v1.30.1 deletes it and new pods need a registry pull to start",
		Remedy: "Pin it: ctr -n k8s.io images label registry.k8s.io/pause:3.8 io.cri-containerd.pinned=pinned (or set checks.sandbox-image.settings.pinWhenUnpinned: true), " +
			"and upgrade containerd to ≥ 1.6.22 / 1.7.3 so the kubelet sees the pin. Meanwhile free space on " + testImageFS +
			" by removing unused images other than registry.k8s.io/pause:3.8 (crictl images; crictl rmi <image>).",
		Evidence: map[string]string{
			"sandboxImage": testPause, "source": "the runtime's CRI status (config.sandboxImage)",
			"imageFilesystem": testImageFS, "usagePercent": "88", "imageGCHighThresholdPercent": "85", "riskMarginPercent": "5",
			"runtimeName": "containerd", "runtimeVersion": "1.6.20~ds1", "kubeletVersion": "v1.30.1",
		},
		Subject: testPause,
		Time:    t0,
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// The kubelet's own image GC threshold comes from its config under the host
// root.
func TestSandboxImageRiskUsesKubeletThreshold(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "var/lib/kubelet"), 0o755); err != nil {
		t.Fatal(err)
	}
	kubelet := "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nimageGCHighThresholdPercent: 95\nimageGCLowThresholdPercent: 90\n"
	if err := os.WriteFile(filepath.Join(root, "var/lib/kubelet/config.yaml"), []byte(kubelet), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		used uint64
		want int
	}{{88, 0}, {91, 1}} {
		fake := sandboxFixture("v1.7.3", 0)
		env := testEnv(t, fake, clocktesting.NewFakeClock(t0), "")
		env.Host = probes.NewFS(root).WithStatfs(usageStatfs(t, tt.used))
		env.Node = nodeWithKubelet("v1.31.0")
		got, err := newCheck(t, SandboxImageSpec(), env).Check(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tt.want {
			t.Errorf("usage %d%% with high threshold 95: %d findings, want %d", tt.used, len(got), tt.want)
		}
		if len(got) == 1 && got[0].Evidence["kubeletConfig"] != "/var/lib/kubelet/config.yaml" {
			t.Errorf("evidence kubeletConfig = %q", got[0].Evidence["kubeletConfig"])
		}
	}
}

// Without config.sandboxImage in the verbose status the check reads the
// runtime's config files under the host root.
func TestSandboxImageFromConfigFiles(t *testing.T) {
	tests := []struct {
		name        string
		runtime     *runtimeapi.VersionResponse
		fixture     string
		images      []*runtimeapi.Image
		wantRef     string
		wantSource  string
		wantMessage string
		wantErr     string
	}{
		{
			name:    "containerd 2.x version 3 config",
			runtime: &runtimeapi.VersionResponse{RuntimeName: "containerd", RuntimeVersion: "v2.0.5"},
			fixture: "containerd/v3", wantRef: "registry.k8s.io/pause:3.10",
			wantSource: `/etc/containerd/config.toml [plugins."io.containerd.cri.v1.images".pinned_images] sandbox`,
		},
		{
			name:    "containerd 2.x migrated drop-in",
			runtime: &runtimeapi.VersionResponse{RuntimeName: "containerd", RuntimeVersion: "v2.1.1"},
			fixture: "containerd/v3-migrated-dropin", wantRef: "mirror.internal:5000/pause:3.10",
			wantSource: `/etc/containerd/conf.d/50-mirror.toml [plugins."io.containerd.grpc.v1.cri"] sandbox_image`,
		},
		{
			name:    "containerd 2.x defaults, one pinned pause image",
			runtime: &runtimeapi.VersionResponse{RuntimeName: "containerd", RuntimeVersion: "v2.1.1"},
			fixture: "containerd/v3-default",
			images: []*runtimeapi.Image{
				{Id: "a", RepoTags: []string{"docker.io/library/nginx:1.27"}, Pinned: true},
				{Id: "b", RepoTags: []string{"registry.k8s.io/pause:3.10"}, Pinned: true},
			},
			wantRef:    "registry.k8s.io/pause:3.10",
			wantSource: "/etc/containerd/config.toml does not set the sandbox image, so containerd's default applies; taken as the only pinned pause image in the store",
		},
		{
			name:    "containerd 2.x defaults, nothing pinned",
			runtime: &runtimeapi.VersionResponse{RuntimeName: "containerd", RuntimeVersion: "v2.1.1"},
			fixture: "containerd/v3-default", wantRef: "registry.k8s.io/pause:3.10.1",
			wantSource: "/etc/containerd/config.toml does not set the sandbox image, so containerd's default applies; assumed containerd 2.1.1's built-in default",
			wantMessage: "Sandbox (pause) image registry.k8s.io/pause:3.10.1 (assumed default; set it explicitly in the runtime config) is not in containerd 2.1.1's image store: " +
				"every new pod on this node must pull it first and fails with FailedCreatePodSandBox while that pull fails",
		},
		{
			name:    "CRI-O drop-ins",
			runtime: &runtimeapi.VersionResponse{RuntimeName: "cri-o", RuntimeVersion: "1.26.4"},
			fixture: "crio/dropins-later-win", wantRef: "mirror.internal/pause:3.10",
			wantSource: "/etc/crio/crio.conf.d/02-newer.conf [crio.image] pause_image",
		},
		{
			name:    "unknown runtime",
			runtime: &runtimeapi.VersionResponse{RuntimeName: "frakti", RuntimeVersion: "0.3"},
			fixture: "containerd/none",
			wantErr: "cannot tell which sandbox image frakti 0.3 uses: its verbose CRI status has no config.sandboxImage",
		},
		{
			name:    "malformed containerd config",
			runtime: &runtimeapi.VersionResponse{RuntimeName: "containerd", RuntimeVersion: "v2.0.0"},
			fixture: "containerd/malformed",
			wantErr: "containerd config /etc/containerd/config.toml: (2, 2): unexpected token unclosed table key, was expecting a table key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := NewFake()
			fake.VersionResp = tt.runtime
			fake.Images = tt.images
			env := testEnv(t, fake, clocktesting.NewFakeClock(t0), "")
			env.Host = probes.NewFS(filepath.Join("testdata", tt.fixture))
			got, err := newCheck(t, SandboxImageSpec(), env).Check(t.Context())
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.images != nil {
				// Present and pinned: healthy.
				if len(got) != 0 {
					t.Fatalf("findings %v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Reason != ReasonSandboxImageNotPresent {
				t.Fatalf("findings %+v, want one %s", got, ReasonSandboxImageNotPresent)
			}
			if got[0].Evidence["sandboxImage"] != tt.wantRef || got[0].Evidence["source"] != tt.wantSource {
				t.Errorf("image %q from %q; want %q from %q", got[0].Evidence["sandboxImage"], got[0].Evidence["source"], tt.wantRef, tt.wantSource)
			}
			if tt.wantMessage != "" && got[0].Message != tt.wantMessage {
				t.Errorf("message:\n got %s\nwant %s", got[0].Message, tt.wantMessage)
			}
		})
	}
}

func TestSandboxImageSettings(t *testing.T) {
	tests := []struct{ settings, wantErr string }{
		{`{"riskMarginPercent": 60}`, "checks.sandbox-image.settings.riskMarginPercent: must be between 0 and 50, got 60"},
		{`{"containerdConfig": "etc/containerd/config.toml"}`, `checks.sandbox-image.settings.containerdConfig: must be an absolute host path, got "etc/containerd/config.toml"`},
		{`{"pinWhenUnpinned": "yes"}`, "checks.sandbox-image.settings.pinWhenUnpinned: cannot use string as bool"},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			env := testEnv(t, NewFake(), clocktesting.NewFakeClock(t0), tt.settings)
			env.Settings.Path = "checks.sandbox-image.settings"
			_, err := SandboxImageSpec().New(env)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// A runtime that does not answer leaves the condition Unknown: the
// container-runtime check owns that fault.
func TestSandboxImageUnreachable(t *testing.T) {
	fake := NewFake()
	fake.Errs = map[string]error{"Version": fake.Unreachable("Version")}
	_, err := newCheck(t, SandboxImageSpec(), testEnv(t, fake, clocktesting.NewFakeClock(t0), "")).Check(t.Context())
	if !IsUnreachable(err) {
		t.Fatalf("error = %v, want an unreachable CRI error", err)
	}
}

// TestSandboxImageFindingFoldsTheLogFinding: the default rule's finding
// about a failing pull of the configured image and this check's finding are
// one fault to the agent, and the check's finding says what the log said.
func TestSandboxImageFindingFoldsTheLogFinding(t *testing.T) {
	engine, err := rules.NewEngine(rules.DefaultRules(), rules.Options{Clock: clocktesting.NewFakePassiveClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	logFindings := engine.Match(probes.Line{Source: probes.SourceContainerd, Text: pullTimeoutLine, Time: t0.Add(-time.Minute)})
	if len(logFindings) != 1 || logFindings[0].Reason != ReasonSandboxImagePullFailing {
		t.Fatalf("the containerd rule found %+v", logFindings)
	}
	fake := sandboxFixture("v1.7.3", 0)
	fake.Images = nil
	env := testEnv(t, fake, clocktesting.NewFakeClock(t0), "")
	env.Logs = engine
	got, err := newCheck(t, SandboxImageSpec(), env).Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("findings = %+v", got)
	}
	if !agent.SameFault(got[0], logFindings[0]) {
		t.Errorf("check finding (%s, %q) and log finding (%s, %q) are not one fault", got[0].Reason, got[0].Subject, logFindings[0].Reason, logFindings[0].Subject)
	}
	if !strings.Contains(got[0].Message, "pulling it fails (registry timed out; containerd log)") {
		t.Errorf("message = %q", got[0].Message)
	}
}
