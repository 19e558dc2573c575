#!/usr/bin/env bash
# up.sh brings up the single-node demo cluster (see lib.sh for the layout):
# certificates and tokens, the mount namespace, etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd with the demo's pause
# image, and the kubelet, then waits until the Node is registered.
#
# It does not deploy the agent (deploy.sh) nor inject faults (faults.sh).
# On failure it prints the end of the failing component's log; run down.sh
# (make demo-down) to remove what was started.
#
# Needs root, hack/install-deps.sh's packages (etcd-server, containerd, runc,
# openssl) and the Kubernetes binaries and kubectl (hack/build-kube.sh; built
# here when missing).
set -euo pipefail
# shellcheck source=hack/demo/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
demo_settings

[[ $(id -u) -eq 0 ]] || demo_die "must run as root (mount namespace, cgroups, containerd)"
for tool in /usr/bin/etcd /usr/bin/containerd /usr/bin/ctr /usr/sbin/runc openssl curl nsenter unshare setsid; do
  command -v "$tool" >/dev/null || demo_die "$tool missing: run hack/install-deps.sh (Debian packages etcd-server containerd runc openssl curl util-linux)"
done
[[ -d /sys/fs/cgroup/memory && -d /sys/fs/cgroup/pids ]] || demo_die "needs cgroup v1 with the memory and pids controllers mounted under /sys/fs/cgroup"
if [[ -f $DEMO_DIR/run/holder.pid ]] && kill -0 "$(demo_holder_pid)" 2>/dev/null; then
  demo_die "a demo is already running in $DEMO_DIR: make demo-down first"
fi
if [[ -n $(find "/sys/fs/cgroup/pids/$DEMO_NAME" -name cgroup.procs -exec cat {} + 2>/dev/null) ]]; then
  demo_die "processes of an earlier demo $DEMO_NAME are still running: make demo-down first"
fi
KUBE_BIN_DIR=$KUBE_BIN_DIR "$demo_repo/hack/build-kube.sh" >&2
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
  [[ -x $KUBE_BIN_DIR/$b ]] || demo_die "$KUBE_BIN_DIR/$b missing after hack/build-kube.sh"
done
[[ -s $IMAGE_DIR/pause.oci.tar ]] || demo_die "$IMAGE_DIR/pause.oci.tar missing: run hack/demo/build-pause-image.sh"

# DEMO_DIR is wiped: refuse anything that is not a former demo or empty.
[[ $DEMO_DIR == /?* && $DEMO_DIR != / ]] || demo_die "DEMO_DIR must be an absolute path below /, got $DEMO_DIR"
if [[ -d $DEMO_DIR && ! -f $DEMO_DIR/env && -n $(ls -A "$DEMO_DIR") ]]; then
  demo_die "$DEMO_DIR is not empty and holds no demo: choose another DEMO_DIR"
fi
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"/{log,run,pki,etcd,cni/net.d,containerd/root,kubelet,varlib/upper,varlib/work,varlog/upper,varlog/work,sysctl}
demo_save_settings
demo_log "state in $DEMO_DIR"

# --- credentials -----------------------------------------------------------
pki=$DEMO_DIR/pki
openssl_quiet() { openssl "$@" 2>/dev/null; }
openssl_quiet req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
  -subj "/CN=$DEMO_NAME-ca" -keyout "$pki/ca.key" -out "$pki/ca.crt"
# sign NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA.
sign() {
  openssl_quiet req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$2" \
    -keyout "$pki/$1.key" -out "$pki/$1.csr"
  openssl_quiet x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 7 -extfile <(printf '%s\n' "$3") -out "$pki/$1.crt"
}
sign apiserver "/CN=kube-apiserver" \
  "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth"
