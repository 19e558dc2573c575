#!/usr/bin/env bash
# demo.sh is `make demo`: a real single-node cluster on this machine with the
# agent deployed from this checkout, three real faults, and what an operator
# sees in `kubectl describe node`.
#
#   1. build the agent image and the pause image without Docker
#      (build-image.sh, build-pause-image.sh);
#   2. bring the cluster up (up.sh) and deploy daemonset/overlays/local
#      (deploy.sh);
#   3. faults: no CNI configuration (there from the start), the pause image
#      removed from containerd, the pod-log filesystem filled to 97 %;
#   4. wait until the agent reports each, then print `kubectl describe node`,
#      the Node's Events and the agent's condition metrics.
#
# The cluster keeps running: explore it with KUBECONFIG=<DEMO_DIR>/admin.kubeconfig,
# repair with hack/demo/faults.sh, and remove it with `make demo-down`.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=hack/demo/lib.sh
source "$here/lib.sh"
demo_settings

"$here/build-pause-image.sh"
"$here/build-image.sh"
if ! "$here/up.sh"; then
  demo_die "the cluster did not come up; logs in $DEMO_DIR/log; remove it with make demo-down"
fi
"$here/deploy.sh"

# wait_condition TYPE STATUS [REASON]: until the Node shows it (90 s).
wait_condition() {
  local type=$1 status=$2 reason=${3:-}
  local jsonpath="{.status.conditions[?(@.type==\"$type\")].status} {.status.conditions[?(@.type==\"$type\")].reason}"
  check() {
    local got
    got=$(demo_kubectl get node "$DEMO_NAME" -o jsonpath="$jsonpath")
    [[ $got == "$status "* && (-z $reason || $got == *" $reason") ]]
  }
  demo_wait 90 "$type $status $reason" check || demo_die "the agent did not report $type=$status $reason"
  demo_log "node shows $type=$status${reason:+ ($reason)}"
}

wait_condition ContainerNetworkNotReady True NetworkPluginNotReady
"$here/faults.sh" remove-pause
"$here/faults.sh" fill-logs
wait_condition SandboxImageMissing True SandboxImageNotPresent
wait_condition ContainerLogDiskPressure True LogFilesystemNearFull

echo
echo "=== kubectl describe node $DEMO_NAME"
demo_kubectl describe node "$DEMO_NAME"
echo
echo "=== kubectl get events -n default --field-selector involvedObject.kind=Node,reportingComponent=nodetriage.io/agent"
demo_kubectl get events -n default --field-selector involvedObject.kind=Node,reportingComponent=nodetriage.io/agent
echo
echo "=== curl http://127.0.0.1:$DEMO_AGENT_PORT/metrics | grep nodetriage_condition_status ... 1"
curl -fsS "http://127.0.0.1:$DEMO_AGENT_PORT/metrics" | grep '^nodetriage_condition_status{.*} 1$' || true
cat <<EOT

The demo cluster is still running:
  export KUBECONFIG=$DEMO_DIR/admin.kubeconfig
  $KUBE_BIN_DIR/kubectl describe node $DEMO_NAME
  $KUBE_BIN_DIR/kubectl -n nodetriage logs ds/nodetriage
  curl http://127.0.0.1:$DEMO_AGENT_PORT/debug/findings
Repair the faults and watch the conditions clear:
  hack/demo/faults.sh restore-pause    # SandboxImageMissing -> False
  hack/demo/faults.sh free-logs        # LogFilesystemNearFull gone
  hack/demo/faults.sh run-logrotate    # LogRotationMisconfigured gone
Tear it all down:
  make demo-down
EOT
