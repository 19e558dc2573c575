package hostchecks

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/probes"
)

func TestParseSystemdSize(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{in: "1024", want: 1024},
		{in: "512B", want: 512},
		{in: "100K", want: 100 << 10},
		{in: "500M", want: 500 << 20},
		{in: "4G", want: 4 << 30},
		{in: "1T", want: 1 << 40},
		{in: "1.5G", want: 3 << 29},
		{in: "1G 512M", want: 3 << 29},
		{in: " 2 G ", want: 2 << 30},
		{in: "", wantErr: true},
		{in: "10%", wantErr: true}, // journald's SystemMaxUse= takes no percentage
		{in: "1g", wantErr: true},  // systemd's suffixes are upper case
		{in: "-1G", wantErr: true},
		{in: "G", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSystemdSize(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseSystemdSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseJournaldConf(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want journaldConfig
	}{
		{
			name: "debian default: all commented",
			in:   "[Journal]\n#Storage=auto\n#SystemMaxUse=\n",
			want: journaldConfig{},
		},
		{
			name: "limits set, later wins, other sections ignored",
			in:   "[Journal]\nSystemMaxUse=1G\nRuntimeMaxUse = 100M\nStorage=persistent\nSystemMaxUse=2G\n[Other]\nSystemMaxUse=9G\n",
			want: journaldConfig{
				SystemMaxUse:  journaldSetting{Bytes: 2 << 30, From: "j.conf:5"},
				RuntimeMaxUse: journaldSetting{Bytes: 100 << 20, From: "j.conf:3"},
				Storage:       "persistent",
			},
		},
		{
			name: "rejected values keep the previous one",
			in:   "[Journal]\nSystemMaxUse=1G\nSystemMaxUse=10%\n; comment\nbroken line\n",
			want: journaldConfig{
				SystemMaxUse: journaldSetting{Bytes: 1 << 30, From: "j.conf:2"},
				Ignored:      []string{"j.conf:3: SystemMaxUse=10%: invalid size \"10%\"", "j.conf:5: missing '='"},
			},
		},
		{
			name: "continued line",
			in:   "[Journal]\nSystemMaxUse=1G \\\n512M\n",
			want: journaldConfig{SystemMaxUse: journaldSetting{Bytes: 3 << 29, From: "j.conf:2"}},
		},
		{
			name: "outside [Journal]",
			in:   "SystemMaxUse=1G\n",
			want: journaldConfig{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got journaldConfig
			parseJournaldConf(&got, "j.conf", []byte(tt.in))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadJournaldConfig: drop-ins apply after the main file in name order,
// and a name in /etc masks the same name in /usr/lib.
func TestReadJournaldConfig(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"etc/systemd/journald.conf":                      "[Journal]\nSystemMaxUse=1G\nRuntimeMaxUse=50M\n",
		"usr/lib/systemd/journald.conf.d/10-size.conf":   "[Journal]\nSystemMaxUse=9G\n",
		"etc/systemd/journald.conf.d/10-size.conf":       "[Journal]\nSystemMaxUse=2G\n",
		"run/systemd/journald.conf.d/20-run.conf":        "[Journal]\nRuntimeMaxUse=60M\n",
		"usr/lib/systemd/journald.conf.d/30-vendor.conf": "[Journal]\nRuntimeMaxUse=70M\n",
		"etc/systemd/journald.conf.d/README":             "not a drop-in\n",
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readJournaldConfig(probes.NewFS(root))
	if err != nil {
		t.Fatal(err)
	}
	want := journaldConfig{
		SystemMaxUse:  journaldSetting{Bytes: 2 << 30, From: "/etc/systemd/journald.conf.d/10-size.conf:2"},
		RuntimeMaxUse: journaldSetting{Bytes: 70 << 20, From: "/usr/lib/systemd/journald.conf.d/30-vendor.conf:2"},
		Sources: []string{"/etc/systemd/journald.conf", "/etc/systemd/journald.conf.d/10-size.conf",
			"/run/systemd/journald.conf.d/20-run.conf", "/usr/lib/systemd/journald.conf.d/30-vendor.conf"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	empty, err := readJournaldConfig(probes.NewFS(t.TempDir()))
	if err != nil || empty.SystemMaxUse.From != "" {
		t.Errorf("no journald config at all: %+v, %v; want defaults", empty, err)
	}
}

func TestJournaldDefaults(t *testing.T) {
	tests := []struct {
		fs, wantMax, wantSlack uint64
	}{
		{fs: 10 << 30, wantMax: 1 << 30, wantSlack: 128 << 20},
		{fs: 1 << 30, wantMax: (1 << 30) / 10, wantSlack: (1 << 30) / 80},
		{fs: 500 << 30, wantMax: 4 << 30, wantSlack: 128 << 20},
	}
	for _, tt := range tests {
		if got := journaldDefaultMaxUse(tt.fs); got != tt.wantMax {
			t.Errorf("journaldDefaultMaxUse(%d) = %d, want %d", tt.fs, got, tt.wantMax)
		}
		if got := journaldSlack(tt.wantMax); got != tt.wantSlack {
			t.Errorf("journaldSlack(%d) = %d, want %d", tt.wantMax, got, tt.wantSlack)
		}
	}
}

func TestReadJournalUsage(t *testing.T) {
	root := t.TempDir()
	files := map[string]int{
		"var/log/journal/m1/system.journal":            4096,
		"var/log/journal/m1/system@0001-0002.journal~": 1000,
		"var/log/journal/m1/user-1000.journal":         500,
		"var/log/journal/m1/notes.txt":                 9999, // journald ignores it
		"var/log/journal/m2/system.journal":            300,
		"var/log/journal/stray.journal":                7,
	}
	for name, size := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readJournalUsage(probes.NewFS(root), "/var/log/journal")
	if err != nil {
		t.Fatal(err)
	}
	want := journalUsage{Bytes: 4096 + 1000 + 500 + 300 + 7, Files: 5, BySubdir: map[string]uint64{"m1": 5596, "m2": 300}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	none, err := readJournalUsage(probes.NewFS(root), "/run/log/journal")
	if err != nil || none.Bytes != 0 {
		t.Errorf("missing dir: %+v, %v", none, err)
	}
}
