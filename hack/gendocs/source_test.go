package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePackage(t *testing.T) {
	p, err := parsePackage("testdata/fixture")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Package fixture is parsed (never compiled) by gendocs's tests.\n"; p.doc != want {
		t.Errorf("package doc = %q, want %q", p.doc, want)
	}

	wantSpecs := map[string]string{
		"disk": "DiskSpec is the disk check.\n\nIt reads statfs.\n  - a list item\n",
		"net":  "NetSpec is the net check, named by a literal.\n",
	}
	if diff := cmp.Diff(wantSpecs, p.specDocs()); diff != "" {
		t.Errorf("specDocs (-want +got):\n%s", diff)
	}

	name, fields := p.settingsStruct("checks.disk.settings")
	wantFields := []settingsField{
		{JSON: "paths", Type: "list of string", Doc: "Paths are checked."},
		{JSON: "warnPercent", Type: "number", Doc: "WarnPercent warns. Default 85."},
		{JSON: "window", Type: "duration", Doc: "Window is how far back."},
	}
	if name != "diskConfig" {
		t.Errorf("settings struct = %q, want diskConfig", name)
	}
	if diff := cmp.Diff(wantFields, fields); diff != "" {
		t.Errorf("settings fields (-want +got):\n%s", diff)
	}
	if name, fields := p.settingsStruct("checks.net.settings"); name != "" || fields != nil {
		t.Errorf("settings for an undocumented section = %q %v, want none", name, fields)
	}

	wantPacks := map[string]string{"kernel-log": "kernelRules is the kernel pack.\n"}
	if diff := cmp.Diff(wantPacks, p.packDocs()); diff != "" {
		t.Errorf("packDocs (-want +got):\n%s", diff)
	}
}

func TestParsePackageMissing(t *testing.T) {
	if _, err := parsePackage("testdata/nonexistent"); err == nil || !strings.Contains(err.Error(), "no Go source in testdata/nonexistent") {
		t.Errorf("parsePackage(missing) = %v, want an error naming the directory", err)
	}
}

func TestFriendlyType(t *testing.T) {
	for goType, want := range map[string]string{
		"metav1.Duration":          "duration",
		"logDuration":              "duration",
		"[]string":                 "list of string",
		"[]FileSpec":               "list of object (FileSpec)",
		"map[string]probes.Source": "mapping",
		"int":                      "integer",
		"float64":                  "number",
		"bool":                     "boolean",
		"probes.Severity":          "string",
		"logFillForecastConfig":    "object (logFillForecastConfig)",
	} {
		t.Run(goType, func(t *testing.T) {
			if got := friendlyType(goType); got != want {
				t.Errorf("friendlyType(%q) = %q, want %q", goType, got, want)
			}
		})
	}
}

func TestCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "—"},
		{"a | b", `a \| b`},
		{"two\nlines  spaced", "two lines spaced"},
	}
	for _, tt := range tests {
		if got := cell(tt.in); got != tt.want {
			t.Errorf("cell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
