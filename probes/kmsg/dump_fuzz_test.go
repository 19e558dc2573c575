package kmsg

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParseDumpLine: any one line either is skipped, fails with a one-line
// error, or parses into a line of a known format whose fields hold up: a raw
// record agrees with ParseRecord, a dmesg offset survives being printed the
// way dmesg prints it, and a journal line names its identifier.
//
// Seeds are every line of the real dumps in testdata/dumps plus the corpus
// in testdata/fuzz/FuzzParseDumpLine.
func FuzzParseDumpLine(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "dumps", "*.txt"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seed dumps under testdata/dumps: %v", err)
	}
	for _, p := range paths {
		file, err := os.Open(p)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			f.Add(sc.Text())
		}
		file.Close()
		if err := sc.Err(); err != nil {
			f.Fatalf("read %s: %v", p, err)
		}
	}
	f.Fuzz(func(t *testing.T, line string) {
		// readDump hands over lines split by bufio.Scanner: no '\n' inside.
		if strings.ContainsRune(line, '\n') {
			return
		}
		d, err := ParseDumpLine(line)
		if errors.Is(err, errSkip) {
			return
		}
		if err != nil {
			if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\n") {
				t.Fatalf("error for %q is not one line: %q", line, msg)
			}
			return
		}
		switch d.Format {
		case DumpRaw:
			checkRawDumpLine(t, line, d)
		case DumpDictionary:
			if d.Key == "" || strings.ContainsRune(d.Key, ' ') {
				t.Fatalf("dictionary line %q: key %q", line, d.Key)
			}
		case DumpDmesg:
			checkDmesgDumpLine(t, line, d)
		case DumpDmesgWall:
			if !d.HasYear || d.Wall.IsZero() {
				t.Fatalf("dmesg -T line %q: wall time %v (has year %v)", line, d.Wall, d.HasYear)
			}
		case DumpJournal:
			if d.Identifier == "" || strings.ContainsRune(d.Identifier, ' ') {
				t.Fatalf("journal line %q: identifier %q", line, d.Identifier)
			}
			if d.Kernel() != (d.Identifier == "kernel") {
				t.Fatalf("journal line %q: Kernel() = %v for identifier %q", line, d.Kernel(), d.Identifier)
			}
		default:
			t.Fatalf("line %q: unknown format %d", line, d.Format)
		}
	})
}

func checkRawDumpLine(t *testing.T, line string, d DumpLine) {
	t.Helper()
	r, err := ParseRecord([]byte(strings.TrimRight(line, "\r\n")))
	if err != nil {
		t.Fatalf("raw line %q parsed as a dump line but not as a record: %v", line, err)
	}
	if r.Seq != d.Seq || r.Offset != d.Offset || int(r.Priority) != d.Priority || r.Message != d.Message {
		t.Fatalf("raw line %q: dump line %+v disagrees with record %+v", line, d, r)
	}
	if d.Kernel() != r.Kernel() {
		t.Fatalf("raw line %q: Kernel() %v, record says %v", line, d.Kernel(), r.Kernel())
	}
}

func checkDmesgDumpLine(t *testing.T, line string, d DumpLine) {
	t.Helper()
	if d.Offset < 0 {
		t.Fatalf("dmesg line %q: negative offset %v", line, d.Offset)
	}
	if d.Offset%time.Microsecond != 0 {
		t.Fatalf("dmesg line %q: offset %v finer than dmesg's microseconds", line, d.Offset)
	}
	// dmesg prints "[%5lu.%06lu] "; reading that back must give the same.
	secs, usec := int64(d.Offset/time.Second), int64(d.Offset%time.Second/time.Microsecond)
	again := fmt.Sprintf("[%5d.%06d] %s", secs, usec, d.Message)
	d2, err := ParseDumpLine(again)
	if err != nil {
		t.Fatalf("dmesg line %q printed back as %q does not parse: %v", line, again, err)
	}
	if d2.Format != DumpDmesg || d2.Offset != d.Offset || d2.Message != d.Message {
		t.Fatalf("dmesg line %q printed back as %q reads %+v, want offset %v message %q", line, again, d2, d.Offset, d.Message)
	}
}
