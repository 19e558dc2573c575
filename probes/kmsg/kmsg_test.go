package kmsg

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodetriage/nodetriage/internal/streamtest"
	"github.com/nodetriage/nodetriage/probes"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestMain(m *testing.M) {
	// Dumps without a zone are read in local time; pin it so golden files
	// do not depend on the machine.
	time.Local = time.UTC
	goleak.VerifyTestMain(m)
}

// sinkTimeout bounds each wait for a line.
const sinkTimeout = 10 * time.Second

func settings(raw string) probes.Settings {
	return probes.Settings{Path: "sources.kmsg.settings", Raw: json.RawMessage(raw)}
}

func TestParseConfig(t *testing.T) {
	streamtest.RunParseConfig(t, "sources.kmsg.settings", ParseConfig, DefaultConfig, []streamtest.ConfigCase[Config]{
		{Name: "empty is the default", Raw: ""},
		{Name: "null is the default", Raw: "null"},
		{Name: "lookback", Raw: `{"lookback":"30s"}`, Want: func(c *Config) { c.Lookback = metav1.Duration{Duration: 30 * time.Second} }},
		{Name: "zero lookback starts at the end", Raw: `{"lookback":"0s"}`, Want: func(c *Config) { c.Lookback = metav1.Duration{} }},
		{Name: "negative lookback", Raw: `{"lookback":"-1m"}`, WantErr: "sources.kmsg.settings.lookback: must not be negative, got -1m0s"},
		{Name: "unknown field", Raw: `{"lookbak":"1m"}`, WantErr: `sources.kmsg.settings.lookbak: unknown field`},
		{Name: "bad duration", Raw: `{"lookback":"soon"}`, WantErr: `sources.kmsg.settings.lookback: not a duration (like "90s" or "10m"): "soon"`},
	})
}

// fakeRing replays reads the way /dev/kmsg answers them: one record per
// read, EPIPE after an overrun, io.EOF when caught up.
type fakeRing struct {
	reads []fakeRead
}

type fakeRead struct {
	record string
	err    error
}

func (f *fakeRing) Read(p []byte) (int, error) {
	if len(f.reads) == 0 {
		return 0, io.EOF
	}
	r := f.reads[0]
	f.reads = f.reads[1:]
	if r.err != nil {
		return 0, r.err
	}
	return copy(p, r.record), nil
}

// testStream builds a stream whose boot was exactly uptime before now.
func testStream(t *testing.T, now time.Time, uptime time.Duration, opts probes.StreamOptions) *Stream {
	t.Helper()
	return &Stream{
		cfg:       DefaultConfig(),
		env:       probes.Env{Host: probes.NewFS(t.TempDir()), Clock: clocktesting.NewFakePassiveClock(now)},
		opts:      opts,
		log:       discardLogger(),
		monotonic: func() time.Duration { return uptime },
	}
}

func TestReadRecordsLookbackAndSource(t *testing.T) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	boot := now.Add(-time.Hour)
	s := testStream(t, now, time.Hour, probes.StreamOptions{Follow: true})
	ring := &fakeRing{reads: []fakeRead{
		{record: "6,10,60000000,-;too old: a minute after boot\n"},
		{record: "3,11,3300000000,-;EXT4-fs (sdb7): Remounting filesystem read-only\n"},
		{record: "12,12,3400000000,-;EXT4-fs (sdb7): Remounting filesystem read-only\n"},
		{record: "garbage without a header"},
		{record: "6,13,3500000000,-;usb 1-1: new device\n SUBSYSTEM=usb\n DEVICE=c189:1\n"},
	}}
	sink := streamtest.NewSink(sinkTimeout)
	cutoff := now.Add(-5 * time.Minute) // 55 minutes after boot
	if err := s.readRecords(context.Background(), ring, sink, cutoff, "b00t"); err != nil {
		t.Fatalf("readRecords: %v", err)
	}
	want := []probes.Line{
		{Source: probes.SourceKmsgUser, Time: boot.Add(3400 * time.Second), Text: "EXT4-fs (sdb7): Remounting filesystem read-only", BootID: "b00t", Origin: "/dev/kmsg seq=12"},
		{Source: probes.SourceKernel, Time: boot.Add(3500 * time.Second), Text: "usb 1-1: new device", BootID: "b00t", Origin: "/dev/kmsg seq=13", Fields: map[string]string{"SUBSYSTEM": "usb", "DEVICE": "c189:1"}},
	}
	// Seq 11 is 55 minutes after boot: exactly at the cutoff, so kept.
	want = append([]probes.Line{{Source: probes.SourceKernel, Time: boot.Add(3300 * time.Second), Text: "EXT4-fs (sdb7): Remounting filesystem read-only", BootID: "b00t", Origin: "/dev/kmsg seq=11"}}, want...)
	if diff := cmp.Diff(want, sink.Lines()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if s.Lost() != 0 {
		t.Errorf("Lost() = %d, want 0", s.Lost())
	}
}

