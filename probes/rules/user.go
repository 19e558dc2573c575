package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nodetriage/nodetriage/internal/config"
	"github.com/nodetriage/nodetriage/probes"
)

// UserRulesCheck is the Check of findings from user rules.
const UserRulesCheck = "user-rules"

// DecodeUserRules strictly decodes user rules from a config section shaped
// {"rules": [Rule, …]} (a bare list is accepted too) and validates each rule
// as NewEngine would, also against the default rules' names. Errors are
// *probes.FieldError naming the field, e.g. "logs.rules[3].pattern".
func DecodeUserRules(s probes.Settings) ([]Rule, error) {
	raw := bytes.TrimSpace(s.Raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	list := raw
	prefix := "rules"
	if raw[0] == '[' {
		prefix = ""
	} else {
		var section struct {
			Rules json.RawMessage `json:"rules"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&section); err != nil {
			return nil, fieldError(s, "", "%s", describeJSON(err))
		}
		list = bytes.TrimSpace(section.Rules)
		if len(list) == 0 || string(list) == "null" {
			return nil, nil
		}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(list, &items); err != nil {
		return nil, fieldError(s, prefix, "want a list of rules: %s", describeJSON(err))
	}

	defaults := map[string]bool{}
	for _, r := range DefaultRules() {
		defaults[r.Name] = true
	}
	at := func(i int, field string) string {
		f := fmt.Sprintf("%s[%d]", prefix, i)
		if field != "" {
			f += "." + field
		}
		return f
	}

	rules := make([]Rule, 0, len(items))
	compiled := make([]*compiledRule, 0, len(items))
	for i, item := range items {
		var r Rule
		if field, reason := config.Durations(item, &r); reason != "" {
			return nil, fieldError(s, at(i, field), "%s", reason)
		}
		dec := json.NewDecoder(bytes.NewReader(item))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fieldError(s, at(i, jsonField(err)), "%s", describeJSON(err))
		}
		r.Check = UserRulesCheck
		if defaults[r.Name] {
			return nil, fieldError(s, at(i, "name"), "%q is already a default rule's name", r.Name)
		}
		c, err := compileRule(r)
		if err != nil {
			return nil, ruleFieldError(s, at(i, ""), err)
		}
		c.idx = i
		rules = append(rules, r)
		compiled = append(compiled, c)
	}
	// Recall may name default context rules (e.g. the OOM summary), so link
	// against the defaults too.
	var defaultCompiled []*compiledRule
	for _, r := range DefaultRules() {
		if r.Kind == KindContext {
			if c, err := compileRule(r); err == nil {
				defaultCompiled = append(defaultCompiled, c)
			}
		}
	}
	if i, err := linkRules(append(compiled, defaultCompiled...)); err != nil {
		if i >= len(compiled) {
			return nil, fmt.Errorf("%s: default rule %q: %w", s.Path, defaultCompiled[i-len(compiled)].Name, err)
		}
		return nil, ruleFieldError(s, at(i, ""), err)
	}
	return rules, nil
}

func fieldError(s probes.Settings, field, format string, args ...any) error {
	full := s.Path
	switch {
	case field == "":
	case full == "" || strings.HasPrefix(field, "["):
		full += field
	default:
		full += "." + field
	}
	return &probes.FieldError{Field: full, Reason: fmt.Sprintf(format, args...)}
}

func ruleFieldError(s probes.Settings, at string, err error) error {
	var re *ruleError
	if errors.As(err, &re) {
		return fieldError(s, at+"."+re.field, "%s", re.msg)
	}
	return fieldError(s, at, "%v", err)
}

// jsonField names the field a decode error is about, when encoding/json
// says (type errors and unknown fields; durations are checked before
// decoding, by config.Durations).
func jsonField(err error) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return typ.Field
	}
	if rest, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return strings.Trim(rest, `"`)
	}
	return ""
}

func describeJSON(err error) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Sprintf("cannot use JSON %s as %s", typ.Value, typ.Type)
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field"
	}
	return strings.TrimPrefix(msg, "json: ")
}
