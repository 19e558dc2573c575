package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Most of the agent's idle RSS is its own executable's pages
// (docs/benchmarks.md), and these packages once doubled the executable for a
// handful of calls. The test keeps them out of the binary.
func TestBinaryLeavesOutHeavyPackages(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the binary's packages: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	heavy := []struct{ prefix, why string }{
		{"k8s.io/client-go/kubernetes", "client-go's typed clientset registers every API group at start-up; the agent uses agent.KubeAPI"},
		{"k8s.io/client-go/informers", "informers pull in the typed clientset"},
		{"k8s.io/client-go/applyconfigurations", "apply configurations for every API type"},
		{"k8s.io/component-base/", "component-base's logging, tracing, feature-gate and metrics registries"},
		{"k8s.io/kubelet/", "the kubelet's config types link component-base; probes/kubeletconfig decodes the fields it needs"},
		{"github.com/containerd/containerd/v2", "containerd's client; use its generated API (github.com/containerd/containerd/api)"},
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 100 {
		t.Fatalf("go list -deps listed %d packages; want the binary's whole dependency list", len(pkgs))
	}
	for _, p := range pkgs {
		// containerd's client package and everything under it except the
		// generated API.
		if p == "github.com/containerd/containerd" || (strings.HasPrefix(p, "github.com/containerd/containerd/") && !strings.HasPrefix(p, "github.com/containerd/containerd/api/")) {
			t.Errorf("the agent links %s: containerd's client; use its generated API (github.com/containerd/containerd/api)", p)
		}
		for _, h := range heavy {
			if strings.HasPrefix(p, h.prefix) {
				t.Errorf("the agent links %s: %s", p, h.why)
			}
		}
	}
}