func TestReadRecordsCountsOverrunLoss(t *testing.T) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	s := testStream(t, now, time.Hour, probes.StreamOptions{Follow: true})
	ring := &fakeRing{reads: []fakeRead{
		{record: "6,100,1,-;a\n"},
		{record: "6,101,2,-;b\n"},
		{err: syscall.EPIPE},
		{record: "6,140,3,-;c\n"},
		{record: "6,141,4,-;d\n"},
		{err: syscall.EPIPE},
		{record: "6,150,5,-;e\n"},
	}}
	sink := streamtest.NewSink(sinkTimeout)
	if err := s.readRecords(context.Background(), ring, sink, time.Time{}, ""); err != nil {
		t.Fatalf("readRecords: %v", err)
	}
	if got, want := s.Lost(), uint64(38+8); got != want {
		t.Errorf("Lost() = %d, want %d (seq 102..139 and 142..149)", got, want)
	}
	var texts []string
	for _, l := range sink.Lines() {
		texts = append(texts, l.Text)
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "d", "e"}, texts); diff != "" {
		t.Errorf("lines after overruns (-want +got):\n%s", diff)
	}
}

func TestReadRecordsReturnsOtherReadErrors(t *testing.T) {
	s := testStream(t, time.Now(), time.Hour, probes.StreamOptions{Follow: true})
	ring := &fakeRing{reads: []fakeRead{{err: syscall.EINVAL}}}
	err := s.readRecords(context.Background(), ring, streamtest.NewSink(sinkTimeout), time.Time{}, "")
	if err == nil || err.Error() != "read /dev/kmsg: invalid argument" {
		t.Errorf("readRecords error = %v, want %q", err, "read /dev/kmsg: invalid argument")
	}
}

func TestDumpGolden(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	files, err := filepath.Glob("testdata/dumps/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dumps in testdata/dumps: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txt")
		if name == "garbage" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			opts := probes.StreamOptions{Path: file}
			if name == "journalctl-k-iso" {
				opts.Since = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
			}
			s := testStream(t, now, 100*time.Hour, opts)
			sink := streamtest.NewSink(sinkTimeout)
			if err := s.Run(context.Background(), sink); err != nil {
				t.Fatalf("Run: %v", err)
			}
			got, err := json.MarshalIndent(sink.Lines(), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata/dumps", name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("lines of %s (-want +got):\n%s", file, diff)
			}
		})
	}
}

func TestDumpErrors(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{name: "missing file", path: "testdata/dumps/nope.txt", wantErr: "kernel log dump: open testdata/dumps/nope.txt: no such file or directory"},
		{name: "nothing parses", path: "testdata/dumps/garbage.txt", wantErr: "kernel log dump testdata/dumps/garbage.txt: no line in a known format (kmsg records, dmesg, journalctl -k): line 1: line matches no known kernel log format (kmsg record, dmesg, journalctl)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testStream(t, time.Now(), time.Hour, probes.StreamOptions{Path: tt.path})
			err := s.Run(context.Background(), streamtest.NewSink(sinkTimeout))
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Run error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewNotApplicableWithoutDevice(t *testing.T) {
	env := probes.Env{Host: probes.NewFS(t.TempDir()), Clock: clocktesting.NewFakePassiveClock(time.Now()), Logger: discardLogger()}
	_, err := New(env, probes.StreamOptions{Follow: true})
	if !errors.Is(err, probes.ErrNotApplicable) {
		t.Fatalf("New without /dev/kmsg = %v, want an error wrapping ErrNotApplicable", err)
	}
	if !strings.Contains(err.Error(), "/dev/kmsg: no such file or directory") {
		t.Errorf("error %q does not name /dev/kmsg and the cause", err)
	}
	// A dump file needs no device.
	if _, err := New(env, probes.StreamOptions{Path: "testdata/dumps/raw.txt"}); err != nil {
		t.Errorf("New with a dump path: %v", err)
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	env := probes.Env{Host: probes.NewFS("/"), Clock: clocktesting.NewFakePassiveClock(time.Now()), Settings: settings(`{"lookback":"-5m"}`)}
	var fe *probes.FieldError
	if _, err := New(env, probes.StreamOptions{}); !errors.As(err, &fe) || fe.Field != "sources.kmsg.settings.lookback" {
		t.Errorf("New with a negative lookback = %v, want a FieldError for sources.kmsg.settings.lookback", err)
	}
}

func TestSpec(t *testing.T) {
	spec := Spec()
	if spec.Name != "kmsg" || !spec.DefaultEnabled || spec.New == nil {
		t.Errorf("Spec() = %+v, want name kmsg, enabled by default, with New", spec)
	}
}
