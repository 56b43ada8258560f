package executor

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Upstream's metric names, labels and buckets, so dashboards keep working.
const (
	serverMetric = "seldon_api_executor_server_requests_seconds"
	clientMetric = "seldon_api_executor_client_requests_seconds"
)

var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// rejectedMetric counts requests turned away at the executor's limits.
const rejectedMetric = "sdep_executor_rejected_requests_total"

type metrics struct {
	server   *prometheus.HistogramVec
	client   *prometheus.HistogramVec
	rejected *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		server: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    serverMetric,
			Help:    "Time the executor took to answer a request (ingress to executor).",
			Buckets: latencyBuckets,
		}, []string{"deployment_name", "predictor_name", "predictor_version", "service", "method", "code"}),
		client: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    clientMetric,
			Help:    "Time a graph component took to answer the executor.",
			Buckets: latencyBuckets,
		}, []string{"deployment_name", "predictor_name", "predictor_version", "service", "method", "code",
			"model_name", "model_image", "model_version"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: rejectedMetric,
			Help: "Requests the executor turned away (503 / Unavailable) because it was at a limit: " +
				"inflight (concurrent requests) or body_memory (request body bytes held at once).",
		}, []string{"transport", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.server, m.client, m.rejected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observer records one label set's latencies. Every label but the status
// code is fixed when the graph is built; the common codes get their own
// pre-resolved observer so a request costs one atomic histogram update and no
// label hashing or allocation.
type observer struct {
	ok    prometheus.Observer // "200" or "OK"
	okKey string
	vec   prometheus.ObserverVec
	other sync.Map // code string -> prometheus.Observer
}

func newObserver(vec prometheus.ObserverVec, okKey string) *observer {
	return &observer{ok: vec.WithLabelValues(okKey), okKey: okKey, vec: vec}
}

func (o *observer) observe(code string, since time.Time) {
	secs := time.Since(since).Seconds()
	if code == o.okKey {
		o.ok.Observe(secs)
		return
	}
	if v, ok := o.other.Load(code); ok {
		v.(prometheus.Observer).Observe(secs)
		return
	}
	obs := o.vec.WithLabelValues(code)
	o.other.Store(code, obs)
	obs.Observe(secs)
}

// httpCode renders an HTTP status as the code label without allocating for
// the usual ones.
func httpCode(status int) string {
	switch status {
	case 200:
		return "200"
	case 400:
		return "400"
	case 500:
		return "500"
	case 503:
		return "503"
	case 504:
		return "504"
	}
	return strconv.Itoa(status)
}
