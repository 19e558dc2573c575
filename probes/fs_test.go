package probes

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFSResolvesAbsoluteSymlinksInsideRoot(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "run/containerd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "var"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "run/containerd/marker"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	// On the host, /var/run -> /run. Followed naively it would leave the root.
	if err := os.Symlink("/run", filepath.Join(root, "var/run")); err != nil {
		t.Fatal(err)
	}
	host := NewFS(root)
	got, err := host.ReadFile("/var/run/containerd/marker")
	if err != nil {
		t.Fatalf("ReadFile through absolute symlink: %v", err)
	}
	if string(got) != "host" {
		t.Errorf("ReadFile = %q, want %q", got, "host")
	}
	if target, err := host.Readlink("/var/run"); err != nil || target != "/run" {
		t.Errorf("Readlink = %q, %v; want /run", target, err)
	}
	fi, err := host.Lstat("/var/run")
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("Lstat(/var/run) = %v, %v; want a symlink", fi, err)
	}
	matches, err := host.Glob("/run/*/marker")
	if err != nil || len(matches) != 1 || matches[0] != "/run/containerd/marker" {
		t.Errorf("Glob = %v, %v; want [/run/containerd/marker]", matches, err)
	}
	if _, err := host.Statfs("/var/run/containerd"); err != nil {
		t.Errorf("Statfs: %v", err)
	}
}

func TestUsagePercent(t *testing.T) {
	u := Usage{TotalBytes: 100, FreeBytes: 20, AvailBytes: 10, Inodes: 10, InodesFree: 1}
	if got := u.UsedPercent(); got < 88.8 || got > 88.9 { // 80/(80+10)
		t.Errorf("UsedPercent = %v, want 88.9 (df's used/(used+avail))", got)
	}
	if got := u.InodesUsedPercent(); got != 90 {
		t.Errorf("InodesUsedPercent = %v, want 90", got)
	}
	if got := (Usage{}).InodesUsedPercent(); got != 0 {
		t.Errorf("InodesUsedPercent of a filesystem without inodes = %v, want 0", got)
	}
}
