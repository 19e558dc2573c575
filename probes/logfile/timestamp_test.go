package logfile

import (
	"testing"
	"time"
)

func TestLineTime(t *testing.T) {
	now := time.Date(2027, 1, 3, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		line   string
		want   time.Time
		wantOK bool
	}{
		{"klog", `I0103 08:11:02.123456    1234 kubelet.go:2417] "Skipping pod synchronization"`, time.Date(2027, 1, 3, 8, 11, 2, 123456000, time.UTC), true},
		{"klog error from last December", `E1231 23:59:59.000001    1234 kubelet.go:1] x`, time.Date(2026, 12, 31, 23, 59, 59, 1000, time.UTC), true},
		{"klog warning", `W0102 00:00:00.000000 1 a.go:1] x`, time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC), true},
		{"RFC 3339", `2027-01-03T08:11:02.5Z level=info msg="x"`, time.Date(2027, 1, 3, 8, 11, 2, 500000000, time.UTC), true},
		{"logfmt", `time="2027-01-03T08:11:02.123456789Z" level=error msg="RunPodSandbox failed"`, time.Date(2027, 1, 3, 8, 11, 2, 123456789, time.UTC), true},
		{"logfmt with a bad time", `time="yesterday" level=error`, time.Time{}, false},
		{"no time", `Flag --cgroup-driver has been deprecated`, time.Time{}, false},
		{"klog-looking prose", `I1322 is not a date`, time.Time{}, false},
		{"digits but no time", `42 is the answer`, time.Time{}, false},
		{"empty", ``, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lineTime([]byte(tt.line), now)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Errorf("lineTime(%q) = %v, %v; want %v, %v", tt.line, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
