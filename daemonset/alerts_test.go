package daemonset

import (
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/nodetriage/nodetriage/agent"
)

// capturingRegisterer records the collectors the agent registers, so that
// their metric names can be listed even before any series exists.
type capturingRegisterer struct{ collectors []prometheus.Collector }

func (r *capturingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *capturingRegisterer) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *capturingRegisterer) Unregister(prometheus.Collector) bool { return true }

// agentMetricNames lists every metric family the agent and its Kubernetes
// reporter export.
func agentMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	reg := &capturingRegisterer{}
	if _, err := agent.NewMetrics(reg, "test", "test"); err != nil {
		t.Fatal(err)
	}
	agent.NewKubeReporter(nil, "node", agent.KubeReporterConfig{}, clock.RealClock{}, slog.New(slog.DiscardHandler), reg)
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for _, c := range reg.collectors {
		ch := make(chan *prometheus.Desc, 64)
		go func() {
			c.Describe(ch)
			close(ch)
		}()
		for d := range ch {
			if m := fqName.FindStringSubmatch(d.String()); m != nil {
				names[m[1]] = true
			}
		}
	}
	if !names["nodetriage_condition_status"] {
		t.Fatalf("nodetriage_condition_status not among the agent's metrics %v", names)
	}
	return names
}

type prometheusRule struct {
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert  string            `json:"alert"`
				Expr   string            `json:"expr"`
				For    string            `json:"for"`
				Labels map[string]string `json:"labels"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// TestAlertsUseTheAgentsMetrics: every nodetriage_ metric an alert reads
// exists, and every condition an alert names is one the agent owns.
func TestAlertsUseTheAgentsMetrics(t *testing.T) {
	var rule prometheusRule
	find(t, render(t, "overlays/monitoring"), "PrometheusRule", "nodetriage", &rule)
	metrics := agentMetricNames(t)
	conditions := map[string]bool{}
	for _, c := range ownConditionTypes() {
		conditions[c] = true
	}
	metricRef := regexp.MustCompile(`\bnodetriage_[a-z_]+`)
	conditionRef := regexp.MustCompile(`condition=~?"([^"]+)"|condition!~"([^"]+)"`)
	n := 0
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			n++
			t.Run(r.Alert, func(t *testing.T) {
				if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" {
					t.Fatalf("alert %+v needs a name, an expression and a severity label", r)
				}
				for _, m := range metricRef.FindAllString(r.Expr, -1) {
					if !metrics[m] {
						t.Errorf("expression uses %s, which the agent does not export", m)
					}
				}
				for _, m := range conditionRef.FindAllStringSubmatch(r.Expr, -1) {
					for _, c := range strings.Split(m[1]+m[2], "|") {
						if !conditions[c] {
							t.Errorf("expression names condition %s, which no check or rule sets", c)
						}
					}
				}
			})
		}
	}
	if n == 0 {
		t.Fatal("the PrometheusRule has no rules")
	}
}

// TestAlertsAreDocumented: docs/alerts.md explains every alert.
func TestAlertsAreDocumented(t *testing.T) {
	var rule prometheusRule
	find(t, render(t, "overlays/monitoring"), "PrometheusRule", "nodetriage", &rule)
	doc, err := os.ReadFile("../docs/alerts.md")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if !strings.Contains(string(doc), "`"+r.Alert+"`") {
				missing = append(missing, r.Alert)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/alerts.md does not explain %s", strings.Join(missing, ", "))
	}
}
