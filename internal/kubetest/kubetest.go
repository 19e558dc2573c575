// Package kubetest runs a real etcd and kube-apiserver on loopback for
// integration tests, so that everything nodetriage writes to Kubernetes is
// checked by the real API server (validation, strategic merge patch, RBAC).
//
// Start gives each test its own cluster (etcd + kube-apiserver, free ports,
// files under t.TempDir(), everything stopped in t.Cleanup). Main + Shared
// share one cluster across a test package when tests only need an API
// server and stay independent through distinct object names.
//
// The binaries come from hack/build-kube.sh (built once into _output/bin, or
// $KUBE_BIN_DIR); Start and KubectlPath build them when missing. kubectl is
// among them, of the same release as the API server, so no test depends on
// whichever kubectl (if any) the machine has on PATH. etcd is Debian's
// /usr/bin/etcd (package etcd-server).
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// EtcdBinary is Debian's etcd (package etcd-server, 3.4), which works with
// the kube-apiserver built here.
const EtcdBinary = "/usr/bin/etcd"

const (
	adminUser = "kubetest-admin"
	// serviceClusterIPRange is required by kube-apiserver; nothing routes it.
	serviceClusterIPRange = "10.0.0.0/24"
	serviceAccountIssuer  = "https://kubernetes.default.svc.cluster.local"
	defaultStartTimeout   = 90 * time.Second
	stopGrace             = 10 * time.Second
	logTailLines          = 60
	// portAttempts bounds retries when a free port is taken between choosing
	// it and the child binding it.
	portAttempts = 3
)

// Option changes how Start runs the cluster.
type Option func(*options)

type options struct {
	apiServerFlags []string
	startTimeout   time.Duration
}

// WithAPIServerFlags appends flags to kube-apiserver's command line, e.g.
// "--enable-admission-plugins=ValidatingAdmissionPolicy". A flag given here
// overrides the harness's own value for the same flag (the last one wins).
func WithAPIServerFlags(flags ...string) Option {
	return func(o *options) { o.apiServerFlags = append(o.apiServerFlags, flags...) }
}

// WithStartTimeout bounds how long Start (and StartAPIServer, RestartEtcd)
// waits for etcd and kube-apiserver to become ready. Default 90 s: a loaded
// 2-core machine is slow, an idle one takes a few seconds.
func WithStartTimeout(d time.Duration) Option {
	return func(o *options) { o.startTimeout = d }
}

// Cluster is a running etcd + kube-apiserver pair.
type Cluster struct {
	// Client is an admin (system:masters) clientset.
	Client kubernetes.Interface
	// Config is the admin rest.Config behind Client. Copy it before changing it.
	Config *rest.Config
	// KubeconfigPath is an admin kubeconfig file, e.g. for kubectl --kubeconfig.
	KubeconfigPath string
	// Dir holds the data dir, certificates, token file and the logs
	// (etcd.log, kube-apiserver.log).
	Dir string

	binDir     string
	opts       options
	adminToken string
	shared     bool
	logf       func(format string, args ...any)

	etcdClientPort int
	etcdPeerPort   int
	apiPort        int

	mu        sync.Mutex
	etcd      *process
	apiServer *process
}

// Start runs a private etcd and kube-apiserver for this test and stops them
// in t.Cleanup (logs tailed into the test output when the test failed). It
// builds the Kubernetes binaries first if they are missing. A missing
// prerequisite is a t.Fatal naming what to install, never a skip.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	dir := t.TempDir()
	c, err := start(dir, t.Logf, opts)
	if c != nil {
		// Registered before the stop below so it runs after it (LIFO): the
		// logs are complete when tailed.
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s", c.logTails())
			}
		})
		t.Cleanup(c.Stop)
	}
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return c
}

