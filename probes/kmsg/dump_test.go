package kmsg

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseDumpLine(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    DumpLine
		wantErr string
	}{
		{
			name: "raw record",
			in:   "4,2481,81234567890,-,caller=T1;Memory cgroup out of memory: Killed process 3141592 (java)",
			want: DumpLine{Format: DumpRaw, Priority: 4, Seq: 2481, Offset: 81234567890 * time.Microsecond, Message: "Memory cgroup out of memory: Killed process 3141592 (java)"},
		},
		{
			name: "raw record written by user space",
			in:   "12,2483,81300000000,-;kernel: BUG: soft lockup",
			want: DumpLine{Format: DumpRaw, Priority: 12, Seq: 2483, Offset: 81300 * time.Second, Message: "kernel: BUG: soft lockup"},
		},
		{
			name: "dictionary line",
			in:   " DEVICE=+acpi:PNP0A08:00",
			want: DumpLine{Format: DumpDictionary, Priority: -1, Key: "DEVICE", Value: "+acpi:PNP0A08:00"},
		},
		{
			name: "dmesg",
			in:   "[ 8523.112233] INFO: task containerd:1234 blocked for more than 120 seconds.",
			want: DumpLine{Format: DumpDmesg, Priority: -1, Offset: 8523112233 * time.Microsecond, Message: "INFO: task containerd:1234 blocked for more than 120 seconds."},
		},
		{
			name: "dmesg keeps indentation of the message",
			in:   "[ 8523.112240]       Not tainted 6.1.0-18-amd64 #1",
			want: DumpLine{Format: DumpDmesg, Priority: -1, Offset: 8523112240 * time.Microsecond, Message: "      Not tainted 6.1.0-18-amd64 #1"},
		},
		{
			name: "dmesg -r with priority",
			in:   "<14>[ 9002.500000] nodetriage-selftest: EXT4-fs (sdb7): Remounting filesystem read-only",
			want: DumpLine{Format: DumpDmesg, Priority: 14, Offset: 9002500 * time.Millisecond, Message: "nodetriage-selftest: EXT4-fs (sdb7): Remounting filesystem read-only"},
		},
		{
			name: "dmesg -T",
			in:   "[Mon Nov  2 08:11:02 2026] unregister_netdevice: waiting for eth0 to become free. Usage count = 2",
			want: DumpLine{Format: DumpDmesgWall, Priority: -1, Wall: time.Date(2026, 11, 2, 8, 11, 2, 0, time.UTC), HasYear: true, Message: "unregister_netdevice: waiting for eth0 to become free. Usage count = 2"},
		},
		{
			name: "journalctl -k short",
			in:   "Nov 22 08:11:02 node-a kernel: nf_conntrack: nf_conntrack: table full, dropping packet",
			want: DumpLine{Format: DumpJournal, Priority: -1, Wall: time.Date(0, 11, 22, 8, 11, 2, 0, time.UTC), Identifier: "kernel", Message: "nf_conntrack: nf_conntrack: table full, dropping packet"},
		},
		{
			name: "journalctl -k short-precise, single-digit day",
			in:   "Nov  2 08:11:03.123456 node-a kernel: XFS (nvme1n1): Shutting down filesystem.",
			want: DumpLine{Format: DumpJournal, Priority: -1, Wall: time.Date(0, 11, 2, 8, 11, 3, 123456000, time.UTC), Identifier: "kernel", Message: "XFS (nvme1n1): Shutting down filesystem."},
		},
		{
			name: "journalctl user-space writer with pid",
			in:   "Nov 22 08:11:04 node-a root[4242]: BUG: soft lockup",
			want: DumpLine{Format: DumpJournal, Priority: -1, Wall: time.Date(0, 11, 22, 8, 11, 4, 0, time.UTC), Identifier: "root", Message: "BUG: soft lockup"},
		},
		{
			name: "journalctl short-iso",
			in:   "2026-11-22T08:11:02+0100 node-a kernel: Out of memory: Killed process 3103923 (stress-ng-vm)",
			want: DumpLine{Format: DumpJournal, Priority: -1, Wall: time.Date(2026, 11, 22, 7, 11, 2, 0, time.UTC), HasYear: true, Identifier: "kernel", Message: "Out of memory: Killed process 3103923 (stress-ng-vm)"},
		},
		{
			name: "journalctl short-iso-precise, newer systemd zone",
			in:   "2026-11-22T08:11:02.654321+00:00 node-a kernel: SLUB: Unable to allocate memory on node -1",
			want: DumpLine{Format: DumpJournal, Priority: -1, Wall: time.Date(2026, 11, 22, 8, 11, 2, 654321000, time.UTC), HasYear: true, Identifier: "kernel", Message: "SLUB: Unable to allocate memory on node -1"},
		},
		{name: "boot marker", in: "-- Boot 0f2b3c4d5e6f47a8b9c0d1e2f3a4b5c6 --", wantErr: errSkip.Error()},
		{name: "blank", in: "  \r\n", wantErr: errSkip.Error()},
		{name: "prose", in: "this line is not a record", wantErr: "line matches no known kernel log format (kmsg record, dmesg, journalctl)"},
		{name: "dmesg without closing bracket", in: "[ 12.5 oops", wantErr: "dmesg line: no [timestamp]"},
		{name: "dmesg bad time", in: "[yesterday] oops", wantErr: `dmesg line: timestamp "yesterday" is neither seconds since boot nor dmesg -T`},
		{name: "bad priority prefix", in: "<x>[ 1.0] y", wantErr: `dmesg line: bad priority prefix "<x>[ 1.0"`},
		{name: "journal without identifier", in: "Nov 22 08:11:02 node-a", wantErr: `journal line: no "identifier:" after the host name`},
		{name: "bad raw header", in: "6,1,99999999999999999999,-;x", wantErr: `raw kmsg record: timestamp "99999999999999999999": value out of range`},
		{name: "indented prose", in: "   Not tainted", wantErr: "indented line is not a KEY=value dictionary entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDumpLine(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseDumpLine error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDumpLine: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseDumpLine (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDumpLineKernel(t *testing.T) {
	tests := []struct {
		name string
		line DumpLine
		want bool
	}{
		{"raw kernel", DumpLine{Format: DumpRaw, Priority: 3}, true},
		{"raw user", DumpLine{Format: DumpRaw, Priority: 12}, false},
		{"dmesg without priority", DumpLine{Format: DumpDmesg, Priority: -1}, true},
		{"dmesg -r user", DumpLine{Format: DumpDmesg, Priority: 14}, false},
		{"journal kernel", DumpLine{Format: DumpJournal, Priority: -1, Identifier: "kernel"}, true},
		{"journal user writer", DumpLine{Format: DumpJournal, Priority: -1, Identifier: "root"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.line.Kernel(); got != tt.want {
				t.Errorf("Kernel() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWithYear(t *testing.T) {
	now := time.Date(2027, 1, 3, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		wall time.Time
		want time.Time
	}{
		{"this year", time.Date(0, 1, 2, 8, 0, 0, 0, time.UTC), time.Date(2027, 1, 2, 8, 0, 0, 0, time.UTC)},
		{"December is last year", time.Date(0, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"clock skew of hours stays this year", time.Date(0, 1, 3, 20, 0, 0, 0, time.UTC), time.Date(2027, 1, 3, 20, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withYear(tt.wall, now); !got.Equal(tt.want) {
				t.Errorf("withYear = %v, want %v", got, tt.want)
			}
		})
	}
}
