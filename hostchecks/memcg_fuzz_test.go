package hostchecks

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/internal/fuzzseed"
)

// FuzzParseMemcgProcCgroups: /proc/cgroups either fails with a one-line
// error or parses into controllers that, printed back the way the kernel
// prints the file, parse to the same.
func FuzzParseMemcgProcCgroups(f *testing.F) {
	fuzzseed.AddFiles(f, "testdata/memory-cgroups/*/proc/cgroups")
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseMemcgProcCgroups(bytes.NewReader(data))
		if err != nil {
			fuzzseed.RequireOneLine(t, "parseMemcgProcCgroups", data, err)
			return
		}
		if len(got) == 0 {
			t.Fatalf("no error and no controllers from %q", data)
		}
		var again bytes.Buffer
		again.WriteString("#subsys_name\thierarchy\tnum_cgroups\tenabled\n")
		for _, name := range slices.Sorted(maps.Keys(got)) {
			c := got[name]
			if c.hierarchy < 0 || c.numCgroups < 0 {
				t.Fatalf("negative count for %s: %+v", name, c)
			}
			enabled := 0
			if c.enabled {
				enabled = 1
			}
			fmt.Fprintf(&again, "%s\t%d\t%d\t%d\n", name, c.hierarchy, c.numCgroups, enabled)
		}
		back, err := parseMemcgProcCgroups(&again)
		if err != nil {
			t.Fatalf("printed back as %q: %v", again.String(), err)
		}
		if diff := cmp.Diff(got, back, cmp.AllowUnexported(memcgController{})); diff != "" {
			t.Fatalf("round trip of %q (-first +again):\n%s", data, diff)
		}
	})
}

// FuzzParseMemcgCgroupStat: a cgroup v2 cgroup.stat either fails with a
// one-line error or parses into non-negative counts that round-trip.
func FuzzParseMemcgCgroupStat(f *testing.F) {
	fuzzseed.AddFiles(f, "testdata/memory-cgroups/*/sys/fs/cgroup/cgroup.stat", "testdata/memory-cgroups/*/sys/fs/cgroup/*/cgroup.stat")
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseMemcgCgroupStat(bytes.NewReader(data))
		if err != nil {
			fuzzseed.RequireOneLine(t, "parseMemcgCgroupStat", data, err)
			return
		}
		var again bytes.Buffer
		for _, key := range slices.Sorted(maps.Keys(got)) {
			if got[key] < 0 {
				t.Fatalf("negative count %s=%d from %q", key, got[key], data)
			}
			fmt.Fprintf(&again, "%s %d\n", key, got[key])
		}
		back, err := parseMemcgCgroupStat(&again)
		if err != nil {
			t.Fatalf("printed back as %q: %v", again.String(), err)
		}
		if diff := cmp.Diff(got, back); diff != "" {
			t.Fatalf("round trip of %q (-first +again):\n%s", data, diff)
		}
	})
}