// start brings up etcd and kube-apiserver under dir. On error it returns the
// partly started cluster (if any) so the caller can stop it and show logs.
func start(dir string, logf func(string, ...any), opts []Option) (*Cluster, error) {
	o := options{startTimeout: defaultStartTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := os.Stat(EtcdBinary); err != nil {
		return nil, fmt.Errorf("etcd not found at %s: install it with `apt-get install etcd-server`", EtcdBinary)
	}
	binDir, err := ensureBinaries(logf)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, binDir: binDir, opts: o, logf: logf}
	if err := c.writeCredentials(); err != nil {
		return nil, err
	}
	if err := c.startEtcd(); err != nil {
		return c, err
	}
	if err := c.startAPIServer(); err != nil {
		return c, err
	}
	return c, nil
}

// URL is the API server's https address.
func (c *Cluster) URL() string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.apiPort))
}

// BinDir is the directory holding KubeBinaries.
func (c *Cluster) BinDir() string { return c.binDir }

// KubectlPath returns the path of the kubectl hack/build-kube.sh built,
// building the Kubernetes binaries first when they are missing or stale
// (t.Fatal when that fails). Tests run it with --kubeconfig
// Cluster.KubeconfigPath, or without a cluster for `kubectl kustomize`.
func KubectlPath(t testing.TB) string {
	t.Helper()
	binDir, err := ensureBinaries(t.Logf)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return filepath.Join(binDir, "kubectl")
}

// Stop stops kube-apiserver and etcd. It is safe to call more than once.
// Start and Main call it; tests rarely need to.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiServer != nil {
		c.apiServer.stop(stopGrace)
		c.apiServer = nil
	}
	if c.etcd != nil {
		c.etcd.stop(stopGrace)
		c.etcd = nil
	}
}

// StopAPIServer stops kube-apiserver (etcd keeps running), e.g. to test
// behaviour while the API is unreachable.
func (c *Cluster) StopAPIServer(t testing.TB) {
	t.Helper()
	c.mustBePrivate(t, "StopAPIServer")
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiServer == nil {
		t.Fatalf("kubetest: StopAPIServer: kube-apiserver is not running")
	}
	c.apiServer.stop(stopGrace)
	c.apiServer = nil
}

// StartAPIServer starts kube-apiserver again on the same port against the
// same etcd, and waits until it is ready. Clients made before keep working.
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	c.mustBePrivate(t, "StartAPIServer")
	if err := c.startAPIServerOnce(); err != nil {
		t.Fatalf("kubetest: StartAPIServer: %v\n%s", err, c.logTails())
	}
}

// RestartEtcd stops etcd and starts it again on the same ports with the same
// data, then waits until kube-apiserver is ready again.
func (c *Cluster) RestartEtcd(t testing.TB) {
	t.Helper()
	c.mustBePrivate(t, "RestartEtcd")
	c.mu.Lock()
	if c.etcd != nil {
		c.etcd.stop(stopGrace)
		c.etcd = nil
	}
	c.mu.Unlock()
	if err := c.startEtcdOnce(); err != nil {
		t.Fatalf("kubetest: RestartEtcd: %v\n%s", err, c.logTails())
	}
	c.mu.Lock()
	running := c.apiServer != nil
	c.mu.Unlock()
	if running {
		if err := c.waitAPIServerReady(); err != nil {
			t.Fatalf("kubetest: RestartEtcd: kube-apiserver not ready again: %v\n%s", err, c.logTails())
		}
	}
}

func (c *Cluster) mustBePrivate(t testing.TB, what string) {
	t.Helper()
	if c.shared {
		t.Fatalf("kubetest: %s on the shared cluster would break other tests; use kubetest.Start for a private cluster", what)
	}
}

// ConfigForToken returns a copy of the admin config that authenticates with
// token instead.
func (c *Cluster) ConfigForToken(token string) *rest.Config {
	cfg := rest.AnonymousClientConfig(c.Config)
	cfg.BearerToken = token
	return cfg
}

