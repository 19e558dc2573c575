// Package fuzzseed holds what the parsers' fuzz targets share: seeding a
// corpus from the real fixture files the parsers are tested on, and the rule
// that a parse error is one line (it ends up in a condition message, a log
// attribute or the CLI's one-line error).
package fuzzseed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// AddFiles adds every regular file matching the globs (relative to the
// package directory) to f's corpus. No match at all fails: a moved fixture
// must not silently leave a fuzzer without seeds.
func AddFiles(f *testing.F, globs ...string) {
	f.Helper()
	n := 0
	for _, g := range globs {
		paths, err := filepath.Glob(g)
		if err != nil {
			f.Fatalf("seed glob %s: %v", g, err)
		}
		for _, p := range paths {
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatalf("read seed %s: %v", p, err)
			}
			f.Add(data)
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no seed files match %s", strings.Join(globs, ", "))
	}
}

// RequireOneLine fails t when err's message is empty or spans lines; input
// is the data that produced it, for the failure message.
func RequireOneLine(t testing.TB, what string, input []byte, err error) {
	t.Helper()
	if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("%s of %q: error is not one line: %q", what, input, msg)
	}
}
