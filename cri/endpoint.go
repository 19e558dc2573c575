package cri

import (
	"fmt"
	"os"
	"strings"

	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/kubeletconfig"
)

// DefaultEndpoint is containerd's socket, the most common runtime and the
// first one crictl tries.
const DefaultEndpoint = "unix:///run/containerd/containerd.sock"

// KnownSockets are the host paths probed for a runtime socket, in crictl's
// order (cri-tools cmd/crictl/main_unix.go) with k3s's embedded containerd
// after the stock one.
var KnownSockets = []string{
	"/run/containerd/containerd.sock",
	"/run/k3s/containerd/containerd.sock",
	"/run/crio/crio.sock",
	"/var/run/cri-dockerd.sock",
}

// NoSocketError says that endpoint discovery found no runtime socket.
type NoSocketError struct {
	// Tried lists the host paths probed (under HostRoot).
	Tried    []string
	HostRoot string
	// KubeletConfigErr is set when the kubelet config could not be read.
	KubeletConfigErr error
}

func (e *NoSocketError) Error() string {
	msg := fmt.Sprintf("no CRI socket found under host root %s (tried %s)", e.HostRoot, strings.Join(e.Tried, ", "))
	if e.KubeletConfigErr != nil {
		msg += "; kubelet config: " + e.KubeletConfigErr.Error()
	}
	return msg
}

// Endpoint is a CRI endpoint twice over: as the host configures it, which is
// what messages show (the operator acts on the host), and as this process
// reaches it through the host root (/host/run/... in the DaemonSet).
type Endpoint struct {
	// Address is the endpoint as on the host: unix:///run/containerd/containerd.sock.
	Address string
	// Socket is the socket's path on this machine, under the host root.
	Socket string
}

// DetectEndpoint picks the CRI endpoint the way the kubelet and crictl would:
// explicit (--cri-endpoint), else $CONTAINER_RUNTIME_ENDPOINT, else the
// kubelet config's containerRuntimeEndpoint, else the first socket of
// KnownSockets that exists. Every endpoint names a host path, so the result
// is resolved under the host root (in the DaemonSet the socket is at
// /host/run/…): it is the endpoint to Dial from this process.
//
// When no socket exists it returns the default containerd endpoint (resolved
// the same way) together with a *NoSocketError naming every path tried: the
// caller can log it and still Dial, and the checks report the runtime
// unreachable.
func DetectEndpoint(host probes.FS, explicit string) (Endpoint, error) {
	if explicit != "" {
		return resolveEndpoint(host, explicit)
	}
	if env := os.Getenv("CONTAINER_RUNTIME_ENDPOINT"); env != "" {
		return resolveEndpoint(host, env)
	}
	kc, kcErr := kubeletconfig.Load(host)
	if kcErr == nil && kc.ContainerRuntimeEndpoint != "" {
		return resolveEndpoint(host, kc.ContainerRuntimeEndpoint)
	}
	for _, p := range KnownSockets {
		local, err := host.Path(p)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(local); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return Endpoint{Address: "unix://" + p, Socket: local}, nil
		}
	}
	def, err := resolveEndpoint(host, DefaultEndpoint)
	if err != nil {
		return Endpoint{}, err
	}
	return def, &NoSocketError{Tried: KnownSockets, HostRoot: host.Root(), KubeletConfigErr: kcErr}
}

// resolveEndpoint maps a host endpoint to the local one under the host root.
func resolveEndpoint(host probes.FS, endpoint string) (Endpoint, error) {
	socket, err := socketPath(endpoint)
	if err != nil {
		return Endpoint{}, err
	}
	local, err := host.Path(socket)
	if err != nil {
		return Endpoint{}, fmt.Errorf("CRI endpoint %s: %w", endpoint, err)
	}
	return Endpoint{Address: "unix://" + socket, Socket: local}, nil
}
