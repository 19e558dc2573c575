// Package faults holds nodetriage's fault-injection tests: the real agent
// binary (and, for goroutine accounting, the agent in-process) against the
// real kube-apiserver and etcd (internal/kubetest), the real containerd
// (internal/containerdtest), real journal files written by
// systemd-journal-remote and the real /dev/kmsg, while the fault happens:
// the API server down for two minutes, etcd restarted, containerd killed,
// the journal rotated and vacuumed, the kernel log overrun, a hundred
// config reloads, a full state directory, SIGTERM.
//
// Every test ends with the Node's conditions in the API server equal to the
// agent's own view and to the injected truth, the agent still running (or
// exited cleanly when that is the test), and its RSS under a bound.
//
// The tests need root (mknod, mount, containerd) and the packages
// hack/install-deps.sh installs; a missing prerequisite fails with what to
// install. They are in `make test` and never skip.
package faults
