package main

import (
	"errors"
	"log/slog"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/cri"
	"github.com/nodetriage/nodetriage/hostchecks"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/journal"
	"github.com/nodetriage/nodetriage/probes/kmsg"
	"github.com/nodetriage/nodetriage/probes/logfile"
	"github.com/nodetriage/nodetriage/probes/rules"
)

// The parts this build runs. Each function is the one place its list or
// constructor is chosen.

// checkSpecs lists every periodic check: host state, then the CRI runtime.
func checkSpecs() []probes.Spec {
	return append(hostchecks.Specs(), cri.Specs()...)
}

// streamSpecs lists the log sources.
func streamSpecs() []probes.StreamSpec {
	return []probes.StreamSpec{kmsg.Spec(), journal.Spec(), logfile.Spec()}
}

// newMatcher builds the log rule engine from the default packs, the user's
// rules and any node-problem-detector rule files; its warnings (a user rule
// the prefilter cannot narrow) go to logger.
func newMatcher(logger *slog.Logger) agent.NewMatcherFunc {
	return func(userRules probes.Settings, npdRuleFiles []string) (agent.Matcher, []probes.ReasonInfo, error) {
		engine, err := rules.Load(userRules, npdRuleFiles, rules.Options{Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		return engine, engine.Reasons(), nil
	}
}

// newRuntime connects the CRI client for endpoint ("" = discover it under
// the host root). The client connects lazily: a runtime that is down is a
// finding of the container-runtime check, not a start-up failure.
func newRuntime(host probes.FS, endpoint string) (probes.Runtime, error) {
	ep, err := cri.DetectEndpoint(host, endpoint)
	var noSocket *cri.NoSocketError
	if err != nil && !errors.As(err, &noSocket) {
		return nil, err
	}
	return cri.DialEndpoint(ep)
}

// enrich resolves the pod behind an OOM-killed memcg through the runtime.
func enrich(rt probes.Runtime) agent.EnrichFunc {
	if rt == nil {
		return nil
	}
	return cri.NewOOMResolver(rt)
}
