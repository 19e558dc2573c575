package kmsg

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Record
		wantErr string
	}{
		{
			name: "first record of a boot",
			in:   "5,0,0,-;Linux version 6.18.44-fc-v657 (builder@sandboxing) (gcc (GCC) 15.3.0, GNU ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0\n",
			want: Record{Priority: 5, Seq: 0, Message: "Linux version 6.18.44-fc-v657 (builder@sandboxing) (gcc (GCC) 15.3.0, GNU ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0"},
		},
		{
			name: "dictionary lines",
			in:   "6,194,290598,-;acpi PNP0A08:00: _OSC: OS supports [ExtendedConfig ASPM ClockPM Segments MSI HPX-Type3]\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A08:00\n",
			want: Record{
				Priority: 6, Seq: 194, Offset: 290598 * time.Microsecond,
				Message: "acpi PNP0A08:00: _OSC: OS supports [ExtendedConfig ASPM ClockPM Segments MSI HPX-Type3]",
				Fields:  map[string]string{"SUBSYSTEM": "acpi", "DEVICE": "+acpi:PNP0A08:00"},
			},
		},
		{
			name: "escaped tab",
			in:   "6,90,240763,-;rcu: \\x09RCU restricting CPUs from NR_CPUS=256 to nr_cpu_ids=2.\n",
			want: Record{Priority: 6, Seq: 90, Offset: 240763 * time.Microsecond, Message: "rcu: \tRCU restricting CPUs from NR_CPUS=256 to nr_cpu_ids=2."},
		},
		{
			name: "escaped backslash and newline, stray backslash kept",
			in:   "3,7,1,-;a\\x5cb\\x0Ac \\q \\x4\n",
			want: Record{Priority: 3, Seq: 7, Offset: time.Microsecond, Message: "a\\b\nc \\q \\x4"},
		},
		{
			name: "user-space write lands with facility user",
			in:   "12,345,675407546,-;drift-probe-xyz\n",
			want: Record{Priority: 12, Seq: 345, Offset: 675407546 * time.Microsecond, Message: "drift-probe-xyz"},
		},
		{
			name: "caller and future header fields are ignored",
			in:   "4,2481,81234567890,-,caller=T3141592,newfield=1;Memory cgroup out of memory: Killed process 3141592 (java)\n",
			want: Record{Priority: 4, Seq: 2481, Offset: 81234567890 * time.Microsecond, Message: "Memory cgroup out of memory: Killed process 3141592 (java)"},
		},
		{
			name: "continuation fragment of an old kernel",
			in:   "4,88,1000,c;more text\n",
			want: Record{Priority: 4, Seq: 88, Offset: time.Millisecond, Continuation: true, Message: "more text"},
		},
		{
			name: "no trailing newline, empty text",
			in:   "6,1,2,-;",
			want: Record{Priority: 6, Seq: 1, Offset: 2 * time.Microsecond},
		},
		{
			name: "dictionary line without '=' and unindented garbage are ignored",
			in:   "6,1,2,-;x\n SUBSYSTEM\nDEVICE=y\n =z\n",
			want: Record{Priority: 6, Seq: 1, Offset: 2 * time.Microsecond, Message: "x"},
		},
		{name: "no header", in: "Linux version\n", wantErr: "no ';' ending the record header"},
		{name: "missing flag", in: "6,1,2;x\n", wantErr: "missing flag field"},
		{name: "bad priority", in: "x,1,2,-;x\n", wantErr: `priority "x": invalid syntax`},
		{name: "negative sequence", in: "6,-1,2,-;x\n", wantErr: `sequence number "-1": invalid syntax`},
		{name: "timestamp overflow", in: "6,1,18446744073709551615,-;x\n", wantErr: `timestamp "18446744073709551615": out of range`},
		{name: "priority beyond 32 bits", in: "4294967296,1,2,-;x\n", wantErr: `priority "4294967296": value out of range`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRecord([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseRecord error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRecord: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseRecord (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecordFacility(t *testing.T) {
	tests := []struct {
		prio          uint32
		wantFacility  uint32
		wantLevel     uint32
		wantFromKernl bool
	}{
		{prio: 0, wantFacility: 0, wantLevel: 0, wantFromKernl: true},
		{prio: 7, wantFacility: 0, wantLevel: 7, wantFromKernl: true},
		{prio: 8, wantFacility: 1, wantLevel: 0},
		{prio: 12, wantFacility: 1, wantLevel: 4},
		{prio: 30, wantFacility: 3, wantLevel: 6},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.prio), func(t *testing.T) {
			r := Record{Priority: tt.prio}
			if r.Facility() != tt.wantFacility || r.Level() != tt.wantLevel || r.Kernel() != tt.wantFromKernl {
				t.Errorf("prio %d: facility %d level %d kernel %v; want %d %d %v",
					tt.prio, r.Facility(), r.Level(), r.Kernel(), tt.wantFacility, tt.wantLevel, tt.wantFromKernl)
			}
		})
	}
}

// escapeLikeKernel escapes text the way the kernel's msg_print_ext_body does.
func escapeLikeKernel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c >= 127 || c == '\\' {
			fmt.Fprintf(&b, "\\x%02x", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func FuzzParseRecord(f *testing.F) {
	// The seed corpus lives in testdata/fuzz/FuzzParseRecord.
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseRecord(in)
		if err != nil {
			return
		}
		if r.Offset < 0 {
			t.Fatalf("negative offset %v from %q", r.Offset, in)
		}
		// Whatever the message, the kernel's escaping of it must parse back
		// to the same text and header.
		again := fmt.Sprintf("%d,%d,%d,-;%s\n", r.Priority, r.Seq, r.Offset/time.Microsecond, escapeLikeKernel(r.Message))
		r2, err := ParseRecord([]byte(again))
		if err != nil {
			t.Fatalf("re-escaped record %q does not parse: %v", again, err)
		}
		if r2.Message != r.Message || r2.Priority != r.Priority || r2.Seq != r.Seq || r2.Offset != r.Offset {
			t.Fatalf("round trip of %q: got %+v, want %+v", in, r2, r)
		}
	})
}

var sinkRecord Record

func BenchmarkParseRecord(b *testing.B) {
	records := []struct{ name, rec string }{
		{"plain", "4,2481,81234567890,-;Memory cgroup out of memory: Killed process 3141592 (java) total-vm:4218844kB, anon-rss:1048576kB, file-rss:20480kB, shmem-rss:0kB, UID:1000 pgtables:2456kB oom_score_adj:983\n"},
		{"dictionary", "6,194,290598,-;acpi PNP0A08:00: _OSC: OS supports [ExtendedConfig ASPM ClockPM Segments MSI HPX-Type3]\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A08:00\n"},
		{"escaped", "6,90,240763,-;rcu: \\x09RCU restricting CPUs from NR_CPUS=256 to nr_cpu_ids=2.\n"},
	}
	for _, r := range records {
		in := []byte(r.rec)
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				rec, err := ParseRecord(in)
				if err != nil {
					b.Fatal(err)
				}
				sinkRecord = rec
			}
		})
	}
}