// ImpersonateConfig returns a copy of the admin config that acts as user
// with groups (e.g. "system:node:n1", "system:nodes"), for RBAC tests
// without creating credentials.
func (c *Cluster) ImpersonateConfig(user string, groups ...string) *rest.Config {
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return cfg
}

// Token returns a one-hour token for the ServiceAccount namespace/name from
// the TokenRequest API, creating the namespace and ServiceAccount if needed.
func (c *Cluster) Token(t testing.TB, namespace, serviceAccount string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("kubetest: create namespace %s: %v", namespace, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceAccount, Namespace: namespace}}
	if _, err := c.Client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("kubetest: create serviceaccount %s/%s: %v", namespace, serviceAccount, err)
	}
	expiry := int64(3600)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}
	resp, err := c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: token for serviceaccount %s/%s: %v", namespace, serviceAccount, err)
	}
	return resp.Status.Token
}

// ServiceAccountConfig is ConfigForToken(Token(t, namespace, serviceAccount)).
func (c *Cluster) ServiceAccountConfig(t testing.TB, namespace, serviceAccount string) *rest.Config {
	t.Helper()
	return c.ConfigForToken(c.Token(t, namespace, serviceAccount))
}

// CreateNode creates a Node object (no kubelet behind it) and deletes it in
// t.Cleanup, so tests sharing a cluster stay independent.
func (c *Cluster) CreateNode(t testing.TB, name string) *corev1.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node, err := c.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: create node %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Best effort: the API server may already be stopped.
		_ = c.Client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
	})
	return node
}

// writeCredentials creates the service-account signing key, the token file
// with the admin token, the admin rest.Config (without CA yet) and dirs.
func (c *Cluster) writeCredentials() error {
	for _, d := range []string{"etcd", "certs"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o700); err != nil {
			return fmt.Errorf("create %s dir: %w", d, err)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate service-account key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(c.saKeyPath(), keyPEM, 0o600); err != nil {
		return fmt.Errorf("write service-account key: %w", err)
	}
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return fmt.Errorf("generate admin token: %w", err)
	}
	c.adminToken = hex.EncodeToString(tok[:])
	// token,user,uid,"group1,group2"
	line := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", c.adminToken, adminUser, adminUser)
	if err := os.WriteFile(c.tokenFilePath(), []byte(line), 0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	return nil
}

func (c *Cluster) saKeyPath() string     { return filepath.Join(c.Dir, "service-account.key") }
func (c *Cluster) tokenFilePath() string { return filepath.Join(c.Dir, "tokens.csv") }
func (c *Cluster) certDir() string       { return filepath.Join(c.Dir, "certs") }
func (c *Cluster) etcdLog() string       { return filepath.Join(c.Dir, "etcd.log") }
func (c *Cluster) apiServerLog() string  { return filepath.Join(c.Dir, "kube-apiserver.log") }

func (c *Cluster) etcdURL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.etcdClientPort))
}

// startEtcd picks free ports and starts etcd, retrying with new ports when
// one was taken in between.
func (c *Cluster) startEtcd() error {
	var err error
	for range portAttempts {
		ports, perr := freePorts(2)
		if perr != nil {
			return perr
		}
		c.etcdClientPort, c.etcdPeerPort = ports[0], ports[1]
		if err = c.startEtcdOnce(); err == nil || !errors.Is(err, errPortInUse) {
			return err
		}
	}
	return err
}

func (c *Cluster) startEtcdOnce() error {
	peer := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.etcdPeerPort))
	args := []string{
		"--name=kubetest",
		"--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + c.etcdURL(),
		"--advertise-client-urls=" + c.etcdURL(),
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=kubetest=" + peer,
	}
	p, err := startProcess("etcd", c.etcdLog(), EtcdBinary, args)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.etcd = p
	c.mu.Unlock()
	return c.waitReady(p, c.checkEtcdHealth)
}

