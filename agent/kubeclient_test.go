package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveNodeName(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatalf("hostname: %v", err)
	}
	tests := []struct {
		name     string
		flag     string
		env      string
		want     string
		wantErr  string
		unsetEnv bool
	}{
		{name: "flag wins", flag: "Node-1 ", env: "from-env", want: "node-1"},
		{name: "NODE_NAME next", env: " Worker-7\n", want: "worker-7"},
		{name: "hostname last", unsetEnv: true, want: strings.ToLower(strings.TrimSpace(host))},
		{name: "invalid name", flag: "bad_name", wantErr: `node name "bad_name" from --node-name is not a valid Node name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NODE_NAME", tt.env)
			if tt.unsetEnv {
				os.Unsetenv("NODE_NAME")
			}
			got, err := ResolveNodeName(tt.flag, os.Getenv, os.Hostname)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ResolveNodeName(%q) error = %v, want it to contain %q", tt.flag, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveNodeName(%q): %v", tt.flag, err)
			}
			if got != tt.want {
				t.Errorf("ResolveNodeName(%q) = %q, want %q", tt.flag, got, tt.want)
			}
		})
	}
}

func TestNewKubeClientErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("{not yaml: ["), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		kubeconfig  string
		serviceHost string
		want        string
	}{
		{name: "nothing configured", want: ErrNoKubeAPI.Error()},
		{name: "missing kubeconfig", kubeconfig: filepath.Join(dir, "nope"), want: "kubeconfig " + filepath.Join(dir, "nope") + ": "},
		{name: "corrupt kubeconfig", kubeconfig: garbage, want: "load kubeconfig " + garbage + ": "},
		// In a pod without the service-account token mount.
		{name: "in-cluster without token", serviceHost: "10.0.0.1", want: "in-cluster config: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KUBERNETES_SERVICE_HOST", tt.serviceHost)
			t.Setenv("KUBERNETES_SERVICE_PORT", "443")
			if tt.serviceHost == "" {
				os.Unsetenv("KUBERNETES_SERVICE_HOST")
			}
			_, _, err := NewKubeClient(tt.kubeconfig)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("NewKubeClient(%q) error = %v, want prefix %q", tt.kubeconfig, err, tt.want)
			}
			if tt.name == "nothing configured" && !errors.Is(err, ErrNoKubeAPI) {
				t.Errorf("error %v is not ErrNoKubeAPI", err)
			}
		})
	}
}
