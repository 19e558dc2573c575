// Command gendocs writes the documentation that is generated from the code,
// so that it cannot drift from it:
//
//	docs/reference.md            every condition, reason and built-in log rule
//	                             (hostchecks.Specs(), cri.Specs(), rules.DefaultRules())
//	docs/configuration.md        the AgentConfig: defaults, every check and log
//	                             source with its settings (doc comments of the
//	                             code that reads them)
//	daemonset/base/config.yaml   the DaemonSet's ConfigMap: agent/defaults.yaml
//
// Run it from the repository root after changing a check, a rule or a
// default:
//
//	go run ./hack/gendocs
//
// Its test fails while any of these files is stale.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nodetriage/nodetriage/agent"
	"github.com/nodetriage/nodetriage/cri"
	"github.com/nodetriage/nodetriage/hostchecks"
	"github.com/nodetriage/nodetriage/probes"
	"github.com/nodetriage/nodetriage/probes/journal"
	"github.com/nodetriage/nodetriage/probes/kmsg"
	"github.com/nodetriage/nodetriage/probes/logfile"
	"github.com/nodetriage/nodetriage/probes/rules"
)

// Generated files, relative to the repository root.
const (
	referencePath     = "docs/reference.md"
	configurationPath = "docs/configuration.md"
	configMapPath     = "daemonset/base/config.yaml"
	readmePath        = "README.md"
	readmeBegin       = "<!-- BEGIN GENERATED: conditions (hack/gendocs; do not edit) -->\n"
	readmeEnd         = "<!-- END GENERATED: conditions -->"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	files, err := generate(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	for _, path := range sortedPaths(files) {
		full := filepath.Join(*root, path)
		if old, err := os.ReadFile(full); err == nil && bytes.Equal(old, files[path]) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(full, files[path], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
		fmt.Println("gendocs: wrote", path)
	}
}

// generate returns every generated file's content by path.
func generate(root string) (map[string][]byte, error) {
	// The same lists cmd/nodetriage wires (wiring.go): every check and log
	// source of this build.
	specs := append(hostchecks.Specs(), cri.Specs()...)
	streams := []probes.StreamSpec{kmsg.Spec(), journal.Spec(), logfile.Spec()}
	cfg, err := agent.ParseConfig(nil, agent.Catalog{Checks: specs, Streams: streams})
	if err != nil {
		return nil, fmt.Errorf("built-in configuration: %w", err)
	}
	var checkPkgs []*goPackage
	for _, dir := range []string{"hostchecks", "cri"} {
		p, err := parsePackage(filepath.Join(root, dir))
		if err != nil {
			return nil, err
		}
		checkPkgs = append(checkPkgs, p)
	}
	rulesPkg, err := parsePackage(filepath.Join(root, "probes", "rules"))
	if err != nil {
		return nil, err
	}
	var sources []sourceDoc
	for _, s := range []struct {
		dir      string
		defaults any
	}{
		{"probes/kmsg", kmsg.DefaultConfig()},
		{"probes/journal", journal.DefaultConfig()},
		{"probes/logfile", logfile.DefaultConfig()},
	} {
		p, err := parsePackage(filepath.Join(root, s.dir))
		if err != nil {
			return nil, err
		}
		sources = append(sources, sourceDoc{pkg: p, defaults: s.defaults})
	}
	for i := range sources {
		sources[i].spec = streams[i]
	}
	for _, s := range specs {
		found := false
		for _, p := range checkPkgs {
			if _, ok := p.specDocs()[s.Name]; ok {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("check %s: no documented function building its probes.Spec in hostchecks/ or cri/", s.Name)
		}
	}

	var reference, configuration strings.Builder
	writeReference(&reference, specs, rules.DefaultRules(), rulesPkg, agent.FormatDuration(cfg.QuietWindow))
	writeConfiguration(&configuration, cfg, specs, checkPkgs, sources, rulesPkg)
	readme, err := withReadmeBlock(filepath.Join(root, readmePath), readmeBlock(specs, rules.DefaultRules()))
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		referencePath:     []byte(reference.String()),
		configurationPath: []byte(configuration.String()),
		configMapPath:     agent.DefaultConfigYAML(),
		readmePath:        readme,
	}, nil
}

// withReadmeBlock returns the README with its generated block (between the
// BEGIN and END markers) replaced by block.
func withReadmeBlock(path, block string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := string(data)
	begin, end := strings.Index(text, readmeBegin), strings.Index(text, readmeEnd)
	if begin < 0 || end < begin {
		return nil, fmt.Errorf("%s: no %q … %q block", path, strings.TrimSpace(readmeBegin), readmeEnd)
	}
	return []byte(text[:begin+len(readmeBegin)] + block + text[end:]), nil
}

func sortedPaths(files map[string][]byte) []string {
	return []string{configMapPath, configurationPath, referencePath, readmePath}
}
