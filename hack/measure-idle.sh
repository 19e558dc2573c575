#!/usr/bin/env bash
# Measures nodetriage's idle footprint on this machine.
#
# Builds the binary, runs `nodetriage run --standalone --host-root /` with
# the default configuration (only the state directory moved into a temp dir,
# so nothing is written to the host) for DURATION seconds, samples VmRSS
# (/proc/PID/status) and utime+stime (/proc/PID/stat) once a second after a
# short warm-up, and prints max/avg RSS in MiB and the average CPU in
# millicores. Targets: RSS <= 30 MiB, CPU <= 2 millicores; exit 1 when missed.
#
# Usage: hack/measure-idle.sh [DURATION_SECONDS]   (default 120)
#        WARMUP=5 hack/measure-idle.sh 60
set -euo pipefail

duration=${1:-120}
warmup=${WARMUP:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n $pid ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$repo" && go build -trimpath -o "$work/nodetriage" ./cmd/nodetriage)
cat >"$work/config.yaml" <<YAML
apiVersion: nodetriage.io/v1alpha1
kind: AgentConfig
stateDir: $work/state
YAML

"$work/nodetriage" run --standalone --host-root / --listen-address 127.0.0.1:0 \
  --config "$work/config.yaml" 2>"$work/agent.log" &
pid=$!
sleep "$warmup"
if ! kill -0 "$pid" 2>/dev/null; then
  echo "measure-idle: nodetriage exited during warm-up:" >&2
  cat "$work/agent.log" >&2
  exit 1
fi

clk_tck=$(getconf CLK_TCK)
# utime+stime in clock ticks: fields 14 and 15, counted after the ")" that
# ends the command name (which may contain spaces).
cpu_ticks() { sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }

start_ticks=$(cpu_ticks)
start_ns=$(date +%s%N)
max_kib=0 sum_kib=0 samples=0
for ((i = 0; i < duration; i++)); do
  sleep 1
  kib=$(rss_kib)
  ((kib > max_kib)) && max_kib=$kib
  sum_kib=$((sum_kib + kib))
  samples=$((samples + 1))
done
end_ticks=$(cpu_ticks)
end_ns=$(date +%s%N)

awk -v max="$max_kib" -v sum="$sum_kib" -v n="$samples" -v warm="$warmup" \
  -v ticks=$((end_ticks - start_ticks)) -v hz="$clk_tck" -v ns=$((end_ns - start_ns)) '
BEGIN {
  maxmib = max / 1024; avgmib = sum / n / 1024
  secs = ns / 1e9; mcores = ticks / hz / secs * 1000
  printf "nodetriage run --standalone, idle for %.0f s (%d samples after a %s s warm-up)\n", secs, n, warm
  printf "RSS max %.1f MiB, avg %.1f MiB\n", maxmib, avgmib
  printf "CPU avg %.2f millicores (%d ticks of 1/%d s)\n", mcores, ticks, hz
  ok = (maxmib <= 30 && mcores <= 2)
  printf "targets (RSS <= 30 MiB, CPU <= 2 millicores): %s\n", ok ? "met" : "NOT met"
  exit ok ? 0 : 1
}'
