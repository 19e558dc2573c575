package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
)

// Condition and reason of the container-network check.
const (
	ConditionContainerNetworkNotReady = "ContainerNetworkNotReady"
	ReasonNetworkPluginNotReady       = "NetworkPluginNotReady"
)

// defaultCNIConfDir is where runtimes look for CNI configs unless told
// otherwise (containerd's and CRI-O's default).
const defaultCNIConfDir = "/etc/cni/net.d"

// NetworkSpec is the container-network check.
//
// It calls CRI Status every 30 s. When the runtime's NetworkReady condition
// is false it sets ContainerNetworkNotReady True with NetworkPluginNotReady,
// carrying the runtime's own reason and message (containerd: "Network plugin
// returns error: cni plugin not initialized"), and reads the verbose Status
// once more for the CNI config directory and the runtime's last CNI load
// error (containerd's info keys cniconfig and lastCNILoadStatus). This is the
// state in which the kubelet reports the node NotReady with "container
// runtime network not ready" and only hostNetwork pods start. It clears when
// the runtime reports the network ready.
//
// A runtime that does not answer is an error here (the condition goes
// Unknown): the container-runtime check owns that fault.
//
// Settings: none.
func NetworkSpec() probes.Spec {
	return probes.Spec{
		Name:           "container-network",
		Condition:      ConditionContainerNetworkNotReady,
		Interval:       30 * time.Second,
		Timeout:        15 * time.Second,
		DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{
			{Reason: ReasonNetworkPluginNotReady, Condition: ConditionContainerNetworkNotReady, Severity: probes.SeverityProblem,
				Summary: "the runtime reports NetworkReady=false: no usable CNI config, so only hostNetwork pods start"},
		},
		New: newNetworkCheck,
	}
}

type networkConfig struct{}

type networkCheck struct {
	rt       probes.Runtime
	nodeName string
}

func newNetworkCheck(env probes.Env) (probes.Check, error) {
	var cfg networkConfig
	if err := config.Decode(env.Settings, &cfg); err != nil {
		return nil, err
	}
	if env.Runtime == nil {
		return nil, fmt.Errorf("no CRI endpoint configured: %w", probes.ErrNotApplicable)
	}
	return &networkCheck{rt: env.Runtime, nodeName: env.NodeName}, nil
}

func (c *networkCheck) Check(ctx context.Context) ([]probes.Finding, error) {
	st, err := c.rt.Status(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("cannot tell the network state: %w", err)
	}
	net := condition(st, runtimeapi.NetworkReady)
	if net != nil && net.Status {
		return nil, nil
	}
	ev := map[string]string{"endpoint": c.rt.Endpoint()}
	why := "it reports no NetworkReady condition"
	if net != nil {
		why = "NetworkReady=false"
		for _, part := range []string{net.Reason, net.Message} {
			if part != "" {
				why += ": " + part
			}
		}
		ev["runtimeReason"] = net.Reason
		ev["runtimeMessage"] = net.Message
	}
	cni := cniInfo{ConfDir: defaultCNIConfDir}
	// The verbose answer only adds detail; without it the finding stands.
	if verbose, err := c.rt.Status(ctx, true); err == nil {
		cni = parseCNIInfo(verbose.GetInfo())
	}
	ev["cniConfDir"] = cni.ConfDir
	if len(cni.BinDirs) > 0 {
		ev["cniBinDirs"] = strings.Join(cni.BinDirs, ",")
	}
	if cni.LastLoadStatus != "" {
		ev["lastCNILoadStatus"] = cni.LastLoadStatus
	}
	node := c.nodeName
	if node == "" {
		node = "<this node>"
	}
	binDirs := "/opt/cni/bin"
	if len(cni.BinDirs) > 0 {
		binDirs = strings.Join(cni.BinDirs, ", ")
	}
	return []probes.Finding{{
		Check:     "container-network",
		Condition: ConditionContainerNetworkNotReady,
		Reason:    ReasonNetworkPluginNotReady,
		Severity:  probes.SeverityProblem,
		Message:   fmt.Sprintf("Container runtime network is not ready (%s); pods other than hostNetwork cannot start", why),
		Remedy: fmt.Sprintf("Check the CNI plugin's DaemonSet pod on this node (kubectl get pods -A -o wide --field-selector spec.nodeName=%s: calico, cilium, flannel, aws-node, …) "+
			"and its logs: it must write a network config into %s (ls %s) and its binaries into %s; the runtime picks the config up by itself.",
			node, cni.ConfDir, cni.ConfDir, binDirs),
		Evidence: ev,
	}}, nil
}

// cniInfo is what the verbose Status says about CNI.
type cniInfo struct {
	ConfDir        string
	BinDirs        []string
	LastLoadStatus string
}

// parseCNIInfo reads containerd's verbose Status info: "cniconfig" is JSON of
// go-cni's ConfigResult (PluginDirs, PluginConfDir), "lastCNILoadStatus" a
// JSON string with the last config load error ("OK" when fine). Other
// runtimes leave the defaults.
func parseCNIInfo(info map[string]string) cniInfo {
	out := cniInfo{ConfDir: defaultCNIConfDir}
	var cfg struct {
		PluginDirs    []string
		PluginConfDir string
	}
	if raw, ok := info["cniconfig"]; ok && json.Unmarshal([]byte(raw), &cfg) == nil {
		if cfg.PluginConfDir != "" {
			out.ConfDir = cfg.PluginConfDir
		}
		out.BinDirs = cfg.PluginDirs
	}
	if raw, ok := info["lastCNILoadStatus"]; ok {
		var s string
		if json.Unmarshal([]byte(raw), &s) != nil {
			s = raw
		}
		if s != "OK" {
			out.LastLoadStatus = s
		}
	}
	return out
}
