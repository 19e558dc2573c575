package streamtest

import (
	"strings"
	"sync"
)

// LogBuffer collects what a slog handler writes (slog.NewTextHandler(buf,
// …)), safe to read while the stream under test logs from its goroutines.
type LogBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Count is how many times s occurs in what was logged.
func (b *LogBuffer) Count(s string) int { return strings.Count(b.String(), s) }
