package kubetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func newClient(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return client
}

// TestStartStopRestart runs a private cluster through the lifecycle a
// reporter test needs: API server down and up on the same port with the
// data kept, etcd restarted under a running API server.
func TestStartStopRestart(t *testing.T) {
	start := time.Now()
	c := Start(t)
	t.Logf("Start took %s", time.Since(start))
	ctx := context.Background()

	if !strings.HasPrefix(c.URL(), "https://127.0.0.1:") {
		t.Errorf("URL() = %q, want https://127.0.0.1:<port>", c.URL())
	}
	for _, b := range KubeBinaries {
		if _, err := os.Stat(filepath.Join(c.BinDir(), b)); err != nil {
			t.Errorf("BinDir() lacks %s: %v", b, err)
		}
	}
	c.CreateNode(t, "lifecycle")

	c.StopAPIServer(t)
	if _, err := c.Client.CoreV1().Nodes().Get(ctx, "lifecycle", metav1.GetOptions{}); err == nil {
		t.Fatal("Get succeeded with the API server stopped")
	}
	c.StartAPIServer(t)
	if _, err := c.Client.CoreV1().Nodes().Get(ctx, "lifecycle", metav1.GetOptions{}); err != nil {
		t.Fatalf("Node lost across an API server restart: %v", err)
	}

	c.RestartEtcd(t)
	if _, err := c.Client.CoreV1().Nodes().Get(ctx, "lifecycle", metav1.GetOptions{}); err != nil {
		t.Fatalf("Node lost across an etcd restart: %v", err)
	}
}

// TestStopLeavesNoProcess checks that Stop reaps both children and their
// process groups.
func TestStopLeavesNoProcess(t *testing.T) {
	c := Start(t)
	c.mu.Lock()
	pids := []int{c.etcd.cmd.Process.Pid, c.apiServer.cmd.Process.Pid}
	c.mu.Unlock()
	c.Stop()
	for _, pid := range pids {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
			t.Errorf("process %d still exists after Stop", pid)
		}
	}
	c.Stop() // idempotent
}

// TestSharedCluster uses the package's shared cluster through the admin
// client, the kubeconfig (with kubectl), a ServiceAccount token and
// impersonation, and checks that RBAC applies to the non-admin identities.
func TestSharedCluster(t *testing.T) {
	c := Shared(t)
	if again := Shared(t); again != c {
		t.Fatal("Shared returned a different cluster on the second call")
	}
	ctx := context.Background()
	c.CreateNode(t, "shared-node")

	t.Run("kubectl with KubeconfigPath", func(t *testing.T) {
		out, err := exec.Command(KubectlPath(t), "--kubeconfig", c.KubeconfigPath, "get", "node", "shared-node", "-o", "name").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl: %v\n%s", err, out)
		}
		if got, want := strings.TrimSpace(string(out)), "node/shared-node"; got != want {
			t.Errorf("kubectl get node = %q, want %q", got, want)
		}
	})

	t.Run("service account token is subject to RBAC", func(t *testing.T) {
		sa := newClient(t, c.ServiceAccountConfig(t, "kubetest", "reader"))
		_, err := sa.CoreV1().Nodes().Get(ctx, "shared-node", metav1.GetOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("get node without a role: err = %v, want Forbidden", err)
		}
		grantNodeGet(t, c, "kubetest-reader", rbacv1.Subject{Kind: "ServiceAccount", Name: "reader", Namespace: "kubetest"})
		waitFor(t, func() error {
			_, err := sa.CoreV1().Nodes().Get(ctx, "shared-node", metav1.GetOptions{})
			return err
		})
		if _, err := sa.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list nodes with only get: err = %v, want Forbidden", err)
		}
	})

	t.Run("impersonation", func(t *testing.T) {
		user := newClient(t, c.ImpersonateConfig("someone", "some-group"))
		_, err := user.CoreV1().Nodes().Get(ctx, "shared-node", metav1.GetOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("impersonated get node: err = %v, want Forbidden", err)
		}
		if !strings.Contains(err.Error(), `"someone"`) {
			t.Errorf("Forbidden error does not name the impersonated user: %v", err)
		}
	})

	t.Run("lifecycle methods refuse the shared cluster", func(t *testing.T) {
		ft := &fatalRecorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.StopAPIServer(ft)
		}()
		<-done
		if !strings.Contains(ft.msg, "shared cluster") {
			t.Errorf("StopAPIServer on the shared cluster: fatal = %q, want a refusal", ft.msg)
		}
		if _, err := c.Client.CoreV1().Nodes().Get(ctx, "shared-node", metav1.GetOptions{}); err != nil {
			t.Errorf("shared cluster broken after the refused stop: %v", err)
		}
	})
}

