package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// TestJournalRotationAndVacuum: the journal files are rotated (the active
// file renamed to an archived name and a new one started, as journald
// does) and vacuumed (archived files deleted) under the reader, also while
// the agent is stopped (SIGSTOP) so a rotated file is deleted before it was
// read. The stream keeps delivering new entries without restarting, and
// the PLEG condition the journal reported stays on the Node.
func TestJournalRotationAndVacuum(t *testing.T) {
	t.Parallel()
	if err := benchkit.RequireFile(benchkit.JournalRemote, "apt-get install systemd-journal-remote"); err != nil {
		t.Fatal(err)
	}
	cluster := kubetest.Shared(t)
	const nodeName = "faults-journal-rotation"
	node := watchNode(t, cluster, nodeName)
	root := newHostRoot(t)
	dir, err := root.JournalDir()
	if err != nil {
		t.Fatal(err)
	}
	active := filepath.Join(dir, "system.journal")
	seq := 0
	write := func(n int, extra ...string) {
		t.Helper()
		var entries []benchkit.JournalEntry
		for range n {
			seq++
			entries = append(entries, benchkit.JournalEntry{Identifier: "kubelet", Unit: "kubelet.service", Priority: 6,
				Message: fmt.Sprintf(`I1122 08:11:02.000000    2291 kubelet.go:1700] "SyncLoop (housekeeping)" seq=%d`, seq)})
		}
		for _, m := range extra {
			entries = append(entries, benchkit.JournalEntry{Identifier: "kubelet", Unit: "kubelet.service", Priority: 3, Message: m})
		}
		if err := benchkit.WriteJournal(active, entries); err != nil {
			t.Fatal(err)
		}
	}
	rotations := 0
	rotate := func() string {
		t.Helper()
		rotations++
		archived := filepath.Join(dir, benchkit.ArchivedJournalName(rotations, time.Now()))
		if err := os.Rename(active, archived); err != nil {
			t.Fatal(err)
		}
		return archived
	}
	write(10)
	cfg := agentConfig{stateDir: t.TempDir(), sources: map[string]string{"journal": "{}"}}
	a := startAgent(t, benchkit.AgentOptions{NodeName: nodeName, Kubeconfig: cluster.KubeconfigPath, HostRoot: root.Dir, Config: cfg.YAML()})
	watchRSS(t, a)
	journalLines := map[string]string{"source": "journal"}
	waitLines := func(atLeast float64, what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := metricValue(t, a, "nodetriage_log_lines_total", journalLines)
			if got >= atLeast {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the journal stream delivered %v lines, want at least %v", what, got, atLeast)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	write(50, plegLine())
	waitAgent(t, a, 30*time.Second, "PLEGUnhealthy from the journal", hasCondition("KubeletUnhealthy", "True", "PLEGUnhealthy"))
	base := metricValue(t, a, "nodetriage_log_lines_total", journalLines)

	// Rotation, then a new active file.
	for i := range 3 {
		old := rotate()
		write(50)
		base += 50
		waitLines(base, fmt.Sprintf("after rotation %d", i+1))
		// Vacuum: the archived file goes away under the open reader.
		if err := os.Remove(old); err != nil {
			t.Fatal(err)
		}
		write(50)
		base += 50
		waitLines(base, fmt.Sprintf("after vacuum %d", i+1))
	}

	// Rotated and vacuumed before the reader got to it.
	if err := a.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	write(50)
	old := rotate()
	if err := os.Remove(old); err != nil {
		t.Fatal(err)
	}
	write(50)
	if err := a.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitLines(base+50, "after a vacuum while the agent was stopped")
	time.Sleep(2 * time.Second)
	after := metricValue(t, a, "nodetriage_log_lines_total", journalLines)
	t.Logf("while stopped: 100 entries written, 50 of them in a file deleted before the agent resumed; the stream delivered %v", after-base)

	if restarts := metricValue(t, a, "nodetriage_stream_restarts_total", journalLines); restarts != 0 {
		t.Errorf("the journal stream restarted %v times", restarts)
	}
	got := requireNodeMatchesAgent(t, node, a, 30*time.Second)
	requireConditions(t, got, map[string][2]string{"KubeletUnhealthy": {"True", "PLEGUnhealthy"}})
}
