package cri

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/internal/fuzzseed"
)

// FuzzParseContainerdConfig: a containerd config.toml (any version) either
// fails with a one-line error or yields a version, imports and sandbox image
// sections that, written back as TOML, read the same.
func FuzzParseContainerdConfig(f *testing.F) {
	fuzzseed.AddFiles(f, "testdata/containerd/*/etc/containerd/*.toml", "testdata/containerd/*/etc/containerd/*/*.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseContainerdConfig(data)
		if err != nil {
			fuzzseed.RequireOneLine(t, "parseContainerdConfig", data, err)
			return
		}
		var again strings.Builder
		fmt.Fprintf(&again, "version = %d\n", got.Version)
		if got.Imports != nil {
			quoted := make([]string, len(got.Imports))
			for i, imp := range got.Imports {
				q, ok := tomlString(imp)
				if !ok {
					return
				}
				quoted[i] = q
			}
			fmt.Fprintf(&again, "imports = [%s]\n", strings.Join(quoted, ", "))
		}
		for _, s := range []struct {
			section containerdSection
			table   string
			key     string
		}{
			{got.V1CRI, `plugins.cri`, "sandbox_image"},
			{got.V2CRI, `plugins."io.containerd.grpc.v1.cri"`, "sandbox_image"},
			{got.V3, `plugins."io.containerd.cri.v1.images".pinned_images`, "sandbox"},
		} {
			if !s.section.Present {
				continue
			}
			fmt.Fprintf(&again, "[%s]\n", s.table)
			if s.section.SandboxImage != "" {
				q, ok := tomlString(s.section.SandboxImage)
				if !ok {
					return
				}
				fmt.Fprintf(&again, "%s = %s\n", s.key, q)
			}
		}
		back, err := parseContainerdConfig([]byte(again.String()))
		if err != nil {
			t.Fatalf("%q written back as %q: %v", data, again.String(), err)
		}
		if diff := cmp.Diff(got, back); diff != "" {
			t.Fatalf("%q written back as %q (-first +again):\n%s", data, again.String(), diff)
		}
	})
}

// FuzzParseCRIOPauseImage: a CRI-O config either fails with a one-line
// error or says whether it sets [crio.image] pause_image, and the value
// written back reads the same.
func FuzzParseCRIOPauseImage(f *testing.F) {
	fuzzseed.AddFiles(f, "testdata/crio/*/etc/crio/crio.conf", "testdata/crio/*/etc/crio/crio.conf.d/*")
	f.Fuzz(func(t *testing.T, data []byte) {
		ref, set, err := parseCRIOPauseImage(data)
		if err != nil {
			fuzzseed.RequireOneLine(t, "parseCRIOPauseImage", data, err)
			return
		}
		if !set {
			if ref != "" {
				t.Fatalf("%q: pause image %q without being set", data, ref)
			}
			return
		}
		q, ok := tomlString(ref)
		if !ok {
			return
		}
		again := "[crio.image]\npause_image = " + q + "\n"
		ref2, set2, err := parseCRIOPauseImage([]byte(again))
		if err != nil || !set2 || ref2 != ref {
			t.Fatalf("%q written back as %q reads %q, %v, %v", data, again, ref2, set2, err)
		}
	})
}

// tomlString writes s as a TOML basic string; false when s is not UTF-8,
// which TOML cannot carry.
func tomlString(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String(), true
}
