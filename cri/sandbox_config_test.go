package cri

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/probes"
)

func TestLoadContainerdSandboxImage(t *testing.T) {
	tests := []struct {
		fixture string
		want    sandboxSetting
		wantErr string
	}{
		{fixture: "v1", want: sandboxSetting{Ref: "k8s.gcr.io/pause:3.2", Source: "/etc/containerd/config.toml [plugins.cri] sandbox_image"}},
		{fixture: "v2", want: sandboxSetting{Ref: "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause:3.5",
			Source: `/etc/containerd/config.toml [plugins."io.containerd.grpc.v1.cri"] sandbox_image`}},
		{fixture: "v3", want: sandboxSetting{Ref: "registry.k8s.io/pause:3.10",
			Source: `/etc/containerd/config.toml [plugins."io.containerd.cri.v1.images".pinned_images] sandbox`}},
		{fixture: "v3-migrated-dropin", want: sandboxSetting{Ref: "mirror.internal:5000/pause:3.10",
			Source: `/etc/containerd/conf.d/50-mirror.toml [plugins."io.containerd.grpc.v1.cri"] sandbox_image`}},
		{fixture: "v2-imports-later-wins", want: sandboxSetting{Ref: "second.example/pause:3.9",
			Source: `/etc/containerd/conf.d/20-second.toml [plugins."io.containerd.grpc.v1.cri"] sandbox_image`}},
		{fixture: "v2-dropin-resets", want: sandboxSetting{
			Source: "/etc/containerd/conf.d/gpu.toml defines the image settings without the sandbox image, so containerd's default applies"}},
		{fixture: "v2-relative-chain", want: sandboxSetting{Ref: "chained.example/pause:3.9",
			Source: `/etc/containerd/extra/b.toml [plugins."io.containerd.grpc.v1.cri"] sandbox_image`}},
		{fixture: "v3-default", want: sandboxSetting{
			Source: "/etc/containerd/config.toml does not set the sandbox image, so containerd's default applies"}},
		{fixture: "none", want: sandboxSetting{Source: "no /etc/containerd/config.toml, containerd runs on its defaults"}},
		{fixture: "missing-import", wantErr: "read containerd config: open /etc/containerd/does-not-exist.toml: no such file or directory"},
		{fixture: "malformed", wantErr: "containerd config /etc/containerd/config.toml: (2, 2): unexpected token unclosed table key"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			host := probes.NewFS(filepath.Join("testdata", "containerd", tt.fixture))
			got, err := loadContainerdSandboxImage(host, "/etc/containerd/config.toml")
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestParseContainerdConfigTypeErrors(t *testing.T) {
	tests := []struct {
		name, toml, wantErr string
	}{
		{"version not a number", `version = "2"`, "version is 2, want an integer"},
		{"imports not a list", `imports = "/etc/x.toml"`, "imports is /etc/x.toml, want a list of paths"},
		{"sandbox image not a string", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = 3\n",
			`[plugins."io.containerd.grpc.v1.cri"] sandbox_image is 3, want a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseContainerdConfig([]byte(tt.toml))
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadCRIOPauseImage(t *testing.T) {
	tests := []struct {
		fixture string
		want    sandboxSetting
		wantErr string
	}{
		{fixture: "main-only", want: sandboxSetting{Ref: "registry.k8s.io/pause:3.9", Source: "/etc/crio/crio.conf [crio.image] pause_image"}},
		{fixture: "dropins-later-win", want: sandboxSetting{Ref: "mirror.internal/pause:3.10", Source: "/etc/crio/crio.conf.d/02-newer.conf [crio.image] pause_image"}},
		{fixture: "dropin-only", want: sandboxSetting{Ref: "quay.io/crio/pause:3.10", Source: "/etc/crio/crio.conf.d/10-pause.conf [crio.image] pause_image"}},
		{fixture: "unset", want: sandboxSetting{Source: "neither /etc/crio/crio.conf nor /etc/crio/crio.conf.d/*.conf sets [crio.image] pause_image, so CRI-O's default applies"}},
		{fixture: "malformed", wantErr: "CRI-O config /etc/crio/crio.conf: (1, 2): unexpected token unclosed table key"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			host := probes.NewFS(filepath.Join("testdata", "crio", tt.fixture))
			got, err := loadCRIOPauseImage(host, "/etc/crio/crio.conf", "/etc/crio/crio.conf.d")
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestSandboxImageFromStatusInfo(t *testing.T) {
	tests := []struct {
		fixture string
		want    string
		wantErr bool
	}{
		// Captured from Debian's containerd 1.6.20 (CRI Status verbose).
		{fixture: "containerd-1.6.20.json", want: "localhost/nodetriage/pause:test"},
		{fixture: "crio-1.30.json", want: "registry.k8s.io/pause:3.9"},
		{fixture: "containerd-2.0.json", want: ""},
		{fixture: "malformed.json", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "statusinfo", tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			info := map[string]string{"config": string(data)}
			got, err := sandboxImageFromStatusInfo(info)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("sandbox image = %q, want %q", got, tt.want)
			}
		})
	}
	if got, err := sandboxImageFromStatusInfo(nil); got != "" || err != nil {
		t.Errorf("no info: got %q, %v", got, err)
	}
}

func TestDefaultSandboxImage(t *testing.T) {
	tests := []struct {
		kind    runtimeKind
		version string
		want    string
		ok      bool
	}{
		{kindContainerd, "1.6.20~ds1", "registry.k8s.io/pause:3.6", true},
		{kindContainerd, "v1.7.27", "registry.k8s.io/pause:3.8", true},
		{kindContainerd, "v2.0.5", "registry.k8s.io/pause:3.10", true},
		{kindContainerd, "v2.1.4", "registry.k8s.io/pause:3.10.1", true},
		{kindContainerd, "garbage", "", false},
		{kindCRIO, "1.26.4", "registry.k8s.io/pause:3.6", true},
		{kindUnknown, "1.0", "", false},
	}
	for _, tt := range tests {
		got, ok := defaultSandboxImage(tt.kind, tt.version)
		if got != tt.want || ok != tt.ok {
			t.Errorf("defaultSandboxImage(%v, %q) = %q, %v; want %q, %v", tt.kind, tt.version, got, ok, tt.want, tt.ok)
		}
	}
}

func TestContainerdReportsPins(t *testing.T) {
	tests := []struct {
		version          string
		supported, known bool
	}{
		{"1.6.20~ds1", false, true},
		{"1.6.22", true, true},
		{"v1.7.2", false, true},
		{"v1.7.3", true, true},
		{"v2.0.0", true, true},
		{"1.5.9", false, true},
		{"", false, false},
	}
	for _, tt := range tests {
		s, k := containerdReportsPins(tt.version)
		if s != tt.supported || k != tt.known {
			t.Errorf("containerdReportsPins(%q) = %v, %v; want %v, %v", tt.version, s, k, tt.supported, tt.known)
		}
	}
}
