package agent

import (
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nodetriage/nodetriage/probes"
)

// Check run results, the values of nodetriage_check_runs_total{result}.
const (
	resultSuccess       = "success"
	resultError         = "error"
	resultNotApplicable = "not_applicable"
	resultPanic         = "panic"
	resultTimeout       = "timeout"
)

// Metrics are the agent's own Prometheus collectors. Every value is updated
// where the event happens; a scrape only reads them and never touches the
// host.
type Metrics struct {
	conditionStatus  *prometheus.GaugeVec
	activeFindings   *prometheus.GaugeVec
	findings         *prometheus.CounterVec
	checkDuration    *prometheus.HistogramVec
	checkRuns        *prometheus.CounterVec
	checkLastSuccess *prometheus.GaugeVec
	checkStuck       *prometheus.GaugeVec
	logLines         *prometheus.CounterVec
	logLinesDropped  *prometheus.CounterVec
	streamRestarts   *prometheus.CounterVec
	configReloads    *prometheus.CounterVec
	configLastReload prometheus.Gauge
	stateWriteErrors prometheus.Counter
	recordsLost      *lostRecords
}

// NewMetrics creates the agent's collectors and registers them (plus the Go
// and process collectors and build info) with reg.
func NewMetrics(reg prometheus.Registerer, version, commit string) (*Metrics, error) {
	m := &Metrics{
		conditionStatus: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nodetriage_condition_status",
			Help: "Status of each NodeCondition the agent owns, one-hot over True, False and Unknown.",
		}, []string{"condition", "status"}),
		activeFindings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nodetriage_active_findings",
			Help: "Findings currently active per condition (warning or problem, past their visibility delay).",
		}, []string{"condition"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodetriage_findings_total",
			Help: "Findings detected: a periodic check's finding when it first appears, a log finding on every matching line, each event-only finding when emitted.",
		}, []string{"check", "reason"}),
		checkDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nodetriage_check_duration_seconds",
			Help:    "Duration of check runs.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30},
		}, []string{"check"}),
		checkRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodetriage_check_runs_total",
			Help: "Check runs by result: success, error, not_applicable, panic, timeout.",
		}, []string{"check", "result"}),
		checkStuck: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nodetriage_check_stuck",
			Help: "1 while a run of the check that did not return by its deadline is still running (stuck in the kernel, e.g. on a hung NFS mount); the check is not run again until it returns.",
		}, []string{"check"}),
		checkLastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nodetriage_check_last_success_timestamp_seconds",
			Help: "Unix time of each check's last run that completed without error.",
		}, []string{"check"}),
		logLines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodetriage_log_lines_total",
			Help: "Log lines received from each source.",
		}, []string{"source"}),
		logLinesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodetriage_log_lines_dropped_total",
			Help: "Log lines dropped because the source's queue was full.",
		}, []string{"source"}),
		streamRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodetriage_stream_restarts_total",
			Help: "Times a log source stopped with an error and was restarted.",
		}, []string{"source"}),
		configReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodetriage_config_reload_total",
			Help: "Configuration reloads by result: success or error.",
		}, []string{"result"}),
		configLastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nodetriage_config_last_reload_success",
			Help: "1 when the last configuration load or reload succeeded, 0 when it was rejected.",
		}),
		stateWriteErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodetriage_state_write_errors_total",
			Help: "Failed writes of the persisted findings file in the state directory.",
		}),
		recordsLost: &lostRecords{
			desc: prometheus.NewDesc("nodetriage_log_records_lost_total",
				"Log records lost at the source (kmsg ring overrun, journal vacuumed under the reader).",
				[]string{"source"}, nil),
			sources: map[string]*lostSource{},
		},
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "nodetriage_build_info",
		Help: "Build information; the value is always 1.",
	}, []string{"version", "goversion", "commit"})
	buildInfo.WithLabelValues(version, runtime.Version(), commit).Set(1)
	m.configLastReload.Set(1)

	cs := []prometheus.Collector{
		m.conditionStatus, m.activeFindings, m.findings, m.checkDuration, m.checkRuns,
		m.checkLastSuccess, m.checkStuck, m.logLines, m.logLinesDropped, m.streamRestarts,
		m.configReloads, m.configLastReload, m.stateWriteErrors, m.recordsLost, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// setCondition makes the one-hot status series for a condition; status ""
// deletes them (the condition is no longer ours to report).
func (m *Metrics) setCondition(condition, status string, active int) {
	for _, s := range []string{"True", "False", "Unknown"} {
		if status == "" {
			m.conditionStatus.DeleteLabelValues(condition, s)
			continue
		}
		v := 0.0
		if s == status {
			v = 1
		}
		m.conditionStatus.WithLabelValues(condition, s).Set(v)
	}
	if status == "" {
		m.activeFindings.DeleteLabelValues(condition)
		return
	}
	m.activeFindings.WithLabelValues(condition).Set(float64(active))
}

// lostRecords exports probes.Lossy counts. A restarted stream starts
// counting from zero again, so the count of the streams that came before is
// kept as a base. Lost() is an atomic read in the streams, so collecting
// stays cheap and touches nothing on the host.
type lostRecords struct {
	desc    *prometheus.Desc
	mu      sync.Mutex
	sources map[string]*lostSource
}

type lostSource struct {
	base    uint64
	current probes.Lossy
}

// track makes s the current stream of source, folding the previous one's
// count into the base.
func (l *lostRecords) track(source string, s probes.Lossy) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls := l.sources[source]
	if ls == nil {
		ls = &lostSource{}
		l.sources[source] = ls
	}
	if ls.current != nil {
		ls.base += ls.current.Lost()
	}
	ls.current = s
}

func (l *lostRecords) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

func (l *lostRecords) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, ls := range l.sources {
		n := ls.base
		if ls.current != nil {
			n += ls.current.Lost()
		}
		ch <- prometheus.MustNewConstMetric(l.desc, prometheus.CounterValue, float64(n), name)
	}
}
