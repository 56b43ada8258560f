package local

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/sdep-dev/sdep/internal/autoscale"
)

// Status is the runtime's machine-readable state (GET /status).
type Status struct {
	Time time.Time `json:"time"`
	// Front is where the SeldonDeployment's front ports listen.
	Front      FrontAddrs        `json:"front"`
	Predictors []PredictorStatus `json:"predictors"`
	Components []ComponentStatus `json:"components"`
}

// PredictorStatus is one predictor: its own ports, its place in the
// traffic split and the front requests it received.
type PredictorStatus struct {
	PredictorAddrs
	Traffic int32 `json:"traffic"`
	Shadow  bool  `json:"shadow,omitempty"`
	// Ready is whether every component has a Ready replica, or has
	// minReplicas 0 (its requests wait for the replica they wake); a
	// predictor that is not gets no share of the split.
	Ready bool `json:"ready"`
	// Share is the percentage of front requests it is sent now.
	Share float64 `json:"share"`
	// Requests counts front requests sent to it (direct calls to its own
	// ports are not counted).
	Requests int64 `json:"requests"`
	// For the shadow: mirrored requests answered, those answered with an
	// error, and those not mirrored because the bounded mirror queue was
	// full (or the body over 4 MiB).
	Mirrored      int64 `json:"mirrored,omitempty"`
	MirrorErrors  int64 `json:"mirrorErrors,omitempty"`
	MirrorDropped int64 `json:"mirrorDropped,omitempty"`
}

// ComponentStatus is one component (one Deployment).
type ComponentStatus struct {
	Predictor  string `json:"predictor"`
	Component  string `json:"component"`  // componentSpec name
	Deployment string `json:"deployment"` // Deployment name
	// Replicas are live replicas, Ready those serving, Desired the count
	// the autoscaler (or the document) asks for, Terminating those
	// draining or stopping.
	Replicas    int32 `json:"replicas"`
	Ready       int32 `json:"ready"`
	Desired     int32 `json:"desired"`
	Terminating int32 `json:"terminating"`
	MinReplicas int32 `json:"minReplicas,omitempty"`
	MaxReplicas int32 `json:"maxReplicas,omitempty"`
	// Metrics are the HPA's metrics at its last decision.
	Metrics []MetricStatus `json:"metrics,omitempty"`
	// LastSync is the autoscaler's latest outcome, a change or not (e.g.
	// "within tolerance"); LastDecision the latest one that changed the
	// replica count.
	LastSync     *DecisionRecord `json:"lastSync,omitempty"`
	LastDecision *DecisionRecord `json:"lastDecision,omitempty"`
	// Restarts counts replica processes that died and were restarted.
	Restarts    int             `json:"restarts"`
	ReplicaList []ReplicaStatus `json:"replicaList"`
	// External lists containers served by --endpoint (not autoscaled).
	External map[string]string `json:"external,omitempty"`
	// InFlight and RequestsPerSecond are the executor's
	// seldon_requests_in_flight and seldon_requests_per_second for the
	// component, as the metrics API serves them: its largest graph node's
	// (a component usually holds one node). Absent when none of its
	// containers is a graph node.
	InFlight          *int64   `json:"inFlight,omitempty"`
	RequestsPerSecond *float64 `json:"requestsPerSecond,omitempty"`
	// For minReplicas 0: ScaledToZero says no replica is wanted now,
	// Waking that a request has asked for one that is not Ready yet, and
	// ColdStarts lists each wake-up's time, in milliseconds, from the
	// 0→1 decision to a Ready replica.
	ScaledToZero bool    `json:"scaledToZero,omitempty"`
	Waking       bool    `json:"waking,omitempty"`
	ColdStarts   []int64 `json:"coldStartsMs,omitempty"`
}

// MarshalJSON writes minReplicas whenever the component has an HPA, so
// that a minimum of 0 shows as 0 rather than as no field.
func (c ComponentStatus) MarshalJSON() ([]byte, error) {
	type plain ComponentStatus
	out := struct {
		plain
		MinReplicas *int32 `json:"minReplicas,omitempty"`
	}{plain: plain(c)}
	if c.MaxReplicas > 0 {
		out.MinReplicas = &c.MinReplicas
	}
	return json.Marshal(out)
}

func durationsMillis(ds []time.Duration) []int64 {
	var out []int64
	for _, d := range ds {
		out = append(out, d.Milliseconds())
	}
	return out
}

// MetricStatus is one HPA metric: its current value and its target.
type MetricStatus struct {
	Name    string  `json:"name"`
	Current string  `json:"current"`
	Target  string  `json:"target"`
	Ratio   float64 `json:"ratio"`
	Error   string  `json:"error,omitempty"`
}

// ReplicaStatus is one replica.
type ReplicaStatus struct {
	Name        string          `json:"name"`
	Ready       bool            `json:"ready"`
	Terminating bool            `json:"terminating"`
	Processes   []ProcessStatus `json:"processes"`
}

// ProcessStatus is one container process of a replica.
type ProcessStatus struct {
	Container string `json:"container"`
	PID       int    `json:"pid"`
	HTTPPort  int32  `json:"httpPort,omitempty"`
	GRPCPort  int32  `json:"grpcPort,omitempty"`
	// CPUMillis is the CPU used over the last sync period, in millicores;
	// absent before the second sample.
	CPUMillis *int64 `json:"cpuMillicores,omitempty"`
	Restarts  int    `json:"restarts"`
	LastExit  string `json:"lastExit,omitempty"`
}

