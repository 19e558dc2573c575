// Command soak runs the real nodetriage binary under a sustained log storm
// and checks the agent's bounds: -kmsg-rate records/s in the kernel log and
// -journal-rate entries/s appended to a journal file (default 5,000 + 5,000
// = 10,000 lines/s) for -duration (default 10m), against a real API server.
//
// The agent runs with the shipped defaults (every check, every source, the
// default rule packs, 1 s batches, 5 min heartbeats, 5 + 2/min Events per
// reason) on a fixture host root whose /dev/kmsg is the machine's kernel log
// device and whose /var/log/journal holds a journal file that one long-running
// systemd-journal-remote appends to. The journal's kernel transport is read
// as kernel lines (kernelTransport: always), with -match-percent of its
// entries matching a rule (OOM kills with changing pids, conntrack table
// full, read-only remounts of changing devices, image pull failures of
// changing images, PLEG unhealthy).
//
// What reaches /dev/kmsg depends on -kmsg-kind. "user" (the default) writes
// the records from user space: the kernel stamps them facility user, which
// no rule may read, so they exercise the reader, queue and dispatch only.
// "kernel" makes the kernel log them itself (benchkit.KernelLog: a scratch
// ext4 filesystem on a loop device), facility kern like a real kernel storm,
// so every record also goes through the kernel rules and -match-percent of
// them fire one (ext4 errors and warnings); it lowers the console log level
// for the run, as the serial console would otherwise cap kernel records at
// a few hundred a second.
//
// Writing to /dev/kmsg faster than the kernel's default rate limit (10
// records per 5 s) needs no kernel setting: the limit applies per open file,
// so the writer reopens the device every 10 records. At 5,000 records/s the
// machine's kernel ring (128 KiB here) turns over several times a second for
// the whole run: do not run the soak while something else on the machine
// needs to read old kernel messages.
//
// It samples the agent's RSS and CPU from /proc every second and its
// metrics every 5 s, and reports: max RSS (and its private part), average
// CPU in millicores, status writes (total, per second, the most in one
// second), Events per reason against the rate limit, lines offered, read,
// dropped and lost per source. It exits 1 when a bound is missed: RSS ≤ 50
// MiB, CPU ≤ 250 millicores, status writes ≤ 1 per second, Events within
// 5 + 2/min per reason.
//
// Usage: go run ./hack/bench/soak [-duration 10m] [-kmsg-rate 5000] [-kmsg-kind user|kernel]
// [-journal-rate 5000] [-match-percent 1] [-json out.json]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

type options struct {
	duration     time.Duration
	kmsgRate     int
	kmsgKind     string
	journalRate  int
	matchPercent float64
	jsonOut      string
}

// Bounds from issue 7.
const (
	maxRSSMiB          = 50
	maxMillicores      = 250
	maxStatusWritesSec = 1.0
	eventBurst         = 5
	eventsPerMinute    = 2
)

const nodeName = "soak-node"

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the storm lasts")
	flag.IntVar(&o.kmsgRate, "kmsg-rate", 5000, "kernel log records per second")
	flag.StringVar(&o.kmsgKind, "kmsg-kind", "user", `"user": records written to /dev/kmsg (facility user; no rule reads them); "kernel": records the kernel logs itself (facility kern, -match-percent of them matching the ext4 rules; lowers the console log level for the run)`)
	flag.IntVar(&o.journalRate, "journal-rate", 5000, "entries per second appended to the journal")
	flag.Float64Var(&o.matchPercent, "match-percent", 1, "share of journal entries (and of kernel records with -kmsg-kind kernel) that match a rule, in percent")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.Parse()
	if o.kmsgKind != "user" && o.kmsgKind != "kernel" {
		fmt.Fprintf(os.Stderr, "soak: -kmsg-kind must be user or kernel, not %q\n", o.kmsgKind)
		os.Exit(2)
	}
	if o.matchPercent < 0 || o.matchPercent > 100 {
		fmt.Fprintf(os.Stderr, "soak: -match-percent must be within 0..100, not %v\n", o.matchPercent)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tb := benchkit.NewProgramTB("soak", logger, func() { os.Exit(2) })
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	res, err := run(ctx, tb, logger, o)
	stop()
	tb.Close()
	if err != nil {
		logger.Error("soak", "err", err)
		os.Exit(2)
	}
	res.print(os.Stdout)
	if o.jsonOut != "" {
		if err := benchkit.WriteJSON(o.jsonOut, res); err != nil {
			logger.Error("write results", "err", err)
			os.Exit(2)
		}
	}
	if !res.Met {
		os.Exit(1)
	}
}

