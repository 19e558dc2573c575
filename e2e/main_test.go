package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// built is the nodetriage binary TestMain builds once for the package run.
var built struct {
	path string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nodetriage-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: temp dir for the binary: %v\n", err)
		os.Exit(1)
	}
	built.path, built.err = buildNodetriage(dir)
	code := kubetest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildNodetriage builds ./cmd/nodetriage into dir with cgo on, as the
// Makefile does (the journal source dlopens libsystemd through cgo).
func buildNodetriage(dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go toolchain not on PATH (install Go 1.26 under /usr/local/go): %w", err)
	}
	out := filepath.Join(dir, "nodetriage")
	cmd := exec.Command(goBin, "build", "-o", out, "github.com/nodetriage/nodetriage/cmd/nodetriage")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/nodetriage (needs gcc and libsystemd-dev): %v\n%s", err, msg)
	}
	return out, nil
}

// nodetriageBinary returns the binary TestMain built, or fails the test
// with the build error.
func nodetriageBinary(t testing.TB) string {
	t.Helper()
	if built.err != nil {
		t.Fatalf("nodetriage binary: %v", built.err)
	}
	return built.path
}
