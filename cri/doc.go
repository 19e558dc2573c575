// Package cri is nodetriage's window on the container runtime: a CRI client
// over the runtime's unix socket (k8s.io/cri-api v1 over gRPC, per-call
// timeouts, reconnecting by itself after a runtime restart), endpoint
// discovery in crictl's order, a fake for unit tests, and the checks that need
// the runtime:
//
//   - container-runtime: ContainerRuntimeUnhealthy (RuntimeUnreachable,
//     RuntimeNotReady)
//   - container-network: ContainerNetworkNotReady (NetworkPluginNotReady)
//   - sandbox-image: SandboxImageMissing (SandboxImageNotPresent) and the
//     events SandboxImageAtRisk and SandboxImagePinned
//   - workloads: the events ContainerCrashLooping and ContainerOOMKilled
//
// plus NewOOMResolver, which names the pod behind a kernel OOM kill.
//
// Facts behind the checks: the CRI API (k8s.io/cri-api
// pkg/apis/runtime/v1/api.proto), the kubelet's image GC
// (pkg/kubelet/images/image_gc_manager.go) and its labels
// (pkg/kubelet/kuberuntime/labels.go), containerd's and CRI-O's config
// files. Checks never start goroutines and never call the Kubernetes API.
package cri
