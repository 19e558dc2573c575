package rules

import (
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nodetriage/nodetriage/probes"
)

func TestLoad(t *testing.T) {
	user := settings(`{"rules": [{"name": "etcd-slow", "sources": ["kubelet"], "pattern": "slow fdatasync took (?P<took>\\S+)",
	  "reason": "EtcdSlowDisk", "message": "etcd fdatasync took ${took}", "remedy": "move /var/lib/etcd to a faster disk"}]}`)
	npd := filepath.Join("testdata", "npd", "docker-monitor.json")
	quiet := Options{Logger: slog.New(slog.DiscardHandler)}

	t.Run("defaults, user rules and NPD files in one engine", func(t *testing.T) {
		e, err := Load(user, []string{npd}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		var reasons []string
		for _, r := range e.Reasons() {
			reasons = append(reasons, r.Reason)
		}
		// One reason from each part: a default pack, the user's rule, the
		// NPD file.
		for _, want := range []string{"OOMKilling", "EtcdSlowDisk", "CorruptDockerImage"} {
			if !slices.Contains(reasons, want) {
				t.Errorf("reasons %v lack %s", reasons, want)
			}
		}
		got := e.Match(probes.Line{Source: probes.SourceKubelet, Text: "slow fdatasync took 2.5s"})
		if len(got) != 1 || got[0].Reason != "EtcdSlowDisk" || got[0].Message != "etcd fdatasync took 2.5s" {
			t.Errorf("user rule: got %+v", got)
		}
	})

	t.Run("an NPD file that does not load names its config entry", func(t *testing.T) {
		_, err := Load(user, []string{npd, filepath.Join(t.TempDir(), "missing.json")}, quiet)
		var fe *probes.FieldError
		if !errors.As(err, &fe) || fe.Field != "npdRuleFiles[1]" || !strings.Contains(fe.Reason, "missing.json") {
			t.Fatalf("got %v, want a FieldError for npdRuleFiles[1] naming the file", err)
		}
	})

	t.Run("a user rule that does not decode names its field", func(t *testing.T) {
		_, err := Load(settings(`{"rules": [{"name": "x"}]}`), nil, quiet)
		var fe *probes.FieldError
		if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "logs.rules[0]") {
			t.Fatalf("got %v, want a FieldError under logs.rules[0]", err)
		}
	})
}