type sourceResult struct {
	Offered float64 `json:"offered"`
	Read    float64 `json:"read"`
	Dropped float64 `json:"dropped"`
	Lost    float64 `json:"lost"`
}

type results struct {
	Commit               string                  `json:"commit"`
	Options              string                  `json:"options"`
	LoadBefore           string                  `json:"loadBefore"`
	LoadAfter            string                  `json:"loadAfter"`
	Seconds              float64                 `json:"seconds"`
	MaxRSSMiB            float64                 `json:"maxRSSMiB"`
	MaxPrivateMiB        float64                 `json:"maxPrivateMiB"`
	AvgMillicores        float64                 `json:"avgMillicores"`
	WriterMillicores     float64                 `json:"journalRemoteMillicores"`
	StatusWrites         float64                 `json:"statusWrites"`
	StatusWritesSec      float64                 `json:"statusWritesPerSecond"`
	PeakStatusWrites     float64                 `json:"mostStatusWritesIn10Seconds"`
	RSSAtMaxByMapping    map[string]float64      `json:"rssMiBByMappingAtMax"`
	JournalEntries       int                     `json:"entriesInJournalFile"`
	APIServerPatches     float64                 `json:"apiserverPatchNodeStatus"`
	EventsByReason       map[string]int          `json:"eventObjectsByReason"`
	EventAllowance       int                     `json:"eventAllowancePerReason"`
	EventWrites          float64                 `json:"eventWrites"`
	EventsSuppressed     float64                 `json:"eventsSuppressed"`
	EventsDropped        float64                 `json:"eventsDropped"`
	Sources              map[string]sourceResult `json:"sources"`
	FindingsByReason     map[string]float64      `json:"findingsByReason"`
	Met                  bool                    `json:"targetsMet"`
	Misses               []string                `json:"misses,omitempty"`
	ConditionsAtEnd      []string                `json:"conditionsAtEnd"`
	AgentRestartedOrDied bool                    `json:"agentDied"`
}

