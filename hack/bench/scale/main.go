// Command scale simulates a fleet of nodetriage agents against one real API
// server: -nodes reporters (agent.NewKubeReporter, distinct Node names, one
// process, one shared metrics registry) write their conditions the way the
// agent's state machine hands them over, and the program measures what the
// API server sees.
//
// Phases:
//
//  1. ramp: reporters start spread evenly over one heartbeat interval (a
//     fleet whose agents started at different times), each writing its
//     initial conditions;
//  2. steady (-steady, default 10m): nothing changes; every reporter
//     refreshes lastHeartbeatTime once per heartbeat (default the real 5m);
//  3. fault: every node's ConntrackProblem flips to True at the same
//     moment, with its transition Event, and the program waits until the
//     API server shows all of them;
//  4. storm (-storm, default 1m): every node's condition message changes
//     -storm-rate times a second.
//
// For each phase it reports status writes (nodetriage_api_writes_total and
// the API server's apiserver_request_total), writes per node, the most
// writes started in one second and the shortest time between two writes of
// one node (from every request's start time), client-side request latency
// (every request timed) and the API server's
// apiserver_request_duration_seconds for PATCH nodes/status and POST
// events, as p50/p99, plus the API server's CPU and RSS.
//
// Requests go over -clients connections (HTTP/2, separate transports) with
// client-side rate limiting off: a real agent's limit (5 QPS) is per node
// and never binds at one write per batch interval.
//
// Usage: go run ./hack/bench/scale [-nodes 1000] [-steady 10m] [-heartbeat 5m] [-json out.json]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// conditionTypes are the condition types a default agent reports.
var conditionTypes = []string{
	"ConntrackProblem", "ContainerLogDiskPressure", "ContainerNetworkNotReady", "ContainerRuntimeUnhealthy",
	"HairpinMisconfigured", "KernelDeadlock", "KubeletUnhealthy", "MemoryCgroupLeak", "NFSServerUnreachable",
	"ReadonlyFilesystem", "SandboxImageMissing",
}

type options struct {
	nodes      int
	steady     time.Duration
	heartbeat  time.Duration
	batch      time.Duration
	storm      time.Duration
	stormRate  int
	clients    int
	jsonOut    string
	skipRampUp bool
}

func main() {
	var o options
	flag.IntVar(&o.nodes, "nodes", 1000, "simulated nodes (one reporter each)")
	flag.DurationVar(&o.steady, "steady", 10*time.Minute, "steady-state measurement window")
	flag.DurationVar(&o.heartbeat, "heartbeat", 5*time.Minute, "reporting.heartbeatInterval")
	flag.DurationVar(&o.batch, "batch", time.Second, "reporting.batchInterval")
	flag.DurationVar(&o.storm, "storm", time.Minute, "length of the message storm")
	flag.IntVar(&o.stormRate, "storm-rate", 10, "condition message changes per node per second during the storm")
	flag.IntVar(&o.clients, "clients", 10, "client connections shared by the reporters")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tb := benchkit.NewProgramTB("scale", logger, func() { os.Exit(1) })
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	res, err := run(ctx, tb, logger, o)
	stop()
	tb.Close()
	if err != nil {
		logger.Error("scale", "err", err)
		os.Exit(1)
	}
	res.print(os.Stdout)
	if o.jsonOut != "" {
		if err := benchkit.WriteJSON(o.jsonOut, res); err != nil {
			logger.Error("write results", "err", err)
			os.Exit(1)
		}
	}
}

// phaseResult is what one phase measured.
type phaseResult struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Writes  float64 `json:"statusWrites"`
	Errors  float64 `json:"statusWriteErrors"`
	Events  float64 `json:"eventWrites"`
	Patches float64 `json:"apiserverPatchNodeStatus"`
	Posts   float64 `json:"apiserverPostEvents"`
	PerSec  float64 `json:"statusWritesPerSecond"`
	PerNode float64 `json:"statusWritesPerNode"`
	PeakSec float64 `json:"peakStatusWritesInOneSecond"`
	// MinGapSeconds is the shortest time between two status writes of the
	// same node in the phase (-1: no node wrote twice).
	MinGapSeconds float64 `json:"minSecondsBetweenWritesOfOneNode"`
	ClientMs      latency `json:"clientPatchMs"`
	ServerMs      latency `json:"apiserverPatchMs"`
	EventMs       latency `json:"apiserverPostEventMs"`
	APICPU        float64 `json:"apiserverMillicores"`
	APIRSS        float64 `json:"apiserverRSSMiB"`
	Extra         string  `json:"note,omitempty"`
}

type latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

type results struct {
	Commit string        `json:"commit"`
	Nodes  int           `json:"nodes"`
	Opts   string        `json:"options"`
	Phases []phaseResult `json:"phases"`
	Setup  string        `json:"setup"`
}

func (r results) print(w io.Writer) {
	fmt.Fprintf(w, "scale: %d nodes, commit %s, %s\n%s\n", r.Nodes, r.Commit, r.Opts, r.Setup)
	fmt.Fprintf(w, "%-8s %7s %7s %6s %6s %8s %9s %8s %8s %16s %16s %16s %8s %8s\n",
		"phase", "secs", "writes", "errors", "events", "writes/s", "per node", "peak/s", "min gap", "client p50/p99", "apisrv p50/p99", "event p50/p99", "api mcpu", "api MiB")
	for _, p := range r.Phases {
		gap := "-"
		if p.MinGapSeconds >= 0 {
			gap = fmt.Sprintf("%.2f", p.MinGapSeconds)
		}
		fmt.Fprintf(w, "%-8s %7.0f %7.0f %6.0f %6.0f %8.2f %9.2f %8.0f %8s %7.1f/%-8.1f %7.1f/%-8.1f %7.1f/%-8.1f %8.0f %8.0f\n",
			p.Name, p.Seconds, p.Writes, p.Errors, p.Events, p.PerSec, p.PerNode, p.PeakSec, gap,
			p.ClientMs.P50, p.ClientMs.P99, p.ServerMs.P50, p.ServerMs.P99, p.EventMs.P50, p.EventMs.P99, p.APICPU, p.APIRSS)
		if p.Extra != "" {
			fmt.Fprintf(w, "         %s\n", p.Extra)
		}
	}
}

