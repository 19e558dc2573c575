package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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

// The REST client decodes what the agent receives with the scheme its
// constructor builds: a Node, and an API error as a typed Status (so
// apierrors can tell NotFound), with GetOptions sent as query parameters.
func TestRESTKubeAPIDecodesNodesAndStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch req.URL.Path {
		case "/api/v1/nodes/node-a":
			fmt.Fprint(w, `{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-a","uid":"uid-a"},`+
				`"status":{"conditions":[{"type":"KubeletUnhealthy","status":"True","reason":"KubeletCertificateExpiring"}]}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,`+
				`"message":"nodes \"missing\" not found","details":{"name":"missing","kind":"nodes"}}`)
		}
	}))
	t.Cleanup(srv.Close)
	api, err := NewKubeAPI(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	node, err := api.GetNode(context.Background(), "node-a")
	if err != nil {
		t.Fatalf("GetNode: %v", err)
	}
	want := []corev1.NodeCondition{{Type: "KubeletUnhealthy", Status: corev1.ConditionTrue, Reason: "KubeletCertificateExpiring"}}
	if diff := cmp.Diff(want, node.Status.Conditions); diff != "" || node.UID != "uid-a" {
		t.Errorf("node uid %q, conditions (-want +got):\n%s", node.UID, diff)
	}
	_, err = api.GetNode(context.Background(), "missing")
	if !apierrors.IsNotFound(err) {
		t.Errorf("GetNode(missing) = %v, want a NotFound API error", err)
	}
}