func (r results) print(w io.Writer) {
	fmt.Fprintf(w, "soak: commit %s, %s, %.0f s; load average before %s, after %s\n", r.Commit, r.Options, r.Seconds, r.LoadBefore, r.LoadAfter)
	fmt.Fprintf(w, "agent RSS max %.1f MiB (private %.1f MiB), CPU avg %.0f millicores (journal-remote writing the storm: %.0f)\n",
		r.MaxRSSMiB, r.MaxPrivateMiB, r.AvgMillicores, r.WriterMillicores)
	fmt.Fprintf(w, "RSS by mapping when it peaked (MiB):")
	for _, k := range sortedKeys(r.RSSAtMaxByMapping) {
		fmt.Fprintf(w, " %s %.1f;", k, r.RSSAtMaxByMapping[k])
	}
	fmt.Fprintf(w, "\nstatus writes %.0f (%.2f/s, at most %.0f in any 10 s); the API server counted %.0f PATCH nodes/status\n",
		r.StatusWrites, r.StatusWritesSec, r.PeakStatusWrites, r.APIServerPatches)
	fmt.Fprintf(w, "the journal file holds %d entries at the end (journalctl --file)\n", r.JournalEntries)
	fmt.Fprintf(w, "Event writes %.0f, suppressed by the rate limit %.0f, dropped %.0f; Event objects per reason (allowance %d):\n",
		r.EventWrites, r.EventsSuppressed, r.EventsDropped, r.EventAllowance)
	for _, reason := range sortedKeys(r.EventsByReason) {
		fmt.Fprintf(w, "  %-28s %d\n", reason, r.EventsByReason[reason])
	}
	fmt.Fprintf(w, "%-8s %10s %10s %10s %10s\n", "source", "offered", "read", "dropped", "lost")
	for _, s := range sortedKeys(r.Sources) {
		v := r.Sources[s]
		fmt.Fprintf(w, "%-8s %10.0f %10.0f %10.0f %10.0f\n", s, v.Offered, v.Read, v.Dropped, v.Lost)
	}
	fmt.Fprintf(w, "findings by reason:")
	for _, reason := range sortedKeys(r.FindingsByReason) {
		fmt.Fprintf(w, " %s=%.0f", reason, r.FindingsByReason[reason])
	}
	fmt.Fprintf(w, "\nconditions at the end:\n  %s\n", strings.Join(r.ConditionsAtEnd, "\n  "))
	if r.Met {
		fmt.Fprintf(w, "targets (RSS ≤ %d MiB, CPU ≤ %d millicores, status writes ≤ %.0f/s, Events ≤ %d + %d/min per reason): met\n", maxRSSMiB, maxMillicores, maxStatusWritesSec, eventBurst, eventsPerMinute)
	} else {
		fmt.Fprintf(w, "targets NOT met: %s\n", strings.Join(r.Misses, "; "))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func run(ctx context.Context, tb *benchkit.ProgramTB, logger *slog.Logger, o options) (results, error) {
	res := results{Commit: benchkit.GitCommit(), Sources: map[string]sourceResult{},
		Options: fmt.Sprintf("%d kmsg (%s) + %d journal lines/s, %.1f%% of journal lines matching", o.kmsgRate, o.kmsgKind, o.journalRate, o.matchPercent)}
	if o.kmsgKind == "kernel" {
		res.Options += fmt.Sprintf(", %.1f%% of kernel records matching", o.matchPercent)
	}
	if err := benchkit.RequireFile(benchkit.JournalRemote, "apt-get install systemd-journal-remote"); err != nil {
		return res, err
	}
	work := tb.TempDir()
	bin, err := benchkit.BuildAgent(work)
	if err != nil {
		return res, err
	}
	cluster := kubetest.Start(tb)
	cluster.CreateNode(tb, nodeName)
	admin, err := rest.HTTPClientFor(cluster.Config)
	if err != nil {
		return res, err
	}
	root, err := benchkit.NewHostRoot(filepath.Join(work, "host"))
	if err != nil {
		return res, err
	}
	if err := root.AddKmsgDevice(); err != nil {
		return res, err
	}
	jdir, err := root.JournalDir()
	if err != nil {
		return res, err
	}
	var klog *benchkit.KernelLog
	if o.kmsgKind == "kernel" {
		dir := filepath.Join(work, "kernellog")
		if err := os.Mkdir(dir, 0o755); err != nil {
			return res, err
		}
		if klog, err = benchkit.NewKernelLog(dir); err != nil {
			return res, err
		}
		defer klog.Close()
		logger.Info("console log level lowered to 1 for the storm; restored at the end", "kernelLog", dir)
	}
	journalFile := filepath.Join(jdir, "system.journal")
	if err := benchkit.WriteJournal(journalFile, []benchkit.JournalEntry{{Identifier: "kubelet", Message: "soak starting"}}); err != nil {
		return res, err
	}
	cfg := fmt.Sprintf(`apiVersion: nodetriage.io/v1alpha1
kind: AgentConfig
stateDir: %s
sources:
  kmsg: {settings: {lookback: 0s}}
  journal: {settings: {kernelTransport: always, lookback: 0s}}
`, filepath.Join(work, "state"))
	a, err := benchkit.StartAgent(ctx, benchkit.AgentOptions{Binary: bin, Dir: filepath.Join(work, "agent"), NodeName: nodeName,
		Kubeconfig: cluster.KubeconfigPath, HostRoot: root.Dir, Config: cfg})
	if err != nil {
		return res, err
	}
	defer a.Stop(10 * time.Second)
	// Let start-up (first check runs, the initial status write) settle.
	if err := benchkit.Sleep(ctx, 20*time.Second); err != nil {
		return res, err
	}

	js, err := benchkit.StartJournalStream(journalFile)
	if err != nil {
		return res, err
	}
	res.LoadBefore = benchkit.LoadAvg()
	before, err := a.Metrics(ctx)
	if err != nil {
		return res, err
	}
	apiBefore, err := benchkit.Scrape(ctx, admin, cluster.URL()+"/metrics")
	if err != nil {
		return res, err
	}
	procStart, err := a.Proc()
	if err != nil {
		return res, err
	}
	writerStart, _ := benchkit.ReadProc(js.Pid())

	stormCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var wg sync.WaitGroup
	var kmsgWritten, journalWritten int
	var kmsgErr, journalErr error
	wg.Go(func() {
		if klog != nil {
			kmsgWritten, kmsgErr = writeKernel(stormCtx, klog, o.kmsgRate, o.matchPercent)
			return
		}
		kmsgWritten, kmsgErr = writeKmsg(stormCtx, o.kmsgRate)
	})
	wg.Go(func() { journalWritten, journalErr = writeJournal(stormCtx, js, o.journalRate, o.matchPercent) })

	// Sample while the storm runs: memory every second, status writes as a
	// series of (time, count) to find the busiest 10 s.
	var maxRSS, maxAnon uint64
	type writeSample struct {
		at     time.Time
		writes float64
	}
	var writes []writeSample
	tick := time.NewTicker(time.Second)
	for stormCtx.Err() == nil {
		select {
		case <-stormCtx.Done():
		case <-tick.C:
		}
		if s, err := a.Proc(); err == nil {
			if s.RSSBytes > maxRSS {
				if byMap, err := benchkit.RSSByMapping(a.PID()); err == nil {
					res.RSSAtMaxByMapping = map[string]float64{}
					for k, v := range byMap {
						res.RSSAtMaxByMapping[k] = benchkit.MiB(v)
					}
				}
			}
			maxRSS, maxAnon = max(maxRSS, s.RSSBytes), max(maxAnon, s.AnonBytes)
		} else if a.Exited() {
			res.AgentRestartedOrDied = true
			break
		}
		mctx, mcancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := a.Metrics(mctx)
		mcancel()
		if err == nil {
			writes = append(writes, writeSample{time.Now(), m.Value("nodetriage_api_writes_total", map[string]string{"kind": "status"})})
		}
	}
	tick.Stop()
	var peak float64
	for i := range writes {
		for j := i; j < len(writes) && writes[j].at.Sub(writes[i].at) <= 10*time.Second; j++ {
			peak = max(peak, writes[j].writes-writes[i].writes)
		}
	}
	wg.Wait()
	procEnd, err := a.Proc()
	if err != nil {
		res.AgentRestartedOrDied = true
		return res, fmt.Errorf("the agent is gone at the end of the storm: %w; end of its log:\n%s", err, a.LogTail(30))
	}
	writerEnd, _ := benchkit.ReadProc(js.Pid())
	if err := js.Close(); err != nil {
		logger.Warn("journal-remote", "err", err)
	}
	if kmsgErr != nil || journalErr != nil {
		return res, fmt.Errorf("writers: kmsg %v, journal %v", kmsgErr, journalErr)
	}
	// Let the queues drain and the last batch go out before reading totals.
	if err := benchkit.Sleep(ctx, 10*time.Second); err != nil {
		return res, err
	}
	res.JournalEntries = countJournalEntries(journalFile)
	after, err := a.Metrics(ctx)
	if err != nil {
		return res, err
	}
	apiAfter, err := benchkit.Scrape(ctx, admin, cluster.URL()+"/metrics")
	if err != nil {
		return res, err
	}
	res.LoadAfter = benchkit.LoadAvg()
	res.Seconds = procEnd.At.Sub(procStart.At).Seconds()
	res.MaxRSSMiB, res.MaxPrivateMiB = benchkit.MiB(maxRSS), benchkit.MiB(maxAnon)
	res.AvgMillicores = benchkit.Millicores(procStart, procEnd)
	res.WriterMillicores = benchkit.Millicores(writerStart, writerEnd)
	delta := func(name string, labels map[string]string) float64 {
		return after.Value(name, labels) - before.Value(name, labels)
	}
	res.StatusWrites = delta("nodetriage_api_writes_total", map[string]string{"kind": "status"})
	res.StatusWritesSec = res.StatusWrites / res.Seconds
	res.PeakStatusWrites = peak
	res.APIServerPatches = apiAfter.Value("apiserver_request_total", map[string]string{"verb": "PATCH", "resource": "nodes", "subresource": "status"}) -
		apiBefore.Value("apiserver_request_total", map[string]string{"verb": "PATCH", "resource": "nodes", "subresource": "status"})
	res.EventWrites = delta("nodetriage_api_writes_total", map[string]string{"kind": "event"})
	res.EventsSuppressed = delta("nodetriage_events_suppressed_total", nil)
	res.EventsDropped = delta("nodetriage_events_dropped_total", nil)
	offered := map[string]float64{"kmsg": float64(kmsgWritten), "journal": float64(journalWritten)}
	for _, src := range []string{"kmsg", "journal"} {
		l := map[string]string{"source": src}
		res.Sources[src] = sourceResult{Offered: offered[src], Read: delta("nodetriage_log_lines_total", l),
			Dropped: delta("nodetriage_log_lines_dropped_total", l), Lost: delta("nodetriage_log_records_lost_total", l)}
	}
	res.FindingsByReason = map[string]float64{}
	if fam, ok := after["nodetriage_findings_total"]; ok {
		for _, s := range fam.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "reason" {
					res.FindingsByReason[l.GetValue()] += s.GetCounter().GetValue() - before.Value("nodetriage_findings_total", map[string]string{"reason": l.GetValue()})
				}
			}
		}
	}
	list, err := cluster.Client.EventsV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{FieldSelector: "regarding.name=" + nodeName})
	if err != nil {
		return res, err
	}
	res.EventsByReason = countEvents(list.Items)
	minutes := int(res.Seconds/60) + 1
	res.EventAllowance = eventBurst + eventsPerMinute*minutes
	if r, err := a.Report(ctx); err == nil {
		for _, c := range benchkit.ReportConditions(r) {
			res.ConditionsAtEnd = append(res.ConditionsAtEnd, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
		}
	}

	if res.MaxRSSMiB > maxRSSMiB {
		res.Misses = append(res.Misses, fmt.Sprintf("RSS %.1f MiB > %d MiB", res.MaxRSSMiB, maxRSSMiB))
	}
	if res.AvgMillicores > maxMillicores {
		res.Misses = append(res.Misses, fmt.Sprintf("CPU %.0f > %d millicores", res.AvgMillicores, maxMillicores))
	}
	// Samples are about a second apart, so "any 10 s" may span a little
	// more than 10 s: one write of slack.
	if res.StatusWritesSec > maxStatusWritesSec || res.PeakStatusWrites > 10*maxStatusWritesSec+1 {
		res.Misses = append(res.Misses, fmt.Sprintf("status writes %.2f/s (%.0f in the busiest 10 s) > %.0f/s", res.StatusWritesSec, res.PeakStatusWrites, maxStatusWritesSec))
	}
	for reason, n := range res.EventsByReason {
		if n > res.EventAllowance {
			res.Misses = append(res.Misses, fmt.Sprintf("%d %s Events > %d", n, reason, res.EventAllowance))
		}
	}
	if res.AgentRestartedOrDied {
		res.Misses = append(res.Misses, "the agent died")
	}
	res.Met = len(res.Misses) == 0
	return res, nil
}

