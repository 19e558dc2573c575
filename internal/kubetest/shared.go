package kubetest

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// shared is the one cluster a test package shares through Main and Shared.
var shared struct {
	mu      sync.Mutex
	inMain  bool
	opts    []Option
	cluster *Cluster
	err     error
}

// Main runs the package's tests and then stops the shared cluster, if any
// test asked for it through Shared. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
//
// The cluster is started lazily, so running only unit tests (-run) starts
// nothing. When a test failed, the end of both logs goes to stderr.
func Main(m *testing.M, opts ...Option) int {
	shared.mu.Lock()
	shared.inMain = true
	shared.opts = opts
	shared.mu.Unlock()

	code := m.Run()

	shared.mu.Lock()
	defer shared.mu.Unlock()
	if c := shared.cluster; c != nil {
		c.Stop()
		if code != 0 {
			fmt.Fprintf(os.Stderr, "kubetest: shared cluster logs:\n%s\n", c.logTails())
		}
		os.RemoveAll(c.Dir)
	}
	return code
}

// Shared returns the package's shared cluster, starting it on first use.
// Tests sharing it must not stop it (StopAPIServer and friends refuse) and
// must keep to their own object names (distinct Node names, namespaces).
// It needs TestMain to call Main, which stops the cluster at the end.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("kubetest.Shared needs `func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }` in the package")
	}
	if shared.cluster == nil && shared.err == nil {
		dir, err := os.MkdirTemp("", "kubetest-shared-")
		if err != nil {
			shared.err = fmt.Errorf("temp dir: %w", err)
		} else {
			c, err := start(dir, t.Logf, shared.opts)
			if c != nil {
				c.shared = true
				shared.cluster = c
			}
			if err != nil {
				shared.err = err
			}
			if c == nil {
				os.RemoveAll(dir)
			}
		}
	}
	if shared.err != nil {
		t.Fatalf("kubetest: shared cluster: %v", shared.err)
	}
	return shared.cluster
}
