package hostchecks

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// mapLogrotateFS serves host paths ("/etc/x") from an fstest.MapFS ("etc/x")
// and, like probes.FS, names the host path in its errors.
type mapLogrotateFS fstest.MapFS

func (m mapLogrotateFS) ReadFile(name string) ([]byte, error) {
	data, err := fs.ReadFile(fstest.MapFS(m), strings.TrimPrefix(name, "/"))
	return data, mapLogrotateFSError(name, err)
}

func (m mapLogrotateFS) Stat(name string) (fs.FileInfo, error) {
	fi, err := fs.Stat(fstest.MapFS(m), strings.TrimPrefix(name, "/"))
	return fi, mapLogrotateFSError(name, err)
}

func (m mapLogrotateFS) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(fstest.MapFS(m), strings.TrimPrefix(name, "/"))
	return entries, mapLogrotateFSError(name, err)
}

func mapLogrotateFSError(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: name, Err: pe.Err}
	}
	return err
}

// lrRule builds an expected rule from the defaults.
func lrRule(file string, line int, patterns []string, edit func(o *logrotateOptions)) logrotateRule {
	r := logrotateRule{File: file, Line: line, Patterns: patterns, logrotateOptions: defaultLogrotateOptions()}
	if edit != nil {
		edit(&r.logrotateOptions)
	}
	return r
}

