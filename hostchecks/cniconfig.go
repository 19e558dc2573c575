package hostchecks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/nodetriage/nodetriage/probes"
)

// cniDefaultBridge is the bridge plugin's default bridge name
// (containernetworking/plugins plugins/main/bridge: defaultBrName).
const cniDefaultBridge = "cni0"

// cniConfExtensions are the file types libcni loads from the conf dir
// (libcni.ConfFiles as called by containerd's go-cni and CRI-O's ocicni).
var cniConfExtensions = []string{".conf", ".conflist", ".json"}

// cniNetwork is the pod network the runtime uses: the first CNI config file.
type cniNetwork struct {
	// File is the host path of the config file.
	File string
	// Name is the network's "name".
	Name string
	// Bridges are the bridge plugins in it (normally one), including the
	// bridge that flannel delegates to.
	Bridges []cniBridgePlugin
}

// cniBridgePlugin is what one bridge plugin entry asks of its bridge.
type cniBridgePlugin struct {
	// Type is the plugin as written: "bridge", or "flannel" delegating to it.
	Type        string
	Bridge      string
	HairpinMode bool
	PromiscMode bool
}

// cniPluginConf is the part of a plugin's config this package reads.
type cniPluginConf struct {
	Type        string          `json:"type"`
	Bridge      string          `json:"bridge"`
	HairpinMode bool            `json:"hairpinMode"`
	PromiscMode bool            `json:"promiscMode"`
	Delegate    json.RawMessage `json:"delegate"`
}

// loadCNINetwork reads the config the container runtime picks from a CNI conf
// dir: the first *.conf, *.conflist or *.json file in lexical order, as
// libcni.ConfFiles sorts them. found is false when the dir is missing or holds
// none. A first file that does not parse is an error: the runtime fails on it
// too.
func loadCNINetwork(host probes.FS, dir string) (net cniNetwork, found bool, err error) {
	entries, err := host.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return cniNetwork{}, false, nil
	}
	if err != nil {
		return cniNetwork{}, false, fmt.Errorf("list CNI config dir: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() || !slices.Contains(cniConfExtensions, path.Ext(e.Name())) {
			continue
		}
		names = append(names, e.Name())
	}
	if len(names) == 0 {
		return cniNetwork{}, false, nil
	}
	slices.Sort(names)
	file := path.Join(dir, names[0])
	data, err := host.ReadFile(file)
	if err != nil {
		return cniNetwork{}, false, fmt.Errorf("read CNI config: %w", err)
	}
	net, err = parseCNIConfig(path.Ext(file), data)
	if err != nil {
		return cniNetwork{}, false, fmt.Errorf("CNI config %s: %w", file, err)
	}
	net.File = file
	return net, true, nil
}

// parseCNIConfig parses a network config: a plugin list (.conflist, or any
// file with a "plugins" array) or a single plugin (.conf, .json). Only the
// bridge plugin's fields are read; other plugins are kept out of the result.
func parseCNIConfig(ext string, data []byte) (cniNetwork, error) {
	var top struct {
		Name    string            `json:"name"`
		Plugins []json.RawMessage `json:"plugins"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return cniNetwork{}, fmt.Errorf("parse JSON: %w", err)
	}
	net := cniNetwork{Name: top.Name}
	isList := ext == ".conflist" || top.Plugins != nil
	plugins := top.Plugins
	if !isList {
		plugins = []json.RawMessage{data}
	}
	if len(plugins) == 0 {
		return cniNetwork{}, errors.New("plugin list is empty")
	}
	for i, raw := range plugins {
		var p cniPluginConf
		if err := json.Unmarshal(raw, &p); err != nil {
			return cniNetwork{}, fmt.Errorf("plugin %d: %w", i, err)
		}
		if p.Type == "" {
			return cniNetwork{}, fmt.Errorf("plugin %d has no type", i)
		}
		switch p.Type {
		case "bridge":
			net.Bridges = append(net.Bridges, p.bridgePlugin("bridge"))
		case "flannel":
			// flannel hands its delegate to the bridge plugin unless the
			// delegate names another type (plugins/meta/flannel).
			d := cniPluginConf{}
			if len(bytes.TrimSpace(p.Delegate)) > 0 && string(bytes.TrimSpace(p.Delegate)) != "null" {
				if err := json.Unmarshal(p.Delegate, &d); err != nil {
					return cniNetwork{}, fmt.Errorf("plugin %d (flannel) delegate: %w", i, err)
				}
			}
			if d.Type == "" || d.Type == "bridge" {
				net.Bridges = append(net.Bridges, d.bridgePlugin("flannel"))
			}
		}
	}
	return net, nil
}

func (p cniPluginConf) bridgePlugin(typ string) cniBridgePlugin {
	br := strings.TrimSpace(p.Bridge)
	if br == "" {
		br = cniDefaultBridge
	}
	return cniBridgePlugin{Type: typ, Bridge: br, HairpinMode: p.HairpinMode, PromiscMode: p.PromiscMode}
}
