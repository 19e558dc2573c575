package kmsg

import (
	"slices"
	"sync"

	"github.com/nodetriage/nodetriage/probes"
)

// kmsgSources are what /dev/kmsg and its dumps carry: the kernel's own
// records and what user space wrote to the device.
var kmsgSources = []probes.Source{probes.SourceKernel, probes.SourceKmsgUser}

// delivery tracks which sources a Run is delivering, for Sources.
type delivery struct {
	mu      sync.Mutex
	sources []probes.Source
}

// begin records that Run now delivers srcs.
func (d *delivery) begin(srcs []probes.Source) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sources = srcs
}

// end records how Run returned. A followed source delivers nothing once Run
// has returned; a one-shot read that reached its end keeps saying what it
// read, which is what the check command reports.
func (d *delivery) end(follow bool, err error) {
	if !follow && err == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sources = nil
}

func (d *delivery) get() []probes.Source {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.sources)
}

// Sources implements probes.SourceReporter: the kernel log while /dev/kmsg
// is open (or once a dump file has been read to its end), nothing before
// Run opens it or after it failed.
func (s *Stream) Sources() []probes.Source { return s.delivering.get() }

var _ probes.SourceReporter = (*Stream)(nil)
