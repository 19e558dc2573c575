#!/usr/bin/env bash
# faults.sh injects and repairs the demo node's faults:
#
#   remove-pause    delete the sandbox (pause) image from the node's
#                   containerd: SandboxImageMissing True (no new pod can start)
#   restore-pause   import it again
#   fill-logs       fill the pod-log filesystem (/var/log/pods, a small tmpfs)
#                   to ${FILL_PERCENT:-97} %: ContainerLogDiskPressure True,
#                   LogFilesystemNearFull
#   free-logs       delete the fill file
#   run-logrotate   run logrotate once on the node, the remedy for
#                   "logrotate has never run" (this machine has no cron)
#   add-cni         write a bridge CNI configuration into the runtime's CNI
#                   config directory (DEMO_DIR/cni/net.d): the runtime reports
#                   its network ready. Nothing touches the host network until
#                   a pod without hostNetwork starts, and the demo runs none.
#   remove-cni      delete it again
#
# The missing CNI configuration (ContainerNetworkNotReady) is there from the
# start.
set -euo pipefail
# shellcheck source=hack/demo/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
demo_settings

fill_file=/var/log/pods/nodetriage-demo-fill.log

case ${1:-} in
remove-pause)
  demo_ctr images rm "$DEMO_PAUSE_REF" >/dev/null
  demo_log "removed $DEMO_PAUSE_REF from the node's containerd"
  ;;
restore-pause)
  demo_ctr images import "$IMAGE_DIR/pause.oci.tar" >/dev/null
  demo_log "imported $DEMO_PAUSE_REF again"
  ;;
fill-logs)
  read -r size used < <(demo_in_ns df -B1 --output=size,used /var/log/pods | tail -n 1)
  want=$((size * ${FILL_PERCENT:-97} / 100 - used))
  ((want > 0)) || demo_die "/var/log/pods is already past ${FILL_PERCENT:-97}%"
  demo_in_ns fallocate -l "$want" "$fill_file"
  demo_log "filled /var/log/pods: $(demo_in_ns df -h --output=used,size,pcent /var/log/pods | tail -n 1)"
  ;;
free-logs)
  demo_in_ns rm -f "$fill_file"
  demo_log "freed /var/log/pods: $(demo_in_ns df -h --output=used,size,pcent /var/log/pods | tail -n 1)"
  ;;
run-logrotate)
  demo_in_ns logrotate /etc/logrotate.conf
  demo_log "ran logrotate once (state in /var/lib/logrotate/status on the node)"
  ;;
add-cni)
  cat >"$DEMO_DIR/cni/net.d/10-demo.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "demo",
  "plugins": [
    {"type": "bridge", "bridge": "demo0", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]]}}
  ]
}
EOF
  demo_log "wrote $DEMO_DIR/cni/net.d/10-demo.conflist"
  ;;
remove-cni)
  rm -f "$DEMO_DIR/cni/net.d/10-demo.conflist"
  demo_log "removed the CNI configuration"
  ;;
*)
  echo "usage: $0 remove-pause|restore-pause|fill-logs|free-logs|run-logrotate|add-cni|remove-cni" >&2
  exit 2
  ;;
esac
