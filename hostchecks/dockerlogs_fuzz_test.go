package hostchecks

import (
	"encoding/json"
	"testing"

	"github.com/nodetriage/nodetriage/internal/fuzzseed"
)

// FuzzParseDockerDaemonConfig: daemon.json either fails with a one-line
// error or has a log-opts max-size that is "unlimited" (-1) or a size in
// bytes, never another negative number; written back, it reads the same.
func FuzzParseDockerDaemonConfig(f *testing.F) {
	fuzzseed.AddFiles(f, "testdata/*/*/etc/docker/daemon.json")
	for _, size := range []string{"10m", "1g", "512k", "1024", "-1", "1.5M", "100MiB"} {
		f.Add([]byte(`{"log-driver":"json-file","log-opts":{"max-size":"` + size + `","max-file":"3"}}`))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseDockerDaemonConfig(data)
		if err != nil {
			fuzzseed.RequireOneLine(t, "parseDockerDaemonConfig", data, err)
			return
		}
		size, err := c.MaxSizeBytes()
		if err != nil {
			t.Fatalf("accepted %q but max-size does not parse: %v", data, err)
		}
		if size < -1 {
			t.Fatalf("max-size %q read as %d bytes from %q", c.LogOpts["max-size"], size, data)
		}
		again, err := json.Marshal(map[string]any{"log-driver": c.LogDriver, "log-opts": c.LogOpts})
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseDockerDaemonConfig(again)
		if err != nil {
			t.Fatalf("written back as %s: %v", again, err)
		}
		if back.Driver() != c.Driver() {
			t.Fatalf("driver %q written back reads %q", c.Driver(), back.Driver())
		}
		if size2, _ := back.MaxSizeBytes(); size2 != size {
			t.Fatalf("max-size %d written back reads %d", size, size2)
		}
	})
}

// FuzzParseDockerSize: a size dockerd accepts is a non-negative byte count.
func FuzzParseDockerSize(f *testing.F) {
	for _, s := range []string{"10m", "1g", "512k", "1024", "1.5M", "100MiB", "8388607p", "1 kb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		n, err := parseDockerSize(v)
		if err != nil {
			fuzzseed.RequireOneLine(t, "parseDockerSize", []byte(v), err)
			return
		}
		if n < 0 {
			t.Fatalf("size %q read as %d bytes", v, n)
		}
	})
}
