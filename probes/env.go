package probes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// Env is everything a check may use. The agent builds one per check.
type Env struct {
	// Host is the host filesystem under the host root.
	Host FS
	// Clock is injected so tests can move time.
	Clock clock.PassiveClock
	// Logger is already scoped with the check's name.
	Logger *slog.Logger
	// Settings is the check's own config section (checks.<name>.settings).
	Settings Settings
	// Runtime is the CRI client, or nil when no runtime endpoint is known.
	Runtime Runtime
	// Logs recalls what the log streams have seen, or nil without streams.
	Logs LogRecall
	// NodeName is the Kubernetes node this agent reports for.
	NodeName string
	// Node returns the agent's own Node object as last read from the API
	// server, or nil when there is none (standalone, check, API unreachable
	// since start). Checks must treat nil as "unknown", not as "healthy".
	Node func() *corev1.Node
	// StateDir is the agent's persistent state directory on the host (for
	// cursors and samples that must survive a restart), as a local path.
	StateDir string
}

// Settings is a check's raw config section (JSON, converted from the YAML
// AgentConfig). A check decodes it into its own typed config whose fields are
// pre-set to the defaults.
type Settings struct {
	// Path is where this section sits in the AgentConfig, for error messages,
	// e.g. "checks.log-filesystem.settings".
	Path string
	Raw  json.RawMessage
}

// Decode strictly decodes the section into v (a pointer to a struct holding
// defaults). Unknown fields are errors naming the field.
func (s Settings) Decode(v any) error {
	if len(bytes.TrimSpace(s.Raw)) == 0 || string(bytes.TrimSpace(s.Raw)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(s.Raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return s.decodeError(err)
	}
	return nil
}

// decodeError turns an encoding/json error into a FieldError naming the
// field when json says which one.
func (s Settings) decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return &FieldError{Field: s.Path + "." + typeErr.Field, Reason: fmt.Sprintf("cannot use %s as %s", typeErr.Value, typeErr.Type)}
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &FieldError{Field: s.Path + "." + strings.Trim(rest, `"`), Reason: "unknown field"}
	}
	return &FieldError{Field: s.Path, Reason: strings.TrimPrefix(msg, "json: ")}
}

// FieldError is a validation error that names the config field at fault.
type FieldError struct {
	Field  string // e.g. "checks.log-filesystem.settings.usagePercent"
	Reason string // e.g. "must be between 1 and 100, got 120"
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Fieldf builds a FieldError for a field inside this settings section.
func (s Settings) Fieldf(field, format string, args ...any) error {
	return &FieldError{Field: s.Path + "." + field, Reason: fmt.Sprintf(format, args...)}
}
