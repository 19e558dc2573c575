package probes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// FS is the host's filesystem seen through the injected host root (--host-root,
// /host in the DaemonSet, a fixture tree in tests). Every host path a check
// reads goes through it. Names are host paths ("/proc/cgroups"); symlinks are
// resolved as if the host root were "/" so an absolute link on the host
// (/var/run -> /run) stays inside the host root.
//
// We use cyphar/filepath-securejoin (runc's resolver) rather than os.Root:
// os.Root refuses absolute symlinks, which host trees are full of.
type FS struct {
	root string
	// statfs is replaceable for unit tests of pure threshold logic; nil means
	// the real statfs(2).
	statfs func(path string) (Usage, error)
}

// NewFS returns the host filesystem rooted at root ("/" for the local host).
// A relative root is made absolute: the resolver refuses roots with "..".
func NewFS(root string) FS {
	if root == "" {
		root = "/"
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	return FS{root: filepath.Clean(root)}
}

// hostErr rewrites the path in a filesystem error from the local path under
// the root to the host path, so messages name what the operator sees on the
// node (/var/lib/kubelet/config.yaml, not /host/var/lib/kubelet/config.yaml).
func (fsys FS) hostErr(err error) error {
	var pe *fs.PathError
	if fsys.root != "/" && errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: fsys.HostPath(pe.Path), Err: pe.Err}
	}
	return err
}

// WithStatfs returns a copy of fsys whose Statfs answers from fn. Tests only.
func (fsys FS) WithStatfs(fn func(hostPath string) (Usage, error)) FS {
	fsys.statfs = fn
	return fsys
}

// Root is the host root directory.
func (fsys FS) Root() string { return fsys.root }

// Path resolves a host path to a path on this machine, following symlinks
// inside the host root.
func (fsys FS) Path(name string) (string, error) {
	if fsys.root == "/" {
		return filepath.Clean("/" + name), nil
	}
	p, err := securejoin.SecureJoin(fsys.root, name)
	if err != nil {
		return "", fmt.Errorf("resolve %s under host root %s: %w", name, fsys.root, err)
	}
	return p, nil
}

// ReadFile reads a whole host file in one call.
func (fsys FS) ReadFile(name string) ([]byte, error) {
	p, err := fsys.Path(name)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	return data, fsys.hostErr(err)
}

// Open opens a host file for reading. The file's Name() is the local path.
func (fsys FS) Open(name string) (*os.File, error) {
	p, err := fsys.Path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	return f, fsys.hostErr(err)
}

// Stat follows symlinks (inside the host root).
func (fsys FS) Stat(name string) (fs.FileInfo, error) {
	p, err := fsys.Path(name)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	return fi, fsys.hostErr(err)
}

// Lstat does not follow a final symlink.
func (fsys FS) Lstat(name string) (fs.FileInfo, error) {
	dir, base := filepath.Split(filepath.Clean("/" + name))
	p, err := fsys.Path(dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(filepath.Join(p, base))
	return fi, fsys.hostErr(err)
}

// Readlink returns a host symlink's target as written on the host.
func (fsys FS) Readlink(name string) (string, error) {
	dir, base := filepath.Split(filepath.Clean("/" + name))
	p, err := fsys.Path(dir)
	if err != nil {
		return "", err
	}
	target, err := os.Readlink(filepath.Join(p, base))
	return target, fsys.hostErr(err)
}

// ReadDir lists a host directory, sorted by name.
func (fsys FS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := fsys.Path(name)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(p)
	return entries, fsys.hostErr(err)
}

// Glob matches a host path pattern (filepath.Match syntax) and returns host
// paths.
func (fsys FS) Glob(pattern string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(fsys.root, filepath.Clean("/"+pattern)))
	if err != nil {
		return nil, fmt.Errorf("glob %s: %w", pattern, err)
	}
	for i, m := range matches {
		matches[i] = fsys.HostPath(m)
	}
	return matches, nil
}

// HostPath turns a path on this machine back into the host path it shows
// (the inverse of Path for paths under the root).
func (fsys FS) HostPath(local string) string {
	if fsys.root == "/" {
		return local
	}
	rel, err := filepath.Rel(fsys.root, local)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return local
	}
	return filepath.Clean("/" + rel)
}

// Usage is what statfs(2) says about the filesystem holding a path.
type Usage struct {
	// TotalBytes, FreeBytes (for root) and AvailBytes (for everyone else).
	TotalBytes, FreeBytes, AvailBytes uint64
	Inodes, InodesFree                uint64
	// Type is the filesystem magic number (f_type).
	Type int64
	// ID is f_fsid, to tell filesystems apart.
	ID [2]int32
}

// UsedBytes is total minus free.
func (u Usage) UsedBytes() uint64 { return u.TotalBytes - u.FreeBytes }

// UsedPercent is used/(used+avail), the figure df(1) prints, in 0..100.
func (u Usage) UsedPercent() float64 {
	used := u.UsedBytes()
	if used+u.AvailBytes == 0 {
		return 0
	}
	return 100 * float64(used) / float64(used+u.AvailBytes)
}

// InodesUsedPercent is the share of inodes in use, 0..100; 0 when the
// filesystem has no inode limit (btrfs, some tmpfs).
func (u Usage) InodesUsedPercent() float64 {
	if u.Inodes == 0 {
		return 0
	}
	return 100 * float64(u.Inodes-u.InodesFree) / float64(u.Inodes)
}

// Statfs reports usage of the filesystem holding the host path.
func (fsys FS) Statfs(name string) (Usage, error) {
	if fsys.statfs != nil {
		return fsys.statfs(name)
	}
	p, err := fsys.Path(name)
	if err != nil {
		return Usage{}, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return Usage{}, &fs.PathError{Op: "statfs", Path: fsys.HostPath(p), Err: err}
	}
	bsize := uint64(st.Bsize)
	return Usage{
		TotalBytes: st.Blocks * bsize,
		FreeBytes:  st.Bfree * bsize,
		AvailBytes: st.Bavail * bsize,
		Inodes:     st.Files,
		InodesFree: st.Ffree,
		Type:       st.Type,
		ID:         st.Fsid.Val,
	}, nil
}
