package hostchecks

import (
	"context"
	"fmt"
	"testing"

	"github.com/nodetriage/nodetriage/probes"
)

// BenchmarkContainerLogsCheck runs the check over a node with 2,000 pods of
// two containers each (10,000 directory entries), none oversized: the cost
// of one periodic run.
func BenchmarkContainerLogsCheck(b *testing.B) {
	root := b.TempDir()
	writeTestKubeletConfig(b, root, "10Mi")
	for i := range 2000 {
		for _, c := range []string{"app", "sidecar"} {
			writeTestPodLog(b, root, fmt.Sprintf("ns%d_pod-%d_uid-%d", i%20, i, i), c, "0.log", 100)
		}
	}
	check, err := ContainerLogsSpec().New(probes.Env{Host: probes.NewFS(root)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		findings, err := check.Check(context.Background())
		if err != nil || len(findings) != 0 {
			b.Fatalf("%v %v", findings, err)
		}
	}
}