// DecisionRecord is one autoscaler decision, as logged.
type DecisionRecord struct {
	Time       time.Time `json:"time"`
	Component  string    `json:"component"`
	Deployment string    `json:"deployment"`
	From       int32     `json:"from"`
	To         int32     `json:"to"`
	Reason     string    `json:"reason"`
	Limit      string    `json:"limit,omitempty"`
}

func newDecisionRecord(c *component, d autoscale.Decision) DecisionRecord {
	return DecisionRecord{Time: d.Time, Component: c.name, Deployment: c.deployment,
		From: d.CurrentReplicas, To: d.DesiredReplicas, Reason: d.Reason, Limit: string(d.Limit)}
}

// Sample is one component's state at one sync, for the report's plot.
type Sample struct {
	Time        time.Time `json:"time"`
	Component   string    `json:"component"`
	Deployment  string    `json:"deployment"`
	Replicas    int32     `json:"replicas"`
	Ready       int32     `json:"ready"`
	Desired     int32     `json:"desired"`
	Utilization float64   `json:"cpuUtilization"` // percent of request; -1 unknown
	Target      float64   `json:"cpuTarget"`      // percent; -1 none
}

// Status returns the current state.
func (rt *Runtime) Status() Status {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	st := Status{Time: rt.now(), Predictors: rt.predictorStatusLocked()}
	if rt.front != nil {
		st.Front = FrontAddrs{HTTP: rt.front.httpAddr, GRPC: rt.front.grpcAddr}
	}
	for _, c := range rt.components {
		cs := ComponentStatus{
			Predictor:   rt.plan.Predictors[c.predictor].Spec.Name,
			Component:   c.plan.Name,
			Deployment:  c.plan.Deployment,
			Replicas:    int32(len(c.replicas)),
			Ready:       c.readyCountLocked(),
			Desired:     c.desired,
			Terminating: int32(len(c.terminating)),
			ReplicaList: []ReplicaStatus{},
		}
		if h := c.plan.HPA; h != nil {
			cs.MinReplicas, cs.MaxReplicas = 1, h.MaxReplicas
			if h.MinReplicas != nil {
				cs.MinReplicas = *h.MinReplicas
			}
			if c.plan.ScaleToZero {
				cs.MinReplicas = 0
				cs.ScaledToZero = c.desired == 0
				cs.Waking = !c.wokeAt.IsZero()
				cs.ColdStarts = durationsMillis(c.coldStarts)
			}
		}
		if c.last != nil {
			last := newDecisionRecord(c, *c.last)
			cs.LastSync = &last
			for _, m := range c.last.Metrics {
				cs.Metrics = append(cs.Metrics, MetricStatus{Name: m.Name, Current: m.Current,
					Target: m.Target, Ratio: m.Ratio, Error: m.Err})
			}
		}
		for i := len(rt.decisions) - 1; i >= 0; i-- {
			if rt.decisions[i].Deployment == c.plan.Deployment {
				d := rt.decisions[i]
				cs.LastDecision = &d
				break
			}
		}
		rt.addLoadLocked(&cs, c)
		for _, ct := range c.plan.Containers {
			if ct.External != "" {
				if cs.External == nil {
					cs.External = map[string]string{}
				}
				cs.External[ct.Name] = ct.External
			}
		}
		add := func(r *replica, terminating bool) {
			rs := ReplicaStatus{Name: r.name, Ready: r.ready, Terminating: terminating}
			for _, pr := range r.procs {
				ps := ProcessStatus{Container: pr.container.Name, PID: pr.pid,
					HTTPPort: pr.endpoint.HTTPPort, GRPCPort: pr.endpoint.GRPCPort,
					Restarts: pr.restarts, LastExit: pr.lastExit}
				if pr.usageMilli >= 0 {
					v := pr.usageMilli
					ps.CPUMillis = &v
				}
				cs.Restarts += pr.restarts
				rs.Processes = append(rs.Processes, ps)
			}
			cs.ReplicaList = append(cs.ReplicaList, rs)
		}
		for _, r := range c.replicas {
			add(r, false)
		}
		for _, r := range c.terminating {
			add(r, true)
		}
		st.Components = append(st.Components, cs)
	}
	return st
}

// addLoadLocked fills the component's request figures from its
// predictor's executor, by the rule the metrics API serves to the HPA.
func (rt *Runtime) addLoadLocked(cs *ComponentStatus, c *component) {
	if inFlight, rps, ok := rt.loadLocked(c); ok {
		cs.InFlight, cs.RequestsPerSecond = &inFlight, &rps
	}
}

// StatusHandler serves GET /status as JSON.
func (rt *Runtime) StatusHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rt.Status())
	})
	mux.HandleFunc("GET /decisions", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rt.Decisions())
	})
	return mux
}

// Decisions returns every scaling decision so far.
func (rt *Runtime) Decisions() []DecisionRecord {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]DecisionRecord{}, rt.decisions...)
}

// Samples returns each sync's per-component state so far.
func (rt *Runtime) Samples() []Sample {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]Sample{}, rt.samples...)
}

func (rt *Runtime) predictorStatusLocked() []PredictorStatus {
	out := []PredictorStatus{}
	ready := rt.predictorReadyLocked()
	for i, a := range rt.addrs {
		spec := rt.plan.Predictors[i].Spec
		ps := PredictorStatus{PredictorAddrs: a, Traffic: spec.Traffic, Shadow: spec.Shadow, Ready: ready[i]}
		if f := rt.front; f != nil {
			s := f.split.Load()
			ps.Share = s.share(i)
			c := &f.counters[i]
			ps.Requests, ps.Mirrored = c.requests.Load(), c.mirrored.Load()
			ps.MirrorErrors, ps.MirrorDropped = c.mirrorErrors.Load(), c.mirrorDropped.Load()
		}
		out = append(out, ps)
	}
	return out
}
