package cri

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/probes"
)

// t0 is the fake clock's start in unit tests.
var t0 = time.Date(2026, 3, 4, 3, 0, 0, 0, time.UTC)

// testEnv is an Env for unit tests over the fake runtime and a fixture root.
func testEnv(t *testing.T, rt probes.Runtime, clk *clocktesting.FakeClock, settings string) probes.Env {
	t.Helper()
	env := probes.Env{
		Host:     probes.NewFS(t.TempDir()),
		Clock:    clk,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Runtime:  rt,
		NodeName: "node-a",
		Settings: probes.Settings{Path: "checks.test.settings"},
	}
	if settings != "" {
		if !json.Valid([]byte(settings)) {
			t.Fatalf("settings %s are not JSON", settings)
		}
		env.Settings.Raw = json.RawMessage(settings)
	}
	return env
}

func newCheck(t *testing.T, spec probes.Spec, env probes.Env) probes.Check {
	t.Helper()
	env.Settings.Path = "checks." + spec.Name + ".settings"
	c, err := spec.New(env)
	if err != nil {
		t.Fatalf("%s: New: %v", spec.Name, err)
	}
	return c
}

// kubeletContainer is a CRI container as the kubelet creates it.
func kubeletContainer(id, podUID, ns, pod, name string, attempt uint32, state runtimeapi.ContainerState, created time.Time) *runtimeapi.Container {
	return &runtimeapi.Container{
		Id:           id,
		PodSandboxId: "sb-" + podUID,
		Metadata:     &runtimeapi.ContainerMetadata{Name: name, Attempt: attempt},
		State:        state,
		CreatedAt:    created.UnixNano(),
		Labels: map[string]string{
			labelPodUID: podUID, labelPodNamespace: ns, labelPodName: pod, labelContainerName: name,
		},
		Annotations: map[string]string{annotationRestartCount: "0"},
	}
}
