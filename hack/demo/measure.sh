#!/usr/bin/env bash
# measure.sh measures the agent pod on the running demo node (make demo):
# the process's VmRSS (which includes the binary and libraries mapped from
# the page cache, charged to whoever read them first) and its container's
# memory cgroup working set (usage minus inactive file cache: what the
# kubelet and the memory limit count) every second, and CPU from the
# container's cpuacct.usage.
#
#   hack/demo/measure.sh [SECONDS] [STORM_LINES]
#
# With STORM_LINES > 0 it first appends that many kubelet log lines (half of
# them matching a rule: "PLEG is not healthy") to /var/log/kubelet.log on the
# node as fast as it can, which the agent's files source tails through the
# rule engine, and measures during and after the storm.
# The numbers behind the DaemonSet's requests and limits (docs/install.md).
set -euo pipefail
# shellcheck source=hack/demo/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
demo_settings

duration=${1:-60}
storm=${2:-0}

agent_pid=""
for pid in $(find "/sys/fs/cgroup/pids/$DEMO_NAME" -name cgroup.procs -exec cat {} + 2>/dev/null); do
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q '^/usr/local/bin/nodetriage run'; then
    agent_pid=$pid
  fi
done
[[ -n $agent_pid ]] || demo_die "no agent process on the demo node (make demo first)"
memcg=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" {print $3}' "/proc/$agent_pid/cgroup")
cpucg=/sys/fs/cgroup/cpuacct$(awk -F: '$2 ~ /cpuacct/ {print $3}' "/proc/$agent_pid/cgroup")
[[ -f $memcg/memory.usage_in_bytes && -f $cpucg/cpuacct.usage ]] || demo_die "cannot find the agent's cgroups ($memcg, $cpucg)"

lines_before=$(curl -fsS "http://127.0.0.1:$DEMO_AGENT_PORT/metrics" | awk '$1 == "nodetriage_log_lines_total{source=\"files\"}" {print $2}')
if ((storm > 0)); then
  demo_log "appending $storm lines to /var/log/kubelet.log on the node"
  demo_in_ns sh -c "awk -v n=$storm 'BEGIN { for (i = 0; i < n; i++) {
      if (i % 2) printf \"E1122 10:00:00.%06d 1234 kubelet.go:2412] \\\"Skipping pod synchronization\\\" err=\\\"PLEG is not healthy: pleg was last seen active 3m0.1s ago; threshold is 3m0s\\\"\\n\", i % 1000000
      else printf \"I1122 10:00:00.%06d 1234 kubelet.go:1000] \\\"SyncLoop (housekeeping)\\\" line=%d\\n\", i % 1000000, i } }' >>/var/log/kubelet.log" &
fi

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$agent_pid/status"; }
working_set_kib() {
  local usage inactive
  usage=$(cat "$memcg/memory.usage_in_bytes")
  inactive=$(awk '$1 == "total_inactive_file" {print $2}' "$memcg/memory.stat")
  echo $(((usage - inactive) / 1024))
}
cpu_start=$(cat "$cpucg/cpuacct.usage")
t_start=$(date +%s%N)
max_rss=0 sum_rss=0 max_ws=0 n=0
for ((i = 0; i < duration; i++)); do
  r=$(rss_kib)
  w=$(working_set_kib)
  ((r > max_rss)) && max_rss=$r
  ((w > max_ws)) && max_ws=$w
  sum_rss=$((sum_rss + r))
  n=$((n + 1))
  sleep 1
done
wait
cpu_end=$(cat "$cpucg/cpuacct.usage")
t_end=$(date +%s%N)
lines_after=$(curl -fsS "http://127.0.0.1:$DEMO_AGENT_PORT/metrics" | awk '$1 == "nodetriage_log_lines_total{source=\"files\"}" {print $2}')
dropped=$(curl -fsS "http://127.0.0.1:$DEMO_AGENT_PORT/metrics" | awk '$1 == "nodetriage_log_lines_dropped_total{source=\"files\"}" {print $2}')
awk -v maxr="$max_rss" -v sumr="$sum_rss" -v n="$n" -v maxw="$max_ws" -v cpu=$((cpu_end - cpu_start)) \
  -v ns=$((t_end - t_start)) -v storm="$storm" -v lb="${lines_before:-0}" -v la="${lines_after:-0}" -v dr="${dropped:-0}" 'BEGIN {
  what = " (idle)"
  if (storm > 0) what = sprintf(" with a %d-line kubelet log storm", storm)
  printf "agent on the demo node, %d samples over %.0f s%s\n", n, ns / 1e9, what
  printf "VmRSS max %.1f MiB, avg %.1f MiB; container working set max %.1f MiB\n", maxr / 1024, sumr / n / 1024, maxw / 1024
  printf "CPU avg %.1f millicores\n", cpu / ns * 1000
  printf "kubelet log lines read: %d (dropped in total: %d)\n", la - lb, dr
}'
