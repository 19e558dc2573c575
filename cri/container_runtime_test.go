package cri

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

func TestRuntimeCheck(t *testing.T) {
	notReady := &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: false, Reason: "ContainerdNotReady", Message: "cri plugin failed to initialize"},
	}}}
	tests := []struct {
		name   string
		mutate func(f *Fake)
		want   []probes.Finding
	}{
		{name: "ready", mutate: func(f *Fake) {}},
		{
			name:   "socket missing",
			mutate: func(f *Fake) { f.Errs = map[string]error{"Version": f.Unreachable("Version")} },
			want: []probes.Finding{{
				Check: "container-runtime", Condition: ConditionContainerRuntimeUnhealthy, Reason: ReasonRuntimeUnreachable,
				Severity: probes.SeverityProblem,
				Message:  "Container runtime at /run/containerd/containerd.sock does not answer: Version: socket /run/containerd/containerd.sock does not exist",
				Remedy: "On the node: systemctl status containerd; journalctl -u containerd -n 200 --no-pager; systemctl restart containerd. " +
					"If it is running, check that its socket is /run/containerd/containerd.sock on the host and mounted into the nodetriage pod (or set --cri-endpoint).",
				Evidence: map[string]string{
					"endpoint": "unix:///run/containerd/containerd.sock",
					"error":    "CRI Version on unix:///run/containerd/containerd.sock: socket /run/containerd/containerd.sock does not exist",
				},
			}},
		},
		{
			name:   "not ready",
			mutate: func(f *Fake) { f.StatusResp = notReady },
			want: []probes.Finding{{
				Check: "container-runtime", Condition: ConditionContainerRuntimeUnhealthy, Reason: ReasonRuntimeNotReady,
				Severity: probes.SeverityProblem,
				Message:  "containerd 1.7.3 is not ready (RuntimeReady=false: ContainerdNotReady: cri plugin failed to initialize); the kubelet cannot start pods",
				Remedy:   "On the node: journalctl -u containerd -n 200 --no-pager shows why the runtime is not ready; fix that, then systemctl restart containerd.",
				Evidence: map[string]string{
					"endpoint": "unix:///run/containerd/containerd.sock", "runtimeName": "containerd", "runtimeVersion": "v1.7.3",
					"runtimeApiVersion": "v1", "runtimeReason": "ContainerdNotReady", "runtimeMessage": "cri plugin failed to initialize",
				},
			}},
		},
		{
			name: "crio without RuntimeReady",
			mutate: func(f *Fake) {
				f.EndpointAddr = "unix:///run/crio/crio.sock"
				f.VersionResp = &runtimeapi.VersionResponse{RuntimeName: "cri-o", RuntimeVersion: "1.30.2", RuntimeApiVersion: "v1"}
				f.StatusResp = &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{}}
			},
			want: []probes.Finding{{
				Check: "container-runtime", Condition: ConditionContainerRuntimeUnhealthy, Reason: ReasonRuntimeNotReady,
				Severity: probes.SeverityProblem,
				Message:  "cri-o 1.30.2 is not ready (it reports no RuntimeReady condition); the kubelet cannot start pods",
				Remedy:   "On the node: journalctl -u crio -n 200 --no-pager shows why the runtime is not ready; fix that, then systemctl restart crio.",
				Evidence: map[string]string{"endpoint": "unix:///run/crio/crio.sock", "runtimeName": "cri-o", "runtimeVersion": "1.30.2", "runtimeApiVersion": "v1"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := NewFake()
			tt.mutate(fake)
			check := newCheck(t, RuntimeSpec(), testEnv(t, fake, clocktesting.NewFakeClock(t0), ""))
			got, err := check.Check(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// A runtime that answered once keeps its version in the evidence after it
// stops answering, and the condition clears when it is back.
func TestRuntimeCheckRecovers(t *testing.T) {
	fake := NewFake()
	check := newCheck(t, RuntimeSpec(), testEnv(t, fake, clocktesting.NewFakeClock(t0), ""))
	runs := []struct {
		errs map[string]error
		want []string
	}{
		{nil, nil},
		{map[string]error{"Status": fake.Unreachable("Status")}, []string{ReasonRuntimeUnreachable}},
		{nil, nil},
	}
	for i, run := range runs {
		fake.Errs = run.errs
		findings, err := check.Check(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var reasons []string
		for _, f := range findings {
			reasons = append(reasons, f.Reason)
			if f.Evidence["runtimeVersion"] != "v1.7.3" {
				t.Errorf("run %d: evidence lacks the last known version: %v", i, f.Evidence)
			}
		}
		if diff := cmp.Diff(run.want, reasons); diff != "" {
			t.Errorf("run %d (-want +got)\n%s", i, diff)
		}
	}
}

func TestRuntimeChecksNotApplicableWithoutRuntime(t *testing.T) {
	for _, spec := range Specs() {
		env := testEnv(t, nil, clocktesting.NewFakeClock(t0), "")
		env.Runtime = nil
		if _, err := spec.New(env); !errors.Is(err, probes.ErrNotApplicable) {
			t.Errorf("%s: New without runtime = %v, want ErrNotApplicable", spec.Name, err)
		}
	}
}

func TestSpecsAreConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, spec := range Specs() {
		if seen[spec.Name] {
			t.Errorf("duplicate check %s", spec.Name)
		}
		seen[spec.Name] = true
		if spec.Timeout <= 0 || spec.Timeout >= spec.Interval {
			t.Errorf("%s: timeout %v must be shorter than interval %v", spec.Name, spec.Timeout, spec.Interval)
		}
		for _, r := range spec.Reasons {
			if r.Condition != "" && r.Condition != spec.Condition {
				t.Errorf("%s: reason %s sets %s, but the check owns %q", spec.Name, r.Reason, r.Condition, spec.Condition)
			}
			if r.Severity == probes.SeverityInfo && r.Condition != "" {
				t.Errorf("%s: info reason %s cannot raise a condition", spec.Name, r.Reason)
			}
		}
		env := testEnv(t, NewFake(), clocktesting.NewFakeClock(t0), `{"noSuchSetting": 1}`)
		env.Settings.Path = "checks." + spec.Name + ".settings"
		if _, err := spec.New(env); err == nil {
			t.Errorf("%s: unknown setting accepted", spec.Name)
		}
	}
}

func TestRuntimeCheckAnswersWithErrors(t *testing.T) {
	fake := NewFake()
	fake.Errs = map[string]error{"Version": &Error{Method: "Version", Endpoint: fake.EndpointAddr, Code: codes.Unimplemented,
		Detail: "unknown service runtime.v1.RuntimeService"}}
	got, err := newCheck(t, RuntimeSpec(), testEnv(t, fake, clocktesting.NewFakeClock(t0), "")).Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := "Container runtime at /run/containerd/containerd.sock fails CRI calls: Version: unknown service runtime.v1.RuntimeService"
	if len(got) != 1 || got[0].Reason != ReasonRuntimeUnreachable || got[0].Message != want {
		t.Fatalf("findings %+v, want %s: %q", got, ReasonRuntimeUnreachable, want)
	}
}
