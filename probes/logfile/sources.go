package logfile

import (
	"slices"

	"github.com/nodetriage/nodetriage/probes"
)

// Sources implements probes.SourceReporter: the sources of the configured
// files that exist right now (a glob counts once one regular file matches
// it). A kubelet that logs only to the journal leaves no kubelet.log, so
// this stream then does not claim to read the kubelet's log.
//
// It looks at the files themselves rather than at what the tailer has
// open, so it holds no lock the tailer needs; the agent asks every few
// seconds, which costs a stat or a glob per configured path.
func (s *Stream) Sources() []probes.Source {
	var out []probes.Source
	for _, spec := range s.cfg.Files {
		if slices.Contains(out, spec.Source) || !s.anyFile(spec.Path) {
			continue
		}
		out = append(out, spec.Source)
	}
	return out
}

// anyFile says whether pattern (a host path or glob) names a regular file.
func (s *Stream) anyFile(pattern string) bool {
	matches, err := s.env.Host.Glob(pattern)
	if err != nil {
		return false // only a bad pattern, which ParseConfig rejects
	}
	for _, m := range matches {
		if fi, err := s.env.Host.Stat(m); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

var _ probes.SourceReporter = (*Stream)(nil)
