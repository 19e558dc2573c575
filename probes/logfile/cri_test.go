package logfile

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCRILine(t *testing.T) {
	type result struct {
		TS      time.Time
		Stream  string
		Partial bool
		Msg     string
	}
	tests := []struct {
		name    string
		in      string
		want    result
		wantErr string
	}{
		{
			name: "kube-proxy full line",
			in:   `2026-11-22T08:11:02.123456789Z stderr F E1122 08:11:02.123456       1 proxier.go:1503] "Failed to execute iptables-restore" err="exec: \"conntrack\": executable file not found in $PATH"` + "\n",
			want: result{TS: time.Date(2026, 11, 22, 8, 11, 2, 123456789, time.UTC), Stream: "stderr", Msg: `E1122 08:11:02.123456       1 proxier.go:1503] "Failed to execute iptables-restore" err="exec: \"conntrack\": executable file not found in $PATH"`},
		},
		{
			name: "partial stdout with offset zone",
			in:   "2026-11-22T09:11:02.5+01:00 stdout P first half ",
			want: result{TS: time.Date(2026, 11, 22, 8, 11, 2, 500000000, time.UTC), Stream: "stdout", Partial: true, Msg: "first half "},
		},
		{
			name: "negative offset, no fraction",
			in:   "2026-11-22T03:11:02-05:00 stdout F x",
			want: result{TS: time.Date(2026, 11, 22, 8, 11, 2, 0, time.UTC), Stream: "stdout", Msg: "x"},
		},
		{
			name: "empty message",
			in:   "2026-11-22T08:11:02Z stdout F",
			want: result{TS: time.Date(2026, 11, 22, 8, 11, 2, 0, time.UTC), Stream: "stdout"},
		},
		{
			name: "empty message with separator",
			in:   "2026-11-22T08:11:02Z stdout F \n",
			want: result{TS: time.Date(2026, 11, 22, 8, 11, 2, 0, time.UTC), Stream: "stdout", Msg: ""},
		},
		{
			name: "future tag fields",
			in:   "2026-11-22T08:11:02Z stdout P:x:y part",
			want: result{TS: time.Date(2026, 11, 22, 8, 11, 2, 0, time.UTC), Stream: "stdout", Partial: true, Msg: "part"},
		},
		{
			name: "message keeps inner spaces",
			in:   "2026-11-22T08:11:02Z stdout F   indented  text",
			want: result{TS: time.Date(2026, 11, 22, 8, 11, 2, 0, time.UTC), Stream: "stdout", Msg: "  indented  text"},
		},
		{
			name: "more than nanosecond precision is cut",
			in:   "2026-11-22T08:11:02.1234567891Z stdout F x",
			want: result{TS: time.Date(2026, 11, 22, 8, 11, 2, 123456789, time.UTC), Stream: "stdout", Msg: "x"},
		},
		{name: "plain klog line", in: "I1122 08:11:02.123456       1 server.go:865] \"Version info\"", wantErr: errCRIStream.Error()},
		{name: "docker json-file line", in: `{"log":"x\n","stream":"stderr","time":"2026-11-22T08:11:02.1Z"}`, wantErr: errCRIFields.Error()},
		{name: "bad stream", in: "2026-11-22T08:11:02Z stdin F x", wantErr: errCRIStream.Error()},
		{name: "bad tag", in: "2026-11-22T08:11:02Z stdout X x", wantErr: errCRITag.Error()},
		{name: "bad time", in: "2026-13-22T08:11:02Z stdout F x", wantErr: errCRITimestamp.Error()},
		{name: "time without zone", in: "2026-11-22T08:11:02 stdout F x", wantErr: errCRITimestamp.Error()},
		{name: "empty fraction", in: "2026-11-22T08:11:02.Z stdout F x", wantErr: errCRITimestamp.Error()},
		{name: "no tag", in: "2026-11-22T08:11:02Z stdout", wantErr: errCRIFields.Error()},
		{name: "empty", in: "", wantErr: errCRIFields.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, stream, partial, msg, err := ParseCRILine([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseCRILine error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCRILine: %v", err)
			}
			got := result{TS: ts, Stream: stream, Partial: partial, Msg: string(msg)}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCRILine (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseCRILine(f *testing.F) {
	// The seed corpus lives in testdata/fuzz/FuzzParseCRILine.
	f.Fuzz(func(t *testing.T, in []byte) {
		ts, stream, partial, msg, err := ParseCRILine(in)
		if err != nil {
			return
		}
		if stream != StreamStdout && stream != StreamStderr {
			t.Fatalf("stream %q from %q", stream, in)
		}
		// The timestamp must be one time.Parse agrees with.
		stamp, _, _ := strings.Cut(string(in), " ")
		want, perr := time.Parse(time.RFC3339Nano, stamp)
		if perr == nil && !want.Equal(ts) {
			t.Fatalf("timestamp %q parsed as %v, time.Parse says %v", stamp, ts, want)
		}
		// Writing the line back in CRI form reads the same (RFC 3339 has
		// four-digit years only).
		if y := ts.UTC().Year(); y < 0 || y > 9999 {
			return
		}
		tag := "F"
		if partial {
			tag = "P"
		}
		again := ts.UTC().Format(time.RFC3339Nano) + " " + stream + " " + tag + " " + string(msg) + "\n"
		ts2, stream2, partial2, msg2, err := ParseCRILine([]byte(again))
		if err != nil || !ts2.Equal(ts) || stream2 != stream || partial2 != partial || string(msg2) != string(msg) {
			t.Fatalf("round trip of %q via %q: %v %v %v %q %v", in, again, ts2, stream2, partial2, msg2, err)
		}
	})
}

func TestParseRFC3339AgreesWithTimeParse(t *testing.T) {
	for _, s := range []string{
		"2026-11-22T08:11:02Z", "2026-11-22T08:11:02.000000001Z", "2026-11-22T08:11:02.1+05:30",
		"2026-02-28T23:59:59.999999999-12:00", "1999-12-31T23:59:59Z", "2026-11-22T08:11:02.123456789+00:00",
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("time.Parse(%q): %v", s, err)
		}
		got, ok := parseRFC3339([]byte(s))
		if !ok || !got.Equal(want) {
			t.Errorf("parseRFC3339(%q) = %v, %v; time.Parse says %v", s, got, ok, want)
		}
	}
}

func TestCRIJoiner(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 11, 2, 0, time.UTC)
	type part struct {
		stream  string
		partial bool
		msg     string
	}
	type joined struct {
		Text      string
		At        time.Time
		Truncated bool
	}
	tests := []struct {
		name  string
		max   int
		parts []part
		want  []joined
		flush []joined
	}{
		{
			name:  "whole lines pass through",
			max:   100,
			parts: []part{{"stdout", false, "a"}, {"stderr", false, "b"}},
			want:  []joined{{"a", t0, false}, {"b", t0.Add(time.Second), false}},
		},
		{
			name:  "partials joined per stream, time of the first part",
			max:   100,
			parts: []part{{"stdout", true, "hel"}, {"stderr", false, "err line"}, {"stdout", true, "lo "}, {"stdout", false, "world"}},
			want:  []joined{{"err line", t0.Add(time.Second), false}, {"hello world", t0, false}},
		},
		{
			name:  "joined line cut at max",
			max:   8,
			parts: []part{{"stdout", true, "12345"}, {"stdout", true, "67890"}, {"stdout", false, "abc"}, {"stdout", false, "after"}},
			want:  []joined{{"12345678", t0, true}, {"after", t0.Add(3 * time.Second), false}},
		},
		{
			name:  "whole line cut at max",
			max:   4,
			parts: []part{{"stderr", false, "abcdef"}},
			want:  []joined{{"abcd", t0, true}},
		},
		{
			name:  "unfinished partial is flushed at the end",
			max:   100,
			parts: []part{{"stdout", true, "no F came"}},
			flush: []joined{{"no F came", t0, false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := criJoiner{max: tt.max}
			var got []joined
			for i, p := range tt.parts {
				text, at, cut, complete := j.add(t0.Add(time.Duration(i)*time.Second), p.stream, p.partial, []byte(p.msg))
				if complete {
					got = append(got, joined{string(text), at, cut})
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("joined lines (-want +got):\n%s", diff)
			}
			var flushed []joined
			j.flush(func(line []byte, at time.Time, truncated bool) {
				flushed = append(flushed, joined{string(line), at, truncated})
			})
			if diff := cmp.Diff(tt.flush, flushed); diff != "" {
				t.Errorf("flushed (-want +got):\n%s", diff)
			}
		})
	}
}

var (
	sinkTime time.Time
	sinkMsg  []byte
)

func BenchmarkParseCRILine(b *testing.B) {
	lines := []struct{ name, line string }{
		{"kube-proxy", `2026-11-22T08:11:02.123456789Z stderr F I1122 08:11:02.123456       1 proxier.go:1503] "Syncing iptables rules" ipFamily="IPv4"` + "\n"},
		{"offset-zone", "2026-11-22T09:11:02.123456789+01:00 stdout P some partial output\n"},
	}
	for _, l := range lines {
		in := []byte(l.line)
		b.Run(l.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				ts, _, _, msg, err := ParseCRILine(in)
				if err != nil {
					b.Fatal(err)
				}
				sinkTime, sinkMsg = ts, msg
			}
		})
	}
}
