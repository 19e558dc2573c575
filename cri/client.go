package cri

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	containerdtypes "github.com/containerd/containerd/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nodetriage/nodetriage/probes"
)

// DefaultTimeout bounds every CRI call unless WithTimeout says otherwise.
const DefaultTimeout = 5 * time.Second

// maxRecvMsgSize matches the kubelet's CRI client: ListContainers on a busy
// node exceeds gRPC's 4 MiB default.
const maxRecvMsgSize = 16 << 20

// containerdNamespace is the containerd namespace the CRI plugin keeps its
// images and containers in; containerdNamespaceHeader is the gRPC metadata
// key containerd reads it from (containerd's namespaces package).
const (
	containerdNamespace       = "k8s.io"
	containerdNamespaceHeader = "containerd-namespace"
)

// Option configures a Client.
type Option func(*Client)

// WithTimeout sets the per-call timeout (DefaultTimeout otherwise). A shorter
// deadline on the caller's context still wins.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// Client is the CRI client over a unix socket. It implements probes.Runtime,
// and ImageLabeler for containerd. It dials lazily: a missing socket is not
// an error at Dial, only on the calls, which then fail fast with an error
// naming the socket. After the runtime restarts, the next call reconnects by
// itself: the reconnect backoff is capped at one second so the connection
// never stays wedged in gRPC's default two-minute backoff.
//
// Safe for concurrent use.
type Client struct {
	// endpoint and hostSocket are the runtime's address as the host knows
	// it (for messages); socket is the path dialed on this machine.
	endpoint   string
	hostSocket string
	socket     string
	timeout    time.Duration
	conn       *grpc.ClientConn
	runtime    runtimeapi.RuntimeServiceClient
	images     runtimeapi.ImageServiceClient
	// containerdImages is containerd's own images API on the same socket,
	// for the pinned label that containerd < 1.6.22 / 1.7.3 does not report
	// over CRI. The generated API client is used rather than containerd's
	// client package, which links its whole client (content, snapshots,
	// transfer, ...) for these two calls.
	containerdImages imagesapi.ImagesClient
	calls            atomic.Uint64
}

var (
	_ probes.Runtime = (*Client)(nil)
	_ ImageLabeler   = (*Client)(nil)
)

// Dial returns a client for a unix-socket endpoint on this machine:
// "unix:///run/x.sock" or an absolute path. It does not connect yet.
func Dial(endpoint string, opts ...Option) (*Client, error) {
	socket, err := socketPath(endpoint)
	if err != nil {
		return nil, err
	}
	return DialEndpoint(Endpoint{Address: "unix://" + socket, Socket: socket}, opts...)
}

// DialEndpoint returns a client for an endpoint found under a host root
// (DetectEndpoint): it dials ep.Socket and names ep.Address in every message.
func DialEndpoint(ep Endpoint, opts ...Option) (*Client, error) {
	endpoint, socket := ep.Address, ep.Socket
	hostSocket, err := socketPath(endpoint)
	if err != nil {
		return nil, err
	}
	c := &Client{endpoint: endpoint, socket: socket, hostSocket: hostSocket, timeout: DefaultTimeout}
	for _, o := range opts {
		o(c)
	}
	conn, err := grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   time.Second,
			},
			MinConnectTimeout: 2 * time.Second,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
		grpc.WithUnaryInterceptor(c.countCall),
	)
	if err != nil {
		return nil, fmt.Errorf("CRI endpoint %s: %w", endpoint, err)
	}
	c.conn = conn
	c.runtime = runtimeapi.NewRuntimeServiceClient(conn)
	c.images = runtimeapi.NewImageServiceClient(conn)
	c.containerdImages = imagesapi.NewImagesClient(conn)
	return c, nil
}

// socketPath accepts unix:///abs/path, unix:/abs/path and /abs/path.
func socketPath(endpoint string) (string, error) {
	if strings.HasPrefix(endpoint, "/") {
		return filepath.Clean(endpoint), nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("CRI endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "unix" {
		return "", fmt.Errorf("CRI endpoint %q: only unix sockets are supported (unix:///path/to.sock)", endpoint)
	}
	p := u.Path
	if p == "" {
		p = u.Opaque
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("CRI endpoint %q: socket path must be absolute", endpoint)
	}
	return filepath.Clean(p), nil
}

func (c *Client) countCall(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c.calls.Add(1)
	return invoker(ctx, method, req, reply, cc, opts...)
}

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Endpoint is the endpoint in use as the host knows it, unix://<socket>.
func (c *Client) Endpoint() string { return c.endpoint }

// Calls is the number of RPCs issued since Dial (CRI and containerd), for
// measuring what a check run costs.
func (c *Client) Calls() uint64 { return c.calls.Load() }

// Error is a failed CRI call.
type Error struct {
	// Method is the RPC, e.g. "Status".
	Method string
	// Endpoint is the client's endpoint.
	Endpoint string
	// Code is the gRPC status code.
	Code codes.Code
	// Detail is the one-line cause, e.g. "socket /run/x.sock does not exist".
	Detail string
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("CRI %s on %s: %s", e.Method, e.Endpoint, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// Unreachable says the runtime did not answer at all (no socket, refused,
// timed out) as opposed to answering with an error.
func (e *Error) Unreachable() bool {
	return e.Code == codes.Unavailable || e.Code == codes.DeadlineExceeded
}

// IsUnreachable reports whether err is a CRI call that got no answer.
func IsUnreachable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Unreachable()
}

// IsNotFound reports whether the runtime said the object does not exist.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == codes.NotFound
}

func (c *Client) wrap(method string, err error) error {
	st, _ := status.FromError(err)
	e := &Error{Method: method, Endpoint: c.endpoint, Code: st.Code(), Detail: st.Message(), Err: err}
	switch e.Code {
	case codes.Unavailable:
		if _, statErr := os.Stat(c.socket); errors.Is(statErr, fs.ErrNotExist) {
			e.Detail = "socket " + c.hostSocket + " does not exist"
		} else {
			e.Detail = unavailableDetail(st.Message())
		}
	case codes.DeadlineExceeded:
		e.Detail = fmt.Sprintf("no answer within %s", c.timeout)
	}
	return e
}

// unavailableDetail trims gRPC's transport wording down to the OS error,
// e.g. "dial unix /run/x.sock: connect: connection refused".
func unavailableDetail(msg string) string {
	if i := strings.Index(msg, "dial unix"); i >= 0 {
		return strings.TrimRight(msg[i:], `"`)
	}
	return msg
}

func (c *Client) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

func (c *Client) Version(ctx context.Context) (*runtimeapi.VersionResponse, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.runtime.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return nil, c.wrap("Version", err)
	}
	return resp, nil
}

