package faults

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/cri"
	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
	"github.com/nodetriage/nodetriage/hostchecks"
	"github.com/nodetriage/nodetriage/internal/kubetest"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/journal"
	"github.com/nodetriage/nodetriage/probes/kmsg"
	"github.com/nodetriage/nodetriage/probes/logfile"
	"github.com/nodetriage/nodetriage/probes/rules"
)

// shutdownBudget is how long the agent may take to exit after SIGTERM: the
// kubelet's grace period is longer, but a DaemonSet rollout waits on it.
const shutdownBudget = 5 * time.Second

// busyHostRoot is a fixture with every log source and several checks
// active: the real kmsg device, a journal with entries, kubelet.log, and
// conntrack files.
func busyHostRoot(t *testing.T) *benchkit.HostRoot {
	t.Helper()
	root := newHostRoot(t)
	if err := root.AddKmsgDevice(); err != nil {
		t.Fatal(err)
	}
	if err := root.SetConntrack(100, 1000, 0); err != nil {
		t.Fatal(err)
	}
	if err := root.WriteFile("/var/log/kubelet.log", nil); err != nil {
		t.Fatal(err)
	}
	dir, err := root.JournalDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := benchkit.RequireFile(benchkit.JournalRemote, "apt-get install systemd-journal-remote"); err != nil {
		t.Fatal(err)
	}
	if err := benchkit.WriteJournal(filepath.Join(dir, "system.journal"), []benchkit.JournalEntry{
		{Identifier: "kubelet", Message: "I1122 08:11:02.000000    2291 kubelet.go:1700] \"SyncLoop (housekeeping)\""},
	}); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestSIGTERMExitsCleanly: the binary, busy with every source and every
// check and reporting to the API server, exits with code 0 within 5 s of
// SIGTERM.
func TestSIGTERMExitsCleanly(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Shared(t)
	const nodeName = "faults-sigterm"
	node := watchNode(t, cluster, nodeName)
	root := busyHostRoot(t)
	// The default configuration: every check and source on.
	cfg := "apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nstateDir: " + t.TempDir() + "\n"
	for round := 1; round <= 3; round++ {
		a := startAgent(t, benchkit.AgentOptions{NodeName: nodeName, Kubeconfig: cluster.KubeconfigPath, HostRoot: root.Dir,
			Config: cfg, CRIEndpoint: "unix://" + filepath.Join(t.TempDir(), "no-runtime.sock")})
		watchRSS(t, a)
		appendUntil(t, root, "/var/log/kubelet.log", plegLine, a, "PLEG unhealthy in kubelet.log", hasCondition("KubeletUnhealthy", "True", "PLEGUnhealthy"))
		requireNodeMatchesAgent(t, node, a, time.Minute)
		sent := time.Now()
		if err := a.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code, exited, err := a.Wait(2 * shutdownBudget)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		took := exited.Sub(sent)
		t.Logf("round %d: exit code %d %s after SIGTERM", round, code, took.Round(time.Millisecond))
		if code != 0 || took > shutdownBudget {
			t.Errorf("round %d: exit code %d after %s, want 0 within %s; end of the log:\n%s", round, code, took, shutdownBudget, a.LogTail(20))
		}
	}
}

// TestShutdownLeavesNoGoroutines runs the agent in-process, wired as
// `nodetriage run` wires it (Kubernetes reporter, node cache, every check,
// every source, the default rules), cancels it and checks that Run returns
// within 5 s and that no goroutine it started is left.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	// Not parallel: goroleak must see only this test's goroutines.
	cluster := kubetest.Shared(t)
	const nodeName = "faults-goroutines"
	node := watchNode(t, cluster, nodeName)
	root := busyHostRoot(t)
	ignore := goleak.IgnoreCurrent()

	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cleanupClient := startInProcessAgent(t, runCtx, cluster, root, nodeName, done)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		if err := root.AppendFile("/var/log/kubelet.log", []byte(plegLine()+"\n")); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := node.WaitCondition(wctx, "KubeletUnhealthy", "True", "PLEGUnhealthy")
		wcancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
	}
	stopped := time.Now()
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(shutdownBudget):
		t.Fatalf("Run did not return within %s of cancellation", shutdownBudget)
	}
	t.Logf("Run returned %s after cancellation", time.Since(stopped).Round(time.Millisecond))
	cleanupClient()
	if err := goleak.Find(ignore, goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1")); err != nil {
		t.Error(err)
	}
}

// startInProcessAgent builds and runs the agent as cmd/nodetriage does for
// `run --kubeconfig`. cleanup releases the client's idle connections.
func startInProcessAgent(t *testing.T, ctx context.Context, cluster *kubetest.Cluster, root *benchkit.HostRoot, nodeName string, done chan<- error) func() {
	t.Helper()
	cfg := rest.CopyConfig(cluster.Config)
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := agent.NewKubeAPIForConfigAndClient(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	checks := append(hostchecks.Specs(), cri.Specs()...)
	streams := []probes.StreamSpec{kmsg.Spec(), journal.Spec(), logfile.Spec()}
	cfgYAML := []byte("apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nstateDir: " + t.TempDir() + "\n")
	acfg, err := agent.ParseConfig(cfgYAML, agent.Catalog{Checks: checks, Streams: streams})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := cri.Dial("unix://" + filepath.Join(t.TempDir(), "no-runtime.sock"))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	clk := clock.RealClock{}
	reporter := agent.NewKubeReporter(client, nodeName, acfg.Reporting.KubeReporterConfig(), clk, logger, reg)
	nodes := agent.NewNodeCache(client, nodeName, agent.DefaultNodeCacheInterval, clk, logger)
	a, err := agent.New(agent.Options{
		Config: acfg, Host: probes.NewFS(root.Dir), NodeName: nodeName, Checks: checks, Streams: streams,
		NewMatcher: defaultMatcher, Enrich: cri.NewOOMResolver(rt), Runtime: rt, Reporter: reporter, Node: nodes.Get,
		Clock: clk, Logger: logger, Registry: reg, ListenAddress: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		errs := make(chan error, 2)
		go func() { errs <- reporter.Run(ctx) }()
		go func() { errs <- nodes.Run(ctx) }()
		err := a.Run(ctx)
		<-errs
		<-errs
		rt.Close()
		done <- err
	}()
	return func() { net.CloseIdleConnectionsFor(httpClient.Transport) }
}

// defaultMatcher is cmd/nodetriage's matcher (rules.Load).
func defaultMatcher(userRules probes.Settings, npdRuleFiles []string) (agent.Matcher, []probes.ReasonInfo, error) {
	engine, err := rules.Load(userRules, npdRuleFiles, rules.Options{})
	if err != nil {
		return nil, nil, err
	}
	return engine, engine.Reasons(), nil
}
