package cri

import "github.com/nodetriage/nodetriage/probes"

// Specs lists the CRI-backed checks. Each reads env.Runtime, the CRI client.
func Specs() []probes.Spec {
	return []probes.Spec{
		RuntimeSpec(),
		NetworkSpec(),
		SandboxImageSpec(),
		WorkloadsSpec(),
	}
}
