package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRuntimePackagesMatchDockerfile keeps the Docker-free image builder's
// package list (hack/demo/runtime-packages) equal to the Dockerfile's
// RUNTIME_PACKAGES, so both images carry the same runtime libraries.
func TestRuntimePackagesMatchDockerfile(t *testing.T) {
	dockerfile, err := os.ReadFile("../../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ARG RUNTIME_PACKAGES="([^"]*)"$`).FindSubmatch(dockerfile)
	if m == nil {
		t.Fatal(`Dockerfile has no line ARG RUNTIME_PACKAGES="…"`)
	}
	fromDockerfile := strings.Fields(string(m[1]))

	list, err := os.ReadFile("../runtime-packages")
	if err != nil {
		t.Fatal(err)
	}
	var fromBuilder []string
	for line := range strings.Lines(string(list)) {
		line, _, _ = strings.Cut(line, "#")
		fromBuilder = append(fromBuilder, strings.Fields(line)...)
	}
	if len(fromBuilder) == 0 {
		t.Fatal("hack/demo/runtime-packages lists no package")
	}
	if diff := cmp.Diff(fromDockerfile, fromBuilder); diff != "" {
		t.Errorf("Dockerfile RUNTIME_PACKAGES (-) and hack/demo/runtime-packages (+) differ; edit both:\n%s", diff)
	}
	if !strings.Contains(string(dockerfile), "apt-get install -y --no-install-recommends ${RUNTIME_PACKAGES}") {
		t.Error("the Dockerfile no longer installs ${RUNTIME_PACKAGES}")
	}
}
