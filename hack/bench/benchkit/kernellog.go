package benchkit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// KernelLog makes the running kernel itself write records to its log, so a
// storm arrives with facility kern (0) like a real kernel storm and goes
// through the agent's kernel rules. A write to /dev/kmsg cannot do that:
// the kernel stamps every user-space record with facility user, and the
// agent never lets those fire a kernel rule.
//
// It owns a scratch ext4 filesystem on a loop device under its directory,
// mounted errors=continue with the filesystem's own error, warning and
// message rate limits (/sys/fs/ext4/<dev>/*_ratelimit_interval_ms) off:
//
//   - Chatter(n): a remount with an option ext4 does not know. The kernel
//     logs one record, "ext4: Unknown parameter 'nodetriage_storm_<n>'",
//     which no rule matches.
//   - Fault(): a lookup in a directory whose first block was zeroed while the
//     filesystem was unmounted. ext4 logs two records, "EXT4-fs warning
//     (device loopN): ext4_dirblock_csum_verify…" and "EXT4-fs error (device
//     loopN): __ext4_find_entry…", which the ext4-warning and ext4-error
//     rules match.
//
// NewKernelLog checks both on the real /dev/kmsg before it returns: that
// each call logs exactly RecordsPerChatter or RecordsPerFault records, all
// with facility kern.
//
// Both kinds are logged at KERN_ERR or more urgent, and the kernel also
// prints every record below the console log level on the console. Where the
// console is a serial port (a VM's ttyS0, as on this machine) that caps
// such records at a few hundred a second (460/s measured here), so
// NewKernelLog lowers the console log level to 1 (emergencies only) and
// Close restores it. That is the one machine-wide setting it changes; the
// kernel log itself is flooded, as by any storm.
type KernelLog struct {
	image, mnt, dev string
	// printk is /proc/sys/kernel/printk as it was, restored by Close.
	printk string
}

// RecordsPerChatter and RecordsPerFault are the kernel records one call
// logs (checked by NewKernelLog).
const (
	RecordsPerChatter = 1
	RecordsPerFault   = 2
)

const printkPath = "/proc/sys/kernel/printk"

// NewKernelLog makes the filesystem under dir (which must exist) and lowers
// the console log level. It needs root, mkfs.ext4 and debugfs (e2fsprogs)
// and mount (util-linux).
func NewKernelLog(dir string) (_ *KernelLog, err error) {
	for _, tool := range []string{"mkfs.ext4", "debugfs", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found: apt-get install e2fsprogs mount", tool)
		}
	}
	k := &KernelLog{image: filepath.Join(dir, "ext4.img"), mnt: filepath.Join(dir, "mnt")}
	defer func() {
		if err != nil {
			k.Close()
		}
	}()
	if err := os.Mkdir(k.mnt, 0o755); err != nil {
		return nil, err
	}
	if err := runTool("truncate", "-s", "32M", k.image); err != nil {
		return nil, err
	}
	if err := runTool("mkfs.ext4", "-q", "-F", "-O", "metadata_csum", k.image); err != nil {
		return nil, err
	}
	// A directory with a few entries, so its first block is a real leaf
	// block; then zero that block behind the filesystem's back.
	if err := k.mount(); err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(k.mnt, "d"), 0o755); err != nil {
		return nil, err
	}
	for i := range 4 {
		if err := os.WriteFile(filepath.Join(k.mnt, "d", "f"+strconv.Itoa(i)), nil, 0o644); err != nil {
			return nil, err
		}
	}
	if err := k.unmount(); err != nil {
		return nil, err
	}
	if err := runTool("debugfs", "-w", "-R", "zap_block -f /d 0", k.image); err != nil {
		return nil, err
	}
	if err := k.mount(); err != nil {
		return nil, err
	}
	sysfs := "/sys/fs/ext4/" + filepath.Base(k.dev)
	for _, knob := range []string{"err_ratelimit_interval_ms", "warning_ratelimit_interval_ms", "msg_ratelimit_interval_ms"} {
		if err := os.WriteFile(filepath.Join(sysfs, knob), []byte("0"), 0); err != nil {
			return nil, fmt.Errorf("turn off the ext4 rate limit: %w", err)
		}
	}
	old, err := os.ReadFile(printkPath)
	if err != nil {
		return nil, err
	}
	k.printk = strings.Join(strings.Fields(string(old)), " ")
	if err := os.WriteFile(printkPath, []byte("1"), 0); err != nil {
		return nil, fmt.Errorf("lower the console log level: %w", err)
	}
	if err := k.selfCheck(); err != nil {
		return nil, err
	}
	return k, nil
}

