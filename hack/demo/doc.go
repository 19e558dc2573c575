// Package demo holds `make demo`: shell scripts that bring up a real
// single-node Kubernetes cluster on this machine (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd, kubelet), build the
// agent image without Docker (ociimage), deploy daemonset/overlays/local and
// inject real faults. Its Go test (e2e_test.go) runs the same scripts end to
// end. lib.sh describes the cluster's layout and settings.
package demo
