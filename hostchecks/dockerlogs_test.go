package hostchecks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/probes"
)

func TestParseDockerDaemonConfig(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantDriver  string
		wantMaxSize int64
		wantErr     string
	}{
		{name: "empty file", in: "", wantDriver: "json-file", wantMaxSize: -1},
		{name: "no log settings", in: `{"exec-opts":["native.cgroupdriver=systemd"]}`, wantDriver: "json-file", wantMaxSize: -1},
		{name: "json-file with max-size", in: `{"log-driver":"json-file","log-opts":{"max-size":"10m","max-file":"3"}}`, wantDriver: "json-file", wantMaxSize: 10 << 20},
		{name: "driver unset, max-size set", in: `{"log-opts":{"max-size":"100k"}}`, wantDriver: "json-file", wantMaxSize: 100 << 10},
		{name: "explicitly unlimited", in: `{"log-opts":{"max-size":"-1"}}`, wantDriver: "json-file", wantMaxSize: -1},
		{name: "local driver", in: `{"log-driver":"local"}`, wantDriver: "local", wantMaxSize: -1},
		{name: "not json", in: `{"log-driver": json-file}`, wantErr: "not valid JSON"},
		{name: "number where dockerd wants a string", in: `{"log-opts":{"max-file":3}}`, wantErr: "not valid JSON"},
		{name: "bad max-size", in: `{"log-opts":{"max-size":"ten megs"}}`, wantErr: `log-opts max-size: invalid size "ten megs"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseDockerDaemonConfig([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			maxSize, err := c.MaxSizeBytes()
			if err != nil || c.Driver() != tt.wantDriver || maxSize != tt.wantMaxSize || !c.Exists {
				t.Errorf("driver %q, max-size %d (%v), exists %v; want %q, %d", c.Driver(), maxSize, err, c.Exists, tt.wantDriver, tt.wantMaxSize)
			}
		})
	}
}

func TestParseDockerSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "1024", want: 1024},
		{in: "10k", want: 10 << 10},
		{in: "10K", want: 10 << 10},
		{in: "10m", want: 10 << 20},
		{in: "10mb", want: 10 << 20},
		{in: "10MiB", want: 10 << 20},
		{in: "1g", want: 1 << 30},
		{in: "1.5m", want: 3 << 19},
		{in: "2 g", want: 2 << 30},
		{in: "", wantErr: true},
		{in: "10x", wantErr: true},
		{in: "-5m", wantErr: true},
		{in: "m", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDockerSize(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseDockerSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseDockerContainerConfig(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    kubernetesContainerID
		wantOK  bool
		wantErr bool
	}{
		{
			name: "dockershim container",
			in: `{"ID":"abc","Config":{"Labels":{"io.kubernetes.pod.namespace":"shop","io.kubernetes.pod.name":"cart-1",` +
				`"io.kubernetes.container.name":"cart","io.kubernetes.pod.uid":"u1"}}}`,
			want: kubernetesContainerID{Namespace: "shop", Pod: "cart-1", Container: "cart"}, wantOK: true,
		},
		{name: "plain docker run", in: `{"ID":"abc","Config":{"Labels":{}}}`},
		{name: "no Config", in: `{"ID":"abc"}`},
		{name: "half labelled", in: `{"Config":{"Labels":{"io.kubernetes.pod.name":"x"}}}`, want: kubernetesContainerID{Pod: "x"}},
		{name: "garbage", in: `{"Config":`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := parseDockerContainerConfig([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if ok != tt.wantOK {
				t.Errorf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" && !tt.wantErr {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadDockerLogConfig(t *testing.T) {
	root := t.TempDir()
	host := probes.NewFS(root)
	c, err := readDockerLogConfig(host)
	if err != nil || c.Exists || c.Driver() != "json-file" {
		t.Fatalf("no daemon.json: %+v, %v; want json-file defaults", c, err)
	}
	p := filepath.Join(root, "etc/docker/daemon.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(`{"log-opts": {"max-size": "5m"`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readDockerLogConfig(host); err == nil || !strings.HasPrefix(err.Error(), "/etc/docker/daemon.json: not valid JSON") {
		t.Errorf("truncated daemon.json: %v, want an error naming /etc/docker/daemon.json", err)
	}
	if err := os.WriteFile(p, []byte(strings.Repeat(" ", dockerConfigMaxBytes+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readDockerLogConfig(host); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge daemon.json: %v, want a size error", err)
	}
}
