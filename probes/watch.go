package probes

// Watched is implemented by checks whose input is a set of files (logrotate
// configs, CNI configs). The agent watches the paths with fsnotify and re-runs
// the check as soon as one changes, instead of waiting for its next interval;
// the check itself stays free of goroutines.
type Watched interface {
	// WatchPaths lists host paths (files or directories) to watch.
	WatchPaths() []string
}

// Lossy is implemented by streams that can lose records at the source (a
// /dev/kmsg ring overrun, a journal vacuumed under the reader). The agent
// exports the count as a metric.
type Lossy interface {
	// Lost is the number of records lost since the stream started.
	Lost() uint64
}
