// Package config holds the rules every part of nodetriage's configuration
// follows, wherever it sits (a check's or log source's settings, the
// AgentConfig's own fields): a duration is a metav1.Duration, written as a Go
// duration string ("90s", "10m", "1h30m"), and never negative; a host path is
// absolute. Errors are *probes.FieldError naming the field.
//
// encoding/json cannot name the field of a bad duration itself:
// metav1.Duration's decoding error (time: invalid duration "soon") comes back
// without the field it was in. Durations finds it by walking the raw JSON
// alongside the Go type it was decoded into.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"reflect"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetriage/nodetriage/probes"
)

// Decode strictly decodes the section into v (a pointer to a struct holding
// the defaults), as probes.Settings.Decode does, and also rejects a duration
// that is not a Go duration string or is negative, naming its field:
// "checks.log-filesystem.settings.forecast.window: not a duration (like
// \"90s\" or \"10m\"): \"soon\"".
func Decode(s probes.Settings, v any) error {
	err := s.Decode(v)
	var fe *probes.FieldError
	if err != nil && (!errors.As(err, &fe) || fe.Field != s.Path) {
		return err // it already names its field
	}
	if field, reason := Durations(s.Raw, v); reason != "" {
		if field == "" { // v is a bare duration
			return &probes.FieldError{Field: s.Path, Reason: reason}
		}
		return s.Fieldf(field, "%s", reason)
	}
	return err
}

// Durations finds the first metav1.Duration in raw, a JSON value decoded (or
// about to be decoded) into v, whose value is not a Go duration string or is
// negative. It returns the field's path relative to raw ("lookback",
// "forecast.window", "recall[0].within", "checks.kubelet-cert") and why; the
// reason is "" when every duration is fine. Values that are not strings are left to
// encoding/json, whose type errors name the field.
func Durations(raw json.RawMessage, v any) (field, reason string) {
	if len(raw) == 0 {
		return "", ""
	}
	t := reflect.TypeOf(v)
	if t == nil {
		return "", ""
	}
	return walk(raw, t, "")
}

var durationType = reflect.TypeFor[metav1.Duration]()

func walk(raw json.RawMessage, t reflect.Type, path string) (field, reason string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		if reason := durationReason(raw); reason != "" {
			return path, reason
		}
		return "", ""
	}
	if !holdsDuration(t, nil) {
		return "", ""
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return "", ""
		}
		for _, f := range jsonFields(t) {
			key, ok := lookupKey(obj, f.name)
			if !ok {
				continue
			}
			if field, reason := walk(obj[key], f.typ, joinPath(path, key)); reason != "" {
				return field, reason
			}
		}
	case reflect.Slice, reflect.Array:
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return "", ""
		}
		for i, item := range items {
			if field, reason := walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); reason != "" {
				return field, reason
			}
		}
	case reflect.Map:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return "", ""
		}
		for _, key := range sortedKeys(obj) {
			if field, reason := walk(obj[key], t.Elem(), joinPath(path, key)); reason != "" {
				return field, reason
			}
		}
	}
	return "", ""
}

// durationReason says what is wrong with one duration value, or "".
func durationReason(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Sprintf("not a duration (like \"90s\" or \"10m\"): %q", s)
	}
	if d < 0 {
		return "must not be negative, got " + d.String()
	}
	return ""
}

// holdsDuration says whether a value of type t can contain a metav1.Duration,
// so that walk skips everything else (byte slices, strings, numbers).
func holdsDuration(t reflect.Type, seen map[reflect.Type]bool) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		return true
	}
	if seen[t] {
		return false
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return holdsDuration(t.Elem(), seen)
	case reflect.Struct:
		if seen == nil {
			seen = map[reflect.Type]bool{}
		}
		seen[t] = true
		for _, f := range jsonFields(t) {
			if holdsDuration(f.typ, seen) {
				return true
			}
		}
	}
	return false
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists the JSON names of a struct's fields as encoding/json sees
// them: the tag's name or the Go name, "-" skipped, the fields of untagged
// embedded structs promoted.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type})
	}
	return out
}

// lookupKey finds the key encoding/json would decode into a field: the exact
// name, else one equal under case folding.
func lookupKey(obj map[string]json.RawMessage, name string) (string, bool) {
	if _, ok := obj[name]; ok {
		return name, true
	}
	for _, key := range sortedKeys(obj) {
		if strings.EqualFold(key, name) {
			return key, true
		}
	}
	return "", false
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]json.RawMessage) []string {
	return slices.Sorted(maps.Keys(m))
}

// HostPaths rejects a host path that is not absolute: every host path in the
// configuration is resolved under the host root, from "/". field names the
// list ("paths"); errors name the entry ("paths[2]").
func HostPaths(s probes.Settings, field string, paths []string) error {
	for i, p := range paths {
		if err := HostPath(s, fmt.Sprintf("%s[%d]", field, i), p); err != nil {
			return err
		}
	}
	return nil
}

// HostPath rejects one host path that is not absolute.
func HostPath(s probes.Settings, field, p string) error {
	if !path.IsAbs(p) {
		return s.Fieldf(field, "must be an absolute host path, got %q", p)
	}
	return nil
}

// FormatDuration prints a duration the way it is written in configuration,
// without trailing zero units: 1m, 1h30m, 168h, 20s, 1.5s (time.Duration's
// String gives 1m0s, 1h30m0s, 168h0m0s).
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
