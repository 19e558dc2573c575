package kmsg

import (
	"github.com/nodetriage/nodetriage/probes"
)

// kmsgSources are what /dev/kmsg and its dumps carry: the kernel's own
// records and what user space wrote to the device.
var kmsgSources = []probes.Source{probes.SourceKernel, probes.SourceKmsgUser}

// Sources implements probes.SourceReporter: the kernel log while /dev/kmsg
// is open (or once a dump file has been read to its end), nothing before
// Run opens it or after it failed.
func (s *Stream) Sources() []probes.Source { return s.delivering.Sources() }

var _ probes.SourceReporter = (*Stream)(nil)
