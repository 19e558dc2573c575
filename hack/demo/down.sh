#!/usr/bin/env bash
# down.sh tears the demo cluster down, whatever state up.sh left it in:
#   1. stops every process in the demo's cgroup tree (daemons, shims, pod
#      containers), TERM first, then KILL; the mount namespace, and with it
#      every mount the demo made, goes away with its last process;
#   2. unmounts anything still mounted under DEMO_DIR in this namespace
#      (nothing, normally);
#   3. removes the demo's cgroups in every hierarchy, deepest first;
#   4. removes DEMO_DIR.
# The image cache (_output/image) stays. Safe to run twice.
set -euo pipefail
# shellcheck source=hack/demo/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
demo_settings

[[ $(id -u) -eq 0 ]] || demo_die "must run as root"

# demo_pids prints every pid in the demo's pids cgroup tree.
demo_pids() {
  local root=/sys/fs/cgroup/pids/$DEMO_NAME
  [[ -d $root ]] || return 0
  find "$root" -name cgroup.procs -exec cat {} + 2>/dev/null
}

signal_all() { # SIGNAL
  local pid
  for pid in $(demo_pids); do
    kill "-$1" "$pid" 2>/dev/null || true
  done
}

if [[ -n $(demo_pids) ]]; then
  demo_log "stopping the demo's processes"
  # The kubelet first, so that it does not restart what is being stopped.
  if [[ -f $DEMO_DIR/run/kubelet.pid ]]; then
    kill -TERM "$(cat "$DEMO_DIR/run/kubelet.pid")" 2>/dev/null || true
  fi
  signal_all TERM
  for _ in $(seq 1 20); do
    [[ -z $(demo_pids) ]] && break
    sleep 0.5
  done
  for _ in $(seq 1 20); do
    [[ -z $(demo_pids) ]] && break
    signal_all KILL
    sleep 0.5
  done
  [[ -z $(demo_pids) ]] || demo_die "processes still running in /sys/fs/cgroup/pids/$DEMO_NAME: $(demo_pids | tr '\n' ' ')"
fi

# Mounts in this (the host's) namespace under DEMO_DIR: none unless someone
# made them by hand; deepest first.
if [[ -d $DEMO_DIR ]]; then
  dir=$(cd "$DEMO_DIR" && pwd -P)
  awk -v dir="$dir" '$5 == dir || index($5, dir "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do
      umount -l "$m" || demo_log "could not unmount $m"
    done
fi

# cgroups, deepest first (rmdir only removes empty cgroups).
for h in $(demo_cgroup_hierarchies all); do
  [[ -d $h/$DEMO_NAME ]] || continue
  find "$h/$DEMO_NAME" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  [[ ! -d $h/$DEMO_NAME ]] || demo_log "could not remove cgroup $h/$DEMO_NAME"
done

if [[ -d $DEMO_DIR ]]; then
  rm -rf "$DEMO_DIR"
fi
demo_log "demo $DEMO_NAME removed"