// countJournalEntries counts the entries journalctl reads from the file,
// the ground truth for what the journal stream could deliver.
func countJournalEntries(path string) int {
	out, err := exec.Command("journalctl", "--file", path, "-q", "-o", "cat", "--no-pager").Output()
	if err != nil {
		return -1
	}
	return strings.Count(string(out), "\n")
}

func countEvents(items []eventsv1.Event) map[string]int {
	out := map[string]int{}
	for _, e := range items {
		out[e.Reason]++
	}
	return out
}

// writeKmsg writes rate records per second to the machine's /dev/kmsg in
// 10 ms slices until ctx is done, and returns how many it wrote.
func writeKmsg(ctx context.Context, rate int) (int, error) {
	w := benchkit.NewKmsgWriter("/dev/kmsg")
	defer w.Close()
	return paced(ctx, rate, func(n int) error {
		return w.WriteLine(fmt.Sprintf("nodetriage-soak: eth%d: link is up, 10000 Mbps full duplex, flow control rx/tx seq=%d\n", n%4, n))
	})
}

// writeKernel makes the kernel log about rate records per second, of which
// matchPercent match a rule, and returns how many it logged. A fault logs
// two matching records, a chatter one that matches nothing, so one fault in
// every ops operations gives 2 matching records in ops+1.
func writeKernel(ctx context.Context, k *benchkit.KernelLog, rate int, matchPercent float64) (int, error) {
	ops := 0 // no faults
	if matchPercent > 0 {
		p := matchPercent / 100
		ops = max(1, int(math.Round(float64(benchkit.RecordsPerFault)/p))-benchkit.RecordsPerFault+benchkit.RecordsPerChatter)
	}
	records := 0
	opsRate := rate
	if ops > 0 {
		opsRate = int(math.Round(float64(rate) * float64(ops) / float64(ops-1+benchkit.RecordsPerFault)))
	}
	_, err := paced(ctx, opsRate, func(n int) error {
		if ops > 0 && n%ops == 0 {
			records += benchkit.RecordsPerFault
			return k.Fault()
		}
		records += benchkit.RecordsPerChatter
		return k.Chatter(n)
	})
	return records, err
}

