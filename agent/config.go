package agent

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
)

// Config identity: the only apiVersion and kind the agent accepts.
const (
	ConfigAPIVersion = "nodetriage.io/v1alpha1"
	ConfigKind       = "AgentConfig"
)

// DefaultQueueSize is a source's queue length when the config does not set it.
const DefaultQueueSize = 4096

// maxQueueSize bounds sources.<name>.queueSize: a line is at most a few KiB,
// so this keeps a misconfigured queue under ~100 MiB.
const maxQueueSize = 65536

//go:embed defaults.yaml
var defaultConfigYAML []byte

// DefaultConfigYAML is the documented built-in configuration, for
// `nodetriage` documentation and tests.
func DefaultConfigYAML() []byte { return slices.Clone(defaultConfigYAML) }

// Config is the agent's configuration (AgentConfig) with every default
// applied: each known check and source has an entry.
type Config struct {
	StateDir    string
	QuietWindow time.Duration
	Reporting   ReportingConfig
	// Checks holds every known check by name.
	Checks map[string]CheckConfig
	// Sources holds every known log source by name.
	Sources map[string]SourceConfig
	// Rules is the raw user rule list (Path "rules") for NewMatcher.
	Rules probes.Settings
	// NPDRuleFiles are node-problem-detector rule files for NewMatcher.
	NPDRuleFiles []string
	// Reasons are per-reason overrides, by reason.
	Reasons map[string]ReasonOverride
}

// ReportingConfig tunes how state reaches the API server. The Kubernetes
// reporter consumes it.
type ReportingConfig struct {
	// BatchInterval: at most one nodes/status write per interval.
	BatchInterval time.Duration
	// HeartbeatInterval: how often lastHeartbeatTime is refreshed.
	HeartbeatInterval time.Duration
	// EventDedupWindow: the same Event key within the window is one series.
	EventDedupWindow time.Duration
	// EventBurstPerReason Events per reason may go out at once, then
	// EventsPerMinutePerReason.
	EventBurstPerReason      int
	EventsPerMinutePerReason int
}

// KubeReporterConfig is the Kubernetes reporter's configuration for these
// settings; a zero field keeps the reporter's default.
func (r ReportingConfig) KubeReporterConfig() KubeReporterConfig {
	c := KubeReporterConfig{
		BatchInterval:     r.BatchInterval,
		HeartbeatInterval: r.HeartbeatInterval,
		EventDedupWindow:  r.EventDedupWindow,
		EventBurst:        r.EventBurstPerReason,
	}
	if r.EventsPerMinutePerReason > 0 {
		c.EventRefillInterval = time.Minute / time.Duration(r.EventsPerMinutePerReason)
	}
	return c
}

// CheckConfig is checks.<name> with the check's defaults applied.
type CheckConfig struct {
	Enabled         bool
	Interval        time.Duration
	Timeout         time.Duration
	VisibilityDelay time.Duration
	// Settings is checks.<name>.settings, decoded by the check itself.
	Settings probes.Settings
}

// SourceConfig is sources.<name> with defaults applied.
type SourceConfig struct {
	Enabled   bool
	QueueSize int
	// Settings is sources.<name>.settings, decoded by the stream itself.
	Settings probes.Settings
}

// ReasonOverride changes how findings with one reason are treated.
type ReasonOverride struct {
	// Disabled drops findings with this reason everywhere.
	Disabled bool
	// Severity replaces the finding's severity when not "".
	Severity probes.Severity
}

// Catalog is what the configuration is validated against: the checks and
// log sources this build knows.
type Catalog struct {
	Checks  []probes.Spec
	Streams []probes.StreamSpec
}

// The raw shapes below mirror the YAML. Optional fields are pointers so that a
// layer (defaults, then the user's file) only overrides what it sets, and so
// that errors can name the exact field.

type rawConfig struct {
	APIVersion   string                     `json:"apiVersion"`
	Kind         string                     `json:"kind"`
	StateDir     string                     `json:"stateDir"`
	QuietWindow  *metav1.Duration           `json:"quietWindow"`
	Reporting    json.RawMessage            `json:"reporting"`
	Checks       map[string]json.RawMessage `json:"checks"`
	Sources      map[string]json.RawMessage `json:"sources"`
	Rules        json.RawMessage            `json:"rules"`
	NPDRuleFiles []string                   `json:"npdRuleFiles"`
	Reasons      map[string]json.RawMessage `json:"reasons"`
}

