package hostchecks

import (
	"math"
	"time"
)

// fillSample is one observation of a filesystem: when, and how many bytes
// were still available to unprivileged writers (statfs f_bavail, what df
// shows as "Avail").
type fillSample struct {
	At    time.Time
	Avail uint64
}

// fillSeries holds the recent samples of one filesystem for the fill
// forecast. It lives in the log-filesystem check between runs; it is not
// persisted, so a restarted agent needs a fresh window before it forecasts.
type fillSeries struct {
	// Capacity is used+avail when the series started; a resize restarts the
	// series because the old samples no longer describe the same disk.
	Capacity uint64
	Samples  []fillSample
}

// fillForecast is the straight line fitted through a series.
type fillForecast struct {
	// BytesPerSecond is how fast available space shrinks (positive = filling).
	BytesPerSecond float64
	// TimeToFull is Avail/BytesPerSecond from the newest sample; zero when the
	// filesystem is not filling.
	TimeToFull time.Duration
	Samples    int
	Span       time.Duration
	Avail      uint64
}

// add records a sample, dropping those older than window and keeping at most
// maxSamples (the oldest go first).
func (s *fillSeries) add(sample fillSample, capacity uint64, window time.Duration, maxSamples int) {
	if s.Capacity != capacity {
		s.Capacity = capacity
		s.Samples = s.Samples[:0]
	}
	// Space freed (logs deleted, journal vacuumed) ends the old trend: the
	// forecast waits for fresh samples instead of extrapolating a fill that
	// was just cleaned up.
	if n := len(s.Samples); n > 0 && sample.Avail > s.Samples[n-1].Avail+capacity/100 {
		s.Samples = s.Samples[:0]
	}
	if n := len(s.Samples); n > 0 && !sample.At.After(s.Samples[n-1].At) {
		// A clock that stood still or went back: the newest sample replaces
		// the ones it does not follow, so the fit never sees time reversed.
		keep := 0
		for keep < n && s.Samples[keep].At.Before(sample.At) {
			keep++
		}
		s.Samples = s.Samples[:keep]
	}
	s.Samples = append(s.Samples, sample)
	cutoff := sample.At.Add(-window)
	drop := 0
	for drop < len(s.Samples)-1 && s.Samples[drop].At.Before(cutoff) {
		drop++
	}
	if over := len(s.Samples) - drop - maxSamples; over > 0 {
		drop += over
	}
	if drop > 0 {
		s.Samples = append(s.Samples[:0], s.Samples[drop:]...)
	}
}

// forecast fits available bytes against time by least squares. ok is false
// until there are at least minSamples samples spanning at least minSpan.
func (s *fillSeries) forecast(minSamples int, minSpan time.Duration) (fc fillForecast, ok bool) {
	n := len(s.Samples)
	if n == 0 || n < minSamples {
		return fillForecast{Samples: n}, false
	}
	first, last := s.Samples[0], s.Samples[n-1]
	fc = fillForecast{Samples: n, Span: last.At.Sub(first.At), Avail: last.Avail}
	if fc.Span < minSpan || fc.Span <= 0 {
		return fc, false
	}
	xs := make([]float64, n)
	ys := make([]float64, n)
	for i, smp := range s.Samples {
		xs[i] = smp.At.Sub(first.At).Seconds()
		ys[i] = float64(smp.Avail)
	}
	slope, fitted := leastSquaresSlope(xs, ys)
	if !fitted {
		return fc, false
	}
	fc.BytesPerSecond = -slope
	if fc.BytesPerSecond > 0 {
		secs := float64(last.Avail) / fc.BytesPerSecond
		if secs > float64(math.MaxInt64/int64(time.Second)) {
			secs = float64(math.MaxInt64 / int64(time.Second))
		}
		fc.TimeToFull = time.Duration(secs * float64(time.Second))
	}
	return fc, true
}

// leastSquaresSlope is the slope of the ordinary least-squares line through
// (xs[i], ys[i]). The sums are taken around the means so that byte counts in
// the terabytes do not lose precision. ok is false when all xs are equal.
//
// Hand-written because it is ten lines and the allowed dependencies carry no
// statistics package.
func leastSquaresSlope(xs, ys []float64) (slope float64, ok bool) {
	n := float64(len(xs))
	if len(xs) < 2 || len(xs) != len(ys) {
		return 0, false
	}
	var sumX, sumY float64
	for i := range xs {
		sumX += xs[i]
		sumY += ys[i]
	}
	meanX, meanY := sumX/n, sumY/n
	var sxx, sxy float64
	for i := range xs {
		dx := xs[i] - meanX
		sxx += dx * dx
		sxy += dx * (ys[i] - meanY)
	}
	if sxx == 0 {
		return 0, false
	}
	return sxy / sxx, true
}
