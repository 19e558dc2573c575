package agent

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// KubeAPI is all of the Kubernetes API the agent calls: its own Node (read,
// and patch of the status subresource) and events.k8s.io/v1 Events (create,
// and merge patch of an Event's series). The DaemonSet's RBAC grants exactly
// these verbs.
//
// NewKubeAPI implements it over client-go's REST client. Tests adapt a
// client-go clientset (fake or real) to it.
type KubeAPI interface {
	GetNode(ctx context.Context, name string) (*corev1.Node, error)
	// PatchNodeStatus sends patch (a strategic merge patch) to the Node's
	// status subresource.
	PatchNodeStatus(ctx context.Context, name string, patch []byte) (*corev1.Node, error)
	CreateEvent(ctx context.Context, ev *eventsv1.Event) (*eventsv1.Event, error)
	// PatchEvent sends patch (a JSON merge patch) to an Event.
	PatchEvent(ctx context.Context, namespace, name string, patch []byte) (*eventsv1.Event, error)
}

// kubeCodecs encode and decode only the types the agent sends and
// receives. client-go's typed clientset (k8s.io/client-go/kubernetes) is not
// used on purpose: its scheme package registers all of Kubernetes' ~50 API
// group versions when the program starts, and linking it (with its apply
// configurations) made the agent's executable twice the size and added
// ~18 MiB of resident pages to an agent that uses two resources
// (docs/benchmarks.md). The scheme is built by the constructor, not in an
// init function, so a registration error is returned, not a panic.
type kubeCodecs struct {
	serializer runtime.NegotiatedSerializer
	// parameters encodes GetOptions and friends as query parameters.
	parameters runtime.ParameterCodec
}

func newKubeCodecs() (kubeCodecs, error) {
	scheme := runtime.NewScheme()
	// Errors only come from registering the same name for two types.
	if err := corev1.AddToScheme(scheme); err != nil {
		return kubeCodecs{}, fmt.Errorf("register %s types: %w", corev1.SchemeGroupVersion, err)
	}
	if err := eventsv1.AddToScheme(scheme); err != nil {
		return kubeCodecs{}, fmt.Errorf("register %s types: %w", eventsv1.SchemeGroupVersion, err)
	}
	// Status, the options types and WatchEvent, in the unversioned group
	// version the API server's errors use.
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	return kubeCodecs{
		serializer: serializer.NewCodecFactory(scheme).WithoutConversion(),
		parameters: runtime.NewParameterCodec(scheme),
	}, nil
}

// restKubeAPI is KubeAPI over two REST clients (the core group under /api,
// events.k8s.io under /apis) sharing one HTTP client, so one connection.
type restKubeAPI struct {
	core       *rest.RESTClient
	events     *rest.RESTClient
	parameters runtime.ParameterCodec
}

// NewKubeAPI returns the agent's API client for cfg (its QPS, burst,
// timeout, user agent and content types are used as they are).
func NewKubeAPI(cfg *rest.Config) (KubeAPI, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	return NewKubeAPIForConfigAndClient(cfg, httpClient)
}

// NewKubeAPIForConfigAndClient is NewKubeAPI over a given HTTP client (from
// rest.HTTPClientFor), for callers that manage its connections.
func NewKubeAPIForConfigAndClient(cfg *rest.Config, httpClient *http.Client) (KubeAPI, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	// One rate limiter for both clients: QPS and burst are the agent's
	// whole budget, not one per API group.
	if cfg.RateLimiter == nil && cfg.QPS > 0 {
		burst := cfg.Burst
		if burst <= 0 {
			burst = 1
		}
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, burst)
	}
	codecs, err := newKubeCodecs()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	core, err := newKubeRESTClient(cfg, "/api", corev1.SchemeGroupVersion, codecs, httpClient)
	if err != nil {
		return nil, err
	}
	events, err := newKubeRESTClient(cfg, "/apis", eventsv1.SchemeGroupVersion, codecs, httpClient)
	if err != nil {
		return nil, err
	}
	return &restKubeAPI{core: core, events: events, parameters: codecs.parameters}, nil
}

func newKubeRESTClient(cfg *rest.Config, apiPath string, gv schema.GroupVersion, codecs kubeCodecs, httpClient *http.Client) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.APIPath = apiPath
	c.GroupVersion = &gv
	c.NegotiatedSerializer = codecs.serializer
	rc, err := rest.RESTClientForConfigAndClient(c, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s%s: %w", cfg.Host, apiPath, err)
	}
	return rc, nil
}

func (a *restKubeAPI) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	node := &corev1.Node{}
	err := a.core.Get().Resource("nodes").Name(name).
		VersionedParams(&metav1.GetOptions{}, a.parameters).
		Do(ctx).Into(node)
	if err != nil {
		return nil, err
	}
	return node, nil
}

func (a *restKubeAPI) PatchNodeStatus(ctx context.Context, name string, patch []byte) (*corev1.Node, error) {
	node := &corev1.Node{}
	err := a.core.Patch(types.StrategicMergePatchType).Resource("nodes").Name(name).SubResource("status").
		Body(patch).Do(ctx).Into(node)
	if err != nil {
		return nil, err
	}
	return node, nil
}

func (a *restKubeAPI) CreateEvent(ctx context.Context, ev *eventsv1.Event) (*eventsv1.Event, error) {
	out := &eventsv1.Event{}
	err := a.events.Post().Namespace(ev.Namespace).Resource("events").
		Body(ev).Do(ctx).Into(out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (a *restKubeAPI) PatchEvent(ctx context.Context, namespace, name string, patch []byte) (*eventsv1.Event, error) {
	out := &eventsv1.Event{}
	err := a.events.Patch(types.MergePatchType).Namespace(namespace).Resource("events").Name(name).
		Body(patch).Do(ctx).Into(out)
	if err != nil {
		return nil, err
	}
	return out, nil
}
