package config

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetriage/nodetriage/probes"
)

type testRecall struct {
	Rule   string          `json:"rule"`
	Within metav1.Duration `json:"within"`
}

type testInner struct {
	Window metav1.Duration `json:"window"`
}

type TestEmbedded struct {
	Quiet metav1.Duration `json:"quiet"`
}

type testConfig struct {
	TestEmbedded
	Name     string                      `json:"name"`
	Lookback metav1.Duration             `json:"lookback"`
	Delay    *metav1.Duration            `json:"delay"`
	Forecast testInner                   `json:"forecast"`
	Recall   []testRecall                `json:"recall"`
	PerUnit  map[string]*metav1.Duration `json:"perUnit"`
	Raw      json.RawMessage             `json:"raw"`
	Ignored  metav1.Duration             `json:"-"`
}

func testDefaults() testConfig {
	return testConfig{Lookback: metav1.Duration{Duration: 5 * time.Minute}, Forecast: testInner{Window: metav1.Duration{Duration: time.Hour}}}
}

func TestDecode(t *testing.T) {
	const path = "checks.example.settings"
	tests := []struct {
		name    string
		raw     string
		want    func(*testConfig)
		wantErr *probes.FieldError
	}{
		{name: "empty keeps the defaults", raw: ``},
		{name: "null keeps the defaults", raw: `null`},
		{name: "every kind of place", raw: `{"quiet":"2s","lookback":"1h30m","delay":"0s","forecast":{"window":"15m"},"recall":[{"rule":"a","within":"30s"}],"perUnit":{"kubelet.service":"20m"}}`,
			want: func(c *testConfig) {
				c.Quiet.Duration = 2 * time.Second
				c.Lookback.Duration = 90 * time.Minute
				c.Delay = &metav1.Duration{}
				c.Forecast.Window.Duration = 15 * time.Minute
				c.Recall = []testRecall{{Rule: "a", Within: metav1.Duration{Duration: 30 * time.Second}}}
				c.PerUnit = map[string]*metav1.Duration{"kubelet.service": {Duration: 20 * time.Minute}}
			}},
		{name: "not a duration", raw: `{"lookback":"soon"}`,
			wantErr: &probes.FieldError{Field: path + ".lookback", Reason: `not a duration (like "90s" or "10m"): "soon"`}},
		{name: "a day is not a unit", raw: `{"forecast":{"window":"7d"}}`,
			wantErr: &probes.FieldError{Field: path + ".forecast.window", Reason: `not a duration (like "90s" or "10m"): "7d"`}},
		{name: "negative", raw: `{"lookback":"-1m"}`,
			wantErr: &probes.FieldError{Field: path + ".lookback", Reason: "must not be negative, got -1m0s"}},
		{name: "negative behind a pointer", raw: `{"delay":"-1s"}`,
			wantErr: &probes.FieldError{Field: path + ".delay", Reason: "must not be negative, got -1s"}},
		{name: "embedded", raw: `{"quiet":"-2s"}`,
			wantErr: &probes.FieldError{Field: path + ".quiet", Reason: "must not be negative, got -2s"}},
		{name: "in a list", raw: `{"recall":[{"rule":"a","within":"1m"},{"rule":"b","within":"a minute"}]}`,
			wantErr: &probes.FieldError{Field: path + ".recall[1].within", Reason: `not a duration (like "90s" or "10m"): "a minute"`}},
		{name: "in a map", raw: `{"perUnit":{"a.service":"1m","b.service":"-1h"}}`,
			wantErr: &probes.FieldError{Field: path + ".perUnit.b.service", Reason: "must not be negative, got -1h0m0s"}},
		{name: "key in another case, as encoding/json matches it", raw: `{"Lookback":"never"}`,
			wantErr: &probes.FieldError{Field: path + ".Lookback", Reason: `not a duration (like "90s" or "10m"): "never"`}},
		{name: "a number is encoding/json's type error", raw: `{"lookback":300}`,
			wantErr: &probes.FieldError{Field: path + ".lookback", Reason: "cannot use number as string"}},
		{name: "other errors pass through", raw: `{"lookbak":"5m"}`,
			wantErr: &probes.FieldError{Field: path + ".lookbak", Reason: "unknown field"}},
		{name: "raw JSON is not looked into", raw: `{"raw":{"lookback":"soon"}}`,
			want: func(c *testConfig) { c.Raw = json.RawMessage(`{"lookback":"soon"}`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testDefaults()
			err := Decode(probes.Settings{Path: path, Raw: json.RawMessage(tt.raw)}, &got)
			if tt.wantErr != nil {
				var fe *probes.FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("Decode error = %v (%T), want a FieldError", err, err)
				}
				if diff := cmp.Diff(*tt.wantErr, *fe); diff != "" {
					t.Errorf("FieldError (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := testDefaults()
			if tt.want != nil {
				tt.want(&want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDurationsWithoutAField(t *testing.T) {
	var d metav1.Duration
	if field, reason := Durations(json.RawMessage(`"-5m"`), &d); field != "" || reason != "must not be negative, got -5m0s" {
		t.Errorf("Durations of a bare duration = %q, %q", field, reason)
	}
	for _, raw := range []string{``, `"5m"`, `5`, `{`} {
		if field, reason := Durations(json.RawMessage(raw), &d); reason != "" {
			t.Errorf("Durations(%s) = %q, %q, want nothing", raw, field, reason)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Minute: "1m", 20 * time.Second: "20s", time.Hour: "1h", 90 * time.Minute: "1h30m",
		1500 * time.Millisecond: "1.5s", 0: "0s", 61 * time.Second: "1m1s", 168 * time.Hour: "168h",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestHostPaths(t *testing.T) {
	s := probes.Settings{Path: "checks.example.settings"}
	tests := []struct {
		paths []string
		want  string
	}{
		{paths: nil},
		{paths: []string{"/var/log", "/"}},
		{paths: []string{"/var/log", "var/log/pods"}, want: `checks.example.settings.paths[1]: must be an absolute host path, got "var/log/pods"`},
		{paths: []string{""}, want: `checks.example.settings.paths[0]: must be an absolute host path, got ""`},
	}
	for _, tt := range tests {
		err := HostPaths(s, "paths", tt.paths)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("HostPaths(%q) = %q, want %q", tt.paths, got, tt.want)
		}
	}
}
