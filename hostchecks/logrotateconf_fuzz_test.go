package hostchecks

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/internal/fuzzseed"
)

// FuzzParseLogrotateConfig: any text parses (logrotate never rejects a whole
// config) into rules and issues that point into the file, with values
// logrotate could hold, and a leading comment line only moves every line
// number down by one.
func FuzzParseLogrotateConfig(f *testing.F) {
	fuzzseed.AddFiles(f,
		"testdata/logrotate/crosscheck/*/etc/logrotate.conf",
		"testdata/logrotate/crosscheck/*/etc/logrotate.d/*",
		"testdata/logrotate/crosscheck/*/etc/*/*",
		"testdata/log-rotation/*/etc/logrotate.conf",
		"testdata/log-rotation/*/etc/logrotate.d/*",
	)
	const name = "/etc/logrotate.d/fuzz"
	f.Fuzz(func(t *testing.T, data []byte) {
		got := parseLogrotateConfig(name, data)
		lines := strings.Count(string(data), "\n") + 1
		for _, r := range got.Rules {
			if r.File != name || r.Line < 1 || r.Line > lines {
				t.Fatalf("rule at %s:%d outside the %d-line file %q", r.File, r.Line, lines, data)
			}
			if len(r.Patterns) == 0 || slices.Contains(r.Patterns, "") {
				t.Fatalf("rule at line %d has patterns %q", r.Line, r.Patterns)
			}
			if !slices.Contains([]logrotateCriterion{rotateBySize, rotateHourly, rotateDaily, rotateWeekly, rotateMonthly, rotateYearly}, r.Criterion) {
				t.Fatalf("rule at line %d: criterion %q", r.Line, r.Criterion)
			}
			if r.Rotate < -1 {
				t.Fatalf("rule at line %d: rotate %d", r.Line, r.Rotate)
			}
		}
		for _, iss := range got.Issues {
			if iss.File != name || iss.Line < 0 || iss.Line > lines {
				t.Fatalf("issue %q outside the %d-line file %q", iss.Error(), lines, data)
			}
			if !strings.HasPrefix(iss.Error(), name+":") || strings.Contains(iss.Error(), "\n") {
				t.Fatalf("issue is not one line naming the file: %q", iss.Error())
			}
		}

		shifted := parseLogrotateConfig(name, append([]byte("# moved down one line\n"), data...))
		want := *got
		want.Rules = slices.Clone(got.Rules)
		for i := range want.Rules {
			want.Rules[i].Line++
		}
		want.Issues = slices.Clone(got.Issues)
		for i := range want.Issues {
			if want.Issues[i].Line > 0 {
				want.Issues[i].Line++
			}
		}
		if diff := cmp.Diff(&want, shifted, cmp.AllowUnexported(logrotateRule{})); diff != "" {
			t.Fatalf("a leading comment changed more than line numbers in %q (-want +got):\n%s", data, diff)
		}
	})
}

// TestSplitLogrotatePatternsLikePopt pins the header splitting the fuzzer
// questioned against what logrotate 3.21 (popt) does with the same block
// headers, checked by hand with logrotate -d: empty quoted words vanish, a
// header of only those or ending in a backslash is "error parsing
// filename", and every isspace(3) byte separates.
func TestSplitLogrotatePatternsLikePopt(t *testing.T) {
	tests := []struct {
		header  string
		want    []string
		wantErr bool
	}{
		{header: `"" `, wantErr: true},
		{header: `"" "" `, wantErr: true},
		{header: `/var/log/x.log "" `, want: []string{"/var/log/x.log"}},
		{header: `/var/log/x.log "" /var/log/y.log `, want: []string{"/var/log/x.log", "/var/log/y.log"}},
		{header: `/var/log/a\`, wantErr: true},
		{header: "/var/log/a\v/var/log/b\f/var/log/c ", want: []string{"/var/log/a", "/var/log/b", "/var/log/c"}},
		{header: `"/var/log/with space.log" /var/log/esc\ aped `, want: []string{"/var/log/with space.log", "/var/log/esc aped"}},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, err := splitLogrotatePatterns(tt.header)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("splitLogrotatePatterns(%q) = %q, want an error", tt.header, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("splitLogrotatePatterns(%q): %v", tt.header, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("splitLogrotatePatterns(%q) (-want +got):\n%s", tt.header, diff)
			}
		})
	}
}
