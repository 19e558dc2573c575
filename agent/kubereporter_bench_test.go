package agent

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// stormConditions are two alternating desired sets of five conditions, the
// shape a flapping check hands over on every run.
func stormConditions() [2][]Condition {
	var sets [2][]Condition
	for i, msg := range []string{"storm message A", "storm message B"} {
		for _, typ := range []string{"KubeletUnhealthy", "ContainerLogDiskPressure", "ContainerRuntimeUnhealthy", "KernelDeadlock", "NetworkMisconfigured"} {
			sets[i] = append(sets[i], Condition{Type: typ, Status: corev1.ConditionTrue, Reason: "Storm", Message: msg, LastTransitionTime: kubeT0})
		}
	}
	return sets
}

// BenchmarkKubeReporterSetConditions measures SetConditions alone (no API
// server, Run not started) under a storm of alternating states.
//
//	go test -run '^$' -bench BenchmarkKubeReporterSetConditions -benchmem ./agent
func BenchmarkKubeReporterSetConditions(b *testing.B) {
	r := NewKubeReporter(clientsetKubeAPI{fake.NewClientset()}, "bench", KubeReporterConfig{}, clocktesting.NewFakeClock(kubeT0), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	sets := stormConditions()
	remove := []string{"Disabled"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.SetConditions(sets[i%2], remove)
		i++
	}
}

// BenchmarkKubeReporterStormAPIServer runs a 10 s SetConditions storm (as
// fast as one goroutine can call it, alternating states) against a real
// kube-apiserver, and reports the status writes it caused. Run it once:
//
//	go test -run '^$' -bench BenchmarkKubeReporterStormAPIServer -benchtime 1x ./agent
func BenchmarkKubeReporterStormAPIServer(b *testing.B) {
	c := kubetest.Start(b)
	c.CreateNode(b, "bench-storm")
	counting, writes := kubeCountRequests(c.Config, kubeIsStatusPatch("bench-storm"))
	client, err := NewKubeAPI(counting)
	if err != nil {
		b.Fatal(err)
	}
	const stormFor = 10 * time.Second
	sets := stormConditions()
	for b.Loop() {
		reg := prometheus.NewRegistry()
		r := NewKubeReporter(client, "bench-storm", KubeReporterConfig{}, clock.RealClock{}, slog.New(slog.DiscardHandler), reg)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()

		before := writes.Load()
		start := time.Now()
		calls := 0
		for time.Since(start) < stormFor {
			r.SetConditions(sets[calls%2], nil)
			calls++
		}
		// Let the last batch land.
		time.Sleep(2 * time.Second)
		elapsed := time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		n := writes.Load() - before
		b.ReportMetric(float64(calls), "setconditions")
		b.ReportMetric(float64(n), "status-writes")
		b.ReportMetric(elapsed.Seconds(), "elapsed-s")
		b.ReportMetric(testutil.ToFloat64(r.metrics.statusErrors), "write-errors")
	}
}