func (c *Cluster) checkEtcdHealth(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.etcdURL()+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var health struct {
		Health string `json:"health"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil {
		return fmt.Errorf("decode etcd /health: %w", err)
	}
	if health.Health != "true" {
		return fmt.Errorf("etcd /health says %q", health.Health)
	}
	return nil
}

// startAPIServer picks a free port and starts kube-apiserver, retrying with
// a new port when it was taken in between.
func (c *Cluster) startAPIServer() error {
	var err error
	for range portAttempts {
		ports, perr := freePorts(1)
		if perr != nil {
			return perr
		}
		c.apiPort = ports[0]
		c.Config = nil
		if err = c.startAPIServerOnce(); err == nil || !errors.Is(err, errPortInUse) {
			return err
		}
	}
	return err
}

func (c *Cluster) startAPIServerOnce() error {
	args := []string{
		"--etcd-servers=" + c.etcdURL(),
		"--cert-dir=" + c.certDir(),
		"--secure-port=" + strconv.Itoa(c.apiPort),
		"--bind-address=127.0.0.1",
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + c.saKeyPath(),
		"--service-account-signing-key-file=" + c.saKeyPath(),
		"--token-auth-file=" + c.tokenFilePath(),
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		// The default (lease) reconciler would try to publish the loopback
		// address as the kubernetes Service endpoint, which validation rejects.
		"--endpoint-reconciler-type=none",
	}
	args = append(args, c.opts.apiServerFlags...)
	p, err := startProcess("kube-apiserver", c.apiServerLog(), filepath.Join(c.binDir, "kube-apiserver"), args)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.apiServer = p
	c.mu.Unlock()
	// The serving certificate is self-signed into cert-dir on the first start
	// and reused after; the admin config trusts it.
	if err := c.waitReady(p, c.loadAdminConfig); err != nil {
		return err
	}
	return c.waitAPIServerReady()
}

// loadAdminConfig succeeds once kube-apiserver has written its self-signed
// certificate, then builds the admin config, client and kubeconfig.
func (c *Cluster) loadAdminConfig(context.Context) error {
	if c.Config != nil {
		return nil
	}
	ca, err := os.ReadFile(filepath.Join(c.certDir(), "apiserver.crt"))
	if err != nil {
		return err
	}
	cfg := &rest.Config{
		Host:            c.URL(),
		BearerToken:     c.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca},
		QPS:             200,
		Burst:           400,
		Timeout:         30 * time.Second,
		UserAgent:       "kubetest",
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: c.URL(), CertificateAuthorityData: ca}
	kubeconfig.AuthInfos[adminUser] = &clientcmdapi.AuthInfo{Token: c.adminToken}
	kubeconfig.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: adminUser}
	kubeconfig.CurrentContext = "kubetest"
	path := filepath.Join(c.Dir, "admin.kubeconfig")
	if err := clientcmd.WriteToFile(*kubeconfig, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	c.Config, c.Client, c.KubeconfigPath = cfg, client, path
	return nil
}

// waitAPIServerReady polls /readyz until it answers 200 "ok".
func (c *Cluster) waitAPIServerReady() error {
	c.mu.Lock()
	p := c.apiServer
	c.mu.Unlock()
	if p == nil {
		return errors.New("kube-apiserver is not running")
	}
	httpClient, err := rest.HTTPClientFor(c.Config)
	if err != nil {
		return fmt.Errorf("http client for %s: %w", c.URL(), err)
	}
	defer httpClient.CloseIdleConnections()
	return c.waitReady(p, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL()+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s: %s", resp.Status, strings.TrimSpace(body.String()))
		}
		return nil
	})
}

// errPortInUse marks a child that died because its port was taken.
var errPortInUse = errors.New("address already in use")

// waitReady polls check every 100 ms until it succeeds, the process exits
// (an error quoting the end of its log), or the start timeout passes.
func (c *Cluster) waitReady(p *process, check func(context.Context) error) error {
	deadline := time.Now().Add(c.opts.startTimeout)
	var lastErr error
	for {
		if done, werr := p.exited(); done {
			tail := p.tail(20)
			if strings.Contains(tail, "address already in use") {
				return fmt.Errorf("%s: %w", p.name, errPortInUse)
			}
			return fmt.Errorf("%s exited (%v); end of %s:\n%s", p.name, werr, p.logPath, tail)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		lastErr = check(ctx)
		cancel()
		if lastErr == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v; end of %s:\n%s", p.name, c.opts.startTimeout, lastErr, p.logPath, p.tail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logTails is the end of both logs, for a failed test's output.
func (c *Cluster) logTails() string {
	return fmt.Sprintf("--- end of %s:\n%s\n--- end of %s:\n%s",
		c.apiServerLog(), tailFile(c.apiServerLog(), logTailLines),
		c.etcdLog(), tailFile(c.etcdLog(), logTailLines))
}

// freePorts returns n distinct loopback TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free loopback port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

var buildMu sync.Mutex

// KubeBinaries are the binaries hack/build-kube.sh provides, in the order
// its build stamp lists them.
var KubeBinaries = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubelet"}

// ensureBinaries returns the directory with the Kubernetes binaries, running
// hack/build-kube.sh when any is missing (the script locks against
// concurrent builds from other test binaries).
func ensureBinaries(logf func(string, ...any)) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	binDir := os.Getenv("KUBE_BIN_DIR")
	if binDir == "" {
		binDir = filepath.Join(root, "_output", "bin")
	}
	if binariesCurrent(root, binDir) {
		return binDir, nil
	}
	script := filepath.Join(root, "hack", "build-kube.sh")
	logf("kubetest: running %s for %s (a first build takes about 8 minutes on 2 cores)", script, binDir)
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "KUBE_BIN_DIR="+binDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s failed: %w\n%s", script, err, out)
	}
	return binDir, nil
}

// binariesCurrent reports whether every binary exists and the build stamp
// (hack/build-kube.sh: "k8s.io/kubernetes <version> <go version> <binary>...")
// names the k8s.io/kubernetes version hack/tools/go.mod requires and exactly
// KubeBinaries, so that a bin dir built before a binary was added is rebuilt
// rather than half used. The Go version is the script's to compare: it
// knows which toolchain it would build with.
func binariesCurrent(root, binDir string) bool {
	for _, b := range KubeBinaries {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return false
		}
	}
	stamp, err := os.ReadFile(filepath.Join(binDir, ".kube-version"))
	if err != nil {
		return false
	}
	built := strings.Fields(string(stamp))
	if len(built) < 3 || built[0] != "k8s.io/kubernetes" || !slices.Equal(built[3:], KubeBinaries) {
		return false
	}
	want, err := pinnedKubeVersion(root)
	return err == nil && built[1] == want
}

// pinnedKubeVersion is the k8s.io/kubernetes version hack/tools/go.mod
// requires, e.g. "v1.36.3": the version every built binary reports.
func pinnedKubeVersion(root string) (string, error) {
	path := filepath.Join(root, "hack", "tools", "go.mod")
	gomod, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the tools module: %w", err)
	}
	for line := range strings.Lines(string(gomod)) {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "require" {
			f = f[1:]
		}
		if len(f) >= 2 && f[0] == "k8s.io/kubernetes" {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("%s requires no k8s.io/kubernetes", path)
}

// repoRoot walks up from the working directory (a test runs in its
// package's directory) to the directory holding go.mod and hack/build-kube.sh.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		_, modErr := os.Stat(filepath.Join(dir, "go.mod"))
		_, scriptErr := os.Stat(filepath.Join(dir, "hack", "build-kube.sh"))
		if modErr == nil && scriptErr == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod with hack/build-kube.sh above %s", wd)
		}
	}
}
