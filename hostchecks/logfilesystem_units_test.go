package hostchecks

import (
	"testing"
	"time"
)

func TestFormatLogBytes(t *testing.T) {
	tests := []struct {
		in   uint64
		want string
	}{
		{0, "0 B"},
		{512, "512 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{45 << 20, "45 MiB"},
		{45<<20 + 300<<10, "45 MiB"},
		{1288490189, "1.2 GiB"}, // 1.2 GiB
		{100 << 30, "100 GiB"},
		{123 << 30, "123 GiB"},
		{1023 << 30, "1023 GiB"},
		{1024<<30 - 1, "1 TiB"},
		{3 << 40, "3 TiB"},
	}
	for _, tt := range tests {
		if got := formatLogBytes(tt.in); got != tt.want {
			t.Errorf("formatLogBytes(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFloorLogBytesStep(t *testing.T) {
	tests := []struct {
		in, want uint64
	}{
		{0, 0},
		{1, 1},
		{3, 2},
		{7, 5},
		{999, 500},
		{1023, 500},
		{1024, 1024},
		{3000, 2048},
		{60 << 20, 50 << 20},
		{199 << 20, 100 << 20},
		{201 << 20, 200 << 20},
		{1000 << 20, 500 << 20},
		{1 << 30, 1 << 30},
		{7 << 30, 5 << 30},
	}
	for _, tt := range tests {
		if got := floorLogBytesStep(tt.in); got != tt.want {
			t.Errorf("floorLogBytesStep(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestFormatAboutDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "under 10m"},
		{9 * time.Minute, "under 10m"},
		{10 * time.Minute, "10m"},
		{44 * time.Minute, "40m"},
		{46 * time.Minute, "50m"},
		{time.Hour, "1h"},
		{74 * time.Minute, "1h10m"},
		{116 * time.Minute, "2h"}, // rounds up into the hourly range
		{2*time.Hour + 29*time.Minute, "2h"},
		{5*time.Hour + 31*time.Minute, "6h"},
		{23 * time.Hour, "23h"},
	}
	for _, tt := range tests {
		if got := formatAboutDuration(tt.in); got != tt.want {
			t.Errorf("formatAboutDuration(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
