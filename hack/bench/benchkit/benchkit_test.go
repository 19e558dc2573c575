package benchkit

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSummarize(t *testing.T) {
	xs := make([]float64, 0, 100)
	for i := 100; i >= 1; i-- {
		xs = append(xs, float64(i))
	}
	got := Summarize(xs)
	want := Summary{N: 100, Min: 1, P50: 50, P90: 90, P99: 99, Max: 100, Mean: 50.5}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Summarize(1..100) (-want +got):\n%s", diff)
	}
	if got := Summarize(nil); got != (Summary{}) {
		t.Errorf("Summarize(nil) = %+v", got)
	}
}

func TestHistogramQuantile(t *testing.T) {
	before := map[float64]uint64{0.1: 10, 1: 10, 10: 10, inf(): 10}
	after := map[float64]uint64{0.1: 10, 1: 60, 10: 110, inf(): 110}
	tests := []struct {
		q, want float64
	}{
		{q: 0.5, want: 1},     // 50th of 100 new samples: the top of (0.1, 1]
		{q: 0.25, want: 0.55}, // halfway into (0.1, 1]
		{q: 0.99, want: 9.82}, // 49 of 50 into (1, 10]
	}
	for _, tt := range tests {
		got, ok := HistogramQuantile(tt.q, before, after)
		if !ok || got < tt.want-1e-9 || got > tt.want+1e-9 {
			t.Errorf("HistogramQuantile(%v) = %v, %v; want %v", tt.q, got, ok, tt.want)
		}
	}
	if _, ok := HistogramQuantile(0.5, after, after); ok {
		t.Errorf("no new observations: want ok=false")
	}
}

func inf() float64 { return math.Inf(1) }

func TestJournalEntryExport(t *testing.T) {
	at := time.Unix(1700000000, 123456000)
	got := string(JournalEntry{Time: at, Identifier: "kubelet", Unit: "kubelet.service", Priority: 3, Message: "PLEG is not healthy", BootID: "0123456789abcdef0123456789abcdef"}.AppendExport(nil))
	if !strings.HasPrefix(got, "__REALTIME_TIMESTAMP=1700000000123456\n") || !strings.Contains(got, "\nSYSLOG_IDENTIFIER=kubelet\n_SYSTEMD_UNIT=kubelet.service\nMESSAGE=PLEG is not healthy\n\n") ||
		!strings.Contains(got, "_BOOT_ID=0123456789abcdef0123456789abcdef\n") || !strings.Contains(got, "_TRANSPORT=stdout\nPRIORITY=3\n") {
		t.Errorf("export entry:\n%s", got)
	}
	multi := JournalEntry{Time: at, Kernel: true, Message: "a\nb"}.AppendExport(nil)
	i := strings.Index(string(multi), "MESSAGE\n")
	if i < 0 || !strings.Contains(string(multi), "_TRANSPORT=kernel") || !strings.Contains(string(multi), "SYSLOG_FACILITY=0\n") {
		t.Fatalf("kernel entry with a newline:\n%q", multi)
	}
	size := binary.LittleEndian.Uint64(multi[i+len("MESSAGE\n"):])
	if size != 3 || string(multi[i+len("MESSAGE\n")+8:i+len("MESSAGE\n")+8+3]) != "a\nb" {
		t.Errorf("binary MESSAGE field: size %d in %q", size, multi)
	}
}
