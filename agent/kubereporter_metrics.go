package agent

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// kubeReporterMetrics are the reporter's metric children, resolved once so
// that the hot paths do no label lookups.
type kubeReporterMetrics struct {
	statusWrites, statusErrors prometheus.Counter
	eventWrites, eventErrors   prometheus.Counter
	statusDuration             prometheus.Observer
	eventDuration              prometheus.Observer
	suppressedVec              *prometheus.CounterVec
	eventsDropped              prometheus.Counter
	pending                    prometheus.Gauge
}

func (m kubeReporterMetrics) suppressed(reason string) prometheus.Counter {
	return m.suppressedVec.WithLabelValues(reason)
}

// newKubeReporterMetrics registers the reporter's metrics on reg, reusing
// the families another reporter registered first.
func newKubeReporterMetrics(reg prometheus.Registerer, logger *slog.Logger) kubeReporterMetrics {
	writes := kubeRegisterOrReuse(reg, logger, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nodetriage_api_writes_total",
		Help: "Kubernetes API writes by the reporter: kind is status (nodes/status patch) or event (Event create or series update).",
	}, []string{"kind", "result"}))
	duration := kubeRegisterOrReuse(reg, logger, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "nodetriage_api_write_duration_seconds",
		Help:    "Duration of Kubernetes API writes by the reporter.",
		Buckets: prometheus.DefBuckets,
	}, []string{"kind"}))
	suppressed := kubeRegisterOrReuse(reg, logger, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nodetriage_events_suppressed_total",
		Help: "Events not written because their reason's rate limit was exhausted.",
	}, []string{"reason"}))
	dropped := kubeRegisterOrReuse(reg, logger, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "nodetriage_events_dropped_total",
		Help: "Events lost: the buffer overflowed while the API server was unreachable, or the API server rejected them.",
	}))
	pending := kubeRegisterOrReuse(reg, logger, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "nodetriage_reporter_pending",
		Help: "1 while the desired node conditions are not yet written to the API server (summed over reporters in one process).",
	}))
	return kubeReporterMetrics{
		statusWrites:   writes.WithLabelValues("status", "success"),
		statusErrors:   writes.WithLabelValues("status", "error"),
		eventWrites:    writes.WithLabelValues("event", "success"),
		eventErrors:    writes.WithLabelValues("event", "error"),
		statusDuration: duration.WithLabelValues("status"),
		eventDuration:  duration.WithLabelValues("event"),
		suppressedVec:  suppressed,
		eventsDropped:  dropped,
		pending:        pending,
	}
}

// kubeRegisterOrReuse registers c, or returns the collector already registered
// under the same description. Any other registration error (a clashing
// definition) is logged and c is used unregistered, so reporting still works.
func kubeRegisterOrReuse[C prometheus.Collector](reg prometheus.Registerer, logger *slog.Logger, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing
		}
	}
	logger.Error("cannot register reporter metric; it will not be exported", "err", err)
	return c
}
