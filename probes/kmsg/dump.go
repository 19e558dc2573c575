package kmsg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DumpFormat names the shape of one line of a kernel log dump.
type DumpFormat int

const (
	// DumpRaw is a /dev/kmsg record: "6,123,456789,-;text".
	DumpRaw DumpFormat = iota + 1
	// DumpDictionary is a " KEY=value" line following a raw record.
	DumpDictionary
	// DumpDmesg is dmesg's default "[  123.456789] text", optionally with
	// the raw priority "<6>" in front (dmesg -r).
	DumpDmesg
	// DumpDmesgWall is dmesg -T: "[Sun Nov 22 08:11:02 2026] text".
	DumpDmesgWall
	// DumpJournal is journalctl -k: "Nov 22 08:11:02 host kernel: text",
	// also -o short-precise, short-iso and short-iso-precise.
	DumpJournal
)

// DumpLine is one parsed line of a kernel log dump.
type DumpLine struct {
	Format DumpFormat
	// Priority is the record's raw priority, or -1 when the format has none.
	// Lines without one are kernel lines.
	Priority int
	// Seq is the sequence number (DumpRaw only).
	Seq uint64
	// Offset is the time since boot (DumpRaw, DumpDmesg).
	Offset time.Duration
	// Wall is the wall-clock time (DumpDmesgWall, DumpJournal), in the local
	// time zone unless the line names one. For journalctl's short format,
	// which has no year, Wall's year is 0 and HasYear is false.
	Wall    time.Time
	HasYear bool
	// Identifier is the journal's syslog identifier ("kernel" for kernel
	// lines; a user-space writer to /dev/kmsg shows up under its own name).
	Identifier string
	// Message is the text; Key and Value are set for DumpDictionary.
	Message    string
	Key, Value string
}

// Kernel reports whether the line came from the kernel: priority with
// facility 0, no priority at all (plain dmesg), or the journal identifier
// "kernel".
func (d DumpLine) Kernel() bool {
	if d.Format == DumpJournal {
		return d.Identifier == "kernel"
	}
	return d.Priority < 0 || d.Priority>>3 == 0
}

// errSkip marks a line that carries no record: blank lines and journalctl's
// "-- Boot … --" / "-- No entries --" markers.
var errSkip = errors.New("no record on this line")

// ParseDumpLine parses one line of a kernel log dump as written by
// `cat /dev/kmsg`, `dmesg` (plain, -r, -T) or `journalctl -k` (-o short,
// short-precise, short-iso, short-iso-precise).
func ParseDumpLine(line string) (DumpLine, error) {
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "-- "):
		return DumpLine{}, errSkip
	case line[0] == ' ':
		key, value, ok := strings.Cut(line[1:], "=")
		if !ok || key == "" || strings.ContainsRune(key, ' ') {
			return DumpLine{}, errors.New("indented line is not a KEY=value dictionary entry")
		}
		return DumpLine{Format: DumpDictionary, Priority: -1, Key: key, Value: unescape([]byte(value))}, nil
	case line[0] >= '0' && line[0] <= '9' && isRawHeader(line):
		r, err := ParseRecord([]byte(line))
		if err != nil {
			return DumpLine{}, fmt.Errorf("raw kmsg record: %w", err)
		}
		return DumpLine{Format: DumpRaw, Priority: int(r.Priority), Seq: r.Seq, Offset: r.Offset, Message: r.Message}, nil
	case line[0] == '[' || line[0] == '<':
		return parseDmesgLine(line)
	}
	return parseJournalLine(line)
}

// isRawHeader tells "6,123,456789,-;text" from an ISO timestamp line
// ("2026-11-22T08:11:02+0000 host kernel: …"): before the first ';' come
// three decimal numbers and a flag.
func isRawHeader(line string) bool {
	header, _, ok := strings.Cut(line, ";")
	if !ok {
		return false
	}
	fields := strings.SplitN(header, ",", 5)
	return len(fields) >= 4 && isDigits(fields[0]) && isDigits(fields[1]) && isDigits(fields[2])
}

