package hostchecks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/nodetriage/nodetriage/probes"
)

// Where dockerd keeps its configuration and its json-file container logs
// (docs.docker.com/engine/logging/drivers/json-file/).
const (
	dockerDaemonConfigPath  = "/etc/docker/daemon.json"
	dockerContainersDir     = "/var/lib/docker/containers"
	dockerJSONLogGlob       = dockerContainersDir + "/*/*-json.log"
	dockerDefaultLogDriver  = "json-file"
	dockerContainerConfigV2 = "config.v2.json"
	// dockerConfigMaxBytes bounds what is read of daemon.json and of a
	// container's config.v2.json.
	dockerConfigMaxBytes = 1 << 20
)

// dockerLogConfig is the part of /etc/docker/daemon.json about container
// logs.
type dockerLogConfig struct {
	// Exists is false when there is no daemon.json (dockerd's defaults).
	Exists    bool
	LogDriver string            `json:"log-driver"`
	LogOpts   map[string]string `json:"log-opts"`
}

// Driver is the effective log driver: json-file unless set.
func (c dockerLogConfig) Driver() string {
	if c.LogDriver == "" {
		return dockerDefaultLogDriver
	}
	return c.LogDriver
}

// MaxSizeBytes is log-opts max-size in bytes, or -1 when unset or "-1"
// (unlimited, the json-file default).
func (c dockerLogConfig) MaxSizeBytes() (int64, error) {
	v, ok := c.LogOpts["max-size"]
	if !ok || strings.TrimSpace(v) == "-1" {
		return -1, nil
	}
	return parseDockerSize(v)
}

// parseDockerDaemonConfig reads daemon.json. Unknown keys are fine (the file
// holds all of dockerd's settings); log-opts values must be strings, as
// dockerd requires.
func parseDockerDaemonConfig(data []byte) (dockerLogConfig, error) {
	c := dockerLogConfig{Exists: true}
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return dockerLogConfig{}, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := c.MaxSizeBytes(); err != nil {
		return dockerLogConfig{}, fmt.Errorf("log-opts max-size: %w", err)
	}
	return c, nil
}

// readDockerLogConfig reads /etc/docker/daemon.json under the host root; a
// missing file is dockerd's defaults, not an error.
func readDockerLogConfig(host probes.FS) (dockerLogConfig, error) {
	data, err := readHostFileLimited(host, dockerDaemonConfigPath, dockerConfigMaxBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return dockerLogConfig{}, nil
	}
	if err != nil {
		return dockerLogConfig{}, err
	}
	c, err := parseDockerDaemonConfig(data)
	if err != nil {
		return dockerLogConfig{}, fmt.Errorf("%s: %w", dockerDaemonConfigPath, err)
	}
	return c, nil
}

// dockerSizeRE is the syntax of docker's size options (go-units RAMInBytes):
// a decimal number, an optional binary unit prefix and an optional i/b.
var dockerSizeRE = regexp.MustCompile(`^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`)

// parseDockerSize reads a size as dockerd does for log-opts max-size:
// "10m", "1g", "512k", "1024" (bytes); units are powers of 1024.
func parseDockerSize(v string) (int64, error) {
	m := dockerSizeRE.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return 0, fmt.Errorf("invalid size %q", v)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", v)
	}
	shift := 0
	if m[2] != "" {
		shift = strings.Index("kmgtp", strings.ToLower(m[2])) + 1
	}
	bytes := n * math.Pow(1024, float64(shift))
	// float64(math.MaxInt64) rounds up to 2^63, which int64 cannot hold.
	if bytes >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q too large", v)
	}
	return int64(bytes), nil
}

// kubernetesContainerID is who a docker container log belongs to, from the
// labels dockershim and cri-dockerd put on containers.
type kubernetesContainerID struct {
	Namespace, Pod, Container string
}

// String is "namespace/pod/container".
func (k kubernetesContainerID) String() string { return k.Namespace + "/" + k.Pod + "/" + k.Container }

// parseDockerContainerConfig reads the Kubernetes identity from a docker
// container's config.v2.json (Config.Labels io.kubernetes.*). ok is false for
// containers Kubernetes did not create.
func parseDockerContainerConfig(data []byte) (id kubernetesContainerID, ok bool, err error) {
	var cfg struct {
		Config struct {
			Labels map[string]string `json:"Labels"`
		} `json:"Config"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return kubernetesContainerID{}, false, fmt.Errorf("not valid JSON: %w", err)
	}
	l := cfg.Config.Labels
	id = kubernetesContainerID{
		Namespace: l["io.kubernetes.pod.namespace"],
		Pod:       l["io.kubernetes.pod.name"],
		Container: l["io.kubernetes.container.name"],
	}
	return id, id.Namespace != "" && id.Pod != "" && id.Container != "", nil
}

// readHostFileLimited reads at most limit bytes of a host file; a longer
// file is an error rather than a silent truncation.
func readHostFileLimited(host probes.FS, name string, limit int64) ([]byte, error) {
	f, err := host.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, pathErrorCause(err)) // f reads under its local name
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("read %s: larger than %d bytes", name, limit)
	}
	return buf.Bytes(), nil
}
