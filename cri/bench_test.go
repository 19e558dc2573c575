package cri

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nodetriage/nodetriage/internal/containerdtest"
	"github.com/nodetriage/nodetriage/probes"
)

// BenchmarkChecksRealContainerd measures what one run of each check costs
// against the real containerd: wall time per run (ns/op) and CRI/containerd
// RPCs per run (rpcs/op). The node holds one pod with a running and an
// exited container, the sandbox image unpinned on a nearly empty image
// filesystem (the common, healthy case).
//
//	go test -run '^$' -bench ChecksRealContainerd -benchtime 200x ./cri/
func BenchmarkChecksRealContainerd(b *testing.B) {
	imgs := containerdtest.BuildTestImages(b)
	hostRoot, err := os.MkdirTemp("", "h-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(hostRoot) })
	ctrd := containerdtest.Start(b, containerdtest.Options{
		Address: filepath.Join(hostRoot, "run/containerd/containerd.sock"),
		Root:    filepath.Join(hostRoot, "var/lib/containerd"),
	})
	ctrd.ImportTestImages(b, imgs)
	pod := ctrd.RunPod(b, "default", "bench")
	ctrd.RunContainer(b, pod, containerdtest.ContainerSpec{Name: "sleeper", Args: []string{"sleep"}})
	exited := ctrd.RunContainer(b, pod, containerdtest.ContainerSpec{Name: "oneshot", Args: []string{"exit", "0"}})
	ctrd.WaitExited(b, exited, 30*time.Second)

	client, err := Dial(ctrd.Endpoint())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	env := probes.Env{
		Host:     probes.NewFS(hostRoot),
		Runtime:  client,
		NodeName: "node-a",
		Node:     nodeWithKubelet("v1.31.2"),
	}
	for _, spec := range Specs() {
		b.Run(spec.Name, func(b *testing.B) {
			env := env
			env.Settings.Path = "checks." + spec.Name + ".settings"
			check, err := spec.New(env)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := check.Check(b.Context()); err != nil { // warm: first ContainerStatus reads
				b.Fatal(err)
			}
			before, runs := client.Calls(), 0
			for b.Loop() {
				if _, err := check.Check(b.Context()); err != nil {
					b.Fatal(err)
				}
				runs++
			}
			b.ReportMetric(float64(client.Calls()-before)/float64(runs), "rpcs/op")
		})
	}
	b.Run("oom-resolver", func(b *testing.B) {
		ctrs, err := client.ListContainers(b.Context(), &runtimeapi.ContainerFilter{Id: exited})
		if err != nil || len(ctrs) != 1 {
			b.Fatalf("list %s: %v %v", exited, ctrs, err)
		}
		resolve := NewOOMResolver(client)
		memcg := ctrd.CgroupParent(pod.UID) + "/" + exited
		before, runs := client.Calls(), 0
		for b.Loop() {
			f := &probes.Finding{Reason: ReasonOOMKilling, Message: "m", Evidence: map[string]string{"memcg": memcg, "pid": "1", "comm": "x"}}
			resolve(b.Context(), f)
			if f.Subject != "default/bench/oneshot" {
				b.Fatalf("resolved to %q", f.Subject)
			}
			runs++
		}
		b.ReportMetric(float64(client.Calls()-before)/float64(runs), "rpcs/op")
	})
}
