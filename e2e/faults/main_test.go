package faults

import (
	"fmt"
	"os"
	"testing"

	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// agentBinary is the nodetriage binary built once for the package.
var agentBinary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e/faults: must run as root (mknod /dev/kmsg, tmpfs mounts, containerd)")
		return 1
	}
	dir, err := os.MkdirTemp("", "nodetriage-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if agentBinary, err = benchkit.BuildAgent(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return kubetest.Main(m)
}
