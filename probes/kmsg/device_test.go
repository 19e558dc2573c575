package kmsg

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/internal/streamtest"
	"github.com/nodetriage/nodetriage/probes"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// writeKmsg writes one line to the real /dev/kmsg, as any root process can.
func writeKmsg(t *testing.T, line string) {
	t.Helper()
	if err := appendKmsg(line); err != nil {
		t.Fatalf("these tests write to /dev/kmsg and need root: %v", err)
	}
}

func appendKmsg(line string) error {
	f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func realEnv(t *testing.T, settingsJSON string) probes.Env {
	t.Helper()
	return probes.Env{
		Host:     probes.NewFS("/"),
		Clock:    clock.RealClock{},
		Logger:   discardLogger(),
		Settings: settings(settingsJSON),
	}
}

func unique(t *testing.T, what string) string {
	return fmt.Sprintf("nodetriage-test %s %s %d", t.Name(), what, time.Now().UnixNano())
}

func TestRealUserWriteIsNeverKernel(t *testing.T) {
	s, err := New(realEnv(t, ""), probes.StreamOptions{Follow: true})
	if err != nil {
		t.Fatalf("New (needs root for /dev/kmsg): %v", err)
	}
	sink := streamtest.NewSink(sinkTimeout)
	streamtest.Run(t, s, sink, 5*time.Second)

	plain := unique(t, "plain")
	// "<0>" asks for facility kern, level emerg; the kernel keeps LOG_USER.
	spoof := unique(t, "spoof") + " BUG: soft lockup - CPU#0 stuck for 22s! [x:1]"
	writeKmsg(t, plain)
	writeKmsg(t, "<0>"+spoof)

	bootID, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{plain, spoof} {
		l := sink.WaitFor(t, fmt.Sprintf("line %q", text), func(l probes.Line) bool { return l.Text == text })
		if l.Source != probes.SourceKmsgUser {
			t.Errorf("line %q arrived with source %q, want %q", text, l.Source, probes.SourceKmsgUser)
		}
		if l.BootID != strings.TrimSpace(string(bootID)) {
			t.Errorf("line %q: boot ID %q, want %q", text, l.BootID, bootID)
		}
		if !strings.HasPrefix(l.Origin, "/dev/kmsg seq=") {
			t.Errorf("line %q: origin %q, want /dev/kmsg seq=N", text, l.Origin)
		}
		if age := time.Since(l.Time); age < -time.Second || age > 10*time.Second {
			t.Errorf("line %q: time %v is %v from now; boot time + offset is off", text, l.Time, age)
		}
	}
}

func TestRealZeroLookbackStartsAtTheEnd(t *testing.T) {
	before := unique(t, "before")
	writeKmsg(t, before)

	s, err := New(realEnv(t, `{"lookback":"0s"}`), probes.StreamOptions{Follow: true})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	sink := streamtest.NewSink(sinkTimeout)
	streamtest.Run(t, s, sink, 5*time.Second)

	// The stream seeks to the end asynchronously; keep writing until one
	// "after" line arrives.
	after := unique(t, "after")
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				_ = appendKmsg(fmt.Sprintf("%s #%d", after, i))
			}
		}
	}()
	defer func() { close(stop); <-stopped }()
	sink.WaitFor(t, "line written after start", func(l probes.Line) bool { return strings.HasPrefix(l.Text, after) })
	for _, l := range sink.Lines() {
		if l.Text == before {
			t.Errorf("line written before start was replayed with lookback 0: %+v", l)
		}
	}
}

func TestRealLookbackWindow(t *testing.T) {
	old := unique(t, "old")
	writeKmsg(t, old)
	time.Sleep(1500 * time.Millisecond)
	recent := unique(t, "recent")
	writeKmsg(t, recent)

	// Read the live ring once, from 700ms ago to its current end.
	s, err := New(realEnv(t, ""), probes.StreamOptions{Since: time.Now().Add(-700 * time.Millisecond)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	sink := streamtest.NewSink(sinkTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Run(ctx, sink); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var sawRecent bool
	for _, l := range sink.Lines() {
		switch l.Text {
		case old:
			t.Errorf("line older than the window was read: %+v", l)
		case recent:
			sawRecent = true
		}
	}
	if !sawRecent {
		t.Errorf("line inside the window (%q) was not read; read %d lines", recent, len(sink.Lines()))
	}
}
