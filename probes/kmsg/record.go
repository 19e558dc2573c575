package kmsg

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Record is one /dev/kmsg record as described in the kernel's
// Documentation/ABI/testing/dev-kmsg.
type Record struct {
	// Priority is the raw "(facility << 3) | level" value.
	Priority uint32
	// Seq is the kernel's 64-bit record sequence number.
	Seq uint64
	// Offset is the printk timestamp: time since boot (local_clock, which
	// does not advance across suspend).
	Offset time.Duration
	// Continuation is true for the 'c' and '+' fragments older kernels emit
	// for printk(KERN_CONT ...). Kernels since 5.10 merge them before storing.
	Continuation bool
	// Message is the record text with the kernel's \xNN escapes undone.
	Message string
	// Fields holds the dictionary lines (" SUBSYSTEM=pci"), nil when none.
	Fields map[string]string
}

// Facility is the syslog facility: 0 is the kernel; everything written from
// user space through /dev/kmsg has 1 (LOG_USER) or what its <N> prefix said,
// never 0.
func (r Record) Facility() uint32 { return r.Priority >> 3 }

// Level is the syslog level, 0 (emerg) to 7 (debug).
func (r Record) Level() uint32 { return r.Priority & 7 }

// Kernel reports whether the record came from the kernel itself. Only these
// may fire kernel rules: user space can write anything to /dev/kmsg but cannot
// choose facility 0.
func (r Record) Kernel() bool { return r.Facility() == 0 }

var errNoHeader = errors.New("no ';' ending the record header")

// ParseRecord parses one record as returned by a single read(2) of
// /dev/kmsg: "prio,seq,usec,flag[,more…];text\n" followed by optional
// " KEY=value\n" dictionary lines. Header fields after the fourth are ignored,
// as the ABI document asks ("Unknown fields and values should be gracefully
// ignored"); CONFIG_PRINTK_CALLER adds "caller=T123" there.
func ParseRecord(b []byte) (Record, error) {
	header, rest, ok := bytes.Cut(b, []byte{';'})
	if !ok {
		return Record{}, errNoHeader
	}
	var r Record
	var field []byte
	var err error

	field, header = cutComma(header)
	prio, err := parseUint(field, 32)
	if err != nil {
		return Record{}, fmt.Errorf("priority %q: %w", field, err)
	}
	r.Priority = uint32(prio)

	field, header = cutComma(header)
	if r.Seq, err = parseUint(field, 64); err != nil {
		return Record{}, fmt.Errorf("sequence number %q: %w", field, err)
	}

	field, header = cutComma(header)
	usec, err := parseUint(field, 64)
	if err != nil {
		return Record{}, fmt.Errorf("timestamp %q: %w", field, err)
	}
	if usec > math.MaxInt64/uint64(time.Microsecond) {
		return Record{}, fmt.Errorf("timestamp %q: out of range", field)
	}
	r.Offset = time.Duration(usec) * time.Microsecond

	field, _ = cutComma(header)
	if len(field) == 0 {
		return Record{}, errors.New("missing flag field")
	}
	r.Continuation = field[0] == 'c' || field[0] == '+'

	text, dict, _ := bytes.Cut(rest, []byte{'\n'})
	r.Message = unescape(text)
	for len(dict) > 0 {
		var line []byte
		line, dict, _ = bytes.Cut(dict, []byte{'\n'})
		if len(line) == 0 || line[0] != ' ' {
			continue
		}
		key, value, ok := bytes.Cut(line[1:], []byte{'='})
		if !ok || len(key) == 0 {
			continue
		}
		if r.Fields == nil {
			r.Fields = make(map[string]string, 2)
		}
		r.Fields[string(key)] = unescape(value)
	}
	return r, nil
}

func cutComma(b []byte) (field, rest []byte) {
	field, rest, _ = bytes.Cut(b, []byte{','})
	return field, rest
}

// parseUint parses a decimal number without allocating (strconv.ParseUint
// on a []byte→string conversion does not escape, so this stays on the stack).
func parseUint(b []byte, bits int) (uint64, error) {
	if len(b) == 0 {
		return 0, errors.New("empty")
	}
	v, err := strconv.ParseUint(string(b), 10, bits)
	if err != nil {
		return 0, errors.Unwrap(err) // strconv's error repeats the input
	}
	return v, nil
}

// unescape undoes the kernel's escaping of non-printable bytes and '\' as
// \xNN. A backslash not followed by two hex digits is kept as it is.
func unescape(b []byte) string {
	i := bytes.IndexByte(b, '\\')
	if i < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i >= 0 {
		out = append(out, b[:i]...)
		b = b[i:]
		if len(b) >= 4 && b[1] == 'x' && isHex(b[2]) && isHex(b[3]) {
			out = append(out, unhex(b[2])<<4|unhex(b[3]))
			b = b[4:]
		} else {
			out = append(out, '\\')
			b = b[1:]
		}
		i = bytes.IndexByte(b, '\\')
	}
	out = append(out, b...)
	return string(out)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
