package rules

import "github.com/nodetriage/nodetriage/probes"

// kubeProxyRules is the kube-proxy-log pack. It reads kube-proxy's log (the
// CRI log of the kube-system/kube-proxy-* pod, /var/log/kube-proxy.log, or its
// journal when it runs as a unit).
//
//   - ConntrackBinaryMissing (condition ConntrackProblem, cleared after the
//     agent's quiet window): every era's text (signals.md §2.2) — "error
//     looking for path of conntrack" (printf ≤ 1.18 and structured ~1.20–1.31),
//     "conntrack not found in system path", "The binary conntrack is not
//     installed". kube-proxy ≥ 1.32 no longer needs the binary (PR #126847)
//     and never prints these.
//   - KubeProxyVersion (fact, for LogRecall): the start-up version line —
//     structured `"Version info" version="v1.31.2"` (klog text; version.Info
//     prints its GitVersion), JSON logging `"msg":"Version info",…,
//     "gitVersion":"v1.31.2"`, and the printf era `Version: v1.18.3`
//     (cmd/kube-proxy/app/server.go). Capture "version". The conntrack host
//     check reads it to flag a missing binary only for kube-proxy < 1.32.
func kubeProxyRules() []Rule {
	kubeProxy := sources(probes.SourceKubeProxy)
	const version = `(?P<version>v\d+\.\d+\.\d+[0-9A-Za-z.+-]*)`
	return []Rule{
		{
			Name:      "conntrack-binary-missing",
			Sources:   kubeProxy,
			Pattern:   `looking for path of conntrack|conntrack not found in system path|[Bb]inary conntrack is not installed`,
			Kind:      KindPermanent,
			Condition: "ConntrackProblem",
			Reason:    "ConntrackBinaryMissing",
			Severity:  probes.SeverityProblem,
			Summary:   "kube-proxy (< 1.32) cannot find the conntrack binary, so stale UDP conntrack entries are never flushed",
			Message:   `kube-proxy cannot find the conntrack binary, so stale UDP conntrack entries are not flushed and DNS/UDP services break after endpoint changes`,
			Remedy: `install conntrack on the node (apt-get install conntrack, or yum install conntrack-tools) or in the kube-proxy image, ` +
				`or upgrade kube-proxy to 1.32 or later, which no longer needs the binary`,
		},
		{
			Name:    "kube-proxy-version",
			Sources: kubeProxy,
			Kind:    KindFact,
			Pattern: `"Version info" version="` + version + `"` +
				`|"msg":"Version info".*?"gitVersion":"` + version + `"` +
				`|(?:^|\] )Version: ` + version,
			Reason:  "KubeProxyVersion",
			Summary: "kube-proxy's version from its start-up line",
		},
	}
}
