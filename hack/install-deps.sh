#!/usr/bin/env bash
# Installs the Debian packages nodetriage's tests need on a fresh Debian 12
# machine: the real components the integration tests run (etcd, containerd,
# runc, CNI plugins), the tools the tests cross-check against (logrotate,
# conntrack, systemd-journal-remote, journalctl, dbus-daemon, iproute2) and
# libsystemd's headers for the cgo journal reader. Idempotent: does nothing
# when everything is present.
#
# No kubectl here: Debian 12 has none of a current release (its
# kubernetes-client is 1.20). hack/build-kube.sh builds kubectl with the
# other Kubernetes binaries, and the tests and the demo use that one.
set -euo pipefail

packages=(
  containerd runc etcd-server
  conntrack logrotate systemd-journal-remote systemd
  containernetworking-plugins iproute2 dbus kmod
  libsystemd-dev libsystemd0 gcc
  openssl curl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: need root to apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