// Chatter makes the kernel log one record no rule matches; n is written
// into it.
func (k *KernelLog) Chatter(n int) error {
	err := unix.Mount(k.dev, k.mnt, "ext4", unix.MS_REMOUNT, "nodetriage_storm_"+strconv.Itoa(n))
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("remount %s with an unknown option: want EINVAL, got %v", k.mnt, err)
	}
	return nil
}

// Fault makes ext4 log an error and a warning about the corrupt directory.
func (k *KernelLog) Fault() error {
	var st unix.Stat_t
	err := unix.Stat(filepath.Join(k.mnt, "d", "x"), &st)
	// ext4's EFSBADCRC is EBADMSG, its EFSCORRUPTED EUCLEAN.
	if !errors.Is(err, unix.EBADMSG) && !errors.Is(err, unix.EUCLEAN) && !errors.Is(err, unix.EIO) {
		return fmt.Errorf("look up in the corrupt directory: want EBADMSG (bad checksum) or EUCLEAN (corruption), got %v", err)
	}
	return nil
}

// Close unmounts the filesystem (which frees its loop device) and restores
// the console log level. It is safe to call more than once.
func (k *KernelLog) Close() error {
	var errs []error
	if k.printk != "" {
		errs = append(errs, os.WriteFile(printkPath, []byte(k.printk), 0))
		k.printk = ""
	}
	if k.dev != "" {
		errs = append(errs, k.unmount())
	}
	return errors.Join(errs...)
}

func (k *KernelLog) mount() error {
	if err := runTool("mount", "-o", "loop,errors=continue", k.image, k.mnt); err != nil {
		return err
	}
	out, err := exec.Command("findmnt", "-n", "-o", "SOURCE", k.mnt).Output()
	if err != nil {
		return fmt.Errorf("findmnt %s: %w", k.mnt, err)
	}
	k.dev = strings.TrimSpace(string(out))
	return nil
}

func (k *KernelLog) unmount() error {
	if err := runTool("umount", k.mnt); err != nil {
		return err
	}
	k.dev = ""
	return nil
}

// selfCheck makes one chatter and one fault while reading the real
// /dev/kmsg from its end, and checks what the kernel logged.
func (k *KernelLog) selfCheck() error {
	// A raw descriptor: an *os.File opened O_NONBLOCK would wait in Go's
	// poller on EAGAIN instead of returning it.
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/kmsg: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil { // only what follows
		return fmt.Errorf("seek /dev/kmsg: %w", err)
	}
	const marker = -1
	if err := k.Chatter(marker); err != nil {
		return err
	}
	if err := k.Fault(); err != nil {
		return err
	}
	var chatter, faults int
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if errors.Is(err, unix.EPIPE) {
			continue // overwritten by someone else's storm; read on
		}
		if err != nil {
			return fmt.Errorf("read /dev/kmsg: %w", err)
		}
		rec := buf[:n]
		header, msg, ok := bytes.Cut(rec, []byte(";"))
		if !ok {
			continue
		}
		prio, _, _ := bytes.Cut(header, []byte(","))
		p, _ := strconv.Atoi(string(prio))
		mine := false
		switch {
		case bytes.Contains(msg, []byte("Unknown parameter 'nodetriage_storm_"+strconv.Itoa(marker)+"'")):
			chatter++
			mine = true
		case bytes.Contains(msg, []byte("(device "+filepath.Base(k.dev)+")")):
			faults++
			mine = true
		}
		if mine && p>>3 != 0 {
			return fmt.Errorf("kernel record with facility %d, want 0 (kern): %q", p>>3, rec)
		}
	}
	if chatter != RecordsPerChatter || faults != RecordsPerFault {
		return fmt.Errorf("the kernel logged %d records for a chatter and %d for a fault, want %d and %d",
			chatter, faults, RecordsPerChatter, RecordsPerFault)
	}
	return nil
}

func runTool(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
