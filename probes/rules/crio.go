package rules

import "github.com/nodetriage/nodetriage/probes"

// crioRules is the crio-log pack. It reads CRI-O's journal
// (SYSLOG_IDENTIFIER=crio) and reports the same reasons as the containerd
// pack: SandboxImagePullFailing (condition SandboxImageMissing),
// OCIRuntimeCreateFailed (event; CRI-O words it "container create failed:"),
// CgroupCreateFailing (condition MemoryCgroupLeak), CgroupCreateFailed
// (event), ImagePullRateLimited (event; containers/image also says "too many
// requests to registry", but its debug line "Too many requests to <url>:
// sleeping for …" is a retry, not a failure) and DiskFull (event).
func crioRules() []Rule { return runtimeRules("crio", probes.SourceCRIO) }
