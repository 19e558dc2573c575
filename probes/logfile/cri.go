package logfile

import (
	"bytes"
	"errors"
	"time"
)

// CRI log streams.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

var (
	errCRIFields    = errors.New("not a CRI log line: want \"<RFC3339Nano time> stdout|stderr F|P <message>\"")
	errCRIStream    = errors.New("CRI log line: stream is neither stdout nor stderr")
	errCRITag       = errors.New("CRI log line: tag is neither F nor P")
	errCRITimestamp = errors.New("CRI log line: timestamp is not RFC 3339")
)

// ParseCRILine parses one line of a container log written by a CRI runtime
// (k8s.io/cri-api, "CRI logging format"; containerd and CRI-O write it):
//
//	2026-11-22T08:11:02.123456789Z stderr F message text
//
// partial is true for the "P" tag: the runtime split a long line and the
// rest follows on the next lines of the same stream up to an "F" line. Tags
// are ':'-separated; only the first (F or P) is defined. msg aliases b; a
// trailing newline is not part of it.
func ParseCRILine(b []byte) (ts time.Time, stream string, partial bool, msg []byte, err error) {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	stamp, rest, ok := bytes.Cut(b, []byte{' '})
	if !ok {
		return time.Time{}, "", false, nil, errCRIFields
	}
	s, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return time.Time{}, "", false, nil, errCRIFields
	}
	switch string(s) {
	case StreamStdout:
		stream = StreamStdout
	case StreamStderr:
		stream = StreamStderr
	default:
		return time.Time{}, "", false, nil, errCRIStream
	}
	tags, msg, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		// "… stdout F" with an empty message and no trailing space.
		tags, msg = rest, nil
	}
	tag, _, _ := bytes.Cut(tags, []byte{':'})
	switch string(tag) {
	case "F":
	case "P":
		partial = true
	default:
		return time.Time{}, "", false, nil, errCRITag
	}
	if ts, ok = parseRFC3339(stamp); !ok {
		return time.Time{}, "", false, nil, errCRITimestamp
	}
	return ts, stream, partial, msg, nil
}

// parseRFC3339 parses "2006-01-02T15:04:05[.fraction](Z|±hh:mm)" without
// allocating. It is hand-written because time.Parse allocates a zone for
// every numeric offset and escapes its input into its error, and this runs
// for every container log line.
func parseRFC3339(b []byte) (time.Time, bool) {
	if len(b) < len("2006-01-02T15:04:05Z") || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	b = b[19:]
	nsec := 0
	if len(b) > 0 && b[0] == '.' {
		i := 1
		scale := int(time.Second)
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if scale > 1 {
				scale /= 10
				nsec += int(b[i]-'0') * scale
			}
		}
		if i == 1 {
			return time.Time{}, false
		}
		b = b[i:]
	}
	offset := 0
	switch {
	case len(b) == 1 && b[0] == 'Z':
	case len(b) == 6 && (b[0] == '+' || b[0] == '-') && b[3] == ':':
		hh, ok1 := digits(b[1:3])
		mm, ok2 := digits(b[4:6])
		if !ok1 || !ok2 || hh > 23 || mm > 59 {
			return time.Time{}, false
		}
		offset = (hh*60 + mm) * 60
		if b[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// criJoiner rejoins the partial ("P") lines of one stream of a CRI log into
// whole lines, keeping at most max bytes of each.
type criJoiner struct {
	max int
	// Per stream: runtimes split stdout and stderr independently and may
	// interleave them.
	stdout, stderr pendingLine
}

type pendingLine struct {
	buf       []byte
	first     time.Time
	active    bool
	truncated bool
}

// add feeds one parsed line. When it completes a line it returns it (the
// message bytes are valid until the next add), its time (the first part's)
// and whether it was cut at max bytes.
func (j *criJoiner) add(ts time.Time, stream string, partial bool, msg []byte) (line []byte, at time.Time, truncated, complete bool) {
	p := &j.stdout
	if stream == StreamStderr {
		p = &j.stderr
	}
	if !p.active && !partial {
		// The common case: a whole line, no copy.
		if len(msg) > j.max {
			return msg[:j.max], ts, true, true
		}
		return msg, ts, false, true
	}
	if !p.active {
		p.active, p.first, p.buf, p.truncated = true, ts, p.buf[:0], false
	}
	room := j.max - len(p.buf)
	if len(msg) > room {
		msg, p.truncated = msg[:max(room, 0)], true
	}
	p.buf = append(p.buf, msg...)
	if partial {
		return nil, time.Time{}, false, false
	}
	p.active = false
	return p.buf, p.first, p.truncated, true
}

// flush returns what is pending on each stream at the end of a file (a
// runtime that died between a "P" and its "F").
func (j *criJoiner) flush(emit func(line []byte, at time.Time, truncated bool)) {
	for _, p := range []*pendingLine{&j.stdout, &j.stderr} {
		if p.active {
			p.active = false
			emit(p.buf, p.first, p.truncated)
		}
	}
}

// reset drops pending parts (the file was truncated or replaced).
func (j *criJoiner) reset() {
	j.stdout.active, j.stderr.active = false, false
}