// parseDmesgLine handles "[  123.456789] text", "<6>[  123.456789] text"
// and "[Sun Nov 22 08:11:02 2026] text".
func parseDmesgLine(line string) (DumpLine, error) {
	d := DumpLine{Priority: -1}
	if rest, ok := strings.CutPrefix(line, "<"); ok {
		prio, after, ok := strings.Cut(rest, ">")
		p, err := strconv.ParseUint(prio, 10, 31)
		if !ok || err != nil {
			return DumpLine{}, fmt.Errorf("dmesg line: bad priority prefix %q", line[:min(len(line), 8)])
		}
		d.Priority = int(p)
		line = after
	}
	stamp, text, ok := strings.Cut(strings.TrimPrefix(line, "["), "]")
	if !ok || !strings.HasPrefix(line, "[") {
		return DumpLine{}, errors.New("dmesg line: no [timestamp]")
	}
	d.Message = strings.TrimPrefix(text, " ")
	stamp = strings.TrimSpace(stamp)
	if secs, frac, ok := strings.Cut(stamp, "."); ok && isDigits(secs) && isDigits(frac) {
		s, err1 := strconv.ParseInt(secs, 10, 64)
		f, err2 := strconv.ParseFloat("0."+frac, 64)
		if err1 != nil || err2 != nil || s > int64(time.Duration(1<<62)/time.Second) {
			return DumpLine{}, fmt.Errorf("dmesg line: bad timestamp %q", stamp)
		}
		d.Format = DumpDmesg
		d.Offset = time.Duration(s)*time.Second + time.Duration(f*float64(time.Second)).Round(time.Microsecond)
		return d, nil
	}
	// dmesg -T prints ctime(3)-style "%a %b %e %H:%M:%S %Y".
	wall, err := time.ParseInLocation("Mon Jan _2 15:04:05 2006", stamp, time.Local)
	if err != nil {
		return DumpLine{}, fmt.Errorf("dmesg line: timestamp %q is neither seconds since boot nor dmesg -T", stamp)
	}
	d.Format = DumpDmesgWall
	d.Wall = wall
	d.HasYear = true
	return d, nil
}

// parseJournalLine handles journalctl's "<time> <host> <identifier>: text"
// where <time> is "Nov 22 08:11:02[.123456]" (short, short-precise) or
// "2026-11-22T08:11:02[.123456]+0000" (short-iso[-precise]; newer systemd
// writes the zone as "+00:00").
func parseJournalLine(line string) (DumpLine, error) {
	d := DumpLine{Format: DumpJournal, Priority: -1}
	var rest string
	if len(line) >= 10 && line[4] == '-' && line[7] == '-' {
		stamp, after, _ := strings.Cut(line, " ")
		wall, err := parseISO(stamp)
		if err != nil {
			return DumpLine{}, fmt.Errorf("journal line: timestamp %q: %w", stamp, err)
		}
		d.Wall, d.HasYear, rest = wall, true, after
	} else {
		// "Nov 22 08:11:02" or "Nov  2 08:11:02": month, day, clock.
		fields := strings.Fields(line)
		if len(fields) < 3 {
			return DumpLine{}, errors.New("line matches no known kernel log format (kmsg record, dmesg, journalctl)")
		}
		stamp := fields[0] + " " + fields[1] + " " + fields[2]
		wall, err := time.ParseInLocation("Jan _2 15:04:05", stamp, time.Local)
		if err != nil {
			return DumpLine{}, errors.New("line matches no known kernel log format (kmsg record, dmesg, journalctl)")
		}
		d.Wall = wall
		i := strings.Index(line, fields[2]) + len(fields[2])
		rest = line[i:]
	}
	rest = strings.TrimLeft(rest, " ")
	_, rest, _ = strings.Cut(rest, " ") // host name
	ident, text, ok := strings.Cut(rest, ": ")
	if !ok {
		if ident, ok = strings.CutSuffix(rest, ":"); !ok {
			return DumpLine{}, errors.New("journal line: no \"identifier:\" after the host name")
		}
	}
	if i := strings.IndexByte(ident, '['); i > 0 {
		ident = ident[:i]
	}
	if ident == "" || strings.ContainsRune(ident, ' ') {
		return DumpLine{}, errors.New("journal line: no \"identifier:\" after the host name")
	}
	d.Identifier = ident
	d.Message = text
	return d, nil
}

func parseISO(s string) (time.Time, error) {
	// Go accepts a fractional second after the seconds field even when the
	// layout has none, which covers the -precise variants.
	for _, layout := range []string{"2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not an ISO 8601 time")
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// withYear gives a yearless journalctl time the most recent year that does
// not put it more than a day in the future (a dump read in January of lines
// from December belongs to last year).
func withYear(wall time.Time, now time.Time) time.Time {
	now = now.In(wall.Location())
	t := time.Date(now.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), wall.Location())
	if t.After(now.Add(24 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	return t
}
