package hostchecks

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/internal/fuzzseed"
)

// FuzzParseConntrackStat: /proc/net/stat/nf_conntrack either fails with a
// one-line error or parses into per-column totals that, printed back as a
// one-CPU file in the kernel's %08x format, parse to the same totals.
func FuzzParseConntrackStat(f *testing.F) {
	fuzzseed.AddFiles(f, "testdata/conntrack/*/proc/net/stat/*")
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseConntrackStat(bytes.NewReader(data))
		if err != nil {
			fuzzseed.RequireOneLine(t, "parseConntrackStat", data, err)
			return
		}
		if got.CPUs < 1 {
			t.Fatalf("no error and %d CPU lines from %q", got.CPUs, data)
		}
		header := strings.Fields(strings.SplitN(string(data), "\n", 2)[0])
		columns := header[1:]
		if len(got.Totals) > len(columns) {
			t.Fatalf("%d totals for %d columns from %q", len(got.Totals), len(columns), data)
		}
		for _, c := range columns {
			if _, ok := got.Totals[c]; !ok {
				t.Fatalf("column %q has no total (from %q)", c, data)
			}
		}
		if len(got.Totals) != len(columns) || slicesHasDup(columns) {
			return // repeated column names share one total; no round trip
		}
		var again bytes.Buffer
		again.WriteString("entries")
		for _, c := range columns {
			again.WriteString(" " + c)
		}
		fmt.Fprintf(&again, "\n%08x", got.Entries)
		for _, c := range columns {
			fmt.Fprintf(&again, " %08x", got.Totals[c])
		}
		again.WriteString("\n")
		back, err := parseConntrackStat(&again)
		if err != nil {
			t.Fatalf("printed back as %q: %v", again.String(), err)
		}
		want := got
		want.CPUs = 1
		if diff := cmp.Diff(want, back, cmp.AllowUnexported(conntrackStat{})); diff != "" {
			t.Fatalf("round trip of %q (-first +again):\n%s", data, diff)
		}
	})
}

func slicesHasDup(ss []string) bool {
	seen := make(map[string]bool, len(ss))
	for _, s := range ss {
		if seen[s] {
			return true
		}
		seen[s] = true
	}
	return false
}
