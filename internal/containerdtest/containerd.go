// Package containerdtest runs the real containerd for integration tests: the
// Debian containerd and runc binaries, started with a generated config whose
// root, state directory and socket live under a temporary directory, with the
// CRI plugin on. It also builds the tests' images locally (a static Go binary
// in an OCI image layout tarball) and imports them with ctr, because the test
// machines have no registry.
//
// Everything a test creates is removed by t.Cleanup: pod sandboxes, shims,
// mounts, the cgroups under the harness's own cgroup prefix, the directory.
// The one host path outside it is containerd 1.6's shim socket directory,
// /run/containerd/s, which it hard-codes; each shim removes its own socket.
package containerdtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Binaries the harness runs (Debian packages containerd and runc).
const (
	ContainerdBinary = "/usr/bin/containerd"
	CtrBinary        = "/usr/bin/ctr"
	RuncBinary       = "/usr/sbin/runc"
	CNIBinDir        = "/usr/lib/cni"
)

// Options configure a test containerd. The zero value is a containerd whose
// sandbox image is PauseRef and whose CNI config directory is empty (so the
// runtime reports the network not ready).
type Options struct {
	// SandboxImage is the CRI plugin's sandbox_image; PauseRef when empty.
	SandboxImage string
	// Address is the socket path; <dir>/containerd.sock when empty. Tests
	// that exercise endpoint discovery put it under a fake host root.
	Address string
	// Root is containerd's root directory; <dir>/root when empty.
	Root string
	// RootTmpfsBytes, when positive, mounts a tmpfs of that size on Root so
	// the image filesystem is small enough for a test to fill.
	RootTmpfsBytes int64
	// CNIConfDir is the CNI config directory; an empty <dir>/cni when empty.
	CNIConfDir string
}

// Containerd is a running (or stopped) test containerd.
type Containerd struct {
	t testing.TB
	// Dir holds everything: config, state, log, and by default root and socket.
	Dir, Root, State, Address, ConfigPath, LogPath string
	// Snapshotter is overlayfs when the root's filesystem supports it, else native.
	Snapshotter string
	// CgroupPrefix is the cgroup every pod of this harness lives under, e.g.
	// /nodetriage-test-1a2b3c4d; removed at cleanup.
	CgroupPrefix string
	SandboxImage string

	cmd    *exec.Cmd
	exited chan struct{}
	conn   *grpc.ClientConn
	// Runtime and Images are raw CRI clients on the socket, for tests that
	// drive the runtime the way the kubelet does.
	Runtime runtimeapi.RuntimeServiceClient
	Images  runtimeapi.ImageServiceClient
}

// Start checks the prerequisites, writes the config and starts containerd,
// waiting until its CRI plugin answers. It fails the test with one line
// naming what to install when something is missing.
func Start(t testing.TB, opts Options) *Containerd {
	t.Helper()
	requireRoot(t)
	for _, bin := range []string{ContainerdBinary, CtrBinary, RuncBinary, filepath.Join(CNIBinDir, "loopback")} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("containerdtest: %s missing: apt-get install containerd runc containernetworking-plugins (or run hack/install-deps.sh)", bin)
		}
	}
	// A short directory: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "ctrd-")
	if err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	suffix := randomHex(4)
	c := &Containerd{
		t:            t,
		Dir:          dir,
		Root:         opts.Root,
		State:        filepath.Join(dir, "state"),
		Address:      opts.Address,
		ConfigPath:   filepath.Join(dir, "config.toml"),
		LogPath:      filepath.Join(dir, "containerd.log"),
		CgroupPrefix: "/nodetriage-test-" + suffix,
		SandboxImage: opts.SandboxImage,
	}
	t.Cleanup(c.cleanup)
	if c.Root == "" {
		c.Root = filepath.Join(dir, "root")
	}
	if c.Address == "" {
		c.Address = filepath.Join(dir, "containerd.sock")
	}
	if c.SandboxImage == "" {
		c.SandboxImage = PauseRef
	}
	cniConfDir := opts.CNIConfDir
	if cniConfDir == "" {
		cniConfDir = filepath.Join(dir, "cni")
	}
	for _, d := range []string{c.Root, c.State, cniConfDir, filepath.Dir(c.Address), filepath.Join(dir, "opt"), filepath.Join(dir, "pods")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("containerdtest: %v", err)
		}
	}
	if opts.RootTmpfsBytes > 0 {
		data := "size=" + strconv.FormatInt(opts.RootTmpfsBytes, 10) + ",mode=0755"
		if err := unix.Mount("tmpfs", c.Root, "tmpfs", 0, data); err != nil {
			t.Fatalf("containerdtest: mount tmpfs on %s: %v", c.Root, err)
		}
	}
	c.Snapshotter = "native"
	if overlaySupported(c.Root) {
		c.Snapshotter = "overlayfs"
	}
	if err := os.WriteFile(c.ConfigPath, []byte(c.config(cniConfDir, filepath.Join(dir, "opt"))), 0o644); err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	return c
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("containerdtest: must run as root (containerd, runc, mounts and cgroups need it)")
	}
}

