package benchkit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RepoRoot walks up from the working directory to the module root (the
// directory holding go.mod and cmd/nodetriage).
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		_, modErr := os.Stat(filepath.Join(dir, "go.mod"))
		_, cmdErr := os.Stat(filepath.Join(dir, "cmd", "nodetriage"))
		if modErr == nil && cmdErr == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod with cmd/nodetriage above %s", wd)
		}
	}
}

// BuildAgent builds the nodetriage binary into dir with cgo on, as the
// Makefile does (the journal reader needs it), and returns its path.
func BuildAgent(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	linked := filepath.Join(dir, "nodetriage.linked")
	cmd := exec.Command("go", "build", "-trimpath", "-o", linked, "./cmd/nodetriage")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/nodetriage: %w\n%s", err, out)
	}
	// The linker writes its output through mmap, which leaves the file in
	// the page cache in large folios: a process started from it then maps
	// about 20 MiB more of the executable than one started from a copied,
	// downloaded or cold file (49 vs 70 MiB RSS here, all of it in RssFile).
	// Copying gives the figure a node would see.
	bin := filepath.Join(dir, "nodetriage")
	if err := copyFile(linked, bin); err != nil {
		return "", err
	}
	return bin, os.Remove(linked)
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return dst.Close()
}

// GitCommit is the commit the tree is at, with "-dirty" when it has
// uncommitted changes, for reports.
func GitCommit() string {
	root, err := RepoRoot()
	if err != nil {
		return "unknown"
	}
	out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty", "--abbrev=12").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// RequireFile fails with what to install when a prerequisite binary is
// missing.
func RequireFile(path, install string) error {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s is missing: %s", path, install)
		}
		return err
	}
	return nil
}
