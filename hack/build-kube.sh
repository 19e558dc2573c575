#!/usr/bin/env bash
# build-kube.sh builds kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet and kubectl from the k8s.io/kubernetes module pinned in
# hack/tools/go.mod, for the integration tests (internal/kubetest) and the
# single-node demo. kubectl is built rather than installed because Debian 12
# has no current one (its kubernetes-client is 1.20), and the tests check
# what the operator sees with the kubectl of the same release.
#
# Output: $KUBE_BIN_DIR (default <repo>/_output/bin, gitignored).
# Idempotent: when every binary exists and the stamp file records the same
# version, Go toolchain and binary list, it does nothing. The first build
# takes about 8 minutes on 2 cores; it uses the normal Go build cache. Needs
# flock (util-linux, always present on Debian).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${repo_root}/hack/tools"
bin_dir="${KUBE_BIN_DIR:-${repo_root}/_output/bin}"
stamp="${bin_dir}/.kube-version"
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet)

mkdir -p "${bin_dir}"
# Test binaries of several packages may call this at once: one builds, the
# others wait and then find the binaries present.
exec 9>"${bin_dir}/.build.lock"
flock 9

cd "${tools_dir}"
kube_version="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
go_version="$(go env GOVERSION)"
# The binary list is part of the stamp so that adding one rebuilds; keep it
# in step with kubetest.KubeBinaries, which reads the stamp the same way.
want_stamp="k8s.io/kubernetes ${kube_version} ${go_version} ${binaries[*]}"

all_present=true
for b in "${binaries[@]}"; do
	[[ -x "${bin_dir}/${b}" ]] || all_present=false
done
if ${all_present} && [[ -f "${stamp}" ]] && [[ "$(cat "${stamp}")" == "${want_stamp}" ]]; then
	echo "build-kube: ${want_stamp} already built in ${bin_dir}"
	exit 0
fi

# The version the binaries report (kubectl version, node.status.nodeInfo).
major_minor="${kube_version#v}"
major="${major_minor%%.*}"
minor="${major_minor#*.}"
minor="${minor%%.*}"
ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=${kube_version}"
ldflags+=" -X k8s.io/component-base/version.gitMajor=${major}"
ldflags+=" -X k8s.io/component-base/version.gitMinor=${minor}"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"

rm -f "${stamp}"
pkgs=()
for b in "${binaries[@]}"; do
	pkgs+=("k8s.io/kubernetes/cmd/${b}")
done
echo "build-kube: building ${binaries[*]} from k8s.io/kubernetes ${kube_version} with ${go_version} into ${bin_dir}"
start=${SECONDS}
# CGO off: static binaries, no libc coupling; kubelet needs no cgo on Linux.
# One go build for all of them shares the compile of their common packages.
CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" -o "${bin_dir}/" "${pkgs[@]}"
echo "${want_stamp}" > "${stamp}"
echo "build-kube: done in $((SECONDS - start)) s"
