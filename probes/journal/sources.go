package journal

import (
	"slices"

	"github.com/nodetriage/nodetriage/probes"
)

// sources lists what a journal read with this selector delivers: the
// sources its identifier and unit matches map to, and the kernel log (with
// the user-space records of /dev/kmsg) only when it reads the kernel
// transport. Ordered like probes' source list, for stable output.
func (s selector) sources() []probes.Source {
	var out []probes.Source
	add := func(src probes.Source) {
		if !slices.Contains(out, src) {
			out = append(out, src)
		}
	}
	if s.kernel {
		add(probes.SourceKernel)
		add(probes.SourceKmsgUser)
	}
	for _, src := range userSources {
		for _, m := range []map[string]probes.Source{s.identifiers, s.units} {
			for _, mapped := range m {
				if mapped == src {
					add(src)
				}
			}
		}
	}
	return out
}

// Sources implements probes.SourceReporter: while Run reads journal
// directories, the sources of the identifiers and units it matches, plus
// the kernel log only while it reads the kernel transport; nothing before
// Run found a readable journal or after it failed.
func (s *Stream) Sources() []probes.Source { return s.delivering.Sources() }

var _ probes.SourceReporter = (*Stream)(nil)
