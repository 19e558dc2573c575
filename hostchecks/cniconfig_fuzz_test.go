package hostchecks

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodetriage/nodetriage/internal/fuzzseed"
)

// FuzzParseCNIConfig: a CNI config either fails with a one-line error or
// yields bridge plugins with a bridge name, and writing those plugins back
// as a .conflist reads the same.
func FuzzParseCNIConfig(f *testing.F) {
	fuzzseed.AddFiles(f, "testdata/hairpin/*/etc/cni/net.d/*")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, ext := range cniConfExtensions {
			got, err := parseCNIConfig(ext, data)
			if err != nil {
				fuzzseed.RequireOneLine(t, "parseCNIConfig", data, err)
				continue
			}
			type plugin struct {
				Type        string          `json:"type"`
				Bridge      string          `json:"bridge,omitempty"`
				HairpinMode bool            `json:"hairpinMode,omitempty"`
				PromiscMode bool            `json:"promiscMode,omitempty"`
				Delegate    json.RawMessage `json:"delegate,omitempty"`
			}
			list := struct {
				Name    string   `json:"name"`
				Plugins []plugin `json:"plugins"`
			}{Name: got.Name, Plugins: []plugin{{Type: "portmap"}}}
			for _, br := range got.Bridges {
				if br.Bridge == "" || br.Bridge != strings.TrimSpace(br.Bridge) {
					t.Fatalf("%s config %q: bridge name %q", ext, data, br.Bridge)
				}
				switch br.Type {
				case "bridge":
					list.Plugins = append(list.Plugins, plugin{Type: "bridge", Bridge: br.Bridge, HairpinMode: br.HairpinMode, PromiscMode: br.PromiscMode})
				case "flannel":
					delegate, err := json.Marshal(plugin{Bridge: br.Bridge, HairpinMode: br.HairpinMode, PromiscMode: br.PromiscMode})
					if err != nil {
						t.Fatal(err)
					}
					list.Plugins = append(list.Plugins, plugin{Type: "flannel", Delegate: delegate})
				default:
					t.Fatalf("%s config %q: bridge plugin of type %q", ext, data, br.Type)
				}
			}
			again, err := json.Marshal(list)
			if err != nil {
				t.Fatal(err)
			}
			back, err := parseCNIConfig(".conflist", again)
			if err != nil {
				t.Fatalf("%s config %q written back as %s: %v", ext, data, again, err)
			}
			if diff := cmp.Diff(got, back); diff != "" {
				t.Fatalf("%s config %q written back as %s (-first +again):\n%s", ext, data, again, diff)
			}
		}
	})
}
