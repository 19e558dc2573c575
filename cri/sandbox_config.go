package cri

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/pelletier/go-toml"

	"github.com/nodetriage/nodetriage/probes"
)

// sandboxSetting is the configured sandbox (pause) image and where it was
// found, for the message and the evidence.
type sandboxSetting struct {
	Ref string
	// Source says where Ref comes from, e.g. "CRI status config.sandboxImage"
	// or "/etc/containerd/config.toml [plugins.'io.containerd.cri.v1.images'.pinned_images] sandbox".
	Source string
	// Assumed is true when Ref is a built-in default we inferred from the
	// runtime's version rather than read from the runtime or its config.
	Assumed bool
}

// sandboxImageFromStatusInfo reads the sandbox image from a verbose CRI
// Status info map: info["config"] is JSON whose top-level "sandboxImage" is
// set by containerd 1.x (its CRI PluginConfig), CRI-O ≥ 1.27 and
// cri-dockerd. containerd 2.0–2.4 moved the image config to another plugin
// and report none. "" when absent.
func sandboxImageFromStatusInfo(info map[string]string) (string, error) {
	raw, ok := info["config"]
	if !ok || raw == "" {
		return "", nil
	}
	var cfg struct {
		SandboxImage string `json:"sandboxImage"`
	}
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return "", fmt.Errorf("parse CRI status info config: %w", err)
	}
	return cfg.SandboxImage, nil
}

// containerd plugin IDs and keys that hold the sandbox image, by config
// version (containerd docs/cri/config.md; plugins/cri/images/plugin.go for
// the version 2 → 3 migration).
const (
	containerdV1CRIPlugin    = "cri"                       // version 1 (containerd 1.x)
	containerdV2CRIPlugin    = "io.containerd.grpc.v1.cri" // version 2 (1.x; migrated by 2.x)
	containerdV3ImagesPlugin = "io.containerd.cri.v1.images"
)

// containerdSection is one file's image section: the plugin table the sandbox
// image lives in. Present says the file defines the table at all, because
// containerd replaces a plugin's whole table with the last file's (see
// mergeConfig in cmd/containerd/server/config/config.go): a drop-in that
// defines the table without the key resets the image to the default.
type containerdSection struct {
	Present      bool
	SandboxImage string
	// Key names the setting as written in the file, for messages.
	Key string
}

// containerdConfigFile is what one containerd config file says that matters
// here.
type containerdConfigFile struct {
	// Version is the file's "version"; 0 when absent (containerd reads that
	// as version 1).
	Version int
	Imports []string
	V1CRI   containerdSection
	V2CRI   containerdSection
	V3      containerdSection
}

// parseContainerdConfig parses one containerd config.toml (any version).
func parseContainerdConfig(data []byte) (containerdConfigFile, error) {
	f, err := decodeContainerdConfig(data)
	return f, printableError(err)
}

