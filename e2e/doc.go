// Package e2e runs nodetriage end to end against real components: a real
// etcd and kube-apiserver (internal/kubetest), the real nodetriage binary
// built once per run, the agent wired in-process the way `nodetriage run`
// wires it, kubectl of the API server's release, real journal files written
// by systemd-journal-remote, the real /dev/kmsg and, for the log-filesystem
// check, a real tmpfs mounted inside the test's temp dir.
//
// It holds tests only. Each test works on its own fixture host root (a temp
// dir passed as --host-root) and its own Node, so nothing outside the temp
// dirs is touched; the one exception is a line written to the real
// /dev/kmsg by the anti-spoofing test, which is what that test is about.
//
// Prerequisites (make test installs them): Debian's etcd-server,
// systemd-journal-remote and libsystemd, the Kubernetes binaries and kubectl
// from hack/build-kube.sh ($KUBE_BIN_DIR; built when missing), gcc for the
// cgo build, and root. A missing one fails the test that needs it with a
// line naming it.
//
//	KUBE_BIN_DIR=/path/to/kube/bin go test -race ./e2e/
//	go test ./e2e/ -run TestCheckCommand -update   # rewrite testdata/*.golden.json
//
// Most tests share one API server (kubetest.Shared) and run in parallel,
// each on its own Node; the outage test starts its own.
package e2e
