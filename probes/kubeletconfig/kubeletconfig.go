// Package kubeletconfig reads the kubelet's KubeletConfiguration file from the
// host and applies the kubelet's own defaults to the fields nodetriage uses
// (image GC thresholds, container log rotation, hairpin mode, runtime
// endpoint). Several checks need these numbers; this is the one place that
// knows where the file lives and what the defaults are.
//
// Defaults are those documented in k8s.io/kubelet/config/v1beta1 types.go.
package kubeletconfig

import (
	"errors"
	"fmt"
	"io/fs"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/nodetriage/nodetriage/probes"
)

// DefaultPaths are where distributions put the kubelet config file, in the
// order they are tried: kubeadm and most installers, then EKS.
var DefaultPaths = []string{
	"/var/lib/kubelet/config.yaml",
	"/etc/kubernetes/kubelet/config.yaml",
	"/etc/kubernetes/kubelet/kubelet-config.json",
	"/etc/kubernetes/kubelet-config.yaml",
}

// Documented kubelet defaults (k8s.io/kubelet/config/v1beta1).
const (
	DefaultImageGCHighThresholdPercent = 85
	DefaultImageGCLowThresholdPercent  = 80
	DefaultContainerLogMaxSize         = "10Mi"
	DefaultContainerLogMaxFiles        = 5
	DefaultHairpinMode                 = "promiscuous-bridge"
)

// Config is the subset of KubeletConfiguration nodetriage uses, with the
// kubelet's defaults applied.
type Config struct {
	// Path is the host path the file was read from, or "" when no file was
	// found and every value is a default.
	Path string

	ImageGCHighThresholdPercent int
	ImageGCLowThresholdPercent  int
	// ContainerLogMaxSize is the raw quantity ("10Mi"); ContainerLogMaxBytes
	// is it in bytes, or -1 when the kubelet's rotation is disabled (a
	// negative size, which makes the kubelet use a no-op log manager).
	ContainerLogMaxSize  string
	ContainerLogMaxBytes int64
	ContainerLogMaxFiles int
	HairpinMode          string
	// ContainerRuntimeEndpoint is "" when the file does not set it.
	ContainerRuntimeEndpoint string
}

// Defaults is the configuration a kubelet runs with when no file sets anything.
func Defaults() Config {
	c := Config{}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.ImageGCHighThresholdPercent == 0 {
		c.ImageGCHighThresholdPercent = DefaultImageGCHighThresholdPercent
	}
	if c.ImageGCLowThresholdPercent == 0 {
		c.ImageGCLowThresholdPercent = DefaultImageGCLowThresholdPercent
	}
	if c.ContainerLogMaxSize == "" {
		c.ContainerLogMaxSize = DefaultContainerLogMaxSize
	}
	if c.ContainerLogMaxFiles == 0 {
		c.ContainerLogMaxFiles = DefaultContainerLogMaxFiles
	}
	if c.HairpinMode == "" {
		c.HairpinMode = DefaultHairpinMode
	}
}

// Load reads the first kubelet config file that exists among paths (or
// DefaultPaths when none are given) under the host root. No file at all is not
// an error: the kubelet then runs on its defaults, which Load returns with an
// empty Path. A file that exists but cannot be parsed is an error naming it.
func Load(host probes.FS, paths ...string) (Config, error) {
	if len(paths) == 0 {
		paths = DefaultPaths
	}
	for _, p := range paths {
		data, err := host.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Config{}, fmt.Errorf("read kubelet config %s: %w", p, err)
		}
		c, err := Parse(data)
		if err != nil {
			return Config{}, fmt.Errorf("kubelet config %s: %w", p, err)
		}
		c.Path = p
		return c, nil
	}
	return Defaults(), nil
}

// Parse decodes a KubeletConfiguration (YAML or JSON) and applies defaults.
// Unknown fields are ignored: the file belongs to the kubelet, whose newer
// versions may add fields we do not know.
func Parse(data []byte) (Config, error) {
	var kc kubeletConfigurationFields
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return Config{}, fmt.Errorf("parse: %w", err)
	}
	if kc.Kind != "" && kc.Kind != "KubeletConfiguration" {
		return Config{}, fmt.Errorf("kind is %q, want KubeletConfiguration", kc.Kind)
	}
	c := Config{
		ContainerLogMaxSize:      kc.ContainerLogMaxSize,
		HairpinMode:              kc.HairpinMode,
		ContainerRuntimeEndpoint: kc.ContainerRuntimeEndpoint,
	}
	if kc.ImageGCHighThresholdPercent != nil {
		c.ImageGCHighThresholdPercent = int(*kc.ImageGCHighThresholdPercent)
	}
	if kc.ImageGCLowThresholdPercent != nil {
		c.ImageGCLowThresholdPercent = int(*kc.ImageGCLowThresholdPercent)
	}
	if kc.ContainerLogMaxFiles != nil {
		c.ContainerLogMaxFiles = int(*kc.ContainerLogMaxFiles)
	}
	c.applyDefaults()
	q, err := resource.ParseQuantity(c.ContainerLogMaxSize)
	if err != nil {
		return Config{}, fmt.Errorf("containerLogMaxSize %q: %w", c.ContainerLogMaxSize, err)
	}
	c.ContainerLogMaxBytes = q.Value()
	if c.ContainerLogMaxBytes < 0 {
		c.ContainerLogMaxBytes = -1
	}
	return c, nil
}

// kubeletConfigurationFields are the fields of KubeletConfiguration
// (kubelet.config.k8s.io/v1beta1) nodetriage reads, with that type's JSON
// names and Go types. The type itself (k8s.io/kubelet/config/v1beta1) is not
// used because it links k8s.io/component-base's logging, tracing, feature
// gate and metrics registries into the agent for these seven fields.
type kubeletConfigurationFields struct {
	Kind                        string `json:"kind,omitempty"`
	ImageGCHighThresholdPercent *int32 `json:"imageGCHighThresholdPercent,omitempty"`
	ImageGCLowThresholdPercent  *int32 `json:"imageGCLowThresholdPercent,omitempty"`
	HairpinMode                 string `json:"hairpinMode,omitempty"`
	ContainerLogMaxSize         string `json:"containerLogMaxSize,omitempty"`
	ContainerLogMaxFiles        *int32 `json:"containerLogMaxFiles,omitempty"`
	ContainerRuntimeEndpoint    string `json:"containerRuntimeEndpoint"`
}