// printableError escapes the control characters an error quotes from the
// input (go-toml's "keys cannot contain \r character", a value printed with
// %v), so it stays one printable line in a condition message.
func printableError(err error) error {
	if err == nil || !strings.ContainsFunc(err.Error(), unicode.IsControl) {
		return err
	}
	var b strings.Builder
	for _, r := range err.Error() {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return errors.New(b.String())
}

func decodeContainerdConfig(data []byte) (containerdConfigFile, error) {
	tree, err := toml.LoadBytes(data)
	if err != nil {
		return containerdConfigFile{}, err
	}
	var f containerdConfigFile
	if v := tree.Get("version"); v != nil {
		n, ok := v.(int64)
		if !ok {
			return f, fmt.Errorf("version is %v, want an integer", v)
		}
		f.Version = int(n)
	}
	if v := tree.Get("imports"); v != nil {
		list, ok := v.([]interface{})
		if !ok {
			return f, fmt.Errorf("imports is %v, want a list of paths", v)
		}
		for _, item := range list {
			s, ok := item.(string)
			if !ok {
				return f, fmt.Errorf("imports entry %v is not a string", item)
			}
			f.Imports = append(f.Imports, s)
		}
	}
	if f.V1CRI, err = section(tree, []string{"plugins", containerdV1CRIPlugin}, []string{"sandbox_image"},
		`[plugins.cri] sandbox_image`); err != nil {
		return f, err
	}
	if f.V2CRI, err = section(tree, []string{"plugins", containerdV2CRIPlugin}, []string{"sandbox_image"},
		`[plugins."io.containerd.grpc.v1.cri"] sandbox_image`); err != nil {
		return f, err
	}
	if f.V3, err = section(tree, []string{"plugins", containerdV3ImagesPlugin}, []string{"pinned_images", "sandbox"},
		`[plugins."io.containerd.cri.v1.images".pinned_images] sandbox`); err != nil {
		return f, err
	}
	return f, nil
}

func section(tree *toml.Tree, table, key []string, name string) (containerdSection, error) {
	s := containerdSection{Present: tree.HasPath(table), Key: name}
	if !s.Present {
		return s, nil
	}
	full := append(append([]string{}, table...), key...)
	switch v := tree.GetPath(full).(type) {
	case nil:
	case string:
		s.SandboxImage = v
	default:
		return s, fmt.Errorf("%s is %v, want a string", name, v)
	}
	return s, nil
}

// imageSection returns the file's image section as containerd sees it when
// the root config has rootVersion: files of a lower version are migrated up
// (a version-2 sandbox_image becomes pinned_images.sandbox).
func (f containerdConfigFile) imageSection(rootVersion int) containerdSection {
	fileVersion := f.Version
	if fileVersion == 0 {
		fileVersion = 1
	}
	switch {
	case rootVersion >= 3:
		if f.V3.Present {
			return f.V3
		}
		if fileVersion <= 2 && f.V2CRI.Present {
			return f.V2CRI
		}
		if fileVersion <= 1 && f.V1CRI.Present {
			return f.V1CRI
		}
	case rootVersion == 2:
		if f.V2CRI.Present {
			return f.V2CRI
		}
		if fileVersion <= 1 && f.V1CRI.Present {
			return f.V1CRI
		}
	default:
		if f.V1CRI.Present {
			return f.V1CRI
		}
	}
	return containerdSection{}
}

// maxConfigFiles bounds import chains.
const maxConfigFiles = 64

// loadContainerdSandboxImage reads the containerd config at cfgPath (a host
// path) with its imports the way containerd loads them: breadth first, each
// import relative to its parent's directory, globs expanded in sorted order,
// a file loaded once; the last file that defines the image table wins.
// Ref is "" when no file sets the image (containerd's default applies);
// Source then says why. A missing main file is not an error (containerd runs
// on defaults); a missing import is, since containerd refuses to start then.
func loadContainerdSandboxImage(host probes.FS, cfgPath string) (sandboxSetting, error) {
	rootVersion := -1
	loaded := map[string]bool{}
	pending := []string{cfgPath}
	var set sandboxSetting
	for len(pending) > 0 {
		p := pending[0]
		pending = pending[1:]
		if loaded[p] {
			continue
		}
		if len(loaded) >= maxConfigFiles {
			return sandboxSetting{}, fmt.Errorf("containerd config %s: more than %d files through imports", cfgPath, maxConfigFiles)
		}
		data, err := host.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) && p == cfgPath {
			return sandboxSetting{Source: "no " + cfgPath + ", containerd runs on its defaults"}, nil
		}
		if err != nil {
			return sandboxSetting{}, fmt.Errorf("read containerd config: %w", err) // err names the host path
		}
		f, err := parseContainerdConfig(data)
		if err != nil {
			return sandboxSetting{}, fmt.Errorf("containerd config %s: %w", p, err)
		}
		loaded[p] = true
		if rootVersion < 0 {
			rootVersion = f.Version
		}
		if s := f.imageSection(rootVersion); s.Present {
			set = sandboxSetting{Ref: s.SandboxImage, Source: p + " " + s.Key}
			if s.SandboxImage == "" {
				set.Source = p + " defines the image settings without the sandbox image, so containerd's default applies"
			}
		}
		imports, err := resolveImports(host, p, f.Imports)
		if err != nil {
			return sandboxSetting{}, err
		}
		pending = append(pending, imports...)
	}
	if set.Source == "" {
		set.Source = cfgPath + " does not set the sandbox image, so containerd's default applies"
	}
	return set, nil
}

