package hostchecks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodetriage/nodetriage/probes"
)

// TestErrorsNameHostPaths: a file the checks cannot read is named as the
// host shows it (/etc/docker/daemon.json), never by its path under the host
// root. Root reads everything, so the failures are a directory where a file
// belongs and a file where a directory belongs.
func TestErrorsNameHostPaths(t *testing.T) {
	tests := []struct {
		name  string
		dirs  []string          // host directories to create
		files map[string]string // host files to create
		run   func(t *testing.T, root string) error
		want  string
	}{
		{
			name: "journald.conf is a directory",
			dirs: []string{journaldMainConfig},
			run: func(t *testing.T, root string) error {
				_, err := readJournaldConfig(probes.NewFS(root))
				return err
			},
			want: "read /etc/systemd/journald.conf: is a directory",
		},
		{
			name:  "a journald drop-in directory is a file",
			files: map[string]string{journaldMainConfig: "[Journal]\n", journaldDropInDirs[0]: ""},
			run: func(t *testing.T, root string) error {
				_, err := readJournaldConfig(probes.NewFS(root))
				return err
			},
			want: "open " + journaldDropInDirs[0] + ": not a directory",
		},
		{
			name:  "the journal directory is a file",
			files: map[string]string{journaldPersistentDir: ""},
			run: func(t *testing.T, root string) error {
				_, err := readJournalUsage(probes.NewFS(root), journaldPersistentDir)
				return err
			},
			want: "open /var/log/journal: not a directory",
		},
		{
			name: "daemon.json is a directory",
			dirs: []string{dockerDaemonConfigPath},
			run: func(t *testing.T, root string) error {
				_, err := readDockerLogConfig(probes.NewFS(root))
				return err
			},
			want: "read /etc/docker/daemon.json: is a directory",
		},
		{
			name:  "daemon.json is too large",
			files: map[string]string{dockerDaemonConfigPath: strings.Repeat(" ", dockerConfigMaxBytes+1)},
			run: func(t *testing.T, root string) error {
				_, err := readDockerLogConfig(probes.NewFS(root))
				return err
			},
			want: "read /etc/docker/daemon.json: larger than 1048576 bytes",
		},
		{
			name: "logrotate.conf is a directory",
			dirs: []string{logrotateMainConfig},
			run: func(t *testing.T, root string) error {
				_, err := readLogrotateConfig(probes.NewFS(root), logrotateMainConfig)
				return err
			},
			want: "read logrotate config: read /etc/logrotate.conf: is a directory",
		},
		{
			name:  "the logrotate state directory is a file",
			files: map[string]string{logrotateStateDir: ""},
			run: func(t *testing.T, root string) error {
				check := hostTestNewCheck(t, LogRotationSpec(), hostTestEnv(t, "log-rotation", root, hostTestEnvOptions{}))
				_, err := check.(*logRotationCheck).logrotateNotRunning()
				return err
			},
			want: "stat /var/lib/logrotate/status: not a directory",
		},
		{
			name:  "a log filesystem path is under a file",
			files: map[string]string{"/var": ""},
			run: func(t *testing.T, root string) error {
				check := hostTestNewCheck(t, LogFilesystemSpec(), hostTestEnv(t, "log-filesystem", root, hostTestEnvOptions{}))
				_, err := check.Check(context.Background())
				return err
			},
			want: "statfs /var/log: not a directory",
		},
		{
			name:  "the pod log directory is a file",
			files: map[string]string{"/var/log/pods": ""},
			run: func(t *testing.T, root string) error {
				check := hostTestNewCheck(t, ContainerLogsSpec(), hostTestEnv(t, "container-logs", root, hostTestEnvOptions{}))
				_, err := check.(*containerLogsCheck).podLogs(context.Background(), &containerLogWalk{left: 10}, 0)
				return err
			},
			want: "read /var/log/pods: not a directory",
		},
		{
			name: "the memory cgroup hierarchy is missing",
			run: func(t *testing.T, root string) error {
				check := hostTestNewCheck(t, MemcgSpec(), hostTestEnv(t, MemcgCheckName, root, hostTestEnvOptions{}))
				_, err := check.(*memcgCheck).countLiveV1(context.Background(), "/sys/fs/cgroup/memory")
				return err
			},
			want: "memory cgroup hierarchy: stat /sys/fs/cgroup/memory: no such file or directory",
		},
		{
			name:  "the memory cgroup hierarchy is a file",
			files: map[string]string{"/sys/fs/cgroup/memory": ""},
			run: func(t *testing.T, root string) error {
				check := hostTestNewCheck(t, MemcgSpec(), hostTestEnv(t, MemcgCheckName, root, hostTestEnvOptions{}))
				_, err := check.(*memcgCheck).countLiveV1(context.Background(), "/sys/fs/cgroup/memory")
				return err
			},
			want: "walk /sys/fs/cgroup/memory: list /sys/fs/cgroup/memory: not a directory",
		},
		{
			name: "nf_conntrack_max is a directory",
			dirs: []string{"/proc/sys/net/netfilter/nf_conntrack_max"},
			run: func(t *testing.T, root string) error {
				_, err := conntrackReadUint(probes.NewFS(root), "/proc/sys/net/netfilter/nf_conntrack_max")
				return err
			},
			want: "read /proc/sys/net/netfilter/nf_conntrack_max: is a directory",
		},
		{
			name:  "the CNI config directory is a file",
			files: map[string]string{"/etc/cni/net.d": ""},
			run: func(t *testing.T, root string) error {
				_, _, err := loadCNINetwork(probes.NewFS(root), "/etc/cni/net.d")
				return err
			},
			want: "list CNI config dir: open /etc/cni/net.d: not a directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range tt.dirs {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			hostTestWriteFiles(t, root, tt.files)
			err := tt.run(t, root)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}
