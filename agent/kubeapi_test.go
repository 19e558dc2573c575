package agent

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// clientsetKubeAPI adapts a client-go clientset (the fake one in unit tests)
// to KubeAPI, making the same calls restKubeAPI makes.
type clientsetKubeAPI struct{ cs kubernetes.Interface }

func (a clientsetKubeAPI) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	return a.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
}

func (a clientsetKubeAPI) PatchNodeStatus(ctx context.Context, name string, patch []byte) (*corev1.Node, error) {
	return a.cs.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
}

func (a clientsetKubeAPI) CreateEvent(ctx context.Context, ev *eventsv1.Event) (*eventsv1.Event, error) {
	return a.cs.EventsV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{})
}

func (a clientsetKubeAPI) PatchEvent(ctx context.Context, namespace, name string, patch []byte) (*eventsv1.Event, error) {
	return a.cs.EventsV1().Events(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
}
