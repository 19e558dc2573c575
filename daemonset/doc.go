// Package daemonset holds nodetriage's Kubernetes manifests (kustomize: the
// base under base/, variants under overlays/) and, in its tests, the checks
// that keep them honest: every overlay renders, the real API server accepts
// them (server-side dry run), the RBAC rules are exactly the calls the agent
// makes, the per-node admission policy denies what it must on a real API
// server, and the ConfigMap, condition types and alert metrics match the
// code. There is no Go code to import here.
package daemonset
