package logfile

import (
	"bytes"
	"time"
)

// lineTime finds the time a plain log line carries at its start:
//
//   - a klog header, "I1122 08:11:02.123456    1234 file.go:12] …" (the
//     kubelet and kube-proxy; no year, local time of the writer);
//   - an RFC 3339 time, "2026-11-22T08:11:02.123Z …";
//   - a logfmt time, `time="2026-11-22T08:11:02.123456789Z" level=…`
//     (containerd, dockerd).
//
// now supplies the year for klog headers (the most recent year that does not
// put the line more than a day in the future).
func lineTime(line []byte, now time.Time) (time.Time, bool) {
	if t, ok := klogTime(line, now); ok {
		return t, true
	}
	if rest, ok := bytes.CutPrefix(line, []byte(`time="`)); ok {
		stamp, _, found := bytes.Cut(rest, []byte{'"'})
		if found {
			return parseRFC3339(stamp)
		}
		return time.Time{}, false
	}
	if len(line) > 0 && line[0] >= '0' && line[0] <= '9' {
		stamp, _, _ := bytes.Cut(line, []byte{' '})
		return parseRFC3339(stamp)
	}
	return time.Time{}, false
}

// klogTime parses "Lmmdd hh:mm:ss.uuuuuu" (L is one of IWEF).
func klogTime(b []byte, now time.Time) (time.Time, bool) {
	const header = len("I1122 08:11:02.123456")
	if len(b) < header || !isKlogLevel(b[0]) || b[5] != ' ' || b[8] != ':' || b[11] != ':' || b[14] != '.' {
		return time.Time{}, false
	}
	month, ok1 := digits(b[1:3])
	day, ok2 := digits(b[3:5])
	hour, ok3 := digits(b[6:8])
	minute, ok4 := digits(b[9:11])
	sec, ok5 := digits(b[12:14])
	usec, ok6 := digits(b[15:21])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	now = now.In(time.Local)
	t := time.Date(now.Year(), time.Month(month), day, hour, minute, sec, usec*1000, time.Local)
	if t.After(now.Add(24 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	return t, true
}

func isKlogLevel(c byte) bool {
	return c == 'I' || c == 'W' || c == 'E' || c == 'F'
}
