package benchkit

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/nodetriage/nodetriage/agent"
)

// Condition is one NodeCondition as the API server shows it, without the
// times.
type Condition struct {
	Type, Status, Reason, Message string
}

func (c Condition) String() string {
	return fmt.Sprintf("%s=%s/%s %q", c.Type, c.Status, c.Reason, c.Message)
}

// NodeConditions lists a Node's conditions sorted by type.
func NodeConditions(n *corev1.Node) []Condition {
	out := make([]Condition, 0, len(n.Status.Conditions))
	for _, c := range n.Status.Conditions {
		out = append(out, Condition{Type: string(c.Type), Status: string(c.Status), Reason: c.Reason, Message: c.Message})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// ReportConditions lists the agent's own view of its conditions
// (/debug/findings) sorted by type.
func ReportConditions(r agent.Report) []Condition {
	out := make([]Condition, 0, len(r.Conditions))
	for _, c := range r.Conditions {
		out = append(out, Condition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// FormatConditions prints conditions one per line, for failure messages.
func FormatConditions(cs []Condition) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString("  " + c.String() + "\n")
	}
	return b.String()
}

// NodeWatcher follows one Node through a watch, re-listing after every
// disconnect (the API server may be down for minutes), and remembers when
// each version was seen.
type NodeWatcher struct {
	client kubernetes.Interface
	name   string

	mu      sync.Mutex
	node    *corev1.Node
	seen    time.Time
	changed chan struct{} // closed and replaced on every update
}

// WatchNode starts following node name until ctx is done.
func WatchNode(ctx context.Context, client kubernetes.Interface, name string) *NodeWatcher {
	w := &NodeWatcher{client: client, name: name, changed: make(chan struct{})}
	go w.run(ctx)
	return w
}

func (w *NodeWatcher) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := w.watchOnce(ctx); err != nil && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

func (w *NodeWatcher) watchOnce(ctx context.Context) error {
	sel := fields.OneTermEqualSelector("metadata.name", w.name).String()
	list, err := w.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return err
	}
	if len(list.Items) == 1 {
		w.update(&list.Items[0])
	}
	wi, err := w.client.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: list.ResourceVersion})
	if err != nil {
		return err
	}
	defer wi.Stop()
	for ev := range wi.ResultChan() {
		switch ev.Type {
		case watch.Added, watch.Modified:
			if n, ok := ev.Object.(*corev1.Node); ok {
				w.update(n)
			}
		case watch.Error:
			return fmt.Errorf("watch node %s: %v", w.name, ev.Object)
		}
	}
	return nil
}

func (w *NodeWatcher) update(n *corev1.Node) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.node != nil && w.node.ResourceVersion == n.ResourceVersion {
		return
	}
	w.node, w.seen = n.DeepCopy(), time.Now()
	close(w.changed)
	w.changed = make(chan struct{})
}

// Node is the latest version seen (nil before the first) and when it was
// seen.
func (w *NodeWatcher) Node() (*corev1.Node, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.node, w.seen
}

// WaitFor waits until ok holds for the Node's conditions and returns when
// the version that satisfied it arrived.
func (w *NodeWatcher) WaitFor(ctx context.Context, ok func([]Condition) bool) (time.Time, error) {
	for {
		w.mu.Lock()
		node, seen, changed := w.node, w.seen, w.changed
		w.mu.Unlock()
		if node != nil && ok(NodeConditions(node)) {
			return seen, nil
		}
		select {
		case <-ctx.Done():
			var last []Condition
			if node != nil {
				last = NodeConditions(node)
			}
			return time.Time{}, fmt.Errorf("node %s: %w; last conditions:\n%s", w.name, ctx.Err(), FormatConditions(last))
		case <-changed:
		}
	}
}

// WaitCondition waits until condition typ has status (and reason, unless
// "").
func (w *NodeWatcher) WaitCondition(ctx context.Context, typ, status, reason string) (time.Time, error) {
	return w.WaitFor(ctx, func(cs []Condition) bool {
		c, ok := Find(cs, typ)
		return ok && c.Status == status && (reason == "" || c.Reason == reason)
	})
}

// Find returns condition typ.
func Find(cs []Condition, typ string) (Condition, bool) {
	for _, c := range cs {
		if c.Type == typ {
			return c, true
		}
	}
	return Condition{}, false
}
