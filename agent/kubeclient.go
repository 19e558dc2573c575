package agent

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// KubeClientVersion is the version in the agent's user agent
// ("nodetriage/<version>"); cmd/ sets it from the build.
var KubeClientVersion = "dev"

// ErrNoKubeAPI is returned by NewKubeClient when neither a kubeconfig nor an
// in-cluster environment is available.
var ErrNoKubeAPI = errors.New("no Kubernetes API configured: pass --kubeconfig FILE, run inside a pod, or use --standalone")

// Client limits. One agent writes at most one status patch per batch
// interval plus a few events, and GETs its Node once a minute; the limits
// leave room for bursts (a start-up read-back, a burst of events) while
// keeping a misbehaving agent from hammering the API server.
const (
	kubeClientQPS   = 5
	kubeClientBurst = 10
	// kubeClientTimeout bounds each request so a hung connection cannot stall
	// the reporter's loop.
	kubeClientTimeout = 30 * time.Second
)

// NewKubeClient builds the agent's KubeAPI from the kubeconfig file when given, else
// from the in-cluster service account (KUBERNETES_SERVICE_HOST set), else
// returns ErrNoKubeAPI.
func NewKubeClient(kubeconfig string) (KubeAPI, *rest.Config, error) {
	var cfg *rest.Config
	switch {
	case kubeconfig != "":
		if _, err := os.Stat(kubeconfig); err != nil {
			return nil, nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
		c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
		}
		cfg = c
	case os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, nil, fmt.Errorf("in-cluster config: %w", err)
		}
		cfg = c
	default:
		return nil, nil, ErrNoKubeAPI
	}
	cfg.QPS = kubeClientQPS
	cfg.Burst = kubeClientBurst
	cfg.Timeout = kubeClientTimeout
	cfg.UserAgent = "nodetriage/" + KubeClientVersion
	// Protobuf responses cost less to decode; patches are still sent as JSON.
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	client, err := NewKubeAPI(cfg)
	if err != nil {
		return nil, nil, err
	}
	return client, cfg, nil
}

// ResolveNodeName picks the Node the agent reports for: the --node-name flag,
// else $NODE_NAME (the downward API in the DaemonSet), else the hostname.
// The name is trimmed and lowercased, and must be a valid Node name. getenv
// and hostname are os.Getenv and os.Hostname outside tests.
func ResolveNodeName(flagValue string, getenv func(string) string, hostname func() (string, error)) (string, error) {
	name, source := strings.TrimSpace(flagValue), "--node-name"
	if name == "" {
		name, source = strings.TrimSpace(getenv("NODE_NAME")), "NODE_NAME"
	}
	if name == "" {
		host, err := hostname()
		if err != nil {
			return "", fmt.Errorf("node name: no --node-name or NODE_NAME, and hostname: %w", err)
		}
		name, source = strings.TrimSpace(host), "hostname"
	}
	name = strings.ToLower(name)
	if name == "" {
		return "", errors.New("node name: --node-name, NODE_NAME and the hostname are all empty")
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", fmt.Errorf("node name %q from %s is not a valid Node name: %s", name, source, strings.Join(errs, "; "))
	}
	return name, nil
}
