package faults

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// kmsgOverrunRecords is written while the agent is stopped: far more than
// the kernel's ring holds (128 KiB of text here, at most a few thousand
// records), so the reader finds its position overwritten.
const kmsgOverrunRecords = 20000

// TestKmsgOverrun: the agent is stopped (SIGSTOP) while user space writes
// far more records to /dev/kmsg than the kernel ring holds, then resumed.
// The reader gets EPIPE, skips to the oldest record still there, and counts
// the gap in nodetriage_log_records_lost_total{source="kmsg"}.
//
// No kernel setting changes: the fixture's dev/kmsg is the real device
// (1:11) and the writer reopens it every 10 records, because the kernel's
// rate limit on user writes applies per open file. The records carry
// facility user, which no rule reads; they do push older records out of
// the ring for every reader on this machine, as any busy logger would.
func TestKmsgOverrun(t *testing.T) {
	t.Parallel()
	cluster := kubetest.Shared(t)
	const nodeName = "faults-kmsg-overrun"
	node := watchNode(t, cluster, nodeName)
	root := newHostRoot(t)
	if err := root.AddKmsgDevice(); err != nil {
		t.Fatal(err)
	}
	cfg := agentConfig{stateDir: t.TempDir(), sources: map[string]string{"kmsg": "{settings: {lookback: 0s}}"}}
	a := startAgent(t, benchkit.AgentOptions{NodeName: nodeName, Kubeconfig: cluster.KubeconfigPath, HostRoot: root.Dir, Config: cfg.YAML()})
	watchRSS(t, a)
	kmsg := map[string]string{"source": "kmsg"}
	requireNodeMatchesAgent(t, node, a, time.Minute)
	if !metricHas(t, a, "nodetriage_log_records_lost_total", kmsg) {
		t.Fatalf("nodetriage_log_records_lost_total{source=\"kmsg\"} is not exported")
	}

	// The reader counts a gap from the last sequence number it read, so it
	// must have read one before the overrun (a reader that starts at the
	// end of the ring and is overrun before its first record cannot tell
	// how many it missed).
	w := benchkit.NewKmsgWriter("/dev/kmsg")
	deadline := time.Now().Add(30 * time.Second)
	for metricValue(t, a, "nodetriage_log_lines_total", kmsg) == 0 {
		if err := w.WriteLine("nodetriage-faults-test: kmsg overrun test starting\n"); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the kmsg stream read none of the records written to /dev/kmsg")
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := metricValue(t, a, "nodetriage_log_lines_total", kmsg)
	if err := a.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for i := range kmsgOverrunRecords {
		if err := w.WriteLine(fmt.Sprintf("nodetriage-faults-test: kmsg overrun record %d of %d, padding the ring buffer\n", i, kmsgOverrunRecords)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if err := a.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}

	deadline = time.Now().Add(30 * time.Second)
	var lost, read float64
	for {
		lost = metricValue(t, a, "nodetriage_log_records_lost_total", kmsg)
		read = metricValue(t, a, "nodetriage_log_lines_total", kmsg) - before
		if lost > 0 && lost+read >= kmsgOverrunRecords {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after writing %d records: lost %v, read %v; want the gap counted", kmsgOverrunRecords, lost, read)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d records written while the agent was stopped: %v counted lost, %v read", kmsgOverrunRecords, lost, read)
	if lost > kmsgOverrunRecords+1000 {
		t.Errorf("lost %v records, more than were written (%d) plus other writers' share", lost, kmsgOverrunRecords)
	}
	requireNodeMatchesAgent(t, node, a, 30*time.Second)
}

func metricHas(t *testing.T, a *benchkit.Agent, name string, labels map[string]string) bool {
	t.Helper()
	ctx, cancel := contextTimeout(5 * time.Second)
	defer cancel()
	m, err := a.Metrics(ctx)
	if err != nil {
		t.Fatalf("scrape agent: %v", err)
	}
	return m.Has(name, labels)
}
