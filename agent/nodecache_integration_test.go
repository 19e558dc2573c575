package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/internal/kubetest"
)

// TestNodeCacheIntegration runs NewKubeClient (from the harness's
// kubeconfig) and NodeCache against a real API server, with a ServiceAccount
// that, like the DaemonSet's, may only `get` nodes.
func TestNodeCacheIntegration(t *testing.T) {
	c := kubetest.Start(t)
	ctx := context.Background()

	admin, cfg, err := NewKubeClient(c.KubeconfigPath)
	if err != nil {
		t.Fatalf("NewKubeClient(%s): %v", c.KubeconfigPath, err)
	}
	if want := "nodetriage/" + KubeClientVersion; cfg.UserAgent != want {
		t.Errorf("user agent = %q, want %q", cfg.UserAgent, want)
	}
	c.CreateNode(t, "client-check")
	if n, err := admin.GetNode(ctx, "client-check"); err != nil || n.Name != "client-check" {
		t.Fatalf("get a node through NewKubeClient (protobuf): %v, %v", n, err)
	}

	// Only `nodes get`, as the DaemonSet's RBAC grants.
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "nodecache-test"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}}},
	}
	if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "nodecache-test"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "nodecache-test"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "agent", Namespace: "nodetriage"}},
	}
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	agentClient, err := NewKubeAPI(c.ServiceAccountConfig(t, "nodetriage", "agent"))
	if err != nil {
		t.Fatal(err)
	}

	logs := &kubeLogRecorder{}
	cache := NewNodeCache(agentClient, "cached", 50*time.Millisecond, clock.RealClock{}, slog.New(logs))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cache.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	// No Node yet: nil, and one warning however many retries.
	time.Sleep(500 * time.Millisecond)
	if got := cache.Get(); got != nil {
		t.Fatalf("Get() = %v before the Node exists, want nil", got.Name)
	}
	if n := logs.count(slog.LevelWarn, "cannot read own Node"); n != 1 {
		t.Errorf("%d warnings over ~10 failed reads, want 1", n)
	}

	created := c.CreateNode(t, "cached")
	kubeWaitFor(t, func() error {
		if cache.Get() == nil {
			return errors.New("Get() still nil")
		}
		return nil
	})
	if got := cache.Get(); got.UID != created.UID {
		t.Errorf("Get().UID = %s, want %s", got.UID, created.UID)
	}
	if n := logs.count(slog.LevelInfo, "reading own Node works again"); n != 1 {
		t.Errorf("%d recovery logs, want 1", n)
	}

	// A change on the server shows up within an interval.
	node := created.DeepCopy()
	node.Labels = map[string]string{"nodetriage.io/test": "relabelled"}
	if _, err := c.Client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeWaitFor(t, func() error {
		if got := cache.Get(); got.Labels["nodetriage.io/test"] != "relabelled" {
			return errors.New("label change not seen yet")
		}
		return nil
	})

	// The Node deleted: the last good copy stays.
	if err := c.Client.CoreV1().Nodes().Delete(ctx, "cached", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeWaitFor(t, func() error {
		if n := logs.count(slog.LevelWarn, "cannot read own Node"); n != 2 {
			return fmt.Errorf("%d warnings after a second failure period, want 2", n)
		}
		return nil
	})
	if got := cache.Get(); got == nil || got.UID != created.UID {
		t.Errorf("Get() after the Node was deleted = %v, want the last good copy", got)
	}
}