type rawReporting struct {
	BatchInterval            *metav1.Duration `json:"batchInterval"`
	HeartbeatInterval        *metav1.Duration `json:"heartbeatInterval"`
	EventDedupWindow         *metav1.Duration `json:"eventDedupWindow"`
	EventBurstPerReason      *int             `json:"eventBurstPerReason"`
	EventsPerMinutePerReason *int             `json:"eventsPerMinutePerReason"`
}

type rawCheck struct {
	Enabled         *bool            `json:"enabled"`
	Interval        *metav1.Duration `json:"interval"`
	Timeout         *metav1.Duration `json:"timeout"`
	VisibilityDelay *metav1.Duration `json:"visibilityDelay"`
	Settings        json.RawMessage  `json:"settings"`
}

type rawSource struct {
	Enabled   *bool           `json:"enabled"`
	QueueSize *int            `json:"queueSize"`
	Settings  json.RawMessage `json:"settings"`
}

type rawReason struct {
	Enabled  *bool   `json:"enabled"`
	Severity *string `json:"severity"`
}

// LoadConfig reads the AgentConfig at path and lays it over the defaults. An
// empty path means the defaults alone.
func LoadConfig(path string, cat Catalog) (*Config, error) {
	if path == "" {
		return ParseConfig(nil, cat)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseConfig(data, cat)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes an AgentConfig (YAML or JSON) strictly, lays it over
// the built-in defaults and validates it. Errors name the field:
// "checks.kubelet-cert.timeout: must be shorter than interval (1m), got 2m".
// Empty data means the defaults alone.
func ParseConfig(data []byte, cat Catalog) (*Config, error) {
	defaults, err := decodeRaw(defaultConfigYAML)
	if err != nil {
		return nil, fmt.Errorf("built-in defaults: %w", err)
	}
	user := &rawConfig{}
	if len(bytes.TrimSpace(data)) > 0 {
		if user, err = decodeRaw(data); err != nil {
			return nil, err
		}
		if user.APIVersion != ConfigAPIVersion {
			return nil, &probes.FieldError{Field: "apiVersion", Reason: fmt.Sprintf("must be %s, got %q", ConfigAPIVersion, user.APIVersion)}
		}
		if user.Kind != ConfigKind {
			return nil, &probes.FieldError{Field: "kind", Reason: fmt.Sprintf("must be %s, got %q", ConfigKind, user.Kind)}
		}
	}
	return buildConfig(defaults, user, cat)
}

func decodeRaw(data []byte) (*rawConfig, error) {
	// Strict: a key given twice is an error, not "the last one wins" (an
	// edit appending quietWindow to a file that already sets it would
	// otherwise silently override, or be overridden).
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", yamlError{err})
	}
	if t := bytes.TrimSpace(js); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("not a YAML mapping (want apiVersion, kind, …)")
	}
	raw := &rawConfig{}
	if err := decodeStrict("", js, raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// yamlError says a YAML decoding error in one line, for the CLI's and the
// reload log's one-line errors: the decoder lists its unmarshal errors
// (such as a duplicated key) on lines of their own, under a header.
type yamlError struct{ err error }

func (e yamlError) Error() string {
	msg := strings.TrimPrefix(e.err.Error(), "yaml: ")
	var parts []string
	for _, line := range strings.Split(msg, "\n") {
		if line = strings.TrimSpace(line); line != "" && line != "unmarshal errors:" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}

func (e yamlError) Unwrap() error { return e.err }

func buildConfig(defaults, user *rawConfig, cat Catalog) (*Config, error) {
	cfg := &Config{
		StateDir:     firstNonEmpty(user.StateDir, defaults.StateDir),
		NPDRuleFiles: user.NPDRuleFiles,
		Checks:       map[string]CheckConfig{},
		Sources:      map[string]SourceConfig{},
		Reasons:      map[string]ReasonOverride{},
	}
	if cfg.NPDRuleFiles == nil {
		cfg.NPDRuleFiles = defaults.NPDRuleFiles
	}
	if cfg.StateDir == "" {
		return nil, &probes.FieldError{Field: "stateDir", Reason: "must not be empty"}
	}
	for i, f := range cfg.NPDRuleFiles {
		if strings.TrimSpace(f) == "" {
			return nil, &probes.FieldError{Field: fmt.Sprintf("npdRuleFiles[%d]", i), Reason: "must be a file path, got an empty string"}
		}
	}
	quiet := user.QuietWindow
	if quiet == nil {
		quiet = defaults.QuietWindow
	}
	var err error
	if cfg.QuietWindow, err = positiveDuration("quietWindow", deref(quiet)); err != nil {
		return nil, err
	}
	if cfg.Reporting, err = buildReporting(defaults.Reporting, user.Reporting); err != nil {
		return nil, err
	}
	rules := user.Rules
	if rules == nil {
		rules = defaults.Rules
	}
	cfg.Rules = probes.Settings{Path: "rules", Raw: rules}

	if err := buildChecks(cfg, user.Checks, cat.Checks); err != nil {
		return nil, err
	}
	if err := buildSources(cfg, user.Sources, cat.Streams); err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(user.Reasons) {
		path := "reasons." + name
		var rr rawReason
		if err := decodeStrict(path, user.Reasons[name], &rr); err != nil {
			return nil, err
		}
		var o ReasonOverride
		if rr.Enabled != nil {
			o.Disabled = !*rr.Enabled
		}
		if rr.Severity != nil {
			sev, err := probes.ParseSeverity(*rr.Severity)
			if err != nil {
				return nil, &probes.FieldError{Field: path + ".severity", Reason: err.Error()}
			}
			o.Severity = sev
		}
		cfg.Reasons[name] = o
	}
	return cfg, nil
}

func buildReporting(defaults, user json.RawMessage) (ReportingConfig, error) {
	var rr rawReporting
	if err := decodeStrict("reporting", defaults, &rr); err != nil {
		return ReportingConfig{}, fmt.Errorf("built-in defaults: %w", err)
	}
	if err := decodeStrict("reporting", user, &rr); err != nil {
		return ReportingConfig{}, err
	}
	var rc ReportingConfig
	var err error
	if rc.BatchInterval, err = positiveDuration("reporting.batchInterval", deref(rr.BatchInterval)); err != nil {
		return rc, err
	}
	if rc.HeartbeatInterval, err = positiveDuration("reporting.heartbeatInterval", deref(rr.HeartbeatInterval)); err != nil {
		return rc, err
	}
	if rc.HeartbeatInterval <= rc.BatchInterval {
		return rc, &probes.FieldError{Field: "reporting.heartbeatInterval", Reason: fmt.Sprintf("must be longer than batchInterval (%s), got %s", FormatDuration(rc.BatchInterval), FormatDuration(rc.HeartbeatInterval))}
	}
	rc.EventDedupWindow = deref(rr.EventDedupWindow).Duration
	rc.EventBurstPerReason = deref(rr.EventBurstPerReason)
	if rc.EventBurstPerReason < 1 {
		return rc, &probes.FieldError{Field: "reporting.eventBurstPerReason", Reason: fmt.Sprintf("must be at least 1, got %d", rc.EventBurstPerReason)}
	}
	rc.EventsPerMinutePerReason = deref(rr.EventsPerMinutePerReason)
	if rc.EventsPerMinutePerReason < 1 {
		return rc, &probes.FieldError{Field: "reporting.eventsPerMinutePerReason", Reason: fmt.Sprintf("must be at least 1, got %d", rc.EventsPerMinutePerReason)}
	}
	return rc, nil
}

// rejectUnknown fails on the first key of a section that names nothing this
// build knows, listing what it does know.
func rejectUnknown(section, what string, user map[string]json.RawMessage, known []string) error {
	for _, name := range sortedKeys(user) {
		if !slices.Contains(known, name) {
			slices.Sort(known)
			return &probes.FieldError{Field: section + "." + name, Reason: "unknown " + what + " (known: " + strings.Join(known, ", ") + ")"}
		}
	}
	return nil
}

func buildChecks(cfg *Config, user map[string]json.RawMessage, specs []probes.Spec) error {
	var known []string
	for _, s := range specs {
		known = append(known, s.Name)
	}
	if err := rejectUnknown("checks", "check", user, known); err != nil {
		return err
	}
	for _, s := range specs {
		path := "checks." + s.Name
		var rc rawCheck
		if err := decodeStrict(path, user[s.Name], &rc); err != nil {
			return err
		}
		cc := CheckConfig{
			Enabled:  s.DefaultEnabled,
			Interval: s.Interval,
			Timeout:  s.Timeout,
			Settings: probes.Settings{Path: path + ".settings", Raw: rc.Settings},
		}
		if rc.Enabled != nil {
			cc.Enabled = *rc.Enabled
		}
		var err error
		if rc.Interval != nil {
			if cc.Interval, err = positiveDuration(path+".interval", *rc.Interval); err != nil {
				return err
			}
		}
		if rc.Timeout != nil {
			if cc.Timeout, err = positiveDuration(path+".timeout", *rc.Timeout); err != nil {
				return err
			}
		}
		if rc.VisibilityDelay != nil {
			cc.VisibilityDelay = rc.VisibilityDelay.Duration
		}
		if cc.Interval <= 0 {
			return &probes.FieldError{Field: path + ".interval", Reason: "must be set: the check has no default interval"}
		}
		if cc.Timeout <= 0 || cc.Timeout >= cc.Interval {
			return &probes.FieldError{Field: path + ".timeout", Reason: fmt.Sprintf("must be shorter than interval (%s), got %s", FormatDuration(cc.Interval), FormatDuration(cc.Timeout))}
		}
		cfg.Checks[s.Name] = cc
	}
	return nil
}

func buildSources(cfg *Config, user map[string]json.RawMessage, specs []probes.StreamSpec) error {
	var known []string
	for _, s := range specs {
		known = append(known, s.Name)
	}
	if err := rejectUnknown("sources", "log source", user, known); err != nil {
		return err
	}
	for _, s := range specs {
		path := "sources." + s.Name
		var rs rawSource
		if err := decodeStrict(path, user[s.Name], &rs); err != nil {
			return err
		}
		sc := SourceConfig{
			Enabled:   s.DefaultEnabled,
			QueueSize: DefaultQueueSize,
			Settings:  probes.Settings{Path: path + ".settings", Raw: rs.Settings},
		}
		if rs.Enabled != nil {
			sc.Enabled = *rs.Enabled
		}
		if rs.QueueSize != nil {
			sc.QueueSize = *rs.QueueSize
			if sc.QueueSize < 1 || sc.QueueSize > maxQueueSize {
				return &probes.FieldError{Field: path + ".queueSize", Reason: fmt.Sprintf("must be between 1 and %d, got %d", maxQueueSize, sc.QueueSize)}
			}
		}
		cfg.Sources[s.Name] = sc
	}
	return nil
}

// CheckReasons rejects overrides for reasons nothing can emit: known lists
// every reason of every check (enabled or not) and of the loaded log rules.
func (c *Config) CheckReasons(known []probes.ReasonInfo) error {
	set := map[string]bool{}
	for _, r := range known {
		set[r.Reason] = true
	}
	for _, name := range sortedKeys(c.Reasons) {
		if !set[name] {
			return &probes.FieldError{Field: "reasons." + name, Reason: "unknown reason: no check or log rule emits it"}
		}
	}
	return nil
}

// decodeStrict decodes one level of the config into v, rejecting unknown
// fields and bad or negative durations (internal/config's rule), and turns
// encoding/json's errors into FieldErrors under path. Decoding level by level
// is what lets an error name the full field path: encoding/json reports an
// unknown field without saying where it was.
func decodeStrict(path string, raw json.RawMessage, v any) error {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return &probes.FieldError{Field: joinField(path, typeErr.Field), Reason: fmt.Sprintf("cannot use a %s here, want %s", typeErr.Value, jsonKind(typeErr.Type.String()))}
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			if unq, uerr := strconv.Unquote(name); uerr == nil {
				name = unq
			}
			if name == "" {
				// An empty key ("": 1) would otherwise name no field at all.
				name = `""`
			}
			return &probes.FieldError{Field: joinField(path, name), Reason: "unknown field"}
		}
	}
	// A bad duration string fails the decode without naming its field.
	if field, reason := config.Durations(raw, v); reason != "" {
		return &probes.FieldError{Field: joinField(path, field), Reason: reason}
	}
	if err == nil {
		return nil
	}
	if path == "" {
		return fmt.Errorf("decode: %w", err)
	}
	return &probes.FieldError{Field: path, Reason: strings.TrimPrefix(err.Error(), "json: ")}
}

// jsonKind names a Go type the way a YAML author thinks of it.
func jsonKind(goType string) string {
	switch {
	case goType == "string" || goType == "*string":
		return "a string (durations are strings like \"90s\")"
	case strings.Contains(goType, "int"):
		return "a whole number"
	case strings.Contains(goType, "bool"):
		return "true or false"
	case strings.HasPrefix(goType, "map") || strings.HasPrefix(goType, "agent.raw"):
		return "a mapping"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	}
	return goType
}

func joinField(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// positiveDuration rejects a zero duration; decodeStrict has already
// rejected negative ones.
func positiveDuration(field string, d metav1.Duration) (time.Duration, error) {
	if d.Duration <= 0 {
		return 0, &probes.FieldError{Field: field, Reason: "must be longer than 0s"}
	}
	return d.Duration, nil
}

// FormatDuration prints a duration without trailing zero units: 1m, 1h30m,
// 20s, 1.5s (config.FormatDuration).
func FormatDuration(d time.Duration) string { return config.FormatDuration(d) }

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
