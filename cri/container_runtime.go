package cri

import (
	"context"
	"errors"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
)

// Condition and reasons of the container-runtime check.
const (
	ConditionContainerRuntimeUnhealthy = "ContainerRuntimeUnhealthy"
	ReasonRuntimeUnreachable           = "RuntimeUnreachable"
	ReasonRuntimeNotReady              = "RuntimeNotReady"
)

// RuntimeSpec is the container-runtime check.
//
// It calls CRI Version and Status on the runtime socket every 30 s. A call
// that fails (no socket, refused, no answer within the client's timeout, an
// RPC error) sets ContainerRuntimeUnhealthy True with RuntimeUnreachable,
// naming the endpoint and the error; a Status whose RuntimeReady condition is
// false (or missing, which the CRI API forbids) sets it with RuntimeNotReady
// and the runtime's own reason and message. It clears on the first run where
// the runtime answers ready. The kubelet itself marks the node NotReady when
// RuntimeReady is false ("container runtime is down",
// pkg/kubelet/kubelet.go); this condition says why, and what to do.
//
// Settings: none (an empty section; unknown fields are rejected).
func RuntimeSpec() probes.Spec {
	return probes.Spec{
		Name:           "container-runtime",
		Condition:      ConditionContainerRuntimeUnhealthy,
		Interval:       30 * time.Second,
		Timeout:        15 * time.Second,
		DefaultEnabled: true,
		Reasons: []probes.ReasonInfo{
			{Reason: ReasonRuntimeUnreachable, Condition: ConditionContainerRuntimeUnhealthy, Severity: probes.SeverityProblem,
				Summary: "the CRI socket does not answer: runtime down, socket missing or not mounted into the agent"},
			{Reason: ReasonRuntimeNotReady, Condition: ConditionContainerRuntimeUnhealthy, Severity: probes.SeverityProblem,
				Summary: "the runtime answers but reports RuntimeReady=false"},
		},
		New: newRuntimeCheck,
	}
}

type runtimeConfig struct{}

type runtimeCheck struct {
	rt probes.Runtime
	// lastVersion is the runtime's last answer to Version, kept as evidence
	// for when it stops answering.
	lastVersion *runtimeapi.VersionResponse
}

func newRuntimeCheck(env probes.Env) (probes.Check, error) {
	var cfg runtimeConfig
	if err := config.Decode(env.Settings, &cfg); err != nil {
		return nil, err
	}
	if env.Runtime == nil {
		return nil, fmt.Errorf("no CRI endpoint configured: %w", probes.ErrNotApplicable)
	}
	return &runtimeCheck{rt: env.Runtime}, nil
}

func (c *runtimeCheck) Check(ctx context.Context) ([]probes.Finding, error) {
	ver, err := c.rt.Version(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("CRI Version on %s: %w", c.rt.Endpoint(), ctx.Err())
		}
		return []probes.Finding{c.unreachable(err)}, nil
	}
	c.lastVersion = ver
	st, err := c.rt.Status(ctx, false)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("CRI Status on %s: %w", c.rt.Endpoint(), ctx.Err())
		}
		return []probes.Finding{c.unreachable(err)}, nil
	}
	ready := condition(st, runtimeapi.RuntimeReady)
	if ready != nil && ready.Status {
		return nil, nil
	}
	return []probes.Finding{c.notReady(ver, ready)}, nil
}

func (c *runtimeCheck) evidence() map[string]string {
	ev := map[string]string{"endpoint": c.rt.Endpoint()}
	if v := c.lastVersion; v != nil {
		ev["runtimeName"] = v.RuntimeName
		ev["runtimeVersion"] = v.RuntimeVersion
		ev["runtimeApiVersion"] = v.RuntimeApiVersion
	}
	return ev
}

func (c *runtimeCheck) unreachable(err error) probes.Finding {
	kind := kindFromEndpoint(c.rt.Endpoint())
	if c.lastVersion != nil {
		kind = kindOf(c.lastVersion.RuntimeName)
	}
	unit := serviceUnit(kind, c.rt.Endpoint())
	socket := socketOf(c.rt.Endpoint())
	ev := c.evidence()
	ev["error"] = err.Error()
	return probes.Finding{
		Check:     "container-runtime",
		Condition: ConditionContainerRuntimeUnhealthy,
		Reason:    ReasonRuntimeUnreachable,
		Severity:  probes.SeverityProblem,
		Message:   fmt.Sprintf("Container runtime at %s %s: %s", socket, failureVerb(err), errorDetail(err)),
		Remedy: fmt.Sprintf("On the node: systemctl status %[1]s; journalctl -u %[1]s -n 200 --no-pager; systemctl restart %[1]s. "+
			"If it is running, check that its socket is %[2]s on the host and mounted into the nodetriage pod (or set --cri-endpoint).", unit, socket),
		Evidence: ev,
	}
}

func (c *runtimeCheck) notReady(ver *runtimeapi.VersionResponse, ready *runtimeapi.RuntimeCondition) probes.Finding {
	unit := serviceUnit(kindOf(ver.RuntimeName), c.rt.Endpoint())
	ev := c.evidence()
	why := "it reports no RuntimeReady condition"
	if ready != nil {
		why = "RuntimeReady=false"
		if ready.Reason != "" {
			why += ": " + ready.Reason
		}
		if ready.Message != "" {
			why += ": " + ready.Message
		}
		ev["runtimeReason"] = ready.Reason
		ev["runtimeMessage"] = ready.Message
	}
	return probes.Finding{
		Check:     "container-runtime",
		Condition: ConditionContainerRuntimeUnhealthy,
		Reason:    ReasonRuntimeNotReady,
		Severity:  probes.SeverityProblem,
		Message:   fmt.Sprintf("%s is not ready (%s); the kubelet cannot start pods", runtimeLabel(ver), why),
		Remedy: fmt.Sprintf("On the node: journalctl -u %[1]s -n 200 --no-pager shows why the runtime is not ready; fix that, then systemctl restart %[1]s.",
			unit),
		Evidence: ev,
	}
}

// failureVerb tells a runtime that does not answer at all from one that
// answers CRI calls with errors (e.g. a socket serving no CRI v1).
func failureVerb(err error) string {
	if IsUnreachable(err) {
		return "does not answer"
	}
	return "fails CRI calls"
}

// errorDetail is the cause without the "CRI <method> on <endpoint>:" prefix
// the message already carries.
func errorDetail(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Method + ": " + e.Detail
	}
	return err.Error()
}
