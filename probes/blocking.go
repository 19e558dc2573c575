package probes

import "context"

// BlockingSink is implemented by the agent's sink. Streams whose data
// waits on disk (log files, the journal) use EmitWait, which blocks until
// the line is queued or ctx is done, so a burst is read at the rule
// engine's pace instead of being dropped. A source that loses data when
// it falls behind (/dev/kmsg's ring buffer) keeps using Emit.
type BlockingSink interface {
	Sink
	EmitWait(ctx context.Context, l Line) error
}
