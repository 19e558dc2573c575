// Command idle measures the agent's idle footprint: `nodetriage run
// --standalone --host-root /` with the default configuration (only the state
// directory moved to a temp dir) for -duration after a -warmup, sampling
// RSS (split into private memory and file-backed pages, and by mapping) and
// CPU time from /proc once a second. Targets (issue 2): RSS ≤ 30 MiB, CPU ≤
// 2 millicores.
//
// The binary is copied after linking and evicted from the page cache
// before it starts (posix_fadvise DONTNEED on that one file), so the RSS
// is what a node sees starting the agent from an image, not the larger
// figure a freshly linked file gives (see benchkit.BuildAgent).
//
// Usage: go run ./hack/bench/idle [-duration 2m] [-warmup 10s] [-json out.json]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nodetriage/nodetriage/hack/bench/benchkit"
)

type results struct {
	Commit        string             `json:"commit"`
	Seconds       float64            `json:"seconds"`
	MaxRSSMiB     float64            `json:"maxRSSMiB"`
	AvgRSSMiB     float64            `json:"avgRSSMiB"`
	MaxPrivateMiB float64            `json:"maxPrivateMiB"`
	MaxFileMiB    float64            `json:"maxFileMiB"`
	ByMappingMiB  map[string]float64 `json:"rssMiBByMappingAtEnd"`
	Millicores    float64            `json:"avgMillicores"`
	Goroutines    float64            `json:"goroutines"`
	HeapInuseMiB  float64            `json:"goHeapInuseMiB"`
	BinaryMiB     float64            `json:"binaryMiB"`
	Load          string             `json:"loadAverage"`
	Met           bool               `json:"targetsMet"`
}

func main() {
	duration := flag.Duration("duration", 2*time.Minute, "measured idle time")
	warmup := flag.Duration("warmup", 10*time.Second, "time before sampling starts")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, *duration, *warmup)
	if err != nil {
		logger.Error("idle", "err", err)
		os.Exit(2)
	}
	fmt.Printf("idle: commit %s, %.0f s after a %s warm-up, load average %s, binary %.0f MiB\n", res.Commit, res.Seconds, *warmup, res.Load, res.BinaryMiB)
	fmt.Printf("RSS max %.1f MiB (avg %.1f): private %.1f MiB, file-backed %.1f MiB\n", res.MaxRSSMiB, res.AvgRSSMiB, res.MaxPrivateMiB, res.MaxFileMiB)
	keys := make([]string, 0, len(res.ByMappingMiB))
	for k := range res.ByMappingMiB {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, res.ByMappingMiB[k]))
	}
	fmt.Printf("RSS by mapping (MiB): %s\n", strings.Join(parts, ", "))
	fmt.Printf("Go heap in use %.1f MiB, %0.f goroutines\n", res.HeapInuseMiB, res.Goroutines)
	fmt.Printf("CPU avg %.2f millicores\n", res.Millicores)
	verdict := "met"
	if !res.Met {
		verdict = "NOT met"
	}
	fmt.Printf("targets (RSS ≤ 30 MiB, CPU ≤ 2 millicores): %s\n", verdict)
	if *jsonOut != "" {
		if err := benchkit.WriteJSON(*jsonOut, res); err != nil {
			logger.Error("write results", "err", err)
			os.Exit(2)
		}
	}
	if !res.Met {
		os.Exit(1)
	}
}

func run(ctx context.Context, duration, warmup time.Duration) (results, error) {
	res := results{Commit: benchkit.GitCommit()}
	work, err := os.MkdirTemp("", "nodetriage-idle-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)
	bin, err := benchkit.BuildAgent(work)
	if err != nil {
		return res, err
	}
	if fi, err := os.Stat(bin); err == nil {
		res.BinaryMiB = benchkit.MiB(uint64(fi.Size()))
	}
	if err := evict(bin); err != nil {
		return res, err
	}
	cfg := fmt.Sprintf("apiVersion: nodetriage.io/v1alpha1\nkind: AgentConfig\nstateDir: %s\n", filepath.Join(work, "state"))
	a, err := benchkit.StartAgent(ctx, benchkit.AgentOptions{Binary: bin, Dir: filepath.Join(work, "agent"), NodeName: "idle", HostRoot: "/", Config: cfg})
	if err != nil {
		return res, err
	}
	defer a.Stop(10 * time.Second)
	if err := benchkit.Sleep(ctx, warmup); err != nil {
		return res, err
	}
	first, err := a.Proc()
	if err != nil {
		return res, err
	}
	var sumRSS float64
	var n int
	last := first
	for time.Since(first.At) < duration {
		if err := benchkit.Sleep(ctx, time.Second); err != nil {
			return res, err
		}
		s, err := a.Proc()
		if err != nil {
			return res, fmt.Errorf("the agent is gone: %w\n%s", err, a.LogTail(20))
		}
		last = s
		res.MaxRSSMiB = max(res.MaxRSSMiB, benchkit.MiB(s.RSSBytes))
		res.MaxPrivateMiB = max(res.MaxPrivateMiB, benchkit.MiB(s.AnonBytes))
		res.MaxFileMiB = max(res.MaxFileMiB, benchkit.MiB(s.FileBytes))
		sumRSS += benchkit.MiB(s.RSSBytes)
		n++
	}
	res.Seconds = last.At.Sub(first.At).Seconds()
	res.AvgRSSMiB = sumRSS / float64(n)
	res.Millicores = benchkit.Millicores(first, last)
	if byMap, err := benchkit.RSSByMapping(a.PID()); err == nil {
		res.ByMappingMiB = map[string]float64{}
		for k, v := range byMap {
			res.ByMappingMiB[k] = benchkit.MiB(v)
		}
	}
	if m, err := a.Metrics(ctx); err == nil {
		res.Goroutines = m.Value("go_goroutines", nil)
		res.HeapInuseMiB = m.Value("go_memstats_heap_inuse_bytes", nil) / (1 << 20)
	}
	res.Load = benchkit.LoadAvg()
	res.Met = res.MaxRSSMiB <= 30 && res.Millicores <= 2
	return res, nil
}

// evict drops one file's pages from the page cache (it affects nothing
// else on the machine).
func evict(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("fadvise %s: %w", path, err)
	}
	return nil
}
