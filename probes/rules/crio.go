package rules

import "github.com/nodetriage/nodetriage/probes"

// crioRules is the crio-log pack. It reads CRI-O's journal
// (SYSLOG_IDENTIFIER=crio) and reports the same reasons as the containerd
// pack: SandboxImagePullFailing (condition SandboxImageMissing),
// OCIRuntimeCreateFailed (event; CRI-O words it "container create failed:"),
// CgroupCreateFailing (condition MemoryCgroupLeak) and CgroupCreateFailed
// (event).
func crioRules() []Rule { return runtimeRules("crio", probes.SourceCRIO) }
