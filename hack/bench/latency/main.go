// Command latency measures detection latency of the real nodetriage binary:
// from injecting a fault on the node to the fault being visible through the
// API server, observed by a watch, over -trials trials per class.
//
// Stream classes (target p99 ≤ 2 s):
//
//   - kmsg: a real kernel OOM kill in a memory cgroup this program creates
//     (user space cannot write kernel-facility records to /dev/kmsg, and
//     only those may fire kernel rules). Injection is the moment the killed
//     child is reaped; visible is the OOMKilling Event (the OOM rule is
//     event-only) arriving through a watch.
//   - journal: a kubelet "PLEG is not healthy" entry appended to a journal
//     file by systemd-journal-remote; visible is KubeletUnhealthy=True.
//   - file: the same line appended to /var/log/kubelet.log.
//
// Between stream trials the condition must clear: the quiet window is 3 s
// here (default 10 m), which changes when it clears, not when it is seen.
//
// Periodic checks, each injected and reverted through the fixture host root
// (or, for container-runtime, by killing and restarting the real
// containerd). Watched checks (log-rotation, hairpin, kubelet-cert) run at
// their default intervals: the agent re-runs them on an fsnotify event. The
// others run every -interval (default 5 s) instead of their defaults (30 s
// to 5 min): their latency is bounded by the interval, and the figure
// measured here is that bound's uniform share plus the fixed costs.
//
// Usage: go run ./hack/bench/latency [-trials 50] [-interval 5s] [-only kmsg,journal,...] [-json out.json]
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
	"github.com/nodetriage/nodetriage/internal/containerdtest"
	"github.com/nodetriage/nodetriage/internal/kubetest"
	"github.com/nodetriage/nodetriage/probes/kmsg"
)

const (
	nodeName     = "latency-node"
	memcgRoot    = "/sys/fs/cgroup/memory"
	oomChildFlag = "-oom-child"
	criSocket    = "/run/containerd/containerd.sock"
)

type options struct {
	trials   int
	interval time.Duration
	only     string
	jsonOut  string
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == oomChildFlag {
		oomChild(os.Args[2])
		return
	}
	var o options
	flag.IntVar(&o.trials, "trials", 50, "trials per class")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "interval of the periodic checks that are not watched")
	flag.StringVar(&o.only, "only", "", "comma-separated classes to run (default all)")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tb := benchkit.NewProgramTB("latency", logger, func() { os.Exit(1) })
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	res, err := run(ctx, tb, logger, o)
	stop()
	tb.Close()
	res.print(os.Stdout)
	if o.jsonOut != "" {
		if werr := benchkit.WriteJSON(o.jsonOut, res); werr != nil {
			logger.Error("write results", "err", werr)
		}
	}
	if err != nil {
		logger.Error("latency", "err", err)
		os.Exit(1)
	}
}

