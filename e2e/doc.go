// Package e2e runs nodetriage end to end against real components: a real
// etcd and kube-apiserver (internal/kubetest), the real nodetriage binary
// built once per run, the agent wired in-process the way `nodetriage run`
// wires it, kubectl, real journal files written by systemd-journal-remote
// and the real /dev/kmsg.
//
// It holds tests only. Each test works on its own fixture host root (a temp
// dir passed as --host-root) and its own Node, so nothing outside the temp
// dirs is touched; the one exception is a line written to the real
// /dev/kmsg by the anti-spoofing test, which is what that test is about.
//
// Prerequisites (make test installs them): Debian's etcd-server, kubectl,
// systemd-journal-remote and libsystemd, the Kubernetes binaries from
// hack/build-kube.sh ($KUBE_BIN_DIR), gcc for the cgo build, and root.
package e2e
