package hostchecks

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/probes"
)

// logrotateDebugRule is what `logrotate --debug` says about one rule, and
// what the parser's rule must say too.
type logrotateDebugRule struct {
	Files     []string
	Criterion string // size, hourly, daily, weekly, monthly, yearly
	Size      uint64 // for the size criterion
	Rotate    int64  // -1: logrotate prints no rotation count
	MinSize   uint64
	MaxSize   uint64
}

var (
	logrotateDebugRuleRE = regexp.MustCompile(`(?s)^(.*?)\s+(?:(\d+) bytes|after 1 days|(hourly|weekly|monthly|yearly)) ` +
		`(?:\((\d+) rotations\)\n|\(no old logs will be kept\)\n)?empty log files are (?:not )?rotated, ([^\n]*?)old logs are`)
	logrotateDebugMinSizeRE = regexp.MustCompile(`only log files >= (\d+) bytes are rotated`)
	logrotateDebugMaxSizeRE = regexp.MustCompile(`log files >= (\d+) are rotated earlier`)
	logrotateDebugErrorRE   = regexp.MustCompile(`^error: (\S+?):(\d+)[ ,]`)
)

// parseLogrotateDebug reads the "rotating pattern" sections of logrotate -d
// output.
func parseLogrotateDebug(t *testing.T, out string) []logrotateDebugRule {
	t.Helper()
	var rules []logrotateDebugRule
	chunks := strings.Split(out, "\nrotating pattern: ")
	for _, chunk := range chunks[1:] {
		m := logrotateDebugRuleRE.FindStringSubmatch(chunk)
		if m == nil {
			t.Fatalf("cannot read logrotate -d section:\n%s", chunk)
		}
		r := logrotateDebugRule{Rotate: -1}
		switch {
		case m[2] != "":
			r.Criterion, r.Size = "size", mustParseUint(t, m[2])
		case m[3] != "":
			r.Criterion = m[3]
		default:
			r.Criterion = "daily"
		}
		switch {
		case m[4] != "":
			r.Rotate = int64(mustParseUint(t, m[4]))
		case strings.Contains(chunk, "(no old logs will be kept)"):
			r.Rotate = 0
		}
		if mm := logrotateDebugMinSizeRE.FindStringSubmatch(m[5]); mm != nil {
			r.MinSize = mustParseUint(t, mm[1])
		}
		if mm := logrotateDebugMaxSizeRE.FindStringSubmatch(m[5]); mm != nil {
			r.MaxSize = mustParseUint(t, mm[1])
		}
		for line := range strings.SplitSeq(chunk, "\n") {
			if f, ok := strings.CutPrefix(line, "considering log "); ok {
				r.Files = append(r.Files, f)
			}
		}
		rules = append(rules, r)
	}
	return rules
}

func mustParseUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// expandLikeLogrotate turns parsed rules into what logrotate -d lists: each
// pattern globbed (a pattern matching nothing stays as written), directories
// left out, files already taken by an earlier rule left out.
func expandLikeLogrotate(t *testing.T, rules []logrotateRule) []logrotateDebugRule {
	t.Helper()
	claimed := map[string]bool{}
	var out []logrotateDebugRule
	for _, r := range rules {
		d := logrotateDebugRule{Criterion: string(r.Criterion), Rotate: r.Rotate, MinSize: r.MinSize, MaxSize: r.MaxSize}
		if r.Criterion == rotateBySize {
			d.Size = r.Size
		}
		if d.Rotate < -1 {
			t.Fatalf("rotate %d", d.Rotate)
		}
		for _, pat := range r.Patterns {
			matches, err := filepath.Glob(pat)
			if err != nil {
				t.Fatalf("glob %s: %v", pat, err)
			}
			if len(matches) == 0 {
				matches = []string{pat}
			}
			for _, m := range matches {
				if fi, err := os.Lstat(m); err == nil && fi.IsDir() {
					continue
				}
				if claimed[m] || slices.Contains(d.Files, m) {
					continue
				}
				d.Files = append(d.Files, m)
			}
		}
		for _, f := range d.Files {
			claimed[f] = true
		}
		out = append(out, d)
	}
	return out
}

