package cri

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestFakeFilters(t *testing.T) {
	f := NewFake()
	running := runtimeapi.ContainerState_CONTAINER_RUNNING
	exited := runtimeapi.ContainerState_CONTAINER_EXITED
	f.Containers = []*runtimeapi.Container{
		kubeletContainer("aaa111", "u1", "ns", "p1", "app", 0, running, t0),
		kubeletContainer("aaa222", "u1", "ns", "p1", "sidecar", 0, exited, t0),
		kubeletContainer("bbb333", "u2", "ns", "p2", "app", 0, running, t0),
	}
	f.Sandboxes = []*runtimeapi.PodSandbox{
		{Id: "sb-u1", State: runtimeapi.PodSandboxState_SANDBOX_READY, Labels: map[string]string{labelPodUID: "u1"}},
		{Id: "sb-u2", State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY, Labels: map[string]string{labelPodUID: "u2"}},
	}
	ids := func(cs []*runtimeapi.Container) (out []string) {
		for _, c := range cs {
			out = append(out, c.Id)
		}
		return out
	}
	containerTests := []struct {
		name   string
		filter *runtimeapi.ContainerFilter
		want   []string
	}{
		{"all", nil, []string{"aaa111", "aaa222", "bbb333"}},
		{"id prefix", &runtimeapi.ContainerFilter{Id: "aaa"}, []string{"aaa111", "aaa222"}},
		{"sandbox", &runtimeapi.ContainerFilter{PodSandboxId: "sb-u2"}, []string{"bbb333"}},
		{"state", &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: exited}}, []string{"aaa222"}},
		{"labels", &runtimeapi.ContainerFilter{LabelSelector: map[string]string{labelContainerName: "app"}}, []string{"aaa111", "bbb333"}},
	}
	for _, tt := range containerTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.ListContainers(t.Context(), tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
	sbs, err := f.ListPodSandbox(t.Context(), &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{labelPodUID: "u2"}})
	if err != nil || len(sbs) != 1 || sbs[0].Id != "sb-u2" {
		t.Errorf("ListPodSandbox by label = %v, %v", sbs, err)
	}
	sbs, _ = f.ListPodSandbox(t.Context(), &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}})
	if len(sbs) != 1 || sbs[0].Id != "sb-u1" {
		t.Errorf("ListPodSandbox by state = %v", sbs)
	}
}

func TestFakeReturnsCopies(t *testing.T) {
	f := NewFake()
	f.Images = []*runtimeapi.Image{{Id: "sha256:1", RepoTags: []string{"registry.k8s.io/pause:3.9"}}}
	st, err := f.ImageStatus(t.Context(), &runtimeapi.ImageSpec{Image: "registry.k8s.io/pause:3.9"}, false)
	if err != nil || st.Image == nil {
		t.Fatalf("ImageStatus = %v, %v", st, err)
	}
	st.Image.Pinned = true
	if f.Images[0].Pinned {
		t.Error("mutating an answer changed the fake's state")
	}
	absent, err := f.ImageStatus(t.Context(), &runtimeapi.ImageSpec{Image: "registry.k8s.io/pause:3.10"}, false)
	if err != nil || absent.Image != nil {
		t.Errorf("absent image: %v, %v; want a nil Image and no error, as CRI does", absent, err)
	}
}

func TestFakeErrorsAndCalls(t *testing.T) {
	f := NewFake()
	f.Errs = map[string]error{"Status": f.Unreachable("Status")}
	if _, err := f.Status(t.Context(), false); !IsUnreachable(err) {
		t.Errorf("Status error = %v, want unreachable", err)
	}
	if _, err := f.Version(t.Context()); err != nil {
		t.Errorf("Version: %v", err)
	}
	if _, err := f.ContainerStatus(t.Context(), "nope", false); !IsNotFound(err) {
		t.Errorf("ContainerStatus of an unknown ID = %v, want NotFound", err)
	}
	if _, err := f.ImageLabels(t.Context(), "nope"); !errors.Is(err, ErrImageNotFound) {
		t.Errorf("ImageLabels of an unknown image = %v, want ErrImageNotFound", err)
	}
	if f.Calls("Status") != 1 || f.Calls("Version") != 1 || f.TotalCalls() != 4 {
		t.Errorf("calls: Status %d, Version %d, total %d", f.Calls("Status"), f.Calls("Version"), f.TotalCalls())
	}
	verbose := NewFake()
	verbose.StatusResp.Info = map[string]string{"config": "{}"}
	if st, _ := verbose.Status(t.Context(), false); st.Info != nil {
		t.Error("non-verbose Status carries info")
	}
	if st, _ := verbose.Status(t.Context(), true); st.Info["config"] != "{}" {
		t.Error("verbose Status lacks info")
	}
}
