# shellcheck shell=bash
# lib.sh: settings and helpers shared by the demo scripts (sourced).
#
# The demo cluster is one node on this machine: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd and the kubelet, all in
# one private mount namespace whose view of the host differs only where the
# node needs its own state:
#
#   /run/containerd          tmpfs: containerd's state, socket and shim sockets
#   /var/lib                 overlay, upper layer under DEMO_DIR: the kubelet's
#                            root (/var/lib/kubelet, with config.yaml where the
#                            agent looks for it) and the agent's state dir
#   /var/lib/containerd      bind of DEMO_DIR/containerd (overlayfs snapshots
#                            need a real filesystem)
#   /var/lib/kubelet         bind of DEMO_DIR/kubelet (pod volumes)
#   /var/log                 overlay: /var/log/containers symlinks
#   /var/log/pods            small tmpfs (DEMO_LOGFS_SIZE): pod logs, and the
#                            filesystem the log-filesystem fault fills
#   /proc/sys/{vm,kernel}/…  the values the kubelet insists on, bind-mounted
#                            over the host's so the kubelet finds them set and
#                            does not change the host's kernel settings
#
# Nothing is written to the host outside DEMO_DIR, and no host setting
# changes: the mounts die with the namespace, every process of the demo runs
# in one cgroup tree (DEMO_NAME in each cgroup v1 hierarchy, the kubelet's
# cgroupRoot), and the kubelet's PATH has no iptables, so it creates no
# chains. Only the network namespace is the host's (no CNI: hostNetwork pods
# only), on the ports below.
#
# Settings (environment; recorded in DEMO_DIR/env by up.sh so that the other
# scripts find the running demo):
#   DEMO_DIR        state directory (default <repo>/_output/demo)
#   DEMO_NAME       node name and cgroup name (default nodetriage-demo)
#   DEMO_API_PORT, DEMO_ETCD_PORT, DEMO_ETCD_PEER_PORT, DEMO_KUBELET_PORT,
#   DEMO_KUBELET_HEALTHZ_PORT, DEMO_KCM_PORT, DEMO_SCHEDULER_PORT,
#   DEMO_AGENT_PORT  ports on the host network
#   DEMO_LOGFS_SIZE size of the /var/log/pods tmpfs (default 64m)
#   KUBE_BIN_DIR    Kubernetes binaries and kubectl (default
#                   <repo>/_output/bin, built by hack/build-kube.sh)

demo_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

demo_log() { echo "demo: $*" >&2; }
demo_die() {
  echo "demo: $*" >&2
  exit 1
}

# demo_settings sets every setting from the environment or its default, then
# from DEMO_DIR/env when a demo was brought up there.
demo_settings() {
  DEMO_DIR=${DEMO_DIR:-$demo_repo/_output/demo}
  if [[ -f $DEMO_DIR/env ]]; then
    # shellcheck disable=SC1091
    source "$DEMO_DIR/env"
  fi
  DEMO_NAME=${DEMO_NAME:-nodetriage-demo}
  DEMO_API_PORT=${DEMO_API_PORT:-16443}
  DEMO_ETCD_PORT=${DEMO_ETCD_PORT:-12379}
  DEMO_ETCD_PEER_PORT=${DEMO_ETCD_PEER_PORT:-12380}
  DEMO_KUBELET_PORT=${DEMO_KUBELET_PORT:-20250}
  DEMO_KUBELET_HEALTHZ_PORT=${DEMO_KUBELET_HEALTHZ_PORT:-20248}
  DEMO_KCM_PORT=${DEMO_KCM_PORT:-20257}
  DEMO_SCHEDULER_PORT=${DEMO_SCHEDULER_PORT:-20259}
  DEMO_AGENT_PORT=${DEMO_AGENT_PORT:-19710}
  DEMO_LOGFS_SIZE=${DEMO_LOGFS_SIZE:-64m}
  KUBE_BIN_DIR=${KUBE_BIN_DIR:-$demo_repo/_output/bin}
  IMAGE_DIR=${IMAGE_DIR:-$demo_repo/_output/image}
  DEMO_PAUSE_REF=localhost/nodetriage/pause:demo
  DEMO_AGENT_REF=localhost/nodetriage:dev
  export KUBECONFIG=$DEMO_DIR/admin.kubeconfig
}

# demo_save_settings records the settings of the demo being brought up.
demo_save_settings() {
  local v
  : >"$DEMO_DIR/env"
  for v in DEMO_NAME DEMO_API_PORT DEMO_ETCD_PORT DEMO_ETCD_PEER_PORT DEMO_KUBELET_PORT \
    DEMO_KUBELET_HEALTHZ_PORT DEMO_KCM_PORT DEMO_SCHEDULER_PORT DEMO_AGENT_PORT \
    DEMO_LOGFS_SIZE KUBE_BIN_DIR IMAGE_DIR; do
    printf '%s=%q\n' "$v" "${!v}" >>"$DEMO_DIR/env"
  done
}

# demo_cgroup_hierarchies lists the mounted cgroup v1 hierarchies, and with
# "all" also the cgroup v2 one a hybrid system mounts at
# /sys/fs/cgroup/unified (runc creates the containers' cgroups there too).
demo_cgroup_hierarchies() {
  local d
  for d in /sys/fs/cgroup/*/; do
    d=${d%/}
    [[ -f $d/cgroup.procs ]] || continue
    [[ $(basename "$d") == unified && ${1:-} != all ]] && continue
    echo "$d"
  done
}

# The cgroup every demo process is tracked in: DEMO_NAME/daemons in the pids
# hierarchy (the kubelet puts pods under DEMO_NAME/kubepods in all of them).
demo_daemon_cgroup() { echo "/sys/fs/cgroup/pids/$DEMO_NAME/daemons"; }

demo_holder_pid() { cat "$DEMO_DIR/run/holder.pid" 2>/dev/null; }

# demo_in_ns runs a command in the demo's mount namespace.
demo_in_ns() {
  local holder
  holder=$(demo_holder_pid) || demo_die "no demo running in $DEMO_DIR (make demo first)"
  kill -0 "$holder" 2>/dev/null || demo_die "the demo's namespace holder (pid $holder) is gone; run make demo-down"
  nsenter --target "$holder" --mount -- "$@"
}

# demo_start NAME CMD... starts a daemon in the demo's mount namespace and
# cgroup, detached, logging to DEMO_DIR/log/NAME.log, pid in run/NAME.pid.
demo_start() {
  local name=$1
  shift
  local holder
  holder=$(demo_holder_pid)
  (
    echo "$BASHPID" >"$(demo_daemon_cgroup)/cgroup.procs"
    exec setsid nsenter --target "$holder" --mount -- "$@" </dev/null >>"$DEMO_DIR/log/$name.log" 2>&1
  ) &
  echo $! >"$DEMO_DIR/run/$name.pid"
}

# demo_wait TIMEOUT_SECONDS WHAT CMD... retries CMD every second until it
# succeeds, or fails naming WHAT.
demo_wait() {
  local timeout=$1 what=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      demo_log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 1
  done
}

# demo_kubectl runs the kubectl hack/build-kube.sh built (Debian 12 has no
# current kubectl package) as the demo's admin.
demo_kubectl() { "$KUBE_BIN_DIR/kubectl" --kubeconfig "$DEMO_DIR/admin.kubeconfig" "$@"; }

# demo_ctr runs ctr against the demo's containerd in the k8s.io namespace.
demo_ctr() { demo_in_ns ctr --address /run/containerd/containerd.sock --namespace k8s.io "$@"; }
