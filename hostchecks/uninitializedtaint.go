package hostchecks

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
)

// Names of the uninitialized-taint check and its reason.
const (
	UninitializedTaintCheckName  = "uninitialized-taint"
	ReasonNodeUninitializedTaint = "NodeUninitializedTaint"
)

// uninitializedTaintKey is the taint the kubelet puts on a node registered
// with --cloud-provider=external until the cloud-controller-manager has
// initialised it (k8s.io/cloud-provider api.TaintExternalCloudProvider).
const uninitializedTaintKey = "node.cloudprovider.kubernetes.io/uninitialized"

// UninitializedTaintConfig is the uninitialized-taint check's settings
// (checks.uninitialized-taint.settings).
type UninitializedTaintConfig struct {
	// After is how long after its creation a node may carry the taint.
	// Default 10m: a working cloud-controller-manager removes it within
	// seconds of registration.
	After metav1.Duration `json:"after"`
}

// DefaultUninitializedTaintConfig returns the documented defaults.
func DefaultUninitializedTaintConfig() UninitializedTaintConfig {
	return UninitializedTaintConfig{After: metav1.Duration{Duration: 10 * time.Minute}}
}

// UninitializedTaintSpec is the uninitialized-taint check.
//
// Reads the agent's own Node (env.Node, as last read from the API server):
// its creationTimestamp and taints. When the Node still carries
// node.cloudprovider.kubernetes.io/uninitialized longer than after (10m)
// since creation, every pod without a toleration for it stays Pending, which
// means the cloud-controller-manager never initialised the node
// (https://kubernetes.io/docs/tasks/administer-cluster/running-cloud-controller/).
//
// Event only, reason NodeUninitializedTaint, subject the node. Without a Node
// (standalone, the check command, the API server unreachable since start) the
// check does not apply.
func UninitializedTaintSpec() probes.Spec {
	return probes.Spec{
		Name:           UninitializedTaintCheckName,
		Interval:       5 * time.Minute,
		Timeout:        10 * time.Second,
		DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{{
			Reason:   ReasonNodeUninitializedTaint,
			Severity: probes.SeverityWarning,
			Summary:  "the node still carries the cloud provider's uninitialized taint long after it registered; pods stay Pending",
		}},
		New: newUninitializedTaintCheck,
	}
}

type uninitializedTaintCheck struct {
	env   probes.Env
	after time.Duration
}

func newUninitializedTaintCheck(env probes.Env) (probes.Check, error) {
	cfg := DefaultUninitializedTaintConfig()
	if err := config.Decode(env.Settings, &cfg); err != nil {
		return nil, err
	}
	if cfg.After.Duration <= 0 {
		return nil, env.Settings.Fieldf("after", "must be a positive duration like 10m, got %s", config.FormatDuration(cfg.After.Duration))
	}
	return &uninitializedTaintCheck{env: env, after: cfg.After.Duration}, nil
}

func (c *uninitializedTaintCheck) Check(context.Context) ([]probes.Finding, error) {
	if c.env.Node == nil {
		return nil, fmt.Errorf("no Node object (no API server): %w", probes.ErrNotApplicable)
	}
	node := c.env.Node()
	if node == nil {
		return nil, fmt.Errorf("no Node object (no API server): %w", probes.ErrNotApplicable)
	}
	now := c.env.Clock.Now()
	created := node.CreationTimestamp.Time
	for _, taint := range node.Spec.Taints {
		if taint.Key != uninitializedTaintKey {
			continue
		}
		age := now.Sub(created)
		if created.IsZero() || age <= c.after {
			return []probes.Finding{}, nil
		}
		ev := map[string]string{
			"node":              node.Name,
			"creationTimestamp": created.UTC().Format(time.RFC3339),
			"taint":             uninitializedTaintKey + ":" + string(taint.Effect),
			"age":               age.Truncate(time.Minute).String(),
		}
		if node.Spec.ProviderID != "" {
			ev["providerID"] = node.Spec.ProviderID
		}
		return []probes.Finding{{
			Check:    UninitializedTaintCheckName,
			Reason:   ReasonNodeUninitializedTaint,
			Severity: probes.SeverityWarning,
			// The node's creation time is fixed; its age would change the
			// message on every run, so it stays in the evidence.
			Message: fmt.Sprintf("node %s, created %s, still carries the taint %s:%s more than %s later: the cloud-controller-manager has not initialised it, so pods without a toleration stay Pending",
				node.Name, created.UTC().Format(time.RFC3339), uninitializedTaintKey, taint.Effect, config.FormatDuration(c.after)),
			Remedy: fmt.Sprintf("Check the cloud-controller-manager: `kubectl -n kube-system get pods -l component=cloud-controller-manager -o wide` and its logs (`kubectl -n kube-system logs -l component=cloud-controller-manager`); a kubelet started with --cloud-provider=external needs a running CCM for its cloud. Only if no cloud provider is intended, remove the taint: `kubectl taint node %s %s-` (and drop --cloud-provider=external from the kubelet).",
				node.Name, uninitializedTaintKey),
			Evidence: ev,
			Subject:  node.Name,
			Time:     now,
		}}, nil
	}
	return []probes.Finding{}, nil
}
