package cri

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nodetriage/nodetriage/probes"
)

// Fake is an in-memory runtime for unit tests of the checks and of anything
// else that takes a probes.Runtime. Set its fields, then hand it over; it
// answers from them, honours the CRI filters the checks use, counts calls per
// method and fails a method on demand. It also implements ImageLabeler over
// Labels. Safe for concurrent use; lock-free reads of the fields are the
// test's business.
type Fake struct {
	mu sync.Mutex

	EndpointAddr string
	VersionResp  *runtimeapi.VersionResponse
	StatusResp   *runtimeapi.StatusResponse
	Sandboxes    []*runtimeapi.PodSandbox
	Containers   []*runtimeapi.Container
	// Statuses holds ContainerStatus answers by container ID.
	Statuses   map[string]*runtimeapi.ContainerStatus
	Images     []*runtimeapi.Image
	ImageFsRes *runtimeapi.ImageFsInfoResponse
	// Labels are containerd image labels by image name; a name missing from
	// the map is ErrImageNotFound.
	Labels map[string]map[string]string
	// Errs makes a method fail: key is the method name ("Status",
	// "ImageLabels", …).
	Errs map[string]error

	calls map[string]int
}

var (
	_ probes.Runtime = (*Fake)(nil)
	_ ImageLabeler   = (*Fake)(nil)
)

// NewFake returns a fake containerd 1.7.3 that is ready, with network ready
// and no pods or images.
func NewFake() *Fake {
	return &Fake{
		EndpointAddr: "unix:///run/containerd/containerd.sock",
		VersionResp: &runtimeapi.VersionResponse{
			Version: "0.1.0", RuntimeName: "containerd", RuntimeVersion: "v1.7.3", RuntimeApiVersion: "v1",
		},
		StatusResp: &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
			{Type: runtimeapi.RuntimeReady, Status: true},
			{Type: runtimeapi.NetworkReady, Status: true},
		}}},
		Statuses: map[string]*runtimeapi.ContainerStatus{},
		Labels:   map[string]map[string]string{},
	}
}

// Unreachable returns the error a Client gives when the socket is missing,
// for Errs.
func (f *Fake) Unreachable(method string) error {
	return &Error{Method: method, Endpoint: f.EndpointAddr, Code: codes.Unavailable, Detail: "socket /run/containerd/containerd.sock does not exist"}
}

// Calls returns how often a method was called.
func (f *Fake) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// TotalCalls is the number of calls to every method.
func (f *Fake) TotalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// called counts the call and returns the injected error, if any. The caller
// holds f.mu.
func (f *Fake) called(method string) error {
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[method]++
	return f.Errs[method]
}

func cloneOf[T proto.Message](m T) T {
	if any(m) == nil {
		return m
	}
	return proto.Clone(m).(T)
}

func (f *Fake) Endpoint() string { return f.EndpointAddr }

func (f *Fake) Version(ctx context.Context) (*runtimeapi.VersionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("Version"); err != nil {
		return nil, err
	}
	return cloneOf(f.VersionResp), nil
}

func (f *Fake) Status(ctx context.Context, verbose bool) (*runtimeapi.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("Status"); err != nil {
		return nil, err
	}
	resp := cloneOf(f.StatusResp)
	if !verbose && resp != nil {
		resp.Info = nil
	}
	return resp, nil
}

func (f *Fake) ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("ListPodSandbox"); err != nil {
		return nil, err
	}
	var out []*runtimeapi.PodSandbox
	for _, sb := range f.Sandboxes {
		if filter != nil {
			if filter.Id != "" && !strings.HasPrefix(sb.Id, filter.Id) {
				continue
			}
			if filter.State != nil && filter.State.State != sb.State {
				continue
			}
			if !labelsMatch(sb.Labels, filter.LabelSelector) {
				continue
			}
		}
		out = append(out, cloneOf(sb))
	}
	return out, nil
}

func (f *Fake) ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("ListContainers"); err != nil {
		return nil, err
	}
	var out []*runtimeapi.Container
	for _, c := range f.Containers {
		if filter != nil {
			if filter.Id != "" && !strings.HasPrefix(c.Id, filter.Id) {
				continue
			}
			if filter.PodSandboxId != "" && c.PodSandboxId != filter.PodSandboxId {
				continue
			}
			if filter.State != nil && filter.State.State != c.State {
				continue
			}
			if !labelsMatch(c.Labels, filter.LabelSelector) {
				continue
			}
		}
		out = append(out, cloneOf(c))
	}
	return out, nil
}

func labelsMatch(labels, selector map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (f *Fake) ContainerStatus(ctx context.Context, containerID string, verbose bool) (*runtimeapi.ContainerStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("ContainerStatus"); err != nil {
		return nil, err
	}
	st, ok := f.Statuses[containerID]
	if !ok {
		return nil, &Error{Method: "ContainerStatus", Endpoint: f.EndpointAddr, Code: codes.NotFound,
			Detail: fmt.Sprintf("an error occurred when try to find container %q: not found", containerID)}
	}
	return &runtimeapi.ContainerStatusResponse{Status: cloneOf(st)}, nil
}

func (f *Fake) ListImages(ctx context.Context, filter *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("ListImages"); err != nil {
		return nil, err
	}
	var out []*runtimeapi.Image
	for _, img := range f.Images {
		if filter != nil && filter.Image != nil && !imageMatches(img, filter.Image.Image) {
			continue
		}
		out = append(out, cloneOf(img))
	}
	return out, nil
}

func imageMatches(img *runtimeapi.Image, ref string) bool {
	if img.Id == ref {
		return true
	}
	for _, t := range img.RepoTags {
		if t == ref {
			return true
		}
	}
	for _, d := range img.RepoDigests {
		if d == ref {
			return true
		}
	}
	return false
}

func (f *Fake) ImageStatus(ctx context.Context, image *runtimeapi.ImageSpec, verbose bool) (*runtimeapi.ImageStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("ImageStatus"); err != nil {
		return nil, err
	}
	for _, img := range f.Images {
		if imageMatches(img, image.GetImage()) {
			return &runtimeapi.ImageStatusResponse{Image: cloneOf(img)}, nil
		}
	}
	// CRI: an absent image is a nil Image, not an error.
	return &runtimeapi.ImageStatusResponse{}, nil
}

func (f *Fake) ImageFsInfo(ctx context.Context) (*runtimeapi.ImageFsInfoResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("ImageFsInfo"); err != nil {
		return nil, err
	}
	return cloneOf(f.ImageFsRes), nil
}

// ImageLabels implements ImageLabeler from Labels.
func (f *Fake) ImageLabels(ctx context.Context, name string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("ImageLabels"); err != nil {
		return nil, err
	}
	labels, ok := f.Labels[name]
	if !ok {
		return nil, fmt.Errorf("containerd image %s: %w", name, ErrImageNotFound)
	}
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		out[k] = v
	}
	return out, nil
}

// SetImageLabel implements ImageLabeler on Labels.
func (f *Fake) SetImageLabel(ctx context.Context, name, key, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.called("SetImageLabel"); err != nil {
		return err
	}
	labels, ok := f.Labels[name]
	if !ok {
		return fmt.Errorf("containerd image %s: %w", name, ErrImageNotFound)
	}
	labels[key] = value
	return nil
}
