package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const realtimeField = "__REALTIME_TIMESTAMP="

// retimeExport moves every entry of a journal export stream
// (https://systemd.io/JOURNAL_EXPORT_FORMATS/, text fields only) in time so
// that the newest entry is at newest, keeping their spacing. The captures
// in testdata come from a fixed day; the agent only reads entries within
// its look-back window, so a test replays them as if they had just been
// written. Every entry must have a __REALTIME_TIMESTAMP (microseconds since
// the epoch).
func retimeExport(export []byte, newest time.Time) ([]byte, error) {
	lines := bytes.Split(export, []byte("\n"))
	var stamps []int
	var latest int64
	inEntry := false
	entries, entryHasStamp := 0, false
	endEntry := func() error {
		if inEntry && !entryHasStamp {
			return fmt.Errorf("entry %d has no %s", entries, realtimeField[:len(realtimeField)-1])
		}
		inEntry, entryHasStamp = false, false
		return nil
	}
	for i, line := range lines {
		if len(line) == 0 {
			if err := endEntry(); err != nil {
				return nil, err
			}
			continue
		}
		if !inEntry {
			inEntry = true
			entries++
		}
		if !bytes.Contains(line, []byte("=")) {
			return nil, fmt.Errorf("line %d: %q is not FIELD=value (binary fields are not supported)", i+1, line)
		}
		value, ok := bytes.CutPrefix(line, []byte(realtimeField))
		if !ok {
			continue
		}
		usec, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil || usec <= 0 {
			return nil, fmt.Errorf("line %d: %s%s is not microseconds since the epoch", i+1, realtimeField, value)
		}
		stamps = append(stamps, i)
		latest = max(latest, usec)
		entryHasStamp = true
	}
	if err := endEntry(); err != nil {
		return nil, err
	}
	if entries == 0 {
		return nil, errors.New("no journal entries")
	}
	shift := newest.UnixMicro() - latest
	for _, i := range stamps {
		usec, _ := strconv.ParseInt(string(lines[i][len(realtimeField):]), 10, 64)
		lines[i] = []byte(realtimeField + strconv.FormatInt(usec+shift, 10))
	}
	return bytes.Join(lines, []byte("\n")), nil
}

func TestRetimeExport(t *testing.T) {
	newest := time.UnixMicro(1_800_000_000_000_000)
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{
			name: "newest lands on the given time, spacing kept",
			in:   "__REALTIME_TIMESTAMP=1000000\nMESSAGE=a\n\n__REALTIME_TIMESTAMP=3500000\n__MONOTONIC_TIMESTAMP=77\nMESSAGE=b\n",
			want: "__REALTIME_TIMESTAMP=1799999997500000\nMESSAGE=a\n\n__REALTIME_TIMESTAMP=1800000000000000\n__MONOTONIC_TIMESTAMP=77\nMESSAGE=b\n",
		},
		{
			name: "entries out of order",
			in:   "__REALTIME_TIMESTAMP=5000000\nMESSAGE=late\n\n__REALTIME_TIMESTAMP=4000000\nMESSAGE=early\n",
			want: "__REALTIME_TIMESTAMP=1800000000000000\nMESSAGE=late\n\n__REALTIME_TIMESTAMP=1799999999000000\nMESSAGE=early\n",
		},
		{
			name: "a message containing the field name is left alone",
			in:   "MESSAGE=__REALTIME_TIMESTAMP=1\n__REALTIME_TIMESTAMP=2000000\n",
			want: "MESSAGE=__REALTIME_TIMESTAMP=1\n__REALTIME_TIMESTAMP=1800000000000000\n",
		},
		{name: "entry without a time", in: "__REALTIME_TIMESTAMP=1\nMESSAGE=a\n\nMESSAGE=b\n", wantErr: "entry 2 has no __REALTIME_TIMESTAMP"},
		{name: "time not a number", in: "__REALTIME_TIMESTAMP=yesterday\n", wantErr: "line 1: __REALTIME_TIMESTAMP=yesterday is not microseconds"},
		{name: "binary field", in: "__REALTIME_TIMESTAMP=1\nMESSAGE\n", wantErr: "line 2: \"MESSAGE\" is not FIELD=value"},
		{name: "empty", in: "\n\n", wantErr: "no journal entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := retimeExport([]byte(tt.in), newest)
			if tt.wantErr != "" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.wantErr)) {
					t.Fatalf("retimeExport() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("retimeExport(): %v", err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("retimeExport() (-want +got):\n%s", diff)
			}
		})
	}
}
