package cri

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodetriage/nodetriage/probes"
)

// hostTree builds a fake host root with real unix sockets at the given host
// paths and an optional kubelet config.
func hostTree(t *testing.T, sockets []string, kubeletConfig string) string {
	t.Helper()
	root, err := os.MkdirTemp("", "ep-") // short: socket paths are limited to 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	// /var/run -> /run, as on every modern distribution.
	if err := os.MkdirAll(filepath.Join(root, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "var"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/run", filepath.Join(root, "var", "run")); err != nil {
		t.Fatal(err)
	}
	host := probes.NewFS(root)
	for _, s := range sockets {
		local, err := host.Path(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("unix", local)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
	}
	if kubeletConfig != "" {
		p := filepath.Join(root, "var/lib/kubelet/config.yaml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(kubeletConfig), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDetectEndpoint(t *testing.T) {
	tests := []struct {
		name          string
		sockets       []string
		kubeletConfig string
		explicit, env string
		want          string // host path of the socket; resolved under root
		wantAddress   string // host path shown in messages, when it differs from want's
		wantNoSocket  bool
		wantErr       string
	}{
		{name: "explicit wins", sockets: []string{"/run/containerd/containerd.sock"}, explicit: "unix:///run/crio/crio.sock", env: "unix:///x.sock",
			want: "/run/crio/crio.sock"},
		{name: "environment next", sockets: []string{"/run/containerd/containerd.sock"}, env: "unix:///run/k3s/containerd/containerd.sock",
			want: "/run/k3s/containerd/containerd.sock"},
		{name: "kubelet config next", sockets: []string{"/run/containerd/containerd.sock"},
			kubeletConfig: "kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///var/run/crio/crio.sock\n", want: "/run/crio/crio.sock", wantAddress: "/var/run/crio/crio.sock"},
		{name: "containerd first", sockets: []string{"/run/crio/crio.sock", "/run/containerd/containerd.sock"}, want: "/run/containerd/containerd.sock"},
		{name: "k3s", sockets: []string{"/run/k3s/containerd/containerd.sock"}, want: "/run/k3s/containerd/containerd.sock"},
		{name: "crio", sockets: []string{"/run/crio/crio.sock"}, want: "/run/crio/crio.sock"},
		{name: "cri-dockerd through the /var/run symlink", sockets: []string{"/run/cri-dockerd.sock"}, want: "/run/cri-dockerd.sock", wantAddress: "/var/run/cri-dockerd.sock"},
		{name: "nothing: default and an error", want: "/run/containerd/containerd.sock", wantNoSocket: true},
		{name: "explicit tcp", explicit: "tcp://10.0.0.1:1", wantErr: "only unix sockets are supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := hostTree(t, tt.sockets, tt.kubeletConfig)
			t.Setenv("CONTAINER_RUNTIME_ENDPOINT", tt.env)
			got, err := DetectEndpoint(probes.NewFS(root), tt.explicit)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			var noSocket *NoSocketError
			if tt.wantNoSocket != errors.As(err, &noSocket) {
				t.Fatalf("error = %v, want NoSocketError: %v", err, tt.wantNoSocket)
			}
			if !tt.wantNoSocket && err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(root, tt.want); got.Socket != want {
				t.Errorf("socket = %q, want %q", got.Socket, want)
			}
			if want := "unix://" + tt.wantAddress; tt.wantAddress != "" && got.Address != want {
				t.Errorf("address = %q, want %q", got.Address, want)
			}
			if noSocket != nil {
				want := "no CRI socket found under host root " + root + " (tried /run/containerd/containerd.sock, /run/k3s/containerd/containerd.sock, /run/crio/crio.sock, /var/run/cri-dockerd.sock)"
				if err.Error() != want {
					t.Errorf("error = %q, want %q", err, want)
				}
			}
		})
	}
}