// fatalRecorder records Fatalf instead of failing the test, and ends the
// calling goroutine like the real one.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func grantNodeGet(t *testing.T, c *Cluster, name string, subject rbacv1.Subject) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}}},
	}
	if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create clusterrole: %v", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{subject},
	}
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create clusterrolebinding: %v", err)
	}
}

// waitFor retries f for up to 10 s (RBAC changes reach the authorizer's
// cache asynchronously).
func waitFor(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after 10 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestStartFailureShowsLog starts kube-apiserver with a flag it rejects and
// checks that the error quotes its log instead of timing out.
func TestStartFailureShowsLog(t *testing.T) {
	c, err := start(t.TempDir(), t.Logf, []Option{WithAPIServerFlags("--no-such-flag"), WithStartTimeout(30 * time.Second)})
	if c != nil {
		t.Cleanup(c.Stop)
	}
	if err == nil {
		t.Fatal("start with an unknown kube-apiserver flag succeeded")
	}
	for _, want := range []string{"kube-apiserver exited", "unknown flag: --no-such-flag"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestTailFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		n    int
		want string
	}{
		{n: 2, want: "c\nd"},
		{n: 10, want: "a\nb\nc\nd"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.n), func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tailFile(path, tt.n)); diff != "" {
				t.Errorf("tailFile(-want +got):\n%s", diff)
			}
		})
	}
	if got := tailFile(filepath.Join(t.TempDir(), "missing"), 3); !strings.HasPrefix(got, "(no log:") {
		t.Errorf("tailFile(missing) = %q, want a (no log: …) note", got)
	}
}

// TestKubectlPath runs the kubectl KubectlPath returns: it must be the
// release hack/tools/go.mod pins (the API server's), not some other kubectl.
func TestKubectlPath(t *testing.T) {
	kubectl := KubectlPath(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "_output", "bin", "kubectl"); os.Getenv("KUBE_BIN_DIR") == "" && kubectl != want {
		t.Errorf("KubectlPath = %s, want %s", kubectl, want)
	}
	out, err := exec.Command(kubectl, "version", "--client", "-o", "json").Output()
	if err != nil {
		t.Fatalf("%s version --client: %v", kubectl, err)
	}
	var version struct {
		ClientVersion struct {
			GitVersion string `json:"gitVersion"`
		} `json:"clientVersion"`
	}
	if err := json.Unmarshal(out, &version); err != nil {
		t.Fatalf("kubectl version --client -o json: %v\n%s", err, out)
	}
	want, err := pinnedKubeVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	if got := version.ClientVersion.GitVersion; got != want {
		t.Errorf("kubectl version --client = %s, want %s (hack/tools/go.mod)", got, want)
	}
}

func TestBinariesCurrent(t *testing.T) {
	const gomod = "module x\n\nrequire (\n\tk8s.io/kubernetes v1.36.3 // indirect\n)\n\n// k8s.io/kubernetes replaces\n"
	const binaries = " kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet\n"
	tests := []struct {
		name    string
		stamp   string // "" = no stamp file
		missing string // a binary not created
		want    bool
	}{
		{name: "all present, same version", stamp: "k8s.io/kubernetes v1.36.3 go1.26.8" + binaries, want: true},
		{name: "other version", stamp: "k8s.io/kubernetes v1.35.0 go1.26.8" + binaries, want: false},
		{name: "no stamp", want: false},
		{name: "binary missing", stamp: "k8s.io/kubernetes v1.36.3 go1.26.8" + binaries, missing: "kubelet", want: false},
		{name: "kubectl missing", stamp: "k8s.io/kubernetes v1.36.3 go1.26.8" + binaries, missing: "kubectl", want: false},
		// A bin dir built before kubectl was added, with some other kubectl
		// copied in: rebuilt, so every binary is of one build.
		{name: "stamp from before kubectl", stamp: "k8s.io/kubernetes v1.36.3 go1.26.8\n", want: false},
		{name: "stamp lists other binaries", stamp: "k8s.io/kubernetes v1.36.3 go1.26.8 kube-apiserver kubelet\n", want: false},
		{name: "garbage stamp", stamp: "v1.36.3\n", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, bin := t.TempDir(), t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "hack", "tools"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "hack", "tools", "go.mod"), []byte(gomod), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, b := range KubeBinaries {
				if b != tt.missing {
					if err := os.WriteFile(filepath.Join(bin, b), nil, 0o755); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tt.stamp != "" {
				if err := os.WriteFile(filepath.Join(bin, ".kube-version"), []byte(tt.stamp), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := binariesCurrent(root, bin); got != tt.want {
				t.Errorf("binariesCurrent = %v, want %v", got, tt.want)
			}
		})
	}
}
