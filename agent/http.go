package agent

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the agent's HTTP endpoints:
//
//	/metrics         Prometheus metrics (cached values only)
//	/healthz         503 with the reason when the agent's own machinery
//	                 stalled (a check loop, a log consumer); never because of
//	                 what the agent finds on the node, and not because a check
//	                 is stuck in the kernel (its run is abandoned, the
//	                 condition goes Unknown and nodetriage_check_stuck is 1:
//	                 a restart would only walk back into the same hang)
//	/readyz          200 once the config is loaded and every enabled check ran
//	/debug/findings  current findings and conditions as JSON, the shape of
//	                 `nodetriage check --output json`
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	metrics := a.registry
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, a.Healthy())
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, a.Ready())
	})
	mux.HandleFunc("GET /debug/findings", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(a.Report()) // a failed write means the client went away
	})
	return mux
}

func writeStatus(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(err.Error() + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}
