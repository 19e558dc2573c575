// Package hostchecks holds nodetriage's periodic checks of host state: files
// under the injected host root (/proc, /sys, /etc, /var), filesystem usage,
// host sockets (systemd over D-Bus) and, where a check needs them, the CRI
// runtime and the agent's own Node object. Each check lives in its own file
// with a typed config, a pure parser and a doc comment naming what it reads
// and what it reports, with its remedy; Specs lists them all explicitly.
package hostchecks

import "github.com/nodetriage/nodetriage/probes"

// Specs is every host check, in the order they are documented.
func Specs() []probes.Spec {
	return []probes.Spec{
		LogFilesystemSpec(),
		LogRotationSpec(),
		ContainerLogsSpec(),
		MemcgSpec(),
		ConntrackSpec(),
		HairpinSpec(),
		KubeletCertSpec(),
		KubeletRestartsSpec(),
		UninitializedTaintSpec(),
	}
}
