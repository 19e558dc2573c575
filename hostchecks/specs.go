// Package hostchecks holds nodetriage's periodic checks of host state: files
// under the host root (/var/lib/kubelet, /etc), /proc, /sys and filesystem
// usage. Each check lives in its own file with a typed config, a pure parser
// and a doc comment naming what it reads and what it reports; Specs lists
// them all explicitly.
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