// config is containerd's config file, version 2 (containerd 1.x).
func (c *Containerd) config(cniConfDir, optDir string) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
]

[grpc]
  address = %q

[debug]
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # This machine lacks CAP_SYS_RESOURCE: without this sandboxes fail with
  # "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = %q
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
  # runc's state; its default is the host's /run/containerd/runc.
  Root = %q

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = %q
  conf_dir = %q
`, c.Root, c.State, c.Address, optDir, c.SandboxImage, c.Snapshotter, filepath.Join(c.State, "runc"), CNIBinDir, cniConfDir)
}

// overlaySupported mounts a throw-away overlay in dir, the same probe
// containerd's overlayfs snapshotter makes.
func overlaySupported(dir string) bool {
	probe, err := os.MkdirTemp(dir, "overlay-probe-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(probe)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(probe, d), 0o755); err != nil {
			return false
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s",
		filepath.Join(probe, "lower"), filepath.Join(probe, "upper"), filepath.Join(probe, "work"))
	merged := filepath.Join(probe, "merged")
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return false
	}
	_ = unix.Unmount(merged, unix.MNT_DETACH)
	return true
}

// Endpoint is the CRI endpoint, unix://<socket>.
func (c *Containerd) Endpoint() string { return "unix://" + c.Address }

// Running reports whether the containerd process is alive.
func (c *Containerd) Running() bool {
	if c.cmd == nil {
		return false
	}
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// Start starts containerd (again) with the same config and waits until its
// CRI plugin reports the runtime ready.
func (c *Containerd) Start() error {
	if c.Running() {
		return errors.New("containerd already running")
	}
	logFile, err := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open containerd log: %w", err)
	}
	cmd := exec.Command(ContainerdBinary, "--config", c.ConfigPath)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// If the test binary dies without running its cleanups (a go test
	// timeout), containerd dies with it instead of lingering.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", ContainerdBinary, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	c.cmd, c.exited = cmd, exited
	if err := c.waitReady(30 * time.Second); err != nil {
		return fmt.Errorf("containerd did not become ready: %w\n%s", err, c.LogTail(30))
	}
	return nil
}

func (c *Containerd) waitReady(timeout time.Duration) error {
	if c.conn == nil {
		conn, err := grpc.NewClient("unix://"+c.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return fmt.Errorf("grpc client for %s: %w", c.Address, err)
		}
		c.conn = conn
		c.Runtime = runtimeapi.NewRuntimeServiceClient(conn)
		c.Images = runtimeapi.NewImageServiceClient(conn)
	}
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			return errors.New("containerd exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := c.Runtime.Status(ctx, &runtimeapi.StatusRequest{})
		cancel()
		if err == nil {
			for _, cond := range resp.GetStatus().GetConditions() {
				if cond.Type == runtimeapi.RuntimeReady && cond.Status {
					return nil
				}
			}
			err = errors.New("RuntimeReady is not true yet")
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	return lastErr
}

// Stop stops containerd (SIGTERM, then SIGKILL after 15 s) and waits for it
// to exit. Containers and their shims keep running, as on a real node.
func (c *Containerd) Stop() error {
	if !c.Running() {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	return nil
}

// Restart stops and starts containerd.
func (c *Containerd) Restart() error {
	if err := c.Stop(); err != nil {
		return err
	}
	return c.Start()
}

// LogTail returns the last n lines of containerd's log.
func (c *Containerd) LogTail(n int) string {
	data, err := os.ReadFile(c.LogPath)
	if err != nil {
		return "(no containerd log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Ctr runs ctr against this containerd in the k8s.io namespace.
func (c *Containerd) Ctr(args ...string) ([]byte, error) {
	full := append([]string{"--address", c.Address, "--namespace", "k8s.io"}, args...)
	cmd := exec.Command(CtrBinary, full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return out.Bytes(), nil
}

// ImportImage imports an OCI archive with `ctr images import` and waits until
// the CRI plugin lists ref.
func (c *Containerd) ImportImage(t testing.TB, archive, ref string) {
	t.Helper()
	if _, err := c.Ctr("images", "import", "--snapshotter", c.Snapshotter, archive); err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := c.Images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		cancel()
		if err == nil && resp.GetImage() != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerdtest: CRI does not list %s after import (err %v)", ref, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestImages are the archives of the test images, built once per test.
type TestImages struct {
	Pause, Workload string
}

// BuildTestImages compiles the pause and workload programs and packs them as
// PauseRef and WorkloadRef archives in a temporary directory.
func BuildTestImages(t testing.TB) TestImages {
	t.Helper()
	dir := t.TempDir()
	pauseBin := BuildProgram(t, ProgramPause, dir)
	workloadBin := BuildProgram(t, ProgramWorkload, dir)
	imgs := TestImages{Pause: filepath.Join(dir, "pause.tar"), Workload: filepath.Join(dir, "workload.tar")}
	if err := WriteOCIArchive(ImageSpec{Ref: PauseRef, Binary: pauseBin, Entrypoint: []string{"/pause"}}, imgs.Pause); err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	if err := WriteOCIArchive(ImageSpec{Ref: WorkloadRef, Binary: workloadBin, Entrypoint: []string{"/workload"}}, imgs.Workload); err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	return imgs
}

// ImportTestImages imports both test images.
func (c *Containerd) ImportTestImages(t testing.TB, imgs TestImages) {
	t.Helper()
	c.ImportImage(t, imgs.Pause, PauseRef)
	c.ImportImage(t, imgs.Workload, WorkloadRef)
}

// cleanup leaves nothing behind: pods and shims, containerd, mounts, cgroups,
// the directory.
func (c *Containerd) cleanup() {
	t := c.t
	if c.cmd != nil && !c.Running() {
		// Pods started before a Stop still run under their shims; a running
		// containerd is the clean way to stop them.
		if err := c.Start(); err != nil {
			t.Logf("containerdtest cleanup: restart to remove pods: %v", err)
		}
	}
	if c.Running() {
		c.removeAllPods()
	}
	if t.Failed() && c.cmd != nil {
		t.Logf("containerd log tail (%s):\n%s", c.LogPath, c.LogTail(40))
	}
	_ = c.Stop()
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.killLeftoverShims()
	c.unmountUnder(c.Dir)
	if !strings.HasPrefix(c.Root, c.Dir+"/") {
		c.unmountUnder(c.Root)
	}
	c.removeCgroups()
	if err := os.RemoveAll(c.Dir); err != nil {
		t.Errorf("containerdtest cleanup: %v", err)
	}
}

func (c *Containerd) removeAllPods() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := c.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		c.t.Logf("containerdtest cleanup: list pods: %v", err)
		return
	}
	for _, sb := range resp.GetItems() {
		if _, err := c.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			c.t.Logf("containerdtest cleanup: stop pod %s: %v", sb.Id, err)
		}
		if _, err := c.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			c.t.Logf("containerdtest cleanup: remove pod %s: %v", sb.Id, err)
		}
	}
}

// killLeftoverShims kills shim processes started for this containerd (their
// command line names its socket), e.g. after containerd was killed.
func (c *Containerd) killLeftoverShims() {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i, a := range args {
			if a == "-address" && i+1 < len(args) && args[i+1] == c.Address {
				c.t.Logf("containerdtest cleanup: killing leftover shim pid %d", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// unmountUnder detaches every mount at or below dir, deepest first.
func (c *Containerd) unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountPath(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, mp := range mounts {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			c.t.Logf("containerdtest cleanup: umount %s: %v", mp, err)
		}
	}
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeCgroups removes the harness's cgroup prefix in every v1 hierarchy,
// deepest directories first.
func (c *Containerd) removeCgroups() {
	hierarchies, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return
	}
	for _, h := range hierarchies {
		top := filepath.Join("/sys/fs/cgroup", h.Name(), c.CgroupPrefix)
		if _, err := os.Stat(top); err != nil {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := removeCgroupDir(d); err != nil {
				c.t.Errorf("containerdtest cleanup: rmdir cgroup %s: %v", d, err)
			}
		}
	}
}

// removeCgroupDir retries briefly: a cgroup whose last task just exited can
// be busy for a moment.
func removeCgroupDir(dir string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return strconv.FormatInt(time.Now().UnixNano(), 16)
	}
	return hex.EncodeToString(b)
}
