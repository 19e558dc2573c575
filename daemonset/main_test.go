package daemonset

import (
	"os"
	"testing"

	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// One API server for the package's integration tests, which keep to their
// own Node names. Privileged pods are allowed, as in any cluster that runs
// node agents (kubeadm sets it), so the kmsg overlay can be dry-run.
func TestMain(m *testing.M) {
	os.Exit(kubetest.Main(m, kubetest.WithAPIServerFlags("--allow-privileged=true")))
}