// writeJournal appends rate entries per second; matchPercent of them match
// a rule.
func writeJournal(ctx context.Context, js *benchkit.JournalStream, rate int, matchPercent float64) (int, error) {
	every := int(100 / matchPercent)
	n, err := paced(ctx, rate, func(n int) error {
		return js.Write(journalEntry(n, every))
	}, js.Flush)
	if err != nil {
		return n, err
	}
	return n, js.Flush()
}

// journalEntry is the n-th entry of the storm: mostly the background chatter
// of a busy node, every every-th one a line a rule matches.
func journalEntry(n, every int) benchkit.JournalEntry {
	now := time.Now()
	if every > 0 && n%every == 0 {
		switch m := n / every; m % 6 {
		case 0:
			return benchkit.JournalEntry{Time: now, Kernel: true, Priority: 3,
				Message: fmt.Sprintf("Memory cgroup out of memory: Killed process %d (java) total-vm:4218844kB, anon-rss:1048576kB, file-rss:20480kB, shmem-rss:0kB, UID:1000 pgtables:2456kB oom_score_adj:983", 100000+m)}
		case 1:
			return benchkit.JournalEntry{Time: now, Kernel: true, Priority: 4, Message: "nf_conntrack: nf_conntrack: table full, dropping packet"}
		case 2:
			return benchkit.JournalEntry{Time: now, Kernel: true, Priority: 2, Message: fmt.Sprintf("EXT4-fs (loop%d): Remounting filesystem read-only", m%50)}
		case 3:
			return benchkit.JournalEntry{Time: now, Identifier: "kubelet", Unit: "kubelet.service", Priority: 3,
				Message: fmt.Sprintf(`E1122 08:11:02.123456    2291 log.go:32] "PullImage from image service failed" err="rpc error: code = NotFound" image="registry.example.com/team/app:v%d"`, m)}
		case 4:
			return benchkit.JournalEntry{Time: now, Identifier: "kubelet", Unit: "kubelet.service", Priority: 3,
				Message: `I1122 08:11:02.123456    2291 kubelet.go:2412] "Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active 3m5.123s ago; threshold is 3m0s"`}
		default:
			return benchkit.JournalEntry{Time: now, Kernel: true, Priority: 3, Message: fmt.Sprintf("EXT4-fs error (device sdb%d): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0", m%8)}
		}
	}
	switch n % 4 {
	case 0:
		return benchkit.JournalEntry{Time: now, Identifier: "kubelet", Unit: "kubelet.service", Priority: 6,
			Message: fmt.Sprintf(`I1122 08:11:02.123456    2291 kubelet_pods.go:1064] "Clean up probes for terminated pods" seq=%d`, n)}
	case 1:
		return benchkit.JournalEntry{Time: now, Identifier: "containerd", Unit: "containerd.service", Priority: 6,
			Message: fmt.Sprintf(`time="2026-11-22T08:11:02.123456789Z" level=info msg="ImageCreate event name:\"registry.k8s.io/pause:3.9\"" seq=%d`, n)}
	case 2:
		return benchkit.JournalEntry{Time: now, Kernel: true, Priority: 6, Message: fmt.Sprintf("IPv6: ADDRCONF(NETDEV_CHANGE): veth%08x: link becomes ready", n)}
	default:
		return benchkit.JournalEntry{Time: now, Identifier: "kube-proxy", Priority: 6,
			Message: fmt.Sprintf(`I1122 08:11:02.123456       1 proxier.go:799] "SyncProxyRules complete" elapsed="%dms"`, n%97)}
	}
}

// paced calls write(n) rate times per second in 10 ms slices until ctx is
// done, then flush after each slice. It returns the count written.
func paced(ctx context.Context, rate int, write func(n int) error, flush ...func() error) (int, error) {
	const slice = 10 * time.Millisecond
	start := time.Now()
	n := 0
	tick := time.NewTicker(slice)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return n, nil
		case <-tick.C:
		}
		due := int(time.Since(start).Seconds() * float64(rate))
		for ; n < due; n++ {
			if err := write(n); err != nil {
				return n, err
			}
		}
		for _, f := range flush {
			if err := f(); err != nil {
				return n, err
			}
		}
	}
}
