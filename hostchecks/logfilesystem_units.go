package hostchecks

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// containerLogDiskPressure is the condition every log-disk check
// (log-filesystem, log-rotation, container-logs) reports under.
const containerLogDiskPressure = "ContainerLogDiskPressure"

// iecUnits are the binary units byte counts are shown in.
var iecUnits = []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// formatLogBytes shows a byte count in IEC units with two significant
// digits below 100 of a unit and whole units above ("1.2 GiB", "45 MiB",
// "512 B", "123 GiB"), so a message only changes when the size changes by a
// few percent: every distinct message is an API write.
func formatLogBytes(n uint64) string {
	v := float64(n)
	unit := 0
	for v >= 1024 && unit < len(iecUnits)-1 {
		v /= 1024
		unit++
	}
	if v >= 100 {
		v = math.Round(v)
	} else {
		v = roundSignificant(v, 2)
	}
	if v >= 1024 && unit < len(iecUnits)-1 { // 1023.7 rounds up into the next unit
		v /= 1024
		unit++
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + " " + iecUnits[unit]
}

// roundSignificant rounds v to the given number of significant digits.
func roundSignificant(v float64, digits int) float64 {
	if v == 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return v
	}
	scale := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*scale) / scale
}

// floorLogBytesStep rounds a byte count down to the 1-2-5 series of IEC
// sizes (1, 2, 5, 10, 20, 50, 100, 200, 500 of each unit), for messages that
// say "over 50 MiB" about something that keeps growing: the message then
// changes a few times per decade instead of on every run.
func floorLogBytesStep(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	unit := uint64(1)
	for n/unit >= 1024 {
		unit *= 1024
	}
	count := n / unit // 1..1023
	step := uint64(1)
	for _, s := range []uint64{1, 2, 5, 10, 20, 50, 100, 200, 500} {
		if count >= s {
			step = s
		}
	}
	return step * unit
}

// formatAboutDuration shows a time span the way the forecast message uses it:
// to the hour from two hours up, to ten minutes below, and "under 10m" below
// that, so the message stays put while the estimate wobbles.
func formatAboutDuration(d time.Duration) string {
	if d < 10*time.Minute {
		return "under 10m"
	}
	if d < 2*time.Hour {
		tens := int(math.Round(d.Minutes() / 10))
		if tens < 12 {
			h, m := tens/6, tens%6*10
			switch {
			case h == 0:
				return fmt.Sprintf("%dm", m)
			case m == 0:
				return fmt.Sprintf("%dh", h)
			}
			return fmt.Sprintf("%dh%dm", h, m)
		}
	}
	return fmt.Sprintf("%dh", int(math.Round(d.Hours())))
}
