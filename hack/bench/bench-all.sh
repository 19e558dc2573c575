#!/usr/bin/env bash
# Runs every measurement in docs/benchmarks.md and keeps the raw output in
# $BENCH_OUT (default _output/bench): the machine and load, the Go
# benchmarks (-count $BENCH_RUNS), and $BENCH_RUNS runs each of the idle,
# soak, scale and latency programs. It loads the machine, and the soak
# floods the kernel log (see hack/bench/soak). Expect about six hours with
# BENCH_RUNS=3 (a latency run alone takes about an hour).
#
# Usage: hack/bench/bench-all.sh          (make bench-all)
#        BENCH_RUNS=1 hack/bench/bench-all.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${BENCH_OUT:-_output/bench}
runs=${BENCH_RUNS:-3}
mkdir -p "$out"

{
  echo "commit: $(git describe --always --dirty --abbrev=12)"
  echo "date: $(date -u +%FT%TZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  echo "kernel: $(uname -r)"
  echo "go: $(go version)"
  echo "memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/machine.txt"

echo "== Go benchmarks" >&2
{
  go test ./probes/rules/ -run '^$' -bench 'DefaultPack|PrefilterStrategies' -cpu 1 -benchtime 3x -count "$runs"
  go test ./probes/rules/ -run '^$' -bench NonMatching -benchmem -cpu 1 -count "$runs"
  go test ./agent/ -run '^$' -bench 'StateMachineStorm|KubeReporterSetConditions' -benchmem -count "$runs"
  go test ./agent/ -run '^$' -bench KubeReporterStormAPIServer -benchtime 1x -count "$runs"
  go test ./cri/ -run '^$' -bench . -benchmem -count "$runs"
  go test ./hostchecks/ -run '^$' -bench . -benchmem -count "$runs"
  go test ./probes/kmsg/ ./probes/logfile/ -run '^$' -bench . -benchmem -count "$runs"
} 2>&1 | tee "$out/go-bench.txt"

for i in $(seq "$runs"); do
  echo "== idle run $i" >&2
  go run ./hack/bench/idle -json "$out/idle-$i.json" | tee "$out/idle-$i.txt" || true
done
for prog in soak scale latency; do
  for i in $(seq "$runs"); do
    echo "== $prog run $i" >&2
    go run "./hack/bench/$prog" -json "$out/$prog-$i.json" | tee "$out/$prog-$i.txt" || true
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/machine.txt"