func run(ctx context.Context, tb *benchkit.ProgramTB, logger *slog.Logger, o options) (results, error) {
	res := results{Commit: benchkit.GitCommit(), Nodes: o.nodes,
		Opts: fmt.Sprintf("heartbeat %s, batch %s, steady %s, storm %s at %d changes/node/s, %d client connections", o.heartbeat, o.batch, o.steady, o.storm, o.stormRate, o.clients)}
	cluster := kubetest.Start(tb)
	apiPID, err := findAPIServer(cluster)
	if err != nil {
		return res, err
	}
	admin, err := rest.HTTPClientFor(cluster.Config)
	if err != nil {
		return res, err
	}
	names := make([]string, o.nodes)
	for i := range names {
		names[i] = fmt.Sprintf("scale-node-%04d", i)
	}
	logger.Info("creating nodes", "n", o.nodes)
	if err := createNodes(ctx, cluster.Client, names); err != nil {
		return res, err
	}

	timer := &requestTimer{}
	clients := make([]agent.KubeAPI, o.clients)
	for i := range clients {
		cfg := rest.CopyConfig(cluster.Config)
		cfg.QPS, cfg.Burst = -1, 0 // no client-side limiter (see the package doc)
		cfg.UserAgent = "nodetriage-scale"
		// A Dial func of its own keeps client-go from sharing one cached
		// transport (and connection) between the clients.
		cfg.Dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		cfg.WrapTransport = timer.wrap
		if clients[i], err = agent.NewKubeAPI(cfg); err != nil {
			return res, err
		}
	}
	reg := prometheus.NewRegistry()
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	rcfg := agent.KubeReporterConfig{BatchInterval: o.batch, HeartbeatInterval: o.heartbeat}
	reporters := make([]*agent.KubeReporter, o.nodes)
	for i, n := range names {
		reporters[i] = agent.NewKubeReporter(clients[i%len(clients)], n, rcfg, clock.RealClock{}, quiet, reg)
	}
	var msgSeq atomic.Int64
	desired := func(status corev1.ConditionStatus, msg string) []agent.Condition {
		conds := make([]agent.Condition, 0, len(conditionTypes))
		now := time.Now()
		for _, t := range conditionTypes {
			c := agent.Condition{Type: t, Status: corev1.ConditionFalse, Reason: "NoProblemDetected", Message: "No problem found by " + strings.ToLower(t) + " or in the node's logs.", LastTransitionTime: now}
			if t == "ConntrackProblem" && status == corev1.ConditionTrue {
				c.Status, c.Reason, c.Message = status, "ConntrackTableFull", msg
			}
			conds = append(conds, c)
		}
		return conds
	}

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var wg sync.WaitGroup
	sampler := newSampler(reg, apiPID, cluster, admin)
	res.Setup = fmt.Sprintf("GOMAXPROCS %d; API server pid %d", runtime.GOMAXPROCS(0), apiPID)

	// Phase 1: ramp.
	rampStart := sampler.snapshot(ctx)
	logger.Info("ramp: starting reporters spread over one heartbeat interval", "interval", o.heartbeat)
	spread := o.heartbeat / time.Duration(o.nodes)
	for i, r := range reporters {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(time.Until(rampStart.at.Add(time.Duration(i) * spread))):
		}
		r.SetConditions(desired(corev1.ConditionFalse, ""), nil)
		wg.Go(func() { _ = r.Run(runCtx) })
	}
	time.Sleep(5 * time.Second) // the last reporters' first writes
	steadyStart := sampler.snapshot(ctx)
	res.Phases = append(res.Phases, sampler.phase("ramp", rampStart, steadyStart, timer, o.nodes, ""))

	// Phase 2: steady state.
	logger.Info("steady state", "window", o.steady)
	if err := benchkit.Sleep(ctx, o.steady); err != nil {
		return res, err
	}
	faultStart := sampler.snapshot(ctx)
	ph := sampler.phase("steady", steadyStart, faultStart, timer, o.nodes,
		fmt.Sprintf("expected %.0f heartbeat writes (%d nodes × %s / %s)", float64(o.nodes)*o.steady.Seconds()/o.heartbeat.Seconds(), o.nodes, o.steady, o.heartbeat))
	res.Phases = append(res.Phases, ph)

	// Phase 3: every node's condition flips at once.
	logger.Info("fleet-wide fault: every node's ConntrackProblem goes True")
	watchCtx, cancelWatch := context.WithCancel(ctx)
	// A watch is one long request: the harness's client has a 30 s timeout.
	watchCfg := rest.CopyConfig(cluster.Config)
	watchCfg.Timeout = 0
	watchClient, err := kubernetes.NewForConfig(watchCfg)
	if err != nil {
		cancelWatch()
		return res, err
	}
	allTrue, seenCount := watchAllTrue(watchCtx, logger, watchClient, o.nodes)
	flipped := time.Now()
	for _, r := range reporters {
		r.SetConditions(desired(corev1.ConditionTrue, "conntrack table full: the kernel dropped 1 packet since the last check"), nil)
		r.Emit(agent.Event{Key: "ConntrackProblem", Type: corev1.EventTypeWarning, Reason: "ConntrackTableFull", Action: "Detected",
			Note: "conntrack table full: the kernel dropped 1 packet since the last check"})
	}
	visibleNote := ""
	select {
	case at := <-allTrue:
		visibleNote = fmt.Sprintf("all %d nodes showed ConntrackProblem=True %s after the flip", o.nodes, at.Sub(flipped).Round(10*time.Millisecond))
	case <-time.After(2 * time.Minute):
		visibleNote = fmt.Sprintf("only %d of %d nodes showed ConntrackProblem=True within 2m of the flip", seenCount(), o.nodes)
	}
	cancelWatch()
	if err := benchkit.Sleep(ctx, max(0, 30*time.Second-time.Since(flipped))); err != nil {
		return res, err
	}
	stormStart := sampler.snapshot(ctx)
	ph = sampler.phase("fault", faultStart, stormStart, timer, o.nodes, visibleNote)
	res.Phases = append(res.Phases, ph)

	// Phase 4: a storm of changing messages.
	logger.Info("message storm", "duration", o.storm, "changes per node per second", o.stormRate)
	stormCtx, cancelStorm := context.WithTimeout(ctx, o.storm)
	tick := time.NewTicker(time.Second / time.Duration(o.stormRate))
	changes := 0
	for stormCtx.Err() == nil {
		select {
		case <-stormCtx.Done():
		case <-tick.C:
			n := msgSeq.Add(1)
			msg := "conntrack table full: the kernel dropped " + strconv.FormatInt(n, 10) + " packets since the last check"
			conds := desired(corev1.ConditionTrue, msg)
			for _, r := range reporters {
				r.SetConditions(conds, nil)
			}
			changes++
		}
	}
	tick.Stop()
	cancelStorm()
	if err := benchkit.Sleep(ctx, 3*time.Second); err != nil { // the last batch
		return res, err
	}
	end := sampler.snapshot(ctx)
	ph = sampler.phase("storm", stormStart, end, timer, o.nodes,
		fmt.Sprintf("%d message changes per node; target at most one write per node per %s batch", changes, o.batch))
	res.Phases = append(res.Phases, ph)

	cancelRun()
	wg.Wait()
	return res, nil
}

