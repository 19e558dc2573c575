package kmsg

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/internal/streamtest"
	"github.com/nodetriage/nodetriage/probes"
)

func TestSourcesOfADump(t *testing.T) {
	tests := []struct {
		name string
		path string
		want []probes.Source
	}{
		{name: "read to the end", path: "testdata/dumps/raw.txt", want: []probes.Source{probes.SourceKernel, probes.SourceKmsgUser}},
		{name: "nothing parses", path: "testdata/dumps/garbage.txt"},
		{name: "missing file", path: "testdata/dumps/nope.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testStream(t, time.Now(), time.Hour, probes.StreamOptions{Path: tt.path})
			if got := s.Sources(); got != nil {
				t.Errorf("Sources before Run = %v, want none", got)
			}
			_ = s.Run(context.Background(), streamtest.NewSink(5*time.Second)) // errors are TestDumpErrors'
			if diff := cmp.Diff(tt.want, s.Sources()); diff != "" {
				t.Errorf("Sources after Run (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSourcesOfTheRealDevice: the kernel log is delivered while /dev/kmsg
// is open, and no longer once the followed stream stopped.
func TestSourcesOfTheRealDevice(t *testing.T) {
	s, err := New(realEnv(t, ""), probes.StreamOptions{Follow: true})
	if err != nil {
		t.Fatalf("New (needs root for /dev/kmsg): %v", err)
	}
	if got := s.Sources(); got != nil {
		t.Errorf("Sources before Run = %v, want none", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	sink := streamtest.NewSink(5 * time.Second)
	go func() { done <- s.Run(ctx, sink) }()
	line := unique(t, "sources")
	writeKmsg(t, line)
	sink.WaitForText(t, line)
	if got := s.Sources(); !slices.Contains(got, probes.SourceKernel) {
		t.Errorf("Sources while reading /dev/kmsg = %v, want the kernel log", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	if got := s.Sources(); got != nil {
		t.Errorf("Sources after the followed stream stopped = %v, want none", got)
	}
}
