package main

import (
	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/hostchecks"
	"github.com/nodetriage/nodetriage/probes"
)

// The parts this build runs. Each function is the one place its list or
// constructor is chosen; nil means "none" and is handled everywhere.

// checkSpecs lists every periodic check.
func checkSpecs() []probes.Spec {
	return hostchecks.Specs()
}

// streamSpecs lists the log sources (kmsg, journal, files).
func streamSpecs() []probes.StreamSpec {
	return nil
}

// newMatcher builds the log rule engine; nil runs without log rules.
var newMatcher agent.NewMatcherFunc

// newRuntime connects the CRI client for endpoint ("" = discover it under
// the host root); nil, nil runs without a runtime.
func newRuntime(host probes.FS, endpoint string) (probes.Runtime, error) {
	return nil, nil
}

// enrich resolves what a log finding alone cannot say (the pod behind an
// OOM-killed memcg) through the runtime; nil adds nothing.
func enrich(rt probes.Runtime) agent.EnrichFunc {
	return nil
}
