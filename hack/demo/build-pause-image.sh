#!/usr/bin/env bash
# build-pause-image.sh builds the demo node's sandbox ("pause") image: the
# static pause program of the containerd test harness
# (internal/containerdtest/images/pause) packed by hack/demo/ociimage into
# $IMAGE_DIR/pause.oci.tar as localhost/nodetriage/pause:demo. The demo has
# no registry, so the runtime can only get it by import.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
image_dir=${IMAGE_DIR:-$repo/_output/image}
rootfs=$image_dir/pause-rootfs
rm -rf "$rootfs"
mkdir -p "$rootfs"
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$rootfs/pause" ./internal/containerdtest/images/pause)
go build -o "$image_dir/ociimage" "$repo/hack/demo/ociimage"
"$image_dir/ociimage" -rootfs "$rootfs" -ref localhost/nodetriage/pause:demo -out "$image_dir/pause.oci.tar" -entrypoint /pause
echo "build-pause-image: wrote $image_dir/pause.oci.tar" >&2
