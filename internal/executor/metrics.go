package executor

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sdep-dev/sdep/internal/predictor"
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

// Request-load metrics per graph node that calls a component, for
// autoscaling on requests (docs/request-autoscaling.md).
const (
	inFlightMetric = "seldon_requests_in_flight"
	rpsMetric      = "seldon_requests_per_second"
	heldMetric     = "seldon_requests_held"
)

// rateWindow is how many whole seconds seldon_requests_per_second averages
// over: the requests started in the rateWindow complete seconds before the
// current one, divided by rateWindow (or by the seconds the executor has
// existed, when that is shorter).
const rateWindow = 10

// nodeLoad counts one node's calls to its component. begin and end are one
// atomic update each plus a clock read; nothing is looked up or allocated
// per request.
type nodeLoad struct {
	inFlight atomic.Int64
	// buckets[s%len] packs the second s (low 32 bits of the Unix second,
	// high half) and the requests started in it (low half), so a bucket is
	// reset and counted with one compare-and-swap.
	buckets [rateWindow + 1]atomic.Uint64
	created int64 // Unix second of the executor's start
	now     func() time.Time
}

func newNodeLoad(now func() time.Time) *nodeLoad {
	return &nodeLoad{now: now, created: now().Unix()}
}

// begin counts a request that is about to wait for or be served by one of
// the node's endpoints; end must follow it.
func (l *nodeLoad) begin() {
	l.inFlight.Add(1)
	sec := uint64(uint32(l.now().Unix()))
	b := &l.buckets[sec%uint64(len(l.buckets))]
	for {
		v := b.Load()
		next := sec<<32 | 1
		if v>>32 == sec {
			next = v + 1
		}
		if b.CompareAndSwap(v, next) {
			return
		}
	}
}

func (l *nodeLoad) end() { l.inFlight.Add(-1) }

// rate is the requests per second over the last rateWindow whole seconds.
func (l *nodeLoad) rate() float64 {
	now := l.now().Unix()
	span := min(int64(rateWindow), now-l.created)
	if span <= 0 {
		return 0
	}
	var n uint64
	for s := now - span; s < now; s++ {
		sec := uint64(uint32(s))
		if v := l.buckets[sec%uint64(len(l.buckets))].Load(); v>>32 == sec {
			n += v & (1<<32 - 1)
		}
	}
	return float64(n) / float64(span)
}

// loadCollector exports every node's load; the values are read from the
// nodes' counters at scrape time.
type loadCollector struct {
	inFlight, rps, held *prometheus.Desc
	nodes               []*node
	labels              [][]string
}

var loadLabels = []string{"deployment_name", "predictor_name", "predictor_version",
	"model_name", "model_image", "model_version"}

func newLoadCollector(e *Executor) *loadCollector {
	c := &loadCollector{
		inFlight: prometheus.NewDesc(inFlightMetric,
			"Requests being served by, or waiting for, the endpoints of a graph node's component.", loadLabels, nil),
		rps: prometheus.NewDesc(rpsMetric,
			"Requests per second sent to a graph node's component, over the last 10 whole seconds.", loadLabels, nil),
		held: prometheus.NewDesc(heldMetric,
			"Requests waiting for a replica of a graph node's component (none ready, or all at the concurrency limit); "+
				"they are counted in "+inFlightMetric+" too.", loadLabels, nil),
	}
	for _, n := range e.nodes {
		if n.load == nil {
			continue
		}
		image, version := predictor.SplitImage(n.image)
		c.nodes = append(c.nodes, n)
		c.labels = append(c.labels, []string{e.cfg.deployment, e.pred.Name, e.pred.Annotations["version"],
			n.name, image, version})
	}
	return c
}

func (c *loadCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.inFlight
	ch <- c.rps
	ch <- c.held
}

func (c *loadCollector) Collect(ch chan<- prometheus.Metric) {
	for i, n := range c.nodes {
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(n.load.inFlight.Load()), c.labels[i]...)
		ch <- prometheus.MustNewConstMetric(c.rps, prometheus.GaugeValue, n.load.rate(), c.labels[i]...)
		ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(n.endpoints.Held()), c.labels[i]...)
	}
}

// LoadPath serves the executor's load as JSON (type Load): a few numbers
// per node, cheap to produce and to parse, for sdep's custom metrics API.
const LoadPath = "/load"

// Load is the body of LoadPath.
type Load struct {
	Deployment string     `json:"deployment"`
	Predictor  string     `json:"predictor"`
	Nodes      []NodeLoad `json:"nodes"`
}

// NodeLoad is one graph node's figures.
type NodeLoad struct {
	Name string `json:"name"`
	// InFlight is seldon_requests_in_flight.
	InFlight int64 `json:"inFlight"`
	// RequestsPerSecond is seldon_requests_per_second.
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	// Held is seldon_requests_held: requests (among InFlight) waiting for
	// a replica.
	Held int64 `json:"held"`
}

// Load reports the current figures of every node that calls a component.
func (e *Executor) Load() Load {
	out := Load{Deployment: e.cfg.deployment, Predictor: e.pred.Name, Nodes: []NodeLoad{}}
	for _, n := range e.nodes {
		if n.load != nil {
			out.Nodes = append(out.Nodes, NodeLoad{Name: n.name, InFlight: n.load.inFlight.Load(),
				RequestsPerSecond: n.load.rate(), Held: n.endpoints.Held()})
		}
	}
	return out
}

// ComponentLoad is one component's figures from the Loads of its
// predictor's executors: each graph node among nodes (the component's
// container names) summed over the executors, then the largest node's (a
// component usually holds one model). ok reports whether any of the nodes
// is in the Loads. The metrics API and sdep serve both use it, so the HPA
// and the local table see the same figure.
func ComponentLoad(loads []Load, predictor string, nodes map[string]bool) (inFlight int64, rps float64, ok bool) {
	perInFlight := map[string]int64{}
	perRPS := map[string]float64{}
	for _, l := range loads {
		if l.Predictor != predictor {
			continue
		}
		for _, n := range l.Nodes {
			if nodes[n.Name] {
				ok = true
				perInFlight[n.Name] += n.InFlight
				perRPS[n.Name] += n.RequestsPerSecond
			}
		}
	}
	for n := range nodes {
		inFlight = max(inFlight, perInFlight[n])
		rps = max(rps, perRPS[n])
	}
	return inFlight, rps, ok
}
