#!/usr/bin/env bash
# build-image.sh builds the nodetriage agent image without a Docker engine:
# an OCI image layout tarball holding the cgo binary and the same runtime
# libraries the Dockerfile installs, taken from Debian packages.
#
#   1. go build the agent with cgo (the journal reader dlopens libsystemd);
#   2. resolve hack/demo/runtime-packages (the Dockerfile's RUNTIME_PACKAGES)
#      and their Depends with apt-cache, leaving out packages that only serve
#      package installation (maintainer scripts): debconf, openssl (used by
#      update-ca-certificates only) and their own dependencies;
#   3. apt-get download them (cached by file name) and dpkg-deb -x them into
#      a root filesystem, add what their maintainer scripts would have made
#      (the CA bundle, ld.so.cache) and the binary;
#   4. smoke-test the tree (chroot: the binary starts and loads libsystemd);
#   5. pack it with hack/demo/ociimage.
#
# The image has no shell, no package manager and no coreutils: only the
# agent and its libraries.
#
# Output: $IMAGE_DIR/nodetriage.oci.tar (default _output/image; downloaded
# packages are kept in $DEB_CACHE, default $IMAGE_DIR/debs), image
# reference $IMAGE_REF (default localhost/nodetriage:dev). Import it with
#   ctr -n k8s.io images import _output/image/nodetriage.oci.tar
# Needs: go, apt-get, apt-cache, dpkg-deb, ldconfig (Debian), and root for
# the chroot smoke test.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
image_dir=${IMAGE_DIR:-$repo/_output/image}
image_ref=${IMAGE_REF:-localhost/nodetriage:dev}
version=${VERSION:-$(git -C "$repo" describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=${COMMIT:-$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)}

# Packages whose only job is to run maintainer scripts at install time. The
# resolver does not descend into them.
install_time_only=(debconf cdebconf openssl)

log() { echo "build-image: [${SECONDS}s] $*" >&2; }
die() { echo "build-image: $*" >&2; exit 1; }

for tool in go apt-get apt-cache dpkg-deb ldconfig; do
  command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install golang dpkg apt libc-bin)"
done

mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$repo/hack/demo/runtime-packages")
((${#wanted[@]} > 0)) || die "no packages in hack/demo/runtime-packages"

# deps PKG... prints the Depends and Pre-Depends of the packages, one per
# alternative group (the first alternative, as apt would pick when none is
# installed). One apt-cache call per level: each call loads the whole cache.
deps() {
  apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "$@" | awk '
      /^ *\|(Pre)?Depends:/ { if (!alt) print $2; alt = 1; next }
      /^ *(Pre)?Depends:/   { if (!alt) print $2; alt = 0; next }'
}

declare -A seen=()
resolved=()
level=("${wanted[@]}")
for skip in "${install_time_only[@]}"; do seen[$skip]=1; done
while ((${#level[@]} > 0)); do
  next=()
  for pkg in "${level[@]}"; do
    [[ -n ${seen[$pkg]:-} ]] && continue
    seen[$pkg]=1
    [[ $pkg == \<* ]] && continue # a virtual package only reached through an excluded one
    resolved+=("$pkg")
    next+=("$pkg")
  done
  ((${#next[@]} > 0)) || break
  mapfile -t level < <(deps "${next[@]}")
done
log "packages: ${resolved[*]}"

# apt-get download names the file <package>_<version>_<arch>.deb with the
# version's epoch colon escaped.
declare -A deb_name=()
while read -r pkg pkg_version pkg_arch; do
  deb_name[$pkg]="${pkg}_${pkg_version//:/%3a}_${pkg_arch}.deb"
done < <(apt-cache show --no-all-versions "${resolved[@]}" |
  awk '/^Package:/ {p = $2} /^Version:/ {v = $2} /^Architecture:/ {a = $2} /^$/ && p {print p, v, a; p = ""} END {if (p) print p, v, a}')

deb_cache=${DEB_CACHE:-$image_dir/debs}
mkdir -p "$deb_cache"
debs=()
for pkg in "${resolved[@]}"; do
  [[ -n ${deb_name[$pkg]:-} ]] || die "package $pkg unknown to apt (run apt-get update)"
  deb="$deb_cache/${deb_name[$pkg]}"
  if [[ ! -s $deb ]]; then
    log "downloading $pkg"
    (cd "$deb_cache" && apt-get download -q=2 -o APT::Sandbox::User=root "$pkg") || die "apt-get download $pkg failed (network, or stale lists: apt-get update)"
  fi
  [[ -s $deb ]] || die "apt-get download $pkg did not write $deb"
  debs+=("$deb")
done
log "packages downloaded"
rootfs="$image_dir/rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs"
for deb in "${debs[@]}"; do
  dpkg-deb -x "$deb" "$rootfs"
done
# What ca-certificates' postinst (update-ca-certificates) would write: every
# certificate it ships, concatenated.
mkdir -p "$rootfs/etc/ssl/certs"
find "$rootfs/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z | xargs -0 cat >"$rootfs/etc/ssl/certs/ca-certificates.crt"
[[ -s $rootfs/etc/ssl/certs/ca-certificates.crt ]] || die "no CA certificates found in the ca-certificates package"
# Like Debian's slim images: no documentation.
rm -rf "$rootfs/usr/share/doc" "$rootfs/usr/share/man" "$rootfs/usr/share/info" "$rootfs/usr/share/lintian"
# The agent's state directory, a mount point in the DaemonSet.
mkdir -p "$rootfs/var/lib/nodetriage" "$rootfs/etc/nodetriage"

log "building the agent ($version, $commit)"
mkdir -p "$rootfs/usr/local/bin"
(cd "$repo" && CGO_ENABLED=1 go build -trimpath \
  -ldflags "-s -w -X main.version=$version -X main.commit=$commit" \
  -o "$rootfs/usr/local/bin/nodetriage" ./cmd/nodetriage)
# What libc-bin's trigger would do: the loader's cache for the tree.
ldconfig -r "$rootfs"

log "binary built"
if [[ $(id -u) -eq 0 ]]; then
  # The binary starts with the image's libc, and the journal reader loads
  # the image's libsystemd.so.0 to read a real journal file (written by
  # systemd-journal-remote). A missing library shows up as one warning.
  chroot "$rootfs" /usr/local/bin/nodetriage version >/dev/null || die "smoke test failed: the agent does not start in the image's root filesystem"
  journal_remote=/lib/systemd/systemd-journal-remote
  [[ -x $journal_remote ]] || die "$journal_remote missing for the smoke test (apt-get install systemd-journal-remote)"
  smoke="$rootfs/smoke-journal"
  mkdir -p "$smoke"
  printf '__REALTIME_TIMESTAMP=%s\nMESSAGE=nodetriage image smoke test\nSYSLOG_IDENTIFIER=kubelet\n\n' "$(date +%s%6N)" >"$smoke/export"
  "$journal_remote" -o "$smoke/system.journal" "$smoke/export" 2>/dev/null || die "$journal_remote could not write the smoke-test journal"
  out=$(chroot "$rootfs" /usr/local/bin/nodetriage check --host-root / --checks kubelet-cert --journal-dir /smoke-journal 2>&1 >/dev/null) || true
  rm -rf "$smoke"
  if grep -q "libsystemd" <<<"$out"; then
    die "smoke test failed: the journal reader cannot load libsystemd in the image: $out"
  fi
else
  log "not root: skipping the chroot smoke test"
fi

log "smoke test done"
go build -o "$image_dir/ociimage" "$repo/hack/demo/ociimage"
"$image_dir/ociimage" -rootfs "$rootfs" -ref "$image_ref" -out "$image_dir/nodetriage.oci.tar" \
  -entrypoint /usr/local/bin/nodetriage -cmd run \
  -label org.opencontainers.image.title=nodetriage \
  -label "org.opencontainers.image.description=Finds the node-local faults that make pods fail and reports them as NodeConditions, Events and metrics, with the fix." \
  -label org.opencontainers.image.source=https://github.com/nodetriage/nodetriage \
  -label org.opencontainers.image.licenses=Apache-2.0 \
  -label "org.opencontainers.image.version=$version" \
  -label "org.opencontainers.image.revision=$commit"
log "wrote $image_dir/nodetriage.oci.tar ($image_ref, $(du -h "$image_dir/nodetriage.oci.tar" | cut -f1))"
