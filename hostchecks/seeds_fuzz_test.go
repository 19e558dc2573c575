package hostchecks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addFileSeeds adds every fixture file matching the globs (relative to the
// package directory) to the fuzz corpus, so the fuzzers start from the real
// files the checks are tested on. No match at all fails: a moved fixture
// must not silently leave a fuzzer without seeds.
func addFileSeeds(f *testing.F, globs ...string) {
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

// requireOneLine fails when an error message is empty or spans lines: it
// ends up in a condition message, a log attribute or the CLI's one-line
// error.
func requireOneLine(t *testing.T, what string, err error) {
	t.Helper()
	if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("%s: error is not one line: %q", what, msg)
	}
}
