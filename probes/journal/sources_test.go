package journal

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/internal/streamtest"
	"github.com/nodetriage/nodetriage/probes"
)

var serviceSources = []probes.Source{
	probes.SourceKubelet, probes.SourceContainerd, probes.SourceCRIO,
	probes.SourceDockerd, probes.SourceKubeProxy, probes.SourceSystemd,
}

// TestSourcesOfAOneShotRead: what a read to the end delivered, with the
// kernel log only when the kernel transport was read.
func TestSourcesOfAOneShotRead(t *testing.T) {
	kernelAndServices := append([]probes.Source{probes.SourceKernel, probes.SourceKmsgUser}, serviceSources...)
	tests := []struct {
		name     string
		setting  string
		withKmsg bool
		want     []probes.Source
	}{
		{name: "auto without /dev/kmsg", setting: KernelAuto, want: kernelAndServices},
		{name: "auto with a readable /dev/kmsg", setting: KernelAuto, withKmsg: true, want: serviceSources},
		{name: "always", setting: KernelAlways, withKmsg: true, want: kernelAndServices},
		{name: "never", setting: KernelNever, want: serviceSources},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := probes.Env{
				Host:     probes.NewFS(hostWithJournal(t, tt.withKmsg)),
				Settings: probes.Settings{Raw: json.RawMessage(`{"kernelTransport":"` + tt.setting + `"}`)},
			}
			s := newStream(t, env, probes.StreamOptions{Since: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
			if got := s.Sources(); got != nil {
				t.Errorf("Sources before Run = %v, want none", got)
			}
			if err := s.Run(context.Background(), streamtest.NewSink(5*time.Second)); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff(tt.want, s.Sources()); diff != "" {
				t.Errorf("Sources (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSourcesNameExtraMatches(t *testing.T) {
	sel := selector{
		identifiers: merge(DefaultIdentifiers, map[string]probes.Source{"k3s": probes.SourceKubelet}),
		units:       map[string]probes.Source{},
	}
	if diff := cmp.Diff(serviceSources, sel.sources()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	sel = selector{identifiers: map[string]probes.Source{"k3s": probes.SourceKubelet}, units: map[string]probes.Source{"crio.service": probes.SourceCRIO}}
	if diff := cmp.Diff([]probes.Source{probes.SourceKubelet, probes.SourceCRIO}, sel.sources()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestSourcesWhileFollowing: a followed journal delivers while it runs and
// nothing once stopped; a journal that cannot be read delivers nothing.
func TestSourcesWhileFollowing(t *testing.T) {
	root := hostWithJournal(t, true)
	s := newStream(t, probes.Env{Host: probes.NewFS(root)}, probes.StreamOptions{Follow: true})
	sink := streamtest.NewSink(5 * time.Second)
	stop := follow(t, s, sink)
	deadline := time.Now().Add(5 * time.Second)
	for s.Sources() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if diff := cmp.Diff(serviceSources, s.Sources()); diff != "" {
		t.Errorf("Sources while following (-want +got):\n%s", diff)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := s.Sources(); got != nil {
		t.Errorf("Sources after stop = %v, want none", got)
	}

	empty := t.TempDir()
	if err := os.MkdirAll(filepath.Join(empty, "var/log/journal"), 0o755); err != nil {
		t.Fatal(err)
	}
	s = newStream(t, probes.Env{Host: probes.NewFS(empty)}, probes.StreamOptions{})
	if err := s.Run(context.Background(), streamtest.NewSink(5*time.Second)); err == nil {
		t.Fatal("Run over a journal directory without files succeeded")
	}
	if got := s.Sources(); got != nil {
		t.Errorf("Sources after a failed Run = %v, want none", got)
	}
}
