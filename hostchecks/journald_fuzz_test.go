package hostchecks

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/nodetriage/nodetriage/internal/fuzzseed"
)

// FuzzParseJournaldConf: any journald.conf text is read without failing;
// every value it keeps or ignores points into the file, and a
// "SystemMaxUse=" appended in a fresh [Journal] section wins, as later
// assignments do in systemd.
func FuzzParseJournaldConf(f *testing.F) {
	fuzzseed.AddFiles(f, "testdata/log-rotation/*/etc/systemd/journald.conf", "testdata/log-rotation/*/etc/systemd/journald.conf.d/*")
	const name = "/etc/systemd/journald.conf"
	f.Fuzz(func(t *testing.T, data []byte) {
		var cfg journaldConfig
		parseJournaldConf(&cfg, name, data)
		lines := strings.Count(string(data), "\n") + 1
		for _, s := range []journaldSetting{cfg.SystemMaxUse, cfg.RuntimeMaxUse} {
			if s.From == "" {
				continue
			}
			n, err := strconv.Atoi(strings.TrimPrefix(s.From, name+":"))
			if err != nil || n < 1 || n > lines {
				t.Fatalf("setting from %q outside the %d-line file %q", s.From, lines, data)
			}
		}
		for _, msg := range cfg.Ignored {
			if !strings.HasPrefix(msg, name+":") || strings.Contains(msg, "\n") {
				t.Fatalf("ignored value %q is not one line naming the file", msg)
			}
		}

		// A blank line ends any backslash continuation left open at the end.
		const want = 3 << 30
		again := cfg
		again.Ignored = nil
		parseJournaldConf(&again, name, fmt.Appendf(append(data, "\n\n"...), "[Journal]\nSystemMaxUse=%d\n", want))
		if again.SystemMaxUse.Bytes != want {
			t.Fatalf("appended SystemMaxUse=%d read as %d after %q", want, again.SystemMaxUse.Bytes, data)
		}
	})
}