// copyLogrotateFixture copies a testdata tree to a temp dir, replacing
// @ROOT@ with the temp dir in every file under etc/.
func copyLogrotateFixture(t testing.TB, src string) string {
	t.Helper()
	root := t.TempDir()
	hostTestCopyTree(t, src, root, func(rel string, data []byte) []byte {
		if strings.HasPrefix(rel, "etc/") {
			return []byte(strings.ReplaceAll(string(data), "@ROOT@", root))
		}
		return data
	})
	if err := os.MkdirAll(filepath.Join(root, "var/log"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func requireLogrotate(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("logrotate")
	if err != nil {
		t.Fatal("logrotate not found on PATH: apt-get install logrotate")
	}
	return bin
}

// TestLogrotateParserAgreesWithLogrotateDebug runs the real logrotate in
// debug mode (it changes nothing, and reads only the config and state file
// given) on each config under testdata/logrotate/crosscheck and checks that
// the parser finds the same rules with the same files, criterion, sizes and
// rotation count, and complains about the same lines.
func TestLogrotateParserAgreesWithLogrotateDebug(t *testing.T) {
	bin := requireLogrotate(t)
	tests := []struct {
		name string
		// writable are files made group/world writable, which logrotate
		// ignores (git does not keep such modes).
		writable []string
	}{
		{name: "basic"},
		{name: "includes", writable: []string{"etc/logrotate.d/z-writable"}},
		{name: "precedence"},
		{name: "unbounded"},
		{name: "errors"},
		{name: "missing-brace"},
		{name: "globs"},
		{name: "taboo"},
		{name: "taboo-replace"},
		{name: "stray-brace"},
		{name: "debian"},
		{name: "errors-tail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyLogrotateFixture(t, filepath.Join("testdata/logrotate/crosscheck", tt.name))
			for _, w := range tt.writable {
				if err := os.Chmod(filepath.Join(root, w), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			conf := filepath.Join(root, "etc/logrotate.conf")
			cmd := exec.Command(bin, "--debug", "--state", filepath.Join(root, "state"), conf)
			cmd.Env = append(os.Environ(), "LC_ALL=C")
			outBytes, _ := cmd.CombinedOutput() // exits 1 when a config has errors
			out := string(outBytes)
			if !strings.Contains(out, "reading config file") {
				t.Fatalf("logrotate did not read %s:\n%s", conf, out)
			}
			want := parseLogrotateDebug(t, out)

			cfg, err := readLogrotateConfig(probes.NewFS("/"), conf)
			if err != nil {
				t.Fatal(err)
			}
			got := expandLikeLogrotate(t, cfg.Rules)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rules differ from logrotate --debug (-want +got):\n%s\nlogrotate said:\n%s", diff, out)
			}

			var wantErrs, gotErrs []string
			for line := range strings.SplitSeq(out, "\n") {
				// The parser leaves duplicates to RuleFor (first rule wins).
				if strings.Contains(line, "duplicate log entry") {
					continue
				}
				if m := logrotateDebugErrorRE.FindStringSubmatch(line); m != nil {
					wantErrs = append(wantErrs, filepath.Base(m[1])+":"+m[2])
				}
			}
			for _, iss := range cfg.Issues {
				// logrotate names these without a line number.
				if iss.Line == 0 || iss.IgnoredFile || strings.HasPrefix(iss.Msg, "prerotate, postrotate") || strings.HasPrefix(iss.Msg, "include ") {
					continue
				}
				gotErrs = append(gotErrs, fmt.Sprintf("%s:%d", filepath.Base(iss.File), iss.Line))
			}
			t.Logf("logrotate --debug: %d rules, errors at %v", len(want), wantErrs)
			if diff := cmp.Diff(wantErrs, gotErrs); diff != "" {
				t.Errorf("lines with errors differ from logrotate --debug (-want +got):\n%s\nissues: %v\nlogrotate said:\n%s", diff, cfg.Issues, out)
			}
		})
	}
}
