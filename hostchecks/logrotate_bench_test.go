package hostchecks

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nodetriage/nodetriage/probes"
)

// BenchmarkReadLogrotateConfig parses a Debian-like logrotate configuration
// with its includes.
func BenchmarkReadLogrotateConfig(b *testing.B) {
	root := copyLogrotateFixture(b, "testdata/logrotate/crosscheck/debian")
	conf := filepath.Join(root, "etc/logrotate.conf")
	b.ReportAllocs()
	for b.Loop() {
		cfg, err := readLogrotateConfig(probes.NewFS("/"), conf)
		if err != nil || len(cfg.Rules) != 6 {
			b.Fatalf("%v %v", cfg, err)
		}
	}
}

// BenchmarkLogRotationCheck is one periodic run of log-rotation on the
// healthy fixture node, with the logrotate configuration unchanged since the
// previous run (the cached path).
func BenchmarkLogRotationCheck(b *testing.B) {
	root := copyLogHostRoot(b, "testdata/log-rotation/healthy")
	setLogMtime(b, root, "var/lib/logrotate/status", time.Hour)
	check, err := LogRotationSpec().New(hostTestEnv(b, "log-rotation", root, hostTestEnvOptions{logger: slog.New(slog.DiscardHandler)}))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		findings, err := check.Check(context.Background())
		if err != nil || len(findings) != 0 {
			b.Fatalf("%v %v", findings, err)
		}
	}
}
