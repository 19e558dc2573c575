package e2e

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/hostchecks"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/journal"
	"github.com/nodetriage/nodetriage/probes/kmsg"
	"github.com/nodetriage/nodetriage/probes/logfile"
	"github.com/nodetriage/nodetriage/probes/rules"
)

// inProcessAgent is the agent run inside the test process, wired the way
// cmd/nodetriage/run.go's runWithAPI wires it (client from the kubeconfig,
// Kubernetes reporter, Node cache), with the host checks of
// hostchecks.Specs() and every log source. The CRI checks are left out:
// there is no runtime in a fixture root.
type inProcessAgent struct {
	agent    *agent.Agent
	registry *prometheus.Registry
	stop     func()
}

// startInProcessAgent runs the agent for node on root with the config file
// until the test ends. Its log goes to a file shown when the test failed.
func startInProcessAgent(t testing.TB, kubeconfig, node string, root *hostRoot, configPath string) *inProcessAgent {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "agent.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))
	checks := hostchecks.Specs()
	streams := []probes.StreamSpec{kmsg.Spec(), journal.Spec(), logfile.Spec()}
	cfg, err := agent.LoadConfig(configPath, agent.Catalog{Checks: checks, Streams: streams})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	client, _, err := agent.NewKubeClient(kubeconfig)
	if err != nil {
		t.Fatalf("kube client: %v", err)
	}
	clk := clock.RealClock{}
	registry := prometheus.NewRegistry()
	reporter := agent.NewKubeReporter(client, node, cfg.Reporting.KubeReporterConfig(), clk, logger, registry)
	nodes := agent.NewNodeCache(client, node, agent.DefaultNodeCacheInterval, clk, logger)
	a, err := agent.New(agent.Options{
		ConfigPath: configPath,
		Config:     cfg,
		Host:       probes.NewFS(root.dir),
		NodeName:   node,
		Checks:     checks,
		Streams:    streams,
		NewMatcher: newMatcher(logger),
		Reporter:   reporter,
		Node:       nodes.Get,
		Clock:      clk,
		Logger:     logger,
		Registry:   registry,
		Version:    "e2e",
		Commit:     "e2e",
	})
	if err != nil {
		t.Fatalf("agent.New: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{reporter.Run, nodes.Run} {
		wg.Go(func() { _ = run(ctx) }) // both log their own failures
	}
	runErr := make(chan error, 1)
	wg.Go(func() { runErr <- a.Run(ctx) })
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			logFile.Close()
			if err := <-runErr; err != nil {
				t.Errorf("agent.Run: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("agent log (last %d lines):\n%s", logTail, tailFile(logPath, logTail))
		}
	})
	return &inProcessAgent{agent: a, registry: registry, stop: stop}
}

// metrics gathers the agent's and the reporter's metrics.
func (a *inProcessAgent) metrics() (metrics, error) {
	families, err := a.registry.Gather()
	if err != nil {
		return nil, err
	}
	return gathered(families), nil
}

// newMatcher is cmd/nodetriage's: the default rule packs, the user's rules
// and node-problem-detector rule files in one engine (rules.Load).
func newMatcher(logger *slog.Logger) agent.NewMatcherFunc {
	return func(userRules probes.Settings, npdRuleFiles []string) (agent.Matcher, []probes.ReasonInfo, error) {
		engine, err := rules.Load(userRules, npdRuleFiles, rules.Options{Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		return engine, engine.Reasons(), nil
	}
}
