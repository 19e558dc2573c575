// Package agent is nodetriage's core: it turns what the checks and the log
// streams find into NodeConditions, Events, metrics and reports, both for the
// long-running agent (nodetriage run) and for the one-shot report (nodetriage
// check).
//
// The pieces:
//
//   - Agent (agent.go) wires everything for `run`: it builds the checks and
//     the rule matcher from the configuration, starts them, and serves
//     /metrics, /healthz, /readyz and /debug/findings (http.go).
//     RunOnce (once.go) is the same path for `check`: every selected check
//     once, every log source read to its end, one Report.
//   - Configuration (config.go, configwatch.go): the AgentConfig with
//     embedded defaults (defaults.yaml), strict decoding, validation errors
//     that name the field, and hot reload through fsnotify that keeps the
//     running configuration when a new one is invalid.
//   - The scheduler (scheduler.go) runs each check on its interval with
//     name-derived jitter, a deadline shorter than the interval and panic
//     recovery; checks that declare probes.Watched paths re-run when those
//     change (watch.go).
//   - The log pipeline (pipeline.go) runs each probes.Stream in its own
//     goroutine, restarted with backoff, behind a bounded queue that counts
//     drops, with one consumer per stream feeding the Matcher (the rule
//     engine); it asks the streams which sources they deliver
//     (probes.SourceReporter) so a condition fed by log rules is never
//     called healthy while its logs are not read.
//   - The condition state machine (conditions.go) derives each condition
//     with problem polarity (True = problem, False = checked and healthy,
//     Unknown = could not tell, with why), applies visibility delays, clear
//     rules (state checks when healthy, log findings after a quiet window or
//     a recovery line, kernel findings on a new boot ID) and per-reason
//     overrides, persists active log findings across restarts
//     (findingstore.go) and emits one Event per transition.
//   - The Kubernetes reporter (kubereporter.go, events.go, kubeclient.go)
//     patches nodes/status for the agent's own condition types only,
//     batched and heartbeated, writes deduplicated, rate-limited Events and
//     keeps going with backoff while the API server is away; nodecache.go
//     keeps the agent's own Node for checks that need it.
//   - Metrics (metrics.go, kubereporter_metrics.go): the nodetriage_*
//     series.
//
// The contract between this package and the detectors lives in package
// probes (Check, Spec, Finding, Env, Stream, SourceReporter, …); the contract
// between the state machine and a reporter is report.go (Condition, Event,
// Reporter). The detectors themselves live in hostchecks, cri and the
// probes subpackages; cmd/nodetriage only parses flags and wires them in.
package agent
