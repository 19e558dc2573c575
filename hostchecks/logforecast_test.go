package hostchecks

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLeastSquaresSlope(t *testing.T) {
	tests := []struct {
		name   string
		xs, ys []float64
		want   float64
		wantOK bool
	}{
		{name: "exact line", xs: []float64{0, 1, 2, 3}, ys: []float64{10, 8, 6, 4}, want: -2, wantOK: true},
		{name: "noisy line", xs: []float64{0, 1, 2, 3, 4}, ys: []float64{0, 1.1, 1.9, 3.2, 3.8}, want: 0.97, wantOK: true},
		{name: "flat", xs: []float64{0, 10, 20}, ys: []float64{5, 5, 5}, want: 0, wantOK: true},
		{name: "terabytes keep precision", xs: []float64{0, 60, 120}, ys: []float64{4e12, 4e12 - 600, 4e12 - 1200}, want: -10, wantOK: true},
		{name: "one point", xs: []float64{1}, ys: []float64{1}},
		{name: "all at the same time", xs: []float64{3, 3, 3}, ys: []float64{1, 2, 3}},
		{name: "mismatched", xs: []float64{1, 2}, ys: []float64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := leastSquaresSlope(tt.xs, tt.ys)
			if ok != tt.wantOK || math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("leastSquaresSlope = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestFillSeriesWindow(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var s fillSeries
	for i := range 10 {
		s.add(fillSample{At: t0.Add(time.Duration(i) * 10 * time.Minute), Avail: uint64(1000 - i)}, 5000, 30*time.Minute, 100)
	}
	// A 30m window ending at 90m keeps 60, 70, 80, 90.
	var got []uint64
	for _, smp := range s.Samples {
		got = append(got, smp.Avail)
	}
	if diff := cmp.Diff([]uint64{994, 993, 992, 991}, got); diff != "" {
		t.Errorf("samples kept (-want +got):\n%s", diff)
	}

	s.add(fillSample{At: t0.Add(100 * time.Minute), Avail: 990}, 5000, time.Hour, 2)
	if len(s.Samples) != 2 || s.Samples[0].Avail != 991 {
		t.Errorf("maxSamples 2 kept %+v, want the newest two", s.Samples)
	}

	s.add(fillSample{At: t0.Add(110 * time.Minute), Avail: 7000}, 8000, time.Hour, 100)
	if len(s.Samples) != 1 || s.Capacity != 8000 {
		t.Errorf("after a resize: %+v, want a fresh series", s)
	}

	s.add(fillSample{At: t0.Add(112 * time.Minute), Avail: 7100}, 8000, time.Hour, 100)
	if len(s.Samples) != 1 || s.Samples[0].Avail != 7100 {
		t.Errorf("after space was freed: %+v, want a fresh series", s.Samples)
	}

	s.add(fillSample{At: t0.Add(120 * time.Minute), Avail: 6990}, 8000, time.Hour, 100)
	s.add(fillSample{At: t0.Add(115 * time.Minute), Avail: 6995}, 8000, time.Hour, 100)
	if len(s.Samples) != 2 || !s.Samples[1].At.Equal(t0.Add(115*time.Minute)) {
		t.Errorf("after the clock went back: %+v, want the sample before 115m and the new one", s.Samples)
	}
}

func TestFillSeriesForecast(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	series := func(step time.Duration, avails ...uint64) *fillSeries {
		s := &fillSeries{}
		for i, a := range avails {
			s.add(fillSample{At: t0.Add(time.Duration(i) * step), Avail: a}, 1<<40, 24*time.Hour, 1000)
		}
		return s
	}
	tests := []struct {
		name       string
		s          *fillSeries
		minSamples int
		minSpan    time.Duration
		wantOK     bool
		wantRate   float64 // bytes per second
		wantTTF    time.Duration
	}{
		{name: "filling 1 MB/s", s: series(time.Minute, 600e6, 540e6, 480e6, 420e6), minSamples: 4, minSpan: 3 * time.Minute,
			wantOK: true, wantRate: 1e6, wantTTF: 420 * time.Second},
		{name: "too few samples", s: series(time.Minute, 600e6, 540e6, 480e6), minSamples: 4, minSpan: time.Minute},
		{name: "too short a span", s: series(time.Minute, 600e6, 540e6, 480e6, 420e6), minSamples: 2, minSpan: 5 * time.Minute},
		{name: "freeing space", s: series(time.Minute, 400e6, 500e6, 600e6), minSamples: 3, minSpan: time.Minute,
			wantOK: true, wantRate: -100e6 / 60},
		{name: "flat", s: series(time.Minute, 5e9, 5e9, 5e9), minSamples: 3, minSpan: time.Minute, wantOK: true},
		{name: "empty", s: &fillSeries{}, minSamples: 2, minSpan: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc, ok := tt.s.forecast(tt.minSamples, tt.minSpan)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tt.wantOK, fc)
			}
			if !ok {
				return
			}
			if math.Abs(fc.BytesPerSecond-tt.wantRate) > 1e-6*math.Max(1, math.Abs(tt.wantRate)) {
				t.Errorf("rate = %v B/s, want %v", fc.BytesPerSecond, tt.wantRate)
			}
			if d := fc.TimeToFull - tt.wantTTF; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("time to full = %v, want %v", fc.TimeToFull, tt.wantTTF)
			}
		})
	}
}
