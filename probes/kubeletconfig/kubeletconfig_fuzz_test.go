package kubeletconfig

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/nodetriage/nodetriage/internal/fuzzseed"
)

// FuzzParse: a kubelet config file either fails with a one-line error or
// yields a Config with every default applied and a log size the checks can
// use (-1 or a byte count), which written back as a KubeletConfiguration
// reads the same.
//
// The seed corpus (testdata/fuzz/FuzzParse) holds real configs: kubeadm's
// generated file, an EKS JSON file and the fixtures of the hostchecks tests.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Parse(data)
		if err != nil {
			fuzzseed.RequireOneLine(t, "parse", data, err)
			return
		}
		if got.ImageGCHighThresholdPercent == 0 || got.ImageGCLowThresholdPercent == 0 || got.ContainerLogMaxSize == "" ||
			got.ContainerLogMaxFiles == 0 || got.HairpinMode == "" {
			t.Fatalf("defaults not applied: %+v from %q", got, data)
		}
		if got.ContainerLogMaxBytes < -1 {
			t.Fatalf("containerLogMaxSize %q read as %d bytes", got.ContainerLogMaxSize, got.ContainerLogMaxBytes)
		}
		kc := kubeletv1beta1.KubeletConfiguration{
			ImageGCHighThresholdPercent: ptr.To(int32(got.ImageGCHighThresholdPercent)),
			ImageGCLowThresholdPercent:  ptr.To(int32(got.ImageGCLowThresholdPercent)),
			ContainerLogMaxSize:         got.ContainerLogMaxSize,
			ContainerLogMaxFiles:        ptr.To(int32(got.ContainerLogMaxFiles)),
			HairpinMode:                 got.HairpinMode,
			ContainerRuntimeEndpoint:    got.ContainerRuntimeEndpoint,
		}
		kc.Kind, kc.APIVersion = "KubeletConfiguration", kubeletv1beta1.SchemeGroupVersion.String()
		again, err := yaml.Marshal(kc)
		if err != nil {
			t.Fatalf("marshal %+v: %v", kc, err)
		}
		back, err := Parse(again)
		if err != nil {
			t.Fatalf("written back as %q: %v", again, err)
		}
		if diff := cmp.Diff(got, back); diff != "" {
			t.Fatalf("%q written back as %q (-first +again):\n%s", data, again, diff)
		}
	})
}
