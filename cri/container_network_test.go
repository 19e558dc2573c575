package cri

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

func TestNetworkCheck(t *testing.T) {
	notReady := func(info map[string]string) *runtimeapi.StatusResponse {
		return &runtimeapi.StatusResponse{
			Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
				{Type: runtimeapi.RuntimeReady, Status: true},
				{Type: runtimeapi.NetworkReady, Status: false, Reason: "NetworkPluginNotReady", Message: "Network plugin returns error: cni plugin not initialized"},
			}},
			Info: info,
		}
	}
	tests := []struct {
		name    string
		mutate  func(f *Fake)
		want    []probes.Finding
		wantErr string
	}{
		{name: "ready", mutate: func(f *Fake) {}},
		{
			name: "containerd without CNI config",
			mutate: func(f *Fake) {
				f.StatusResp = notReady(map[string]string{
					"cniconfig":         `{"PluginDirs":["/opt/cni/bin"],"PluginConfDir":"/etc/cni/net.d","PluginMaxConfNum":1,"Prefix":"eth"}`,
					"lastCNILoadStatus": "cni config load failed: no network config found in /etc/cni/net.d: cni plugin not initialized: failed to load cni config",
				})
			},
			want: []probes.Finding{{
				Check: "container-network", Condition: ConditionContainerNetworkNotReady, Reason: ReasonNetworkPluginNotReady,
				Severity: probes.SeverityProblem,
				Message:  "Container runtime network is not ready (NetworkReady=false: NetworkPluginNotReady: Network plugin returns error: cni plugin not initialized); pods other than hostNetwork cannot start",
				Remedy: "Check the CNI plugin's DaemonSet pod on this node (kubectl get pods -A -o wide --field-selector spec.nodeName=node-a: calico, cilium, flannel, aws-node, …) " +
					"and its logs: it must write a network config into /etc/cni/net.d (ls /etc/cni/net.d) and its binaries into /opt/cni/bin; the runtime picks the config up by itself.",
				Evidence: map[string]string{
					"endpoint":          "unix:///run/containerd/containerd.sock",
					"runtimeReason":     "NetworkPluginNotReady",
					"runtimeMessage":    "Network plugin returns error: cni plugin not initialized",
					"cniConfDir":        "/etc/cni/net.d",
					"cniBinDirs":        "/opt/cni/bin",
					"lastCNILoadStatus": "cni config load failed: no network config found in /etc/cni/net.d: cni plugin not initialized: failed to load cni config",
				},
			}},
		},
		{
			name:    "runtime unreachable is an error, not a finding",
			mutate:  func(f *Fake) { f.Errs = map[string]error{"Status": f.Unreachable("Status")} },
			wantErr: "cannot tell the network state: CRI Status on unix:///run/containerd/containerd.sock: socket /run/containerd/containerd.sock does not exist",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := NewFake()
			tt.mutate(fake)
			check := newCheck(t, NetworkSpec(), testEnv(t, fake, clocktesting.NewFakeClock(t0), ""))
			got, err := check.Check(t.Context())
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestParseCNIInfo(t *testing.T) {
	tests := []struct {
		name string
		info map[string]string
		want cniInfo
	}{
		{"no info", nil, cniInfo{ConfDir: "/etc/cni/net.d"}},
		{"loaded fine", map[string]string{"cniconfig": `{"PluginDirs":["/usr/lib/cni"],"PluginConfDir":"/etc/cni/custom"}`, "lastCNILoadStatus": "OK"},
			cniInfo{ConfDir: "/etc/cni/custom", BinDirs: []string{"/usr/lib/cni"}}},
		{"quoted status", map[string]string{"lastCNILoadStatus": `"failed"`}, cniInfo{ConfDir: "/etc/cni/net.d", LastLoadStatus: "failed"}},
		{"garbage cniconfig", map[string]string{"cniconfig": `{`}, cniInfo{ConfDir: "/etc/cni/net.d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseCNIInfo(tt.info)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
