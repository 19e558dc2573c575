package benchkit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// HostRoot is a fixture host tree for `nodetriage run --host-root`: only
// what a test puts there exists, so the agent reads nothing of the real
// host except what is linked in on purpose (the kmsg device, the boot ID).
type HostRoot struct {
	Dir string
}

// MachineID names the fixture's journal subdirectory.
const MachineID = "6e6f64657472696167656661756c7473"

// NewHostRoot creates the tree with the real boot ID (so kernel lines and
// the agent agree on the boot).
func NewHostRoot(dir string) (*HostRoot, error) {
	h := &HostRoot{Dir: dir}
	bootID, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return nil, fmt.Errorf("read the boot ID: %w", err)
	}
	if err := h.WriteFile("/proc/sys/kernel/random/boot_id", bootID); err != nil {
		return nil, err
	}
	if err := h.WriteFile("/etc/machine-id", []byte(MachineID+"\n")); err != nil {
		return nil, err
	}
	return h, nil
}

// Path is where a host path lives in the fixture.
func (h *HostRoot) Path(hostPath string) string {
	return filepath.Join(h.Dir, filepath.Clean("/"+hostPath))
}

// WriteFile replaces a host file atomically (write and rename), so the
// agent never reads half a file.
func (h *HostRoot) WriteFile(hostPath string, data []byte) error {
	p := h.Path(hostPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+filepath.Base(p)+"-")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// AppendFile appends to a host file, creating it.
func (h *HostRoot) AppendFile(hostPath string, data []byte) error {
	p := h.Path(hostPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// conntrackStatHeader is the column line of /proc/net/stat/nf_conntrack
// on kernels since 5.x.
const conntrackStatHeader = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart"

// SetConntrack writes the conntrack table files the conntrack check reads:
// nf_conntrack_count and _max, a two-CPU stat file with drop and early_drop
// at drops, and an (empty) /usr/sbin/conntrack so the binary is found.
func (h *HostRoot) SetConntrack(count, max, drops uint64) error {
	if err := h.WriteFile("/proc/sys/net/netfilter/nf_conntrack_count", fmt.Appendf(nil, "%d\n", count)); err != nil {
		return err
	}
	if err := h.WriteFile("/proc/sys/net/netfilter/nf_conntrack_max", fmt.Appendf(nil, "%d\n", max)); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(conntrackStatHeader + "\n")
	for range 2 {
		fmt.Fprintf(&b, "%08x  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 %08x %08x 00000000  00000000 00000000 00000000 00000000\n", count, drops, drops)
	}
	if err := h.WriteFile("/proc/net/stat/nf_conntrack", []byte(b.String())); err != nil {
		return err
	}
	bin := h.Path("/usr/sbin/conntrack")
	if _, err := os.Stat(bin); err != nil {
		if err := h.WriteFile("/usr/sbin/conntrack", nil); err != nil {
			return err
		}
		return os.Chmod(bin, 0o755)
	}
	return nil
}

// AddKmsgDevice makes the fixture's /dev/kmsg the real kernel log device
// (character device 1:11), so the kmsg stream reads the machine's kernel
// log while everything else stays fixture.
func (h *HostRoot) AddKmsgDevice() error {
	p := h.Path("/dev/kmsg")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 11))); err != nil && !os.IsExist(err) {
		return fmt.Errorf("mknod %s c 1 11: %w", p, err)
	}
	return nil
}

// JournalDir is the fixture's persistent journal directory for MachineID,
// created empty.
func (h *HostRoot) JournalDir() (string, error) {
	dir := h.Path("/var/log/journal/" + MachineID)
	return dir, os.MkdirAll(dir, 0o755)
}