func (c *Client) Status(ctx context.Context, verbose bool) (*runtimeapi.StatusResponse, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.runtime.Status(ctx, &runtimeapi.StatusRequest{Verbose: verbose})
	if err != nil {
		return nil, c.wrap("Status", err)
	}
	return resp, nil
}

func (c *Client) ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: filter})
	if err != nil {
		return nil, c.wrap("ListPodSandbox", err)
	}
	return resp.GetItems(), nil
}

func (c *Client) ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: filter})
	if err != nil {
		return nil, c.wrap("ListContainers", err)
	}
	return resp.GetContainers(), nil
}

func (c *Client) ContainerStatus(ctx context.Context, containerID string, verbose bool) (*runtimeapi.ContainerStatusResponse, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: containerID, Verbose: verbose})
	if err != nil {
		return nil, c.wrap("ContainerStatus", err)
	}
	return resp, nil
}

func (c *Client) ListImages(ctx context.Context, filter *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.images.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: filter})
	if err != nil {
		return nil, c.wrap("ListImages", err)
	}
	return resp.GetImages(), nil
}

func (c *Client) ImageStatus(ctx context.Context, image *runtimeapi.ImageSpec, verbose bool) (*runtimeapi.ImageStatusResponse, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: image, Verbose: verbose})
	if err != nil {
		return nil, c.wrap("ImageStatus", err)
	}
	return resp, nil
}

func (c *Client) ImageFsInfo(ctx context.Context) (*runtimeapi.ImageFsInfoResponse, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.images.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
	if err != nil {
		return nil, c.wrap("ImageFsInfo", err)
	}
	return resp, nil
}

// ImageLabeler reads and sets labels on containerd's image records (namespace
// k8s.io), which is where containerd keeps the sandbox image's pin
// (io.cri-containerd.pinned=pinned). Only containerd implements it on its
// socket; other runtimes answer Unimplemented.
type ImageLabeler interface {
	// ImageLabels returns the labels of the image record named name (a
	// repo tag as CRI lists it). ErrImageNotFound when there is none.
	ImageLabels(ctx context.Context, name string) (map[string]string, error)
	// SetImageLabel sets one label on the image record named name.
	SetImageLabel(ctx context.Context, name, key, value string) error
}

// ErrImageNotFound means containerd has no image record by that name.
var ErrImageNotFound = errors.New("image not found")

// ImageLabels implements ImageLabeler through containerd's images API.
func (c *Client) ImageLabels(ctx context.Context, name string) (map[string]string, error) {
	ctx, cancel := c.callCtx(metadata.AppendToOutgoingContext(ctx, containerdNamespaceHeader, containerdNamespace))
	defer cancel()
	resp, err := c.containerdImages.Get(ctx, &imagesapi.GetImageRequest{Name: name})
	if status.Code(err) == codes.NotFound {
		return nil, fmt.Errorf("containerd image %s: %w", name, ErrImageNotFound)
	}
	if err != nil {
		return nil, c.wrap("containerd Images.Get", err)
	}
	return resp.GetImage().GetLabels(), nil
}

// SetImageLabel implements ImageLabeler through containerd's images API,
// updating only that one label.
func (c *Client) SetImageLabel(ctx context.Context, name, key, value string) error {
	ctx, cancel := c.callCtx(metadata.AppendToOutgoingContext(ctx, containerdNamespaceHeader, containerdNamespace))
	defer cancel()
	_, err := c.containerdImages.Update(ctx, &imagesapi.UpdateImageRequest{
		// An empty target, as containerd's own client sends: with the mask
		// naming one label, the server changes nothing else.
		Image:      &imagesapi.Image{Name: name, Labels: map[string]string{key: value}, Target: &containerdtypes.Descriptor{}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels." + key}},
	})
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("containerd image %s: %w", name, ErrImageNotFound)
	}
	if err != nil {
		return c.wrap("containerd Images.Update", err)
	}
	return nil
}