func createNodes(ctx context.Context, client kubernetes.Interface, names []string) error {
	work := make(chan string)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for n := range work {
				_, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
				if err != nil {
					select {
					case errs <- fmt.Errorf("create node %s: %w", n, err):
					default:
					}
				}
			}
		})
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// watchAllTrue reports the time the last of n nodes showed
// ConntrackProblem=True, and how many have so far. It re-watches from the
// last resource version when the server ends the watch.
func watchAllTrue(ctx context.Context, logger *slog.Logger, client kubernetes.Interface, n int) (<-chan time.Time, func() int) {
	out := make(chan time.Time, 1)
	var count atomic.Int64
	go func() {
		seen := map[string]bool{}
		rv := ""
		for ctx.Err() == nil {
			w, err := client.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
			if err != nil {
				logger.Warn("watch nodes", "err", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					logger.Warn("watch nodes", "event", ev.Object)
					rv = ""
					break
				}
				node, ok := ev.Object.(*corev1.Node)
				if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
					continue
				}
				rv = node.ResourceVersion
				for _, c := range node.Status.Conditions {
					if c.Type == "ConntrackProblem" && c.Status == corev1.ConditionTrue {
						seen[node.Name] = true
					}
				}
				count.Store(int64(len(seen)))
				if len(seen) == n {
					out <- time.Now()
					w.Stop()
					return
				}
			}
			w.Stop()
		}
	}()
	return out, func() int { return int(count.Load()) }
}

func findAPIServer(c *kubetest.Cluster) (int, error) {
	port := strings.TrimPrefix(c.URL(), "https://127.0.0.1:")
	return benchkit.FindProcess("kube-apiserver with --secure-port="+port, func(argv []string) bool {
		return strings.HasSuffix(argv[0], "kube-apiserver") && slices.Contains(argv[1:], "--secure-port="+port)
	})
}

// requestTimer times every status PATCH the reporters make and remembers
// when each started and for which node.
type requestTimer struct {
	mu      sync.Mutex
	patches []patchRecord
	mark    int
}

type patchRecord struct {
	node  string
	start time.Time
	ms    float64
}

func (t *requestTimer) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		if req.Method == http.MethodPatch && strings.HasSuffix(req.URL.Path, "/status") {
			rec := patchRecord{node: path.Base(path.Dir(req.URL.Path)), start: start, ms: float64(time.Since(start).Microseconds()) / 1000}
			t.mu.Lock()
			t.patches = append(t.patches, rec)
			t.mu.Unlock()
		}
		return resp, err
	})
}

// since returns the PATCHes recorded since the last call.
func (t *requestTimer) since() []patchRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]patchRecord(nil), t.patches[t.mark:]...)
	t.mark = len(t.patches)
	return out
}

