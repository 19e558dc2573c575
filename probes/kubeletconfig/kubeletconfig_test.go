package kubeletconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"

	"github.com/nodetriage/nodetriage/probes"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Config
		wantErr bool
	}{
		{
			name: "empty file is all defaults",
			in:   "",
			want: Config{ImageGCHighThresholdPercent: 85, ImageGCLowThresholdPercent: 80, ContainerLogMaxSize: "10Mi",
				ContainerLogMaxBytes: 10 << 20, ContainerLogMaxFiles: 5, HairpinMode: "promiscuous-bridge"},
		},
		{
			name: "kubeadm style yaml",
			in: `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
imageGCHighThresholdPercent: 70
imageGCLowThresholdPercent: 60
containerLogMaxSize: 50Mi
containerLogMaxFiles: 3
hairpinMode: hairpin-veth
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
someFutureField: true
`,
			want: Config{ImageGCHighThresholdPercent: 70, ImageGCLowThresholdPercent: 60, ContainerLogMaxSize: "50Mi",
				ContainerLogMaxBytes: 50 << 20, ContainerLogMaxFiles: 3, HairpinMode: "hairpin-veth",
				ContainerRuntimeEndpoint: "unix:///run/containerd/containerd.sock"},
		},
		{
			name: "EKS json, rotation disabled",
			in:   `{"kind":"KubeletConfiguration","containerLogMaxSize":"-1"}`,
			want: Config{ImageGCHighThresholdPercent: 85, ImageGCLowThresholdPercent: 80, ContainerLogMaxSize: "-1",
				ContainerLogMaxBytes: -1, ContainerLogMaxFiles: 5, HairpinMode: "promiscuous-bridge"},
		},
		{name: "wrong kind", in: "kind: Pod\n", wantErr: true},
		{name: "bad quantity", in: "containerLogMaxSize: tenmegs\n", wantErr: true},
		{name: "not yaml", in: "{{{", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Parse() = %+v, want error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	root := t.TempDir()
	host := probes.NewFS(root)

	got, err := Load(host)
	if err != nil {
		t.Fatalf("Load() with no file: %v", err)
	}
	if diff := cmp.Diff(Defaults(), got); diff != "" {
		t.Errorf("Load() with no file (-want +got):\n%s", diff)
	}

	dir := filepath.Join(root, "etc/kubernetes/kubelet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kubelet-config.json"), []byte(`{"imageGCHighThresholdPercent":90}`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = Load(host)
	if err != nil {
		t.Fatalf("Load(): %v", err)
	}
	if got.Path != "/etc/kubernetes/kubelet/kubelet-config.json" || got.ImageGCHighThresholdPercent != 90 {
		t.Errorf("Load() = %+v, want the EKS file with high threshold 90", got)
	}

	if err := os.WriteFile(filepath.Join(dir, "kubelet-config.json"), []byte(`{"kind":7}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(host); err == nil {
		t.Error("Load() of a corrupt file: want an error naming it")
	}
}

// The subset must decode the same fields, with the same names and types, as
// the kubelet's own type.
func TestFieldsMatchKubeletConfiguration(t *testing.T) {
	upstream := reflect.TypeFor[kubeletv1beta1.KubeletConfiguration]()
	ours := reflect.TypeFor[kubeletConfigurationFields]()
	for i := range ours.NumField() {
		f := ours.Field(i)
		if f.Name == "Kind" {
			continue // from the inlined TypeMeta
		}
		u, ok := upstream.FieldByName(f.Name)
		if !ok {
			t.Errorf("KubeletConfiguration has no field %s", f.Name)
			continue
		}
		if f.Type != u.Type || f.Tag.Get("json") != u.Tag.Get("json") {
			t.Errorf("field %s: ours %s `json:%q`, kubelet's %s `json:%q`", f.Name, f.Type, f.Tag.Get("json"), u.Type, u.Tag.Get("json"))
		}
	}
}