func TestParseLogrotateConfig(t *testing.T) {
	const f = "/etc/logrotate.conf"
	tests := []struct {
		name      string
		in        string
		want      []logrotateRule
		wantIssue []string // "line: msg" of every issue
	}{
		{
			name: "globals are inherited, the block overrides",
			in:   "weekly\nrotate 4\ncompress\n/var/log/a.log {\n  rotate 7\n}\n",
			want: []logrotateRule{lrRule(f, 4, []string{"/var/log/a.log"}, func(o *logrotateOptions) {
				o.Criterion, o.Rotate, o.Compress = rotateWeekly, 7, true
			})},
		},
		{
			name: "several paths, quotes, header over lines, comment inside header",
			in:   "\"/var/log/with space.log\" '/var/log/q.log'\n# a comment line\n/var/log/b.log\n{\n}\n",
			want: []logrotateRule{lrRule(f, 1, []string{"/var/log/with space.log", "/var/log/q.log", "/var/log/b.log"}, nil)},
		},
		{
			name: "backslash escapes",
			in:   `/var/log/a\ b.log "/var/log/x\"y.log" {` + "\n}\n",
			want: []logrotateRule{lrRule(f, 1, []string{"/var/log/a b.log", `/var/log/x"y.log`}, nil)},
		},
		{
			name: "size units and number bases",
			in: "/a {\n size 100\n}\n/b {\n size 100k\n}\n/c {\n size 10K\n}\n/d {\n size 5M\n}\n/e {\n size 2G\n}\n" +
				"/f {\n size 0x10\n}\n/g {\n size=010\n}\n/h {\n size +3k\n}\n",
			want: []logrotateRule{
				lrRule(f, 1, []string{"/a"}, func(o *logrotateOptions) { o.Size = 100 }),
				lrRule(f, 4, []string{"/b"}, func(o *logrotateOptions) { o.Size = 100 << 10 }),
				lrRule(f, 7, []string{"/c"}, func(o *logrotateOptions) { o.Size = 10 << 10 }),
				lrRule(f, 10, []string{"/d"}, func(o *logrotateOptions) { o.Size = 5 << 20 }),
				lrRule(f, 13, []string{"/e"}, func(o *logrotateOptions) { o.Size = 2 << 30 }),
				lrRule(f, 16, []string{"/f"}, func(o *logrotateOptions) { o.Size = 16 }),
				lrRule(f, 19, []string{"/g"}, func(o *logrotateOptions) { o.Size = 8 }),
				lrRule(f, 22, []string{"/h"}, func(o *logrotateOptions) { o.Size = 3 << 10 }),
			},
		},
		{
			name: "the last criterion wins; maxsize and minsize are separate",
			in:   "/a {\n size 1M\n daily\n}\n/b {\n daily\n size 1M\n}\n/c {\n hourly\n maxsize 1G\n minsize 1k\n}\n/d {\n weekly 3\n}\n/e {\n monthly\n yearly\n}\n",
			want: []logrotateRule{
				lrRule(f, 1, []string{"/a"}, func(o *logrotateOptions) { o.Criterion = rotateDaily }),
				lrRule(f, 5, []string{"/b"}, func(o *logrotateOptions) { o.Criterion, o.Size = rotateBySize, 1<<20 }),
				lrRule(f, 9, []string{"/c"}, func(o *logrotateOptions) { o.Criterion, o.MaxSize, o.MinSize = rotateHourly, 1<<30, 1<<10 }),
				lrRule(f, 14, []string{"/d"}, func(o *logrotateOptions) { o.Criterion = rotateWeekly }),
				lrRule(f, 17, []string{"/e"}, func(o *logrotateOptions) { o.Criterion = rotateYearly }),
			},
		},
		{
			name: "rotate counts, maxage, flags on one line, the last flag wins",
			in:   "/a {\n rotate -1\n maxage 14\n}\n/b {\n rotate 0x3\n copytruncate missingok compress nocopytruncate\n copytruncate\n}\n",
			want: []logrotateRule{
				lrRule(f, 1, []string{"/a"}, func(o *logrotateOptions) { o.Rotate, o.MaxAge = -1, 14 }),
				lrRule(f, 5, []string{"/b"}, func(o *logrotateOptions) {
					o.Rotate, o.CopyTruncate, o.MissingOK, o.Compress = 3, true, true, true
				}),
			},
		},
		{
			name: "scripts are skipped, braces inside them too; postrotate is noted",
			in:   "/a {\n postrotate\n   if [ -f x ]; then kill -HUP 1; fi }\n   rotate 99\n endscript\n rotate 2\n}\n/b {\n prerotate\n  echo\n  endscript\n}\n",
			want: []logrotateRule{
				lrRule(f, 1, []string{"/a"}, func(o *logrotateOptions) { o.Rotate, o.PostRotate = 2, true }),
				lrRule(f, 8, []string{"/b"}, nil),
			},
		},
		{
			name:      "values run to the end of the line; flags accept a trailing comment",
			in:        "/a {\n missingok # fine\n rotate 4 # not fine\n}\n/b {\n rotate 1\n}\n",
			want:      []logrotateRule{lrRule(f, 5, []string{"/b"}, func(o *logrotateOptions) { o.Rotate = 1 })},
			wantIssue: []string{"3: bad rotation count '4 # not fine'"},
		},
		{
			name:      "a bad value drops the block; unknown options are skipped",
			in:        "/a {\n size 10m\n}\n/b {\n frobnicate 3\n rotate 2\n}\n",
			want:      []logrotateRule{lrRule(f, 4, []string{"/b"}, func(o *logrotateOptions) { o.Rotate = 2 })},
			wantIssue: []string{"2: unknown unit 'm' (logrotate takes k, M or G)", "5: unknown option 'frobnicate' -- ignoring line"},
		},
		{
			name:      "after an error logrotate skips to a } in column 0, swallowing indented blocks",
			in:        "/a {\n rotate x\n  }\n/b {\n rotate 2\n}\n/c {\n}\n",
			want:      []logrotateRule{lrRule(f, 7, []string{"/c"}, nil)},
			wantIssue: []string{"2: bad rotation count 'x'"},
		},
		{
			name:      "a bad global value stops the file",
			in:        "/a {\n}\nsize 1T\n/b {\n}\n",
			want:      []logrotateRule{lrRule(f, 1, []string{"/a"}, nil)},
			wantIssue: []string{"3: unknown unit 'T' (logrotate takes k, M or G)"},
		},
		{
			name:      "a stray } stops the file",
			in:        "/a {\n}\n}\n/b {\n}\n",
			want:      []logrotateRule{lrRule(f, 1, []string{"/a"}, nil)},
			wantIssue: []string{"3: unexpected }"},
		},
		{
			name:      "bad weekday stops the file and drops the block",
			in:        "/a {\n weekly 9\n}\n/b {\n}\n",
			wantIssue: []string{"2: bad weekly directive ' 9'"},
		},
		{
			name:      "a file name inside a block",
			in:        "/a {\n /b {\n}\n",
			wantIssue: []string{"2: unexpected log filename"},
		},
		{
			name:      "no { before the end",
			in:        "/a\n missingok\n",
			wantIssue: []string{"1: missing '{' after log files definition"},
		},
		{
			name:      "script without endscript",
			in:        "/a {\n}\n/b {\n postrotate\n  echo\n}\n",
			want:      []logrotateRule{lrRule(f, 1, []string{"/a"}, nil)},
			wantIssue: []string{"4: prerotate, postrotate or preremove without endscript"},
		},
		{
			name: "a block left open at the end of the file is kept",
			in:   "/a {\n rotate 3\n",
			want: []logrotateRule{lrRule(f, 1, []string{"/a"}, func(o *logrotateOptions) { o.Rotate = 3 })},
		},
		{
			name:      "unterminated quote",
			in:        "\"/a {\n}\n",
			wantIssue: []string{"1: error parsing filename: unterminated \" quote"},
		},
		{
			name:      "odd lines and text after }",
			in:        "{\n*.log\n/a {\n} trailing\n",
			want:      []logrotateRule{lrRule(f, 3, []string{"/a"}, nil)},
			wantIssue: []string{"1: lines must begin with a keyword or a filename (possibly in double quotes)", "2: lines must begin with a keyword or a filename (possibly in double quotes)", "4: unexpected text after }"},
		},
		{
			name:      "tabooext inside a block is a block error",
			in:        "/a {\n tabooext + .x\n}\n",
			wantIssue: []string{"2: tabooext may not appear inside of log file definition"},
		},
		{
			name: "CRLF line ends",
			in:   "/a {\r\n rotate 5\r\n daily\r\n}\r\n",
			want: []logrotateRule{lrRule(f, 1, []string{"/a"}, func(o *logrotateOptions) { o.Rotate, o.Criterion = 5, rotateDaily })},
		},
		{name: "empty", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parseLogrotateConfig(f, []byte(tt.in))
			if diff := cmp.Diff(tt.want, cfg.Rules, cmp.AllowUnexported(logrotateRule{})); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			var issues []string
			for _, iss := range cfg.Issues {
				issues = append(issues, strings.TrimPrefix(iss.Error(), f+":"))
			}
			if diff := cmp.Diff(tt.wantIssue, issues); diff != "" {
				t.Errorf("issues (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadLogrotateConfigIncludes(t *testing.T) {
	fsys := mapLogrotateFS{
		"etc/logrotate.conf":         {Data: []byte("daily\nrotate 2\ninclude /etc/logrotate.d\n/var/log/after.log {\n}\ninclude extra.conf\ninclude /etc/missing\n/var/log/in.log {\n include /etc/block.conf\n}\n")},
		"etc/logrotate.d/a":          {Data: []byte("rotate 9\n/var/log/a.log {\n}\n")},
		"etc/logrotate.d/b.dpkg-old": {Data: []byte("/var/log/taboo.log {\n}\n")},
		"etc/logrotate.d/c~":         {Data: []byte("/var/log/taboo2.log {\n}\n")},
		"etc/logrotate.d/.hidden~":   {Data: []byte("/var/log/hidden.log {\n}\n")}, // a leading dot is not matched by *~
		"etc/logrotate.d/d-writable": {Data: []byte("/var/log/writable.log {\n}\n"), Mode: 0o666},
		"etc/logrotate.d/e-error":    {Data: []byte("rotate 50\n/var/log/e.log {\n size 1x\n}\n")},
		"etc/logrotate.d/f-empty":    {Data: []byte{}},
		"etc/logrotate.d/sub/g":      {Data: []byte("/var/log/sub.log {\n}\n")},
		"etc/extra.conf":             {Data: []byte("/var/log/extra.log {\n}\n")},
		"etc/block.conf":             {Data: []byte("hourly\nrotate 3\n")},
	}
	cfg, err := readLogrotateConfig(fsys, "/etc/logrotate.conf")
	if err != nil {
		t.Fatal(err)
	}
	daily := func(rotate int64) func(o *logrotateOptions) {
		return func(o *logrotateOptions) { o.Criterion, o.Rotate = rotateDaily, rotate }
	}
	want := []logrotateRule{
		lrRule("/etc/logrotate.d/.hidden~", 1, []string{"/var/log/hidden.log"}, daily(2)),
		lrRule("/etc/logrotate.d/a", 2, []string{"/var/log/a.log"}, daily(9)),
		// e-error had an error: its global "rotate 50" is undone.
		lrRule("/etc/logrotate.conf", 4, []string{"/var/log/after.log"}, daily(9)),
		lrRule("/etc/extra.conf", 1, []string{"/var/log/extra.log"}, daily(9)),
		lrRule("/etc/logrotate.conf", 8, []string{"/var/log/in.log"}, func(o *logrotateOptions) { o.Criterion, o.Rotate = rotateHourly, 3 }),
	}
	if diff := cmp.Diff(want, cfg.Rules, cmp.AllowUnexported(logrotateRule{})); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	var issues []string
	for _, iss := range cfg.Issues {
		issues = append(issues, iss.Error())
	}
	wantIssues := []string{
		"/etc/logrotate.d/d-writable: logrotate ignores it because it is writable by group or others (mode 0666)",
		"/etc/logrotate.d/e-error:3: unknown unit 'x' (logrotate takes k, M or G)",
		"/etc/logrotate.conf:7: include /etc/missing: file does not exist",
	}
	if diff := cmp.Diff(wantIssues, issues); diff != "" {
		t.Errorf("issues (-want +got):\n%s", diff)
	}
	wantSources := []string{"/etc/logrotate.conf", "/etc/logrotate.d", "/etc/logrotate.d/.hidden~", "/etc/logrotate.d/a",
		"/etc/logrotate.d/d-writable", "/etc/logrotate.d/e-error", "/etc/logrotate.d/f-empty", "/etc/logrotate.d/sub",
		"/etc/extra.conf", "/etc/missing", "/etc/block.conf"}
	if diff := cmp.Diff(wantSources, cfg.Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
}

func TestReadLogrotateConfigIncludeLoop(t *testing.T) {
	fsys := mapLogrotateFS{
		"etc/logrotate.conf": {Data: []byte("include /etc/a.conf\n/var/log/x.log {\n}\n")},
		"etc/a.conf":         {Data: []byte("include /etc/a.conf\n/var/log/a.log {\n}\n")},
	}
	cfg, err := readLogrotateConfig(fsys, "/etc/logrotate.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Rules) != 2 {
		t.Errorf("rules = %+v, want a.log and x.log", cfg.Rules)
	}
	if len(cfg.Issues) != 1 || !strings.Contains(cfg.Issues[0].Msg, "included from itself") {
		t.Errorf("issues = %v, want the loop reported once", cfg.Issues)
	}
}

func TestReadLogrotateConfigMissingMain(t *testing.T) {
	if _, err := readLogrotateConfig(mapLogrotateFS{}, "/etc/logrotate.conf"); err == nil || !strings.Contains(err.Error(), "/etc/logrotate.conf") {
		t.Errorf("err = %v, want one naming /etc/logrotate.conf", err)
	}
}

func TestParseLogrotateSize(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "100", want: 100},
		{in: "100k", want: 100 << 10},
		{in: "100K", want: 100 << 10},
		{in: "100M", want: 100 << 20},
		{in: "1G", want: 1 << 30},
		{in: "0x10", want: 16},
		{in: "0x10k", want: 16 << 10},
		{in: "010", want: 8},
		{in: "+5M", want: 5 << 20},
		{in: "100m", wantErr: "unknown unit 'm'"},
		{in: "1g", wantErr: "unknown unit 'g'"},
		{in: "1T", wantErr: "unknown unit 'T'"},
		{in: "5kB", wantErr: "unknown unit 'B'"},
		{in: "1.5M", wantErr: "bad size '1.5'"},
		{in: "-1", wantErr: "bad size '-1'"},
		{in: "08", wantErr: "bad size '08'"},
		{in: "1_000", wantErr: "bad size '1_000'"},
		{in: "100 M", wantErr: "bad size '100 '"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseLogrotateSize(tt.in)
			hostTestParsed(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestLogrotateRuleMatches(t *testing.T) {
	r := logrotateRule{Patterns: []string{"/var/log/containers/*.log", "/var/lib/docker/containers/*/*-json.log", "/var/log/app/[ab]?.txt"}}
	tests := []struct {
		path string
		want bool
	}{
		{"/var/log/containers/web_default_app-0123.log", true},
		{"/var/log/containers/.hidden.log", false}, // glob(3): * does not match a leading dot
		{"/var/log/containers/sub/x.log", false},   // * does not cross /
		{"/var/lib/docker/containers/abc/abc-json.log", true},
		{"/var/lib/docker/containers/abc/abc-json.log.1", false},
		{"/var/log/app/a1.txt", true},
		{"/var/log/app/c1.txt", false},
	}
	for _, tt := range tests {
		if got := r.Matches(tt.path); got != tt.want {
			t.Errorf("Matches(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
	cfg := &logrotateConfig{Rules: []logrotateRule{
		{File: "first", Patterns: []string{"/var/log/*.log"}},
		{File: "second", Patterns: []string{"/var/log/a.log"}},
	}}
	if got := cfg.RuleFor("/var/log/a.log"); got == nil || got.File != "first" {
		t.Errorf("RuleFor = %+v, want the first rule naming the file", got)
	}
	if got := cfg.RuleFor("/var/log/a.txt"); got != nil {
		t.Errorf("RuleFor an uncovered file = %+v, want nil", got)
	}
}