// busiest returns the most PATCHes started in one second (aligned to the
// first) and the shortest time between two PATCHes of the same node.
func busiest(recs []patchRecord) (perSecond int, minGap time.Duration) {
	if len(recs) == 0 {
		return 0, 0
	}
	first := recs[0].start
	buckets := map[int64]int{}
	last := map[string]time.Time{}
	minGap = -1
	for _, r := range recs {
		b := int64(r.start.Sub(first) / time.Second)
		buckets[b]++
		perSecond = max(perSecond, buckets[b])
		if prev, ok := last[r.node]; ok {
			if gap := r.start.Sub(prev); minGap < 0 || gap < minGap {
				minGap = gap
			}
		}
		last[r.node] = r.start
	}
	return perSecond, minGap
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// sampler reads the counters a phase is measured by.
type sampler struct {
	reg     *prometheus.Registry
	apiPID  int
	cluster *kubetest.Cluster
	admin   *http.Client
}

type snapshot struct {
	at                    time.Time
	writes, errs, events  float64
	patches, posts        float64
	patchHist, eventHist  map[float64]uint64
	apiProc               benchkit.ProcSample
	apiProcErr, scrapeErr error
}

func newSampler(reg *prometheus.Registry, apiPID int, c *kubetest.Cluster, admin *http.Client) *sampler {
	return &sampler{reg: reg, apiPID: apiPID, cluster: c, admin: admin}
}

var (
	patchNodeStatus = map[string]string{"verb": "PATCH", "resource": "nodes", "subresource": "status"}
	postEvents      = map[string]string{"verb": "POST", "resource": "events", "group": "events.k8s.io"}
)

func (s *sampler) local() benchkit.Metrics {
	fams, err := s.reg.Gather()
	if err != nil {
		return benchkit.Metrics{}
	}
	m := benchkit.Metrics{}
	for _, f := range fams {
		m[f.GetName()] = f
	}
	return m
}

func (s *sampler) snapshot(ctx context.Context) snapshot {
	sn := snapshot{at: time.Now()}
	m := s.local()
	sn.writes = m.Value("nodetriage_api_writes_total", map[string]string{"kind": "status", "result": "success"})
	sn.errs = m.Value("nodetriage_api_writes_total", map[string]string{"kind": "status", "result": "error"})
	sn.events = m.Value("nodetriage_api_writes_total", map[string]string{"kind": "event", "result": "success"})
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	am, err := benchkit.Scrape(sctx, s.admin, s.cluster.URL()+"/metrics")
	sn.scrapeErr = err
	if err == nil {
		sn.patches = am.Value("apiserver_request_total", patchNodeStatus)
		sn.posts = am.Value("apiserver_request_total", postEvents)
		sn.patchHist, _ = am.Histogram("apiserver_request_duration_seconds", patchNodeStatus)
		sn.eventHist, _ = am.Histogram("apiserver_request_duration_seconds", postEvents)
	}
	sn.apiProc, sn.apiProcErr = benchkit.ReadProc(s.apiPID)
	return sn
}

func (s *sampler) phase(name string, from, to snapshot, timer *requestTimer, nodes int, note string) phaseResult {
	secs := to.at.Sub(from.at).Seconds()
	p := phaseResult{
		Name: name, Seconds: secs,
		Writes: to.writes - from.writes, Errors: to.errs - from.errs, Events: to.events - from.events,
		Patches: to.patches - from.patches, Posts: to.posts - from.posts, Extra: note,
	}
	p.PerSec = p.Writes / secs
	p.PerNode = p.Writes / float64(nodes)
	recs := timer.since()
	client := make([]float64, len(recs))
	for i, r := range recs {
		client[i] = r.ms
	}
	sort.Float64s(client)
	p.ClientMs = latency{N: len(client), P50: benchkit.Percentile(client, 50), P99: benchkit.Percentile(client, 99)}
	sort.Slice(recs, func(i, j int) bool { return recs[i].start.Before(recs[j].start) })
	busy, gap := busiest(recs)
	p.PeakSec = float64(busy)
	p.MinGapSeconds = -1
	if gap >= 0 {
		p.MinGapSeconds = gap.Seconds()
	}
	p.ServerMs = histLatency(from.patchHist, to.patchHist)
	p.EventMs = histLatency(from.eventHist, to.eventHist)
	if from.apiProcErr == nil && to.apiProcErr == nil {
		p.APICPU = benchkit.Millicores(from.apiProc, to.apiProc)
		p.APIRSS = benchkit.MiB(to.apiProc.RSSBytes)
	}
	if from.scrapeErr != nil || to.scrapeErr != nil {
		p.Extra += fmt.Sprintf(" (API server metrics: %v %v)", from.scrapeErr, to.scrapeErr)
	}
	return p
}

func histLatency(before, after map[float64]uint64) latency {
	var n uint64
	for b, c := range after {
		if b > 1e300 {
			n = c - before[b]
		}
	}
	l := latency{N: int(n)}
	if v, ok := benchkit.HistogramQuantile(0.5, before, after); ok {
		l.P50 = v * 1000
	}
	if v, ok := benchkit.HistogramQuantile(0.99, before, after); ok {
		l.P99 = v * 1000
	}
	return l
}
