// Package benchkit is what nodetriage's fault-injection tests (e2e/faults)
// and measurement programs (hack/bench/...) share to drive the real agent:
// building and running the nodetriage binary against a fixture host root,
// reading its /metrics and /debug/findings, sampling its RSS and CPU from
// /proc, feeding its log sources (journal files written by
// systemd-journal-remote, records written to /dev/kmsg), watching a Node's
// conditions through the API server, and summarising samples.
//
// It is test and measurement infrastructure: nothing in the agent imports
// it.
package benchkit
