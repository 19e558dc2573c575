// Package streamtest holds the test helpers the log streams (probes/kmsg,
// probes/journal, probes/logfile) share: a Sink that records what a stream
// emits and waits for a line, Run to run a stream in the background for the
// length of a test, and a table runner for each stream's ParseConfig. It is
// imported by tests only.
package streamtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/probes"
)

// Received is an emitted line with the time it reached the sink.
type Received struct {
	probes.Line
	At time.Time
}

// Sink records emitted lines. Emit never blocks, like the agent's queue.
type Sink struct {
	// timeout bounds each wait.
	timeout time.Duration

	mu       sync.Mutex
	received []Received
	added    chan struct{}
}

var _ probes.Sink = (*Sink)(nil)

// NewSink returns an empty sink whose waits fail after timeout.
func NewSink(timeout time.Duration) *Sink {
	return &Sink{timeout: timeout, added: make(chan struct{}, 1)}
}

// Emit records a line.
func (s *Sink) Emit(l probes.Line) {
	s.mu.Lock()
	s.received = append(s.received, Received{Line: l, At: time.Now()})
	s.mu.Unlock()
	select {
	case s.added <- struct{}{}:
	default:
	}
}

// Lines are the lines emitted so far, in order.
func (s *Sink) Lines() []probes.Line {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := make([]probes.Line, len(s.received))
	for i, r := range s.received {
		lines[i] = r.Line
	}
	return lines
}

// Texts are the texts of the lines emitted so far.
func (s *Sink) Texts() []string {
	var texts []string
	for _, l := range s.Lines() {
		texts = append(texts, l.Text)
	}
	return texts
}

// WaitFor waits until a line satisfying ok has been emitted and returns the
// first such line; it fails the test after the sink's timeout.
func (s *Sink) WaitFor(t testing.TB, what string, ok func(probes.Line) bool) Received {
	t.Helper()
	deadline := time.After(s.timeout)
	for {
		s.mu.Lock()
		for _, r := range s.received {
			if ok(r.Line) {
				s.mu.Unlock()
				return r
			}
		}
		s.mu.Unlock()
		select {
		case <-s.added:
		case <-deadline:
			t.Fatalf("no %s within %v; got %q", what, s.timeout, s.Texts())
		}
	}
}

// WaitForText waits for a line with exactly this text.
func (s *Sink) WaitForText(t testing.TB, text string) Received {
	t.Helper()
	return s.WaitFor(t, fmt.Sprintf("line %q", text), func(l probes.Line) bool { return l.Text == text })
}

// Run runs the stream in the background. The returned stop cancels it and
// returns Run's error, or an error when Run has not returned within
// stopWithin; the test's cleanup calls stop and fails the test on an error.
func Run(t testing.TB, s probes.Stream, sink probes.Sink, stopWithin time.Duration) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, sink) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(stopWithin):
				runErr = fmt.Errorf("Run did not return within %v of cancel", stopWithin)
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return stop
}

// ConfigCase is one row of a stream's ParseConfig table test.
type ConfigCase[C any] struct {
	Name string
	// Raw is the settings section's JSON.
	Raw string
	// Want edits the default configuration into the expected one; nil
	// expects the defaults.
	Want func(*C)
	// WantErr is the whole expected error, which must be a
	// *probes.FieldError.
	WantErr string
}

// RunParseConfig runs ParseConfig on each case's settings under path
// ("sources.kmsg.settings").
func RunParseConfig[C any](t *testing.T, path string, parse func(probes.Settings) (C, error), defaults func() C, cases []ConfigCase[C]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := parse(probes.Settings{Path: path, Raw: []byte(tc.Raw)})
			if tc.WantErr != "" {
				if err == nil || err.Error() != tc.WantErr {
					t.Fatalf("ParseConfig error = %v, want %q", err, tc.WantErr)
				}
				var fe *probes.FieldError
				if !errors.As(err, &fe) {
					t.Errorf("error %v (%T) is not a *probes.FieldError", err, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			want := defaults()
			if tc.Want != nil {
				tc.Want(&want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParseConfig (-want +got):\n%s", diff)
			}
		})
	}
}