// resolveImports expands a file's imports like containerd's resolveImports.
func resolveImports(host probes.FS, parent string, imports []string) ([]string, error) {
	var out []string
	for _, imp := range imports {
		p := path.Clean(imp)
		if !path.IsAbs(p) {
			p = path.Join(path.Dir(parent), p)
		}
		if !strings.Contains(p, "*") {
			out = append(out, p)
			continue
		}
		matches, err := host.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("containerd config %s: import %s: %w", parent, imp, err)
		}
		sort.Strings(matches)
		out = append(out, matches...)
	}
	return out, nil
}

// parseCRIOPauseImage reads [crio.image] pause_image from a CRI-O config or
// drop-in; set is false when the file does not set it.
func parseCRIOPauseImage(data []byte) (ref string, set bool, err error) {
	tree, err := toml.LoadBytes(data)
	if err != nil {
		return "", false, printableError(err)
	}
	switch v := tree.GetPath([]string{"crio", "image", "pause_image"}).(type) {
	case nil:
		return "", false, nil
	case string:
		return v, true, nil
	default:
		return "", false, printableError(fmt.Errorf("[crio.image] pause_image is %v, want a string", v))
	}
}

// loadCRIOPauseImage reads CRI-O's main config and then its drop-ins
// (*.conf in dropInDir, in lexical order), later settings winning, as CRI-O
// does. Ref is "" when none sets pause_image.
func loadCRIOPauseImage(host probes.FS, mainPath, dropInDir string) (sandboxSetting, error) {
	files := []string{mainPath}
	entries, err := host.ReadDir(dropInDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return sandboxSetting{}, fmt.Errorf("read CRI-O drop-in directory: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".conf") {
			files = append(files, path.Join(dropInDir, e.Name()))
		}
	}
	var set sandboxSetting
	for _, p := range files {
		data, err := host.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return sandboxSetting{}, fmt.Errorf("read CRI-O config: %w", err)
		}
		ref, ok, err := parseCRIOPauseImage(data)
		if err != nil {
			return sandboxSetting{}, fmt.Errorf("CRI-O config %s: %w", p, err)
		}
		if ok {
			set = sandboxSetting{Ref: ref, Source: p + " [crio.image] pause_image"}
		}
	}
	if set.Ref == "" {
		set = sandboxSetting{Source: "neither " + mainPath + " nor " + dropInDir + "/*.conf sets [crio.image] pause_image, so CRI-O's default applies"}
	}
	return set, nil
}

// defaultSandboxImage is the runtime's built-in sandbox image by version:
// containerd internal/cri/config (1.6: pause:3.6, 1.7: 3.8, 2.0: 3.10,
// 2.1+: 3.10.1), CRI-O pkg/config (before 1.27, the only versions whose
// verbose status does not say: 3.6), cri-dockerd (3.10). The caller says it
// is assumed.
func defaultSandboxImage(kind runtimeKind, runtimeVersion string) (string, bool) {
	v := parseVersion(runtimeVersion)
	switch kind {
	case kindContainerd:
		switch {
		case v == nil:
			return "", false
		case v.Major() >= 2 && (v.Major() > 2 || v.Minor() >= 1):
			return "registry.k8s.io/pause:3.10.1", true
		case v.Major() == 2:
			return "registry.k8s.io/pause:3.10", true
		case v.Major() == 1 && v.Minor() >= 7:
			return "registry.k8s.io/pause:3.8", true
		case v.Major() == 1:
			return "registry.k8s.io/pause:3.6", true
		}
	case kindCRIO:
		return "registry.k8s.io/pause:3.6", true
	case kindDocker:
		return "registry.k8s.io/pause:3.10", true
	}
	return "", false
}