// oomChild joins the memory cgroup and allocates until the kernel kills it.
func oomChild(cgroup string) {
	if err := os.WriteFile(filepath.Join(cgroup, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	var hold [][]byte
	for {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		hold = append(hold, b)
	}
}

type classResult struct {
	Class    string           `json:"class"`
	Signal   string           `json:"visibleAs"`
	Interval string           `json:"interval"`
	Summary  benchkit.Summary `json:"seconds"`
	Failures int              `json:"failedTrials"`
	Note     string           `json:"note,omitempty"`
}

type results struct {
	Commit  string        `json:"commit"`
	Load    string        `json:"loadAverage"`
	Trials  int           `json:"trials"`
	Classes []classResult `json:"classes"`
}

func (r results) print(w io.Writer) {
	fmt.Fprintf(w, "latency: commit %s, %d trials per class, load average %s\n", r.Commit, r.Trials, r.Load)
	fmt.Fprintf(w, "%-20s %-42s %-9s %4s %7s %7s %7s %7s %7s\n", "class", "visible as", "interval", "n", "min", "p50", "p90", "p99", "max")
	for _, c := range r.Classes {
		s := c.Summary
		fmt.Fprintf(w, "%-20s %-42s %-9s %4d %7.3f %7.3f %7.3f %7.3f %7.3f", c.Class, c.Signal, c.Interval, s.N, s.Min, s.P50, s.P90, s.P99, s.Max)
		if c.Failures > 0 {
			fmt.Fprintf(w, "  (%d trials failed)", c.Failures)
		}
		fmt.Fprintln(w)
		if c.Note != "" {
			fmt.Fprintf(w, "%20s %s\n", "", c.Note)
		}
	}
}

// class is one kind of fault: how to inject it, how to take it back, and
// what the API server shows when it was seen.
type class struct {
	name      string
	signal    string
	interval  string
	condition string // condition that turns True with reason; "" for an Event
	reason    string
	// periodic injects at a random point of the check's interval: without
	// it every trial would start right after the run that saw the revert.
	periodic bool
	setup    func() error
	inject   func(trial int) (time.Time, error)
	revert   func(trial int) error
	note     string
}

type env struct {
	ctx    context.Context
	tb     *benchkit.ProgramTB
	logger *slog.Logger
	o      options
	root   *benchkit.HostRoot
	node   *benchkit.NodeWatcher
	events *eventWatcher
	ctrd   *containerdtest.Containerd
	self   string
}

func run(ctx context.Context, tb *benchkit.ProgramTB, logger *slog.Logger, o options) (results, error) {
	res := results{Commit: benchkit.GitCommit(), Trials: o.trials}
	for _, req := range []struct{ path, install string }{
		{benchkit.JournalRemote, "apt-get install systemd-journal-remote"},
		{memcgRoot, "a cgroup v1 memory controller at " + memcgRoot},
		{containerdtest.ContainerdBinary, "apt-get install containerd runc"},
	} {
		if err := benchkit.RequireFile(req.path, req.install); err != nil {
			return res, err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	work := tb.TempDir()
	bin, err := benchkit.BuildAgent(work)
	if err != nil {
		return res, err
	}
	cluster := kubetest.Start(tb)
	cluster.CreateNode(tb, nodeName)
	e := &env{ctx: ctx, tb: tb, logger: logger, o: o, self: self}
	e.node = benchkit.WatchNode(ctx, cluster.Client, nodeName)
	e.events = watchEvents(ctx, cluster, nodeName)
	if e.root, err = benchkit.NewHostRoot(filepath.Join(work, "host")); err != nil {
		return res, err
	}
	if err := e.prepareRoot(); err != nil {
		return res, err
	}
	e.ctrd = containerdtest.Start(tb, containerdtest.Options{Address: e.root.Path(criSocket)})

	iv := o.interval.String()
	// A run's deadline must be shorter than its interval.
	timeout := min(2*time.Second, o.interval/2).String()
	cfg := fmt.Sprintf(`apiVersion: nodetriage.io/v1alpha1
kind: AgentConfig
stateDir: %s
quietWindow: 3s
reporting: {eventBurstPerReason: 1000, eventsPerMinutePerReason: 6000}
checks:
  conntrack: {interval: %[2]s, timeout: %[3]s}
  log-filesystem: {interval: %[2]s, timeout: %[3]s, settings: {paths: [/var/log], forecast: {window: 1h, minSpan: 1h}}}
  container-logs: {interval: %[2]s, timeout: %[3]s}
  memory-cgroups: {interval: %[2]s, timeout: %[3]s}
  container-runtime: {interval: %[2]s, timeout: %[3]s}
  log-rotation: {}
  hairpin: {}
  kubelet-cert: {}
  kubelet-restarts: {enabled: false}
  uninitialized-taint: {enabled: false}
  container-network: {enabled: false}
  sandbox-image: {enabled: false}
  workloads: {enabled: false}
sources:
  kmsg: {settings: {lookback: 0s}}
  journal: {settings: {kernelTransport: never, lookback: 0s}}
  files: {}
`, filepath.Join(work, "state"), iv, timeout)
	a, err := benchkit.StartAgent(ctx, benchkit.AgentOptions{Binary: bin, Dir: filepath.Join(work, "agent"), NodeName: nodeName,
		Kubeconfig: cluster.KubeconfigPath, HostRoot: e.root.Dir, Config: cfg, CRIEndpoint: "unix://" + criSocket})
	if err != nil {
		return res, err
	}
	tb.Cleanup(func() { _, _ = a.Stop(10 * time.Second) })
	res.Load = benchkit.LoadAvg()

	// Wait until every condition of interest is False on the Node.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	_, err = e.node.WaitFor(wctx, func(cs []benchkit.Condition) bool {
		for _, typ := range []string{"ConntrackProblem", "ContainerLogDiskPressure", "MemoryCgroupLeak", "KubeletUnhealthy", "HairpinMisconfigured", "ContainerRuntimeUnhealthy"} {
			if c, ok := benchkit.Find(cs, typ); !ok || c.Status != "False" {
				return false
			}
		}
		return true
	})
	cancel()
	if err != nil {
		return res, fmt.Errorf("the node is not healthy at start: %w; end of the agent log:\n%s", err, a.LogTail(30))
	}

	for _, c := range e.classes() {
		if o.only != "" && !slices.Contains(strings.Split(o.only, ","), c.name) {
			continue
		}
		logger.Info("measuring", "class", c.name, "trials", o.trials)
		r, err := e.measure(c)
		res.Classes = append(res.Classes, r)
		if err != nil {
			return res, fmt.Errorf("%s: %w; end of the agent log:\n%s", c.name, err, a.LogTail(30))
		}
		logger.Info("measured", "class", c.name, "p50", r.Summary.P50, "p99", r.Summary.P99)
	}
	return res, nil
}

// prepareRoot lays out a healthy fixture node.
func (e *env) prepareRoot() error {
	r := e.root
	// /var/log on a small tmpfs the log-filesystem trials fill.
	varlog := r.Path("/var/log")
	if err := os.MkdirAll(varlog, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", varlog, "tmpfs", 0, "size=16m,mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", varlog, err)
	}
	e.tb.Cleanup(func() { _ = unix.Unmount(varlog, unix.MNT_DETACH) })
	steps := []func() error{
		r.AddKmsgDevice,
		func() error { return r.SetConntrack(100, 1000, 0) },
		func() error { return r.WriteFile("/var/log/kubelet.log", nil) },
		func() error {
			dir, err := r.JournalDir()
			if err != nil {
				return err
			}
			return benchkit.WriteJournal(filepath.Join(dir, "system.journal"), []benchkit.JournalEntry{{Identifier: "kubelet", Message: "latency run starting"}})
		},
		// memory-cgroups: cgroup v1 as a captured tree (no cgroup.controllers).
		func() error { return r.WriteFile("/proc/cgroups", procCgroups(1)) },
		func() error { return os.MkdirAll(r.Path("/sys/fs/cgroup/memory"), 0o755) },
		func() error { return r.WriteFile("/proc/sys/kernel/osrelease", []byte("6.1.0-18-amd64\n")) },
		func() error {
			return r.WriteFile("/proc/cmdline", []byte("BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet\n"))
		},
		// log-rotation: a valid config and a fresh status file.
		func() error {
			return r.WriteFile("/etc/logrotate.conf", []byte("weekly\nrotate 4\ncreate\ninclude /etc/logrotate.d\n"))
		},
		func() error { return os.MkdirAll(r.Path("/etc/logrotate.d"), 0o755) },
		func() error {
			return r.WriteFile("/var/lib/logrotate/status", []byte("logrotate state -- version 2\n\"/var/log/syslog\" "+time.Now().Format("2006-1-2-15:4:5")+"\n"))
		},
		// hairpin: one bridge with a port in hairpin mode, a CNI config that
		// asks for it.
		func() error { return r.WriteFile("/sys/class/net/cni0/flags", []byte("0x1003\n")) },
		func() error { return r.WriteFile("/sys/class/net/cni0/bridge/stp_state", []byte("0\n")) },
		func() error { return r.WriteFile("/sys/class/net/veth1a2b3c4d/flags", []byte("0x1003\n")) },
		func() error { return r.WriteFile("/sys/class/net/veth1a2b3c4d/brport/hairpin_mode", []byte("1\n")) },
		func() error {
			return os.Symlink("../../veth1a2b3c4d/brport", r.Path("/sys/class/net/cni0/brif/veth1a2b3c4d"))
		},
		func() error { return r.WriteFile("/etc/cni/net.d/10-bridge.conflist", cniConfig(true)) },
		// kubelet-cert: a client certificate with a year left.
		func() error { return e.writeCert(365 * 24 * time.Hour) },
	}
	if err := os.MkdirAll(r.Path("/sys/class/net/cni0/brif"), 0o755); err != nil {
		return err
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

func procCgroups(memcgs int) []byte {
	return fmt.Appendf(nil, "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\ncpu\t2\t1\t1\nmemory\t4\t%d\t1\npids\t5\t1\t1\n", memcgs)
}

// cniConfig is a bridge CNI config that expects either hairpin mode on
// the ports or (kubenet style) a promiscuous bridge.
func cniConfig(hairpin bool) []byte {
	return fmt.Appendf(nil, `{"cniVersion":"1.0.0","name":"containerd-net","plugins":[{"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,"hairpinMode":%v,"promiscMode":%v,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.0.0/16"}]]}},{"type":"portmap","capabilities":{"portMappings":true}}]}`, hairpin, !hairpin)
}

// writeCert writes a self-signed client certificate valid for left and
// points kubelet-client-current.pem at it, the way the kubelet rotates.
func (e *env) writeCert(left time.Duration) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "system:node:" + nodeName, Organization: []string{"system:nodes"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(left), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("kubelet-client-%s.pem", now.Format("2006-01-02-15-04-05.000000000"))
	if err := e.root.WriteFile("/var/lib/kubelet/pki/"+name, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return err
	}
	link := e.root.Path("/var/lib/kubelet/pki/kubelet-client-current.pem")
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(name, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

func plegLine() string {
	return fmt.Sprintf(`I%s    2291 kubelet.go:2412] "Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active 3m5.123s ago; threshold is 3m0s"`,
		time.Now().Format("0102 15:04:05.000000"))
}

func (e *env) classes() []class {
	r := e.root
	iv := e.o.interval.String()
	return []class{
		{
			name: "kmsg", signal: "OOMKilling Event", interval: "stream",
			reason: "OOMKilling",
			inject: e.oomKill,
			revert: func(int) error { return nil },
			note:   "injected: the kernel's timestamp of the Killed process record",
		},
		{
			name: "journal", signal: "KubeletUnhealthy=True/PLEGUnhealthy", interval: "stream",
			condition: "KubeletUnhealthy", reason: "PLEGUnhealthy",
			inject: func(int) (time.Time, error) {
				dir, _ := r.JournalDir()
				err := benchkit.WriteJournal(filepath.Join(dir, "system.journal"), []benchkit.JournalEntry{{Identifier: "kubelet", Unit: "kubelet.service", Priority: 3, Message: plegLine()}})
				return time.Now(), err
			},
			revert: func(int) error { return nil },
			note:   "injected: systemd-journal-remote has appended the entry and exited",
		},
		{
			name: "file", signal: "KubeletUnhealthy=True/PLEGUnhealthy", interval: "stream",
			condition: "KubeletUnhealthy", reason: "PLEGUnhealthy",
			inject: func(int) (time.Time, error) {
				err := r.AppendFile("/var/log/kubelet.log", []byte(plegLine()+"\n"))
				return time.Now(), err
			},
			revert: func(int) error { return nil },
			note:   "injected: the line is written to /var/log/kubelet.log",
		},
		{
			name: "conntrack", periodic: true, signal: "ConntrackProblem=True/NearFull", interval: iv,
			condition: "ConntrackProblem", reason: "ConntrackTableNearFull",
			inject: func(int) (time.Time, error) { return time.Now(), r.SetConntrack(950, 1000, 0) },
			revert: func(int) error { return r.SetConntrack(100, 1000, 0) },
		},
		{
			name: "log-filesystem", periodic: true, signal: "ContainerLogDiskPressure=True/NearFull", interval: iv,
			condition: "ContainerLogDiskPressure", reason: "LogFilesystemNearFull",
			inject: func(int) (time.Time, error) {
				err := os.WriteFile(r.Path("/var/log/fill"), make([]byte, 14<<20), 0o644)
				return time.Now(), err
			},
			revert: func(int) error { return os.Remove(r.Path("/var/log/fill")) },
		},
		{
			name: "container-logs", periodic: true, signal: "ContainerLogDiskPressure=True/Oversized", interval: iv,
			condition: "ContainerLogDiskPressure", reason: "OversizedContainerLog",
			inject: func(int) (time.Time, error) {
				p := "/var/log/pods/default_web_0b8e2c1a-5d3f-4e6b-9a7c-1f2e3d4c5b6a/app/0.log"
				if err := r.WriteFile(p, nil); err != nil {
					return time.Time{}, err
				}
				// Sparse: 25 MiB apparent size, > 2 × containerLogMaxSize (10Mi).
				err := os.Truncate(r.Path(p), 25<<20)
				return time.Now(), err
			},
			revert: func(int) error {
				return os.Truncate(r.Path("/var/log/pods/default_web_0b8e2c1a-5d3f-4e6b-9a7c-1f2e3d4c5b6a/app/0.log"), 0)
			},
		},
		{
			name: "memory-cgroups", periodic: true, signal: "MemoryCgroupLeak=True/DyingMemoryCgroups", interval: iv,
			condition: "MemoryCgroupLeak", reason: "DyingMemoryCgroups",
			inject: func(int) (time.Time, error) { return time.Now(), r.WriteFile("/proc/cgroups", procCgroups(5000)) },
			revert: func(int) error { return r.WriteFile("/proc/cgroups", procCgroups(1)) },
		},
		{
			name: "log-rotation", signal: "ContainerLogDiskPressure=True/LogRotationMisconfigured", interval: "5m (watched)",
			condition: "ContainerLogDiskPressure", reason: "LogRotationMisconfigured",
			inject: func(int) (time.Time, error) {
				err := r.WriteFile("/etc/logrotate.d/app", []byte("/var/log/app/*.log {\n    rotate many\n    daily\n}\n"))
				return time.Now(), err
			},
			revert: func(int) error { return os.Remove(r.Path("/etc/logrotate.d/app")) },
			note:   "injected: a logrotate.d file with a bad value (fsnotify on /etc/logrotate.d)",
		},
		{
			name: "hairpin", signal: "HairpinMisconfigured=True/HairpinModeOff", interval: "5m (watched)",
			condition: "HairpinMisconfigured", reason: "HairpinModeOff",
			setup: func() error {
				// From now on the bridge is promiscuous and its port has
				// hairpin mode off: healthy while the CNI config asks for a
				// promiscuous bridge, a fault once it asks for hairpin mode.
				if err := r.WriteFile("/etc/cni/net.d/10-bridge.conflist", cniConfig(false)); err != nil {
					return err
				}
				if err := r.WriteFile("/sys/class/net/cni0/flags", []byte("0x1103\n")); err != nil {
					return err
				}
				return r.WriteFile("/sys/class/net/veth1a2b3c4d/brport/hairpin_mode", []byte("0\n"))
			},
			inject: func(int) (time.Time, error) {
				return time.Now(), r.WriteFile("/etc/cni/net.d/10-bridge.conflist", cniConfig(true))
			},
			revert: func(int) error { return r.WriteFile("/etc/cni/net.d/10-bridge.conflist", cniConfig(false)) },
			note:   "injected: the CNI config asks for hairpinMode instead of a promiscuous bridge while the port has it off (fsnotify on /etc/cni/net.d)",
		},
		{
			name: "kubelet-cert", signal: "KubeletUnhealthy=True/CertificateExpiring", interval: "10m (watched)",
			condition: "KubeletUnhealthy", reason: "KubeletCertificateExpiring",
			inject: func(int) (time.Time, error) {
				err := e.writeCert(48 * time.Hour)
				return time.Now(), err
			},
			revert: func(int) error { return e.writeCert(365 * 24 * time.Hour) },
			note:   "injected: kubelet-client-current.pem now points at a certificate with 2 days left (fsnotify on /var/lib/kubelet/pki)",
		},
		{
			name: "container-runtime", periodic: true, signal: "ContainerRuntimeUnhealthy=True/Unreachable", interval: iv,
			condition: "ContainerRuntimeUnhealthy", reason: "RuntimeUnreachable",
			inject: func(int) (time.Time, error) {
				pid, err := benchkit.FindProcess("containerd with "+e.ctrd.ConfigPath, func(argv []string) bool {
					return argv[0] == containerdtest.ContainerdBinary && slices.Contains(argv[1:], e.ctrd.ConfigPath)
				})
				if err != nil {
					return time.Time{}, err
				}
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					return time.Time{}, err
				}
				for e.ctrd.Running() {
					time.Sleep(time.Millisecond)
				}
				return time.Now(), nil
			},
			revert: func(int) error { return e.ctrd.Start() },
			note:   "injected: containerd SIGKILLed and reaped",
		},
	}
}

// measure runs the trials of one class.
func (e *env) measure(c class) (classResult, error) {
	res := classResult{Class: c.name, Signal: c.signal, Interval: c.interval, Note: c.note}
	if c.setup != nil {
		if err := c.setup(); err != nil {
			return res, err
		}
		if err := e.waitClear(c); err != nil {
			return res, fmt.Errorf("not clear after setup: %w", err)
		}
	}
	var lat []float64
	for trial := 0; trial < e.o.trials; trial++ {
		if e.ctx.Err() != nil {
			return res, e.ctx.Err()
		}
		if c.periodic {
			time.Sleep(mrand.N(e.o.interval))
		}
		var seenAt time.Time
		var injected time.Time
		var err error
		if c.condition == "" {
			mark := e.events.mark()
			if injected, err = c.inject(trial); err != nil {
				return res, fmt.Errorf("trial %d: inject: %w", trial, err)
			}
			seenAt, err = e.events.waitReason(e.ctx, mark, c.reason, 30*time.Second)
		} else {
			if injected, err = c.inject(trial); err != nil {
				return res, fmt.Errorf("trial %d: inject: %w", trial, err)
			}
			wctx, cancel := context.WithTimeout(e.ctx, 30*time.Second+2*e.o.interval)
			seenAt, err = e.node.WaitCondition(wctx, c.condition, "True", c.reason)
			cancel()
		}
		if err != nil {
			res.Failures++
			e.logger.Warn("trial failed", "class", c.name, "trial", trial, "err", err)
			if res.Failures > 3 {
				return res, fmt.Errorf("too many failed trials: %w", err)
			}
		} else {
			lat = append(lat, seenAt.Sub(injected).Seconds())
		}
		if err := c.revert(trial); err != nil {
			return res, fmt.Errorf("trial %d: revert: %w", trial, err)
		}
		if err := e.waitClear(c); err != nil {
			return res, fmt.Errorf("trial %d: %w", trial, err)
		}
	}
	res.Summary = benchkit.Summarize(lat)
	return res, nil
}

// waitClear waits until the class's condition is no longer True.
func (e *env) waitClear(c class) error {
	if c.condition == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second+2*e.o.interval)
	defer cancel()
	_, err := e.node.WaitFor(ctx, func(cs []benchkit.Condition) bool {
		cond, ok := benchkit.Find(cs, c.condition)
		return ok && cond.Status == "False"
	})
	return err
}

var oomTrial int

// oomKill creates a 32 MiB memory cgroup and runs a child that allocates
// until the kernel OOM-kills it. The injection time is the kernel's own
// timestamp of the "Killed process" record, read from /dev/kmsg and turned
// into wall-clock time the way the agent does (now minus CLOCK_MONOTONIC
// plus the record's offset).
func (e *env) oomKill(int) (time.Time, error) {
	oomTrial++
	cg := filepath.Join(memcgRoot, fmt.Sprintf("nodetriage-latency-%d-%d", os.Getpid(), oomTrial))
	if err := os.Mkdir(cg, 0o755); err != nil {
		return time.Time{}, err
	}
	defer removeCgroup(cg)
	if err := os.WriteFile(filepath.Join(cg, "memory.limit_in_bytes"), []byte(strconv.Itoa(32<<20)), 0o644); err != nil {
		return time.Time{}, err
	}
	dev, err := os.OpenFile("/dev/kmsg", os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return time.Time{}, err
	}
	defer dev.Close()
	if _, err := dev.Seek(0, io.SeekEnd); err != nil {
		return time.Time{}, fmt.Errorf("seek /dev/kmsg: %w", err)
	}
	cmd := exec.Command(e.self, oomChildFlag, cg)
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		return time.Time{}, fmt.Errorf("the child was not OOM-killed: %v", err)
	}
	want := fmt.Sprintf("Killed process %d ", cmd.Process.Pid)
	buf := make([]byte, 8192)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, err := unix.Read(int(dev.Fd()), buf)
		if errors.Is(err, unix.EAGAIN) {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if errors.Is(err, unix.EPIPE) {
			continue
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("read /dev/kmsg: %w", err)
		}
		rec, err := kmsg.ParseRecord(buf[:n])
		if err != nil || !strings.Contains(rec.Message, want) {
			continue
		}
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			return time.Time{}, err
		}
		return time.Now().Add(-time.Duration(ts.Nano())).Add(rec.Offset), nil
	}
	return time.Time{}, fmt.Errorf("no %q record in /dev/kmsg", want)
}

func removeCgroup(dir string) {
	for range 50 {
		if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventWatcher records when each Event about the node arrived.
type eventWatcher struct {
	arrivals chan eventArrival
	seen     []eventArrival
}

type eventArrival struct {
	reason string
	at     time.Time
}

func watchEvents(ctx context.Context, c *kubetest.Cluster, node string) *eventWatcher {
	w := &eventWatcher{arrivals: make(chan eventArrival, 1024)}
	go func() {
		for ctx.Err() == nil {
			wi, err := c.Client.EventsV1().Events(metav1.NamespaceDefault).Watch(ctx, metav1.ListOptions{FieldSelector: "regarding.name=" + node})
			if err != nil {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			for ev := range wi.ResultChan() {
				if ev.Type != watch.Added && ev.Type != watch.Modified {
					continue
				}
				if e, ok := ev.Object.(*eventsv1.Event); ok {
					w.arrivals <- eventArrival{reason: e.Reason, at: time.Now()}
				}
			}
		}
	}()
	return w
}

// mark drops arrivals so far; waitReason then sees only newer ones.
func (w *eventWatcher) mark() int {
	for {
		select {
		case a := <-w.arrivals:
			w.seen = append(w.seen, a)
		default:
			return len(w.seen)
		}
	}
}

func (w *eventWatcher) waitReason(ctx context.Context, from int, reason string, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for i := from; ; i++ {
		for i >= len(w.seen) {
			select {
			case a := <-w.arrivals:
				w.seen = append(w.seen, a)
			case <-deadline:
				return time.Time{}, fmt.Errorf("no %s Event within %s", reason, timeout)
			case <-ctx.Done():
				return time.Time{}, ctx.Err()
			}
		}
		if w.seen[i].reason == reason {
			return w.seen[i].at, nil
		}
	}
}
