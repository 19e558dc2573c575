package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/probes"
)

// runFlags are `nodetriage run`'s flags.
type runFlags struct {
	config, kubeconfig, nodeName, hostRoot, criEndpoint, listenAddress string
	standalone                                                         bool
}

func (c *cli) run(args []string) int {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&f.config, "config", "", "AgentConfig file (default: built-in defaults); reloaded when it changes")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file for the API server (default: in-cluster config)")
	fs.StringVar(&f.nodeName, "node-name", "", "node to report for (default: $NODE_NAME, else the hostname)")
	fs.StringVar(&f.hostRoot, "host-root", "/", "directory where the host's filesystem is mounted (/host in the DaemonSet)")
	fs.StringVar(&f.criEndpoint, "cri-endpoint", "", "CRI runtime endpoint, e.g. unix:///run/containerd/containerd.sock (default: discovered under the host root)")
	fs.StringVar(&f.listenAddress, "listen-address", ":9710", "address for /metrics, /healthz, /readyz and /debug/findings")
	fs.BoolVar(&f.standalone, "standalone", false, "run without an API server: metrics, logs and /debug/findings only")
	if code, done := c.parse(fs, "run", args); done {
		return code
	}

	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if !f.standalone && f.kubeconfig == "" && c.getenv("KUBERNETES_SERVICE_HOST") == "" {
		return c.usageError("run", errors.New("no Kubernetes API configured: pass --kubeconfig FILE, run inside a pod, or use --standalone"))
	}
	node, err := c.nodeName(f.nodeName)
	if err != nil {
		return c.usageError("run", err)
	}
	host, err := hostFS(f.hostRoot)
	if err != nil {
		return c.usageError("run", err)
	}
	checks, streams := checkSpecs(), streamSpecs()
	cfg, err := agent.LoadConfig(f.config, agent.Catalog{Checks: checks, Streams: streams})
	if err != nil {
		return c.usageError("run", err)
	}
	rt, err := newRuntime(host, f.criEndpoint)
	if err != nil {
		return c.usageError("run", fmt.Errorf("container runtime: %w", err))
	}
	opts := agent.Options{
		ConfigPath:    f.config,
		Config:        cfg,
		Host:          host,
		NodeName:      node,
		Checks:        checks,
		Streams:       streams,
		NewMatcher:    newMatcher(logger),
		Enrich:        enrich(rt),
		Runtime:       rt,
		Clock:         c.clock,
		Logger:        logger,
		Registry:      prometheus.NewRegistry(),
		ListenAddress: f.listenAddress,
		Version:       version,
		Commit:        commit,
	}
	if f.standalone {
		err = runAgent(c.ctx, opts)
	} else {
		err = runWithAPI(c.ctx, opts, f.kubeconfig, c.clock)
	}
	var setup *setupError
	switch {
	case errors.As(err, &setup):
		return c.usageError("run", setup.err)
	case err != nil:
		logger.Error("agent stopped", "err", err)
		return exitProblems
	}
	return exitOK
}

// hostFS opens the host root. It is made absolute first: the symlink-safe
// resolver under probes.FS refuses a root with ".." in it, which a relative
// --host-root (../captured-node) easily has.
func hostFS(root string) (probes.FS, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return probes.FS{}, fmt.Errorf("--host-root %s: %w", root, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return probes.FS{}, fmt.Errorf("--host-root: %w", err)
	}
	if !fi.IsDir() {
		return probes.FS{}, fmt.Errorf("--host-root %s is not a directory", root)
	}
	return probes.NewFS(abs), nil
}

// setupError is a failure before the agent ran (bad config, unreachable
// setup): exit 2 with one line.
type setupError struct{ err error }

func (e *setupError) Error() string { return e.err.Error() }

// runAgent builds the agent and runs it until ctx is done.
func runAgent(ctx context.Context, opts agent.Options) error {
	a, err := agent.New(opts)
	if err != nil {
		return &setupError{err}
	}
	return a.Run(ctx)
}

// runWithAPI runs the agent reporting to the API server: the client from
// kubeconfig (or in-cluster), the Node cache for checks and the Kubernetes
// reporter, registered in opts.Registry.
func runWithAPI(ctx context.Context, opts agent.Options, kubeconfig string, clk clock.WithTicker) error {
	agent.KubeClientVersion = version
	client, _, err := agent.NewKubeClient(kubeconfig)
	if err != nil {
		return &setupError{err}
	}
	reporter := agent.NewKubeReporter(client, opts.NodeName, opts.Config.Reporting.KubeReporterConfig(), clk, opts.Logger, opts.Registry)
	nodes := agent.NewNodeCache(client, opts.NodeName, agent.DefaultNodeCacheInterval, clk, opts.Logger)
	opts.Reporter = reporter
	opts.Node = nodes.Get

	a, err := agent.New(opts)
	if err != nil {
		return &setupError{err}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{reporter.Run, nodes.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = run(ctx) // both log their own failures and run until ctx is done
		}()
	}
	err = a.Run(ctx)
	cancel()
	wg.Wait()
	return err
}

// parse parses a subcommand's flags. done reports that the command must
// stop with code (help printed, or a usage error).
func (c *cli) parse(fs *flag.FlagSet, cmd string, args []string) (code int, done bool) {
	fs.Usage = func() {}
	fs.SetOutput(io.Discard) // errors are printed as one line below
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(c.stdout)
		fmt.Fprintf(c.stdout, "usage: nodetriage %s [flags]\n", cmd)
		fs.PrintDefaults()
		return exitOK, true
	}
	if err != nil {
		return c.usageError(cmd, err), true
	}
	if fs.NArg() > 0 {
		return c.usageError(cmd, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))), true
	}
	return 0, false
}
