package journal

import (
	"github.com/nodetriage/nodetriage/probes"
)

// Journal fields the stream reads from every entry.
const (
	fieldMessage    = "MESSAGE"
	fieldIdentifier = "SYSLOG_IDENTIFIER"
	fieldUnit       = "_SYSTEMD_UNIT"
	fieldTransport  = "_TRANSPORT"
	fieldFacility   = "SYSLOG_FACILITY"
	fieldBootID     = "_BOOT_ID"
	// Kept as evidence: the unit systemd's own messages are about, the
	// catalogue ID of the message (e.g. "restart scheduled") and its level.
	fieldAboutUnit = "UNIT"
	fieldMessageID = "MESSAGE_ID"
	fieldPriority  = "PRIORITY"
)

// entryFields is every field read per entry; evidenceFields are those copied
// into Line.Fields.
var (
	entryFields    = []string{fieldMessage, fieldIdentifier, fieldUnit, fieldTransport, fieldFacility, fieldBootID, fieldAboutUnit, fieldMessageID, fieldPriority}
	evidenceFields = []string{fieldIdentifier, fieldUnit, fieldAboutUnit, fieldMessageID, fieldPriority}
)

// DefaultIdentifiers maps SYSLOG_IDENTIFIER values to sources (signals §6).
// "systemd" is PID 1's own messages about units: restarts, failures, starts.
var DefaultIdentifiers = map[string]probes.Source{
	"kubelet":    probes.SourceKubelet,
	"containerd": probes.SourceContainerd,
	"crio":       probes.SourceCRIO,
	"dockerd":    probes.SourceDockerd,
	"kube-proxy": probes.SourceKubeProxy,
	"systemd":    probes.SourceSystemd,
}

// DefaultUnits maps _SYSTEMD_UNIT values to sources, for lines a unit writes
// under another identifier (a wrapper script, a plugin binary).
// kube-proxy usually runs as a pod (its log is a CRI file, probes/logfile),
// but as a systemd unit on nodes built without kubeadm (kOps, some EKS
// AMIs, kubernetes-the-hard-way). cri-docker.service is the CRI shim in
// front of dockerd since dockershim left the kubelet (1.24): its lines are
// the docker runtime's side of pod start-up, so they count as dockerd's.
var DefaultUnits = map[string]probes.Source{
	"kubelet.service":    probes.SourceKubelet,
	"containerd.service": probes.SourceContainerd,
	"crio.service":       probes.SourceCRIO,
	"docker.service":     probes.SourceDockerd,
	"cri-docker.service": probes.SourceDockerd,
	"kube-proxy.service": probes.SourceKubeProxy,
}

// selector decides which journal entries the stream reads and which source
// each becomes.
type selector struct {
	identifiers map[string]probes.Source
	units       map[string]probes.Source
	// kernel adds _TRANSPORT=kernel entries.
	kernel bool
}

// matches are the sd_journal match groups: identifiers OR units OR (when
// enabled) the kernel transport. Matches on one field are ORed by sd_journal;
// the groups are joined with disjunctions.
func (s selector) matches() [][]string {
	var ids, units []string
	for id := range s.identifiers {
		ids = append(ids, fieldIdentifier+"="+id)
	}
	for u := range s.units {
		units = append(units, fieldUnit+"="+u)
	}
	groups := [][]string{ids, units}
	if s.kernel {
		groups = append(groups, []string{fieldTransport + "=kernel"})
	}
	return groups
}

// source maps an entry's fields to the line's source; false drops the entry.
//
// Kernel-transport entries are the kernel log as journald read it from
// /dev/kmsg. journald records their syslog facility: only facility 0 is the
// kernel; anything else was written to /dev/kmsg from user space and becomes
// SourceKmsgUser, which no kernel rule reads.
func (s selector) source(fields map[string]string) (probes.Source, bool) {
	if fields[fieldTransport] == "kernel" {
		if f := fields[fieldFacility]; f != "" && f != "0" {
			return probes.SourceKmsgUser, true
		}
		return probes.SourceKernel, s.kernel
	}
	if src, ok := s.identifiers[fields[fieldIdentifier]]; ok {
		return src, true
	}
	if src, ok := s.units[fields[fieldUnit]]; ok {
		return src, true
	}
	return "", false
}

// formatBootID writes a journal boot ID (32 hex digits) the way
// /proc/sys/kernel/random/boot_id does (8-4-4-4-12), so that lines from every
// stream agree on the boot. Anything else is returned unchanged.
func formatBootID(id string) string {
	if len(id) != 32 {
		return id
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return id
		}
	}
	return id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:32]
}