# The API server's client certificate for the kubelet (kubectl logs/exec).
sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
openssl_quiet genrsa -out "$pki/service-account.key" 2048
admin_token=$(openssl rand -hex 16)
kubelet_token=$(openssl rand -hex 16)
# token,user,uid,"groups"
cat >"$pki/tokens.csv" <<EOF
$admin_token,demo-admin,demo-admin,"system:masters"
$kubelet_token,system:node:$DEMO_NAME,system:node:$DEMO_NAME,"system:nodes"
EOF
chmod 600 "$pki"/*.key "$pki/tokens.csv"
kubeconfig() { # FILE TOKEN
  "$KUBE_BIN_DIR/kubectl" config --kubeconfig "$1" set-cluster demo --server "https://127.0.0.1:$DEMO_API_PORT" \
    --certificate-authority "$pki/ca.crt" --embed-certs >/dev/null
  "$KUBE_BIN_DIR/kubectl" config --kubeconfig "$1" set-credentials demo --token "$2" >/dev/null
  "$KUBE_BIN_DIR/kubectl" config --kubeconfig "$1" set-context demo --cluster demo --user demo >/dev/null
  "$KUBE_BIN_DIR/kubectl" config --kubeconfig "$1" use-context demo >/dev/null
  chmod 600 "$1"
}
kubeconfig "$DEMO_DIR/admin.kubeconfig" "$admin_token"
kubeconfig "$DEMO_DIR/kubelet.kubeconfig" "$kubelet_token"

# --- cgroups ---------------------------------------------------------------
# The kubelet's cgroupRoot must exist in every hierarchy; cpuset children
# start with no CPUs and memory nodes unless given the parent's.
for h in $(demo_cgroup_hierarchies); do
  mkdir -p "$h/$DEMO_NAME"
  if [[ -f $h/cpuset.cpus ]]; then
    cat "$h/cpuset.cpus" >"$h/$DEMO_NAME/cpuset.cpus"
    cat "$h/cpuset.mems" >"$h/$DEMO_NAME/cpuset.mems"
  fi
done
mkdir -p "$(demo_daemon_cgroup)"

# --- the mount namespace ---------------------------------------------------
# The kubelet sets these sysctls to these values unless they already have
# them (pkg/kubelet/cm/container_manager_linux.go setupKernelTunables); the
# files are bind-mounted over /proc/sys inside the namespace only.
declare -A kubelet_sysctls=(
  [vm/overcommit_memory]=1 [vm/panic_on_oom]=0 [kernel/panic]=10
  [kernel/panic_on_oops]=1 [kernel/keys/root_maxkeys]=1000000 [kernel/keys/root_maxbytes]=25000000
)
ns_setup=$DEMO_DIR/run/ns-setup.sh
{
  echo 'set -eu'
  for key in "${!kubelet_sysctls[@]}"; do
    file=$DEMO_DIR/sysctl/${key//\//.}
    echo "${kubelet_sysctls[$key]}" >"$file"
    echo "mount --bind '$file' '/proc/sys/$key'"
  done
  cat <<EOF
mount -t tmpfs -o mode=0711 demo-run-containerd /run/containerd 2>/dev/null || { mkdir -p /run/containerd && mount -t tmpfs -o mode=0711 demo-run-containerd /run/containerd; }
mount -t overlay demo-var-lib -o lowerdir=/var/lib,upperdir=$DEMO_DIR/varlib/upper,workdir=$DEMO_DIR/varlib/work /var/lib
mkdir -p /var/lib/containerd /var/lib/kubelet
mount --bind $DEMO_DIR/containerd/root /var/lib/containerd
mount --bind $DEMO_DIR/kubelet /var/lib/kubelet
mount -t overlay demo-var-log -o lowerdir=/var/log,upperdir=$DEMO_DIR/varlog/upper,workdir=$DEMO_DIR/varlog/work /var/log
mkdir -p /var/log/pods
mount -t tmpfs -o size=$DEMO_LOGFS_SIZE,mode=0755 demo-pod-logs /var/log/pods
echo \$\$ > $DEMO_DIR/run/holder.pid
exec sleep infinity
EOF
} >"$ns_setup"
(
  echo "$BASHPID" >"$(demo_daemon_cgroup)/cgroup.procs"
  exec setsid unshare --mount --propagation private -- sh "$ns_setup" </dev/null >>"$DEMO_DIR/log/namespace.log" 2>&1
) &
demo_wait 10 "the mount namespace" test -s "$DEMO_DIR/run/holder.pid" ||
  demo_die "mount namespace setup failed: $(cat "$DEMO_DIR/log/namespace.log")"
demo_log "mount namespace held by pid $(demo_holder_pid)"

fail() { # COMPONENT: print its log's end and exit
  local log=$DEMO_DIR/log/$1.log
  [[ $1 == kubelet ]] && log=$DEMO_DIR/varlog/upper/kubelet.log
  demo_log "$1 did not come up; end of $log:"
  tail -n 30 "$log" >&2 || true
  exit 1
}

# --- etcd, kube-apiserver --------------------------------------------------
demo_start etcd /usr/bin/etcd --name demo --data-dir "$DEMO_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$DEMO_ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$DEMO_ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$DEMO_ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$DEMO_ETCD_PEER_PORT" \
  --initial-cluster "demo=http://127.0.0.1:$DEMO_ETCD_PEER_PORT"
demo_wait 30 etcd curl -fsS "http://127.0.0.1:$DEMO_ETCD_PORT/health" || fail etcd

demo_start kube-apiserver "$KUBE_BIN_DIR/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$DEMO_ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$DEMO_API_PORT" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" \
  --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$pki/service-account.key" --service-account-signing-key-file "$pki/service-account.key" \
  --token-auth-file "$pki/tokens.csv" \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction --allow-privileged=true \
  --service-cluster-ip-range 10.0.0.0/24 --endpoint-reconciler-type none \
  --kubelet-preferred-address-types InternalIP
demo_wait 90 kube-apiserver demo_kubectl get --raw /readyz || fail kube-apiserver
demo_log "kube-apiserver ready on https://127.0.0.1:$DEMO_API_PORT"

demo_start kube-controller-manager "$KUBE_BIN_DIR/kube-controller-manager" \
  --kubeconfig "$DEMO_DIR/admin.kubeconfig" --bind-address 127.0.0.1 --secure-port "$DEMO_KCM_PORT" \
  --leader-elect=false --root-ca-file "$pki/ca.crt" \
  --service-account-private-key-file "$pki/service-account.key" --use-service-account-credentials=false
demo_start kube-scheduler "$KUBE_BIN_DIR/kube-scheduler" \
  --kubeconfig "$DEMO_DIR/admin.kubeconfig" --bind-address 127.0.0.1 --secure-port "$DEMO_SCHEDULER_PORT" \
  --leader-elect=false

# --- containerd ------------------------------------------------------------
cat >"$DEMO_DIR/containerd/config.toml" <<EOF
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
]

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$DEMO_PAUSE_REF"
  # This machine lacks CAP_SYS_RESOURCE: without this sandboxes fail with
  # "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "/usr/sbin/runc"

# No CNI configuration on purpose: the runtime reports the network not
# ready, which the agent reports as ContainerNetworkNotReady.
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "$DEMO_DIR/cni/net.d"
EOF
demo_start containerd /usr/bin/containerd --config "$DEMO_DIR/containerd/config.toml"
demo_wait 30 containerd demo_in_ns ctr --address /run/containerd/containerd.sock version || fail containerd
demo_ctr images import "$IMAGE_DIR/pause.oci.tar" >/dev/null
demo_log "containerd ready; imported $DEMO_PAUSE_REF"

# --- kubelet ---------------------------------------------------------------
# At /var/lib/kubelet/config.yaml (inside the namespace), where the agent's
# checks read the kubelet's configuration.
cat >"$DEMO_DIR/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The recipe for this machine (DESIGN §5): cgroup v1, no systemd, swap.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$DEMO_NAME
failSwapOn: false
localStorageCapacityIsolation: false
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
port: $DEMO_KUBELET_PORT
healthzPort: $DEMO_KUBELET_HEALTHZ_PORT
readOnlyPort: 0
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $pki/ca.crt
authorization:
  mode: Webhook
# A shared development machine: never evict or garbage-collect because of
# the host's own disk or memory use.
evictionHard:
  memory.available: 1Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
# No sbin in PATH: the kubelet finds no iptables and leaves the host's
# firewall alone ("No iptables support on this system"). Its log goes to
# /var/log/kubelet.log in the namespace (DEMO_DIR/varlog/upper/kubelet.log on
# the host), where the agent's files source tails it, as on a node whose
# kubelet is not run by systemd.
demo_start kubelet env PATH=/usr/local/bin:/usr/bin:/bin sh -c 'exec "$@" >>/var/log/kubelet.log 2>&1' kubelet \
  "$KUBE_BIN_DIR/kubelet" --config /var/lib/kubelet/config.yaml --kubeconfig "$DEMO_DIR/kubelet.kubeconfig" \
  --hostname-override "$DEMO_NAME" --v 1
demo_wait 90 "Node $DEMO_NAME" demo_kubectl get node "$DEMO_NAME" || fail kubelet
demo_log "Node $DEMO_NAME registered; KUBECONFIG=$DEMO_DIR/admin.kubeconfig"
