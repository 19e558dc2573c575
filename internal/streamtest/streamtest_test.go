package streamtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/nodetriage/nodetriage/probes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeStream emits its lines, then waits for ctx (or ignores it for
// ignoreCancel) and returns err.
type fakeStream struct {
	lines        []string
	ignoreCancel time.Duration
	err          error
}

func (f *fakeStream) Name() string { return "fake" }

func (f *fakeStream) Run(ctx context.Context, sink probes.Sink) error {
	for _, text := range f.lines {
		sink.Emit(probes.Line{Source: probes.SourceKubelet, Text: text})
	}
	<-ctx.Done()
	time.Sleep(f.ignoreCancel)
	return f.err
}

// cleanupTB records cleanups and errors instead of running and failing.
type cleanupTB struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (c *cleanupTB) Helper()          {}
func (c *cleanupTB) Cleanup(f func()) { c.cleanups = append(c.cleanups, f) }
func (c *cleanupTB) Errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func TestSinkAndRun(t *testing.T) {
	sink := NewSink(5 * time.Second)
	stop := Run(t, &fakeStream{lines: []string{"one", "two", "two"}}, sink, time.Second)
	if got := sink.WaitForText(t, "two"); got.Text != "two" || got.At.IsZero() {
		t.Errorf("WaitForText = %+v", got)
	}
	if got := sink.WaitFor(t, "a line with o", func(l probes.Line) bool { return strings.Contains(l.Text, "o") }); got.Text != "one" {
		t.Errorf("WaitFor returned %q, want the first match", got.Text)
	}
	if err := stop(); err != nil {
		t.Errorf("stop = %v", err)
	}
	if diff := cmp.Diff([]string{"one", "two", "two"}, sink.Texts()); diff != "" {
		t.Errorf("Texts (-want +got):\n%s", diff)
	}
}

func TestRunReportsRunErrorsAndSlowStops(t *testing.T) {
	tests := []struct {
		name   string
		stream *fakeStream
		want   string
	}{
		{name: "Run's error", stream: &fakeStream{err: errors.New("journal vanished")}, want: "journal vanished"},
		{name: "slow to stop", stream: &fakeStream{ignoreCancel: 300 * time.Millisecond}, want: "Run did not return within 50ms of cancel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := &cleanupTB{TB: t}
			stop := Run(tb, tt.stream, NewSink(time.Second), 50*time.Millisecond)
			if err := stop(); err == nil || err.Error() != tt.want {
				t.Errorf("stop = %v, want %q", err, tt.want)
			}
			for _, f := range tb.cleanups {
				f()
			}
			if want := []string{"Run: " + tt.want}; !cmp.Equal(want, tb.errs) {
				t.Errorf("cleanup errors = %q, want %q", tb.errs, want)
			}
			time.Sleep(400 * time.Millisecond) // let the slow stream's goroutine end before goleak looks
		})
	}
}
