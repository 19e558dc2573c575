package e2e

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metrics is one scrape, by family name.
type metrics map[string]*dto.MetricFamily

// scrapeMetrics reads /metrics from a running agent.
func scrapeMetrics(baseURL string) (metrics, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(baseURL + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("GET /metrics: %s: %s", resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return families, nil
}

func gathered(families []*dto.MetricFamily) metrics {
	m := metrics{}
	for _, f := range families {
		m[f.GetName()] = f
	}
	return m
}

// value returns the sample of family name whose labels include labels
// (name=value pairs), and whether there is one.
func (m metrics) value(name string, labels ...string) (float64, bool) {
	f := m[name]
	if f == nil {
		return 0, false
	}
	for _, metric := range f.GetMetric() {
		if !hasLabels(metric, labels) {
			continue
		}
		switch {
		case metric.GetGauge() != nil:
			return metric.GetGauge().GetValue(), true
		case metric.GetCounter() != nil:
			return metric.GetCounter().GetValue(), true
		case metric.GetUntyped() != nil:
			return metric.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// labelValues lists the values label takes in family name, sorted.
func (m metrics) labelValues(name, label string) []string {
	var out []string
	if f := m[name]; f != nil {
		for _, metric := range f.GetMetric() {
			for _, lp := range metric.GetLabel() {
				if lp.GetName() == label {
					out = append(out, lp.GetValue())
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func hasLabels(metric *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		ok := false
		for _, lp := range metric.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// conditionGauge says what nodetriage_condition_status holds for one
// condition: "True=1 False=0 Unknown=0".
func (m metrics) conditionGauge(condition string) string {
	var parts []string
	for _, s := range []string{"True", "False", "Unknown"} {
		v, ok := m.value("nodetriage_condition_status", "condition", condition, "status", s)
		if !ok {
			parts = append(parts, s+"=absent")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%g", s, v))
	}
	return strings.Join(parts, " ")
}
