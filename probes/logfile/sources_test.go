package logfile

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/probes"
)

// TestSourcesFollowTheFiles: a source is delivered while one of its files
// exists, whether or not the stream runs.
func TestSourcesFollowTheFiles(t *testing.T) {
	h := newHost(t)
	s := newStream(t, h.env(""), probes.StreamOptions{Follow: true})
	const proxyPodLog = "/var/log/pods/kube-system_kube-proxy-x7k2p_0b9c/kube-proxy/0.log"
	steps := []struct {
		name string
		do   func()
		want []probes.Source
	}{
		{name: "no log files", do: func() {}},
		{name: "a directory where kubelet.log should be", do: func() {
			if err := os.MkdirAll(h.path("/var/log/kubelet.log"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "the kube-proxy pod log appears", do: func() { h.appendLines(proxyPodLog, "2026-11-22T08:00:00.000000000Z stderr F started") },
			want: []probes.Source{probes.SourceKubeProxy}},
		{name: "kubelet.log appears", do: func() {
			if err := os.Remove(h.path("/var/log/kubelet.log")); err != nil {
				t.Fatal(err)
			}
			h.appendLines("/var/log/kubelet.log", "I1122 08:00:00.000000 1 server.go:1] started")
		}, want: []probes.Source{probes.SourceKubelet, probes.SourceKubeProxy}},
		{name: "kube-proxy.log as well counts kube-proxy once", do: func() { h.appendLines("/var/log/kube-proxy.log", "started") },
			want: []probes.Source{probes.SourceKubelet, probes.SourceKubeProxy}},
		{name: "the kube-proxy logs go away", do: func() {
			for _, p := range []string{proxyPodLog, "/var/log/kube-proxy.log"} {
				if err := os.Remove(h.path(p)); err != nil {
					t.Fatal(err)
				}
			}
		}, want: []probes.Source{probes.SourceKubelet}},
	}
	for _, step := range steps {
		step.do()
		if diff := cmp.Diff(step.want, s.Sources()); diff != "" {
			t.Errorf("%s: Sources (-want +got):\n%s", step.name, diff)
		}
	}
}

func TestSourcesOfConfiguredFiles(t *testing.T) {
	h := newHost(t)
	h.appendLines("/var/log/crio.log", "started")
	s := newStream(t, h.env(`{"files":[{"path":"/var/log/crio.log","source":"crio"},{"path":"/var/log/kubelet.log","source":"kubelet"}]}`), probes.StreamOptions{})
	if diff := cmp.Diff([]probes.Source{probes.SourceCRIO}, s.Sources()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
