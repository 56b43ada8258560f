package local

import (
	"context"
	"fmt"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/sdep-dev/sdep/internal/autoscale"
	"github.com/sdep-dev/sdep/internal/executor"
)

// The request metrics the executor counts, by the names sdep's metrics API
// serves them to the HPA as Object metrics on a component's Deployment.
const (
	metricInFlight = "seldon_requests_in_flight"
	metricRPS      = "seldon_requests_per_second"
)

// DefaultScaleToZeroIdle is how long a component with minReplicas 0 must
// be idle (nothing in flight, no request in the executor's rate window,
// and the HPA at its minimum) before its last replica is stopped: the
// cluster scaler's default cooldown.
const DefaultScaleToZeroIdle = 5 * time.Minute

// activationPoll is how often the runtime reads the executors' figures to
// wake a component at zero replicas (and to time its idle window), instead
// of waiting for the next sync.
const activationPoll = 50 * time.Millisecond

// loadLocked is the component's request figures from its predictor's
// executor, by the rule the metrics API serves to the HPA
// (executor.ComponentLoad). ok is false when none of its containers is a
// graph node.
func (rt *Runtime) loadLocked(c *component) (inFlight int64, rps float64, ok bool) {
	if c.predictor >= len(rt.executors) {
		return 0, 0, false
	}
	names := make(map[string]bool, len(c.plan.Containers))
	for _, ct := range c.plan.Containers {
		names[ct.Name] = true
	}
	load := rt.executors[c.predictor].Load()
	return executor.ComponentLoad([]executor.Load{load}, load.Predictor, names)
}

// requestValuesLocked fills an Observation's Object metric values from the
// executor: each Object metric of the HPA spec on this component's
// Deployment (describedObject kind Deployment, named as the Deployment or
// as the componentSpec) that is seldon_requests_in_flight or
// seldon_requests_per_second gets the component's figure, as the metrics
// API would answer it (in flight a whole number, per second to the
// thousandth). Other Object metrics get no value, so the HPA algorithm
// reports them unavailable as the controller does for a metric no adapter
// serves. It returns nil when the spec has no such metric.
func (rt *Runtime) requestValuesLocked(c *component) map[string]resource.Quantity {
	if c.plan.HPA == nil {
		return nil
	}
	var values map[string]resource.Quantity
	read := false
	var inFlight int64
	var rps float64
	var ok bool
	for _, m := range c.plan.HPA.Metrics {
		if !c.servesObjectMetric(m) {
			continue
		}
		if !read {
			inFlight, rps, ok = rt.loadLocked(c)
			read = true
		}
		if !ok {
			continue
		}
		if values == nil {
			values = map[string]resource.Quantity{}
		}
		switch m.Object.Metric.Name {
		case metricInFlight:
			values[autoscale.MetricKey(m)] = *resource.NewQuantity(inFlight, resource.DecimalSI)
		case metricRPS:
			values[autoscale.MetricKey(m)] = *resource.NewMilliQuantity(int64(math.Round(rps*1000)), resource.DecimalSI)
		}
	}
	return values
}

// servesObjectMetric reports whether m is one of the executor's request
// metrics on this component.
func (c *component) servesObjectMetric(m autoscalingv2.MetricSpec) bool {
	if m.Type != autoscalingv2.ObjectMetricSourceType || m.Object == nil {
		return false
	}
	ref := m.Object.DescribedObject
	if ref.Kind != "Deployment" || (ref.Name != c.deployment && ref.Name != c.name) {
		return false
	}
	return m.Object.Metric.Name == metricInFlight || m.Object.Metric.Name == metricRPS
}

// activate wakes and idles the components with minReplicas 0 until ctx
// ends, checking every activationPoll, as the cluster's scaler does 0↔1
// next to the HPA.
func (rt *Runtime) activate(ctx context.Context) {
	t := time.NewTicker(activationPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rt.checkZero()
		}
	}
}

// checkZero is one activation check of every component with minReplicas 0:
//
//   - at 0 replicas, a request in flight (the executor holds it while the
//     endpoint set is empty) starts one replica at once;
//   - at 1 replica, with nothing in flight, no request per second and the
//     HPA's latest decision at its minimum, for the whole idle window
//     (Options.ScaleToZeroIdle), the last replica is drained and stopped.
func (rt *Runtime) checkZero() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	now := rt.now()
	for _, c := range rt.components {
		if !c.plan.ScaleToZero || !c.plan.Scaled() || c.stopped {
			c.idleSince = time.Time{}
			continue
		}
		inFlight, rps, ok := rt.loadLocked(c)
		if !ok {
			continue
		}
		switch {
		case c.desired == 0 && inFlight > 0:
			c.idleSince = time.Time{}
			if rt.scaleZeroLocked(c, now, 1, fmt.Sprintf("%d request(s) in flight while scaled to zero: starting a replica", inFlight)) {
				c.wokeAt = now
			}
		case c.desired == 1 && inFlight == 0 && rps == 0 && c.hpaAtMinimumLocked():
			if c.idleSince.IsZero() {
				c.idleSince = now
			}
			if idle := now.Sub(c.idleSince); idle >= rt.opts.ScaleToZeroIdle {
				c.idleSince = time.Time{}
				rt.scaleZeroLocked(c, now, 0, fmt.Sprintf("idle for %s (0 in flight, 0 req/s, the HPA at its minimum): scaled to zero", idle.Round(time.Millisecond)))
			}
		default:
			c.idleSince = time.Time{}
		}
	}
}

// hpaAtMinimumLocked reports whether the HPA algorithm's latest decision
// wants no more than one replica (before its first sync, it wants the
// minimum too).
func (c *component) hpaAtMinimumLocked() bool {
	return c.last == nil || c.last.DesiredReplicas <= 1
}

// scaleZeroLocked makes a 0→1 or 1→0 change: an event line and a decision
// record, as the HPA's own changes get. It reports whether the replicas
// were changed.
func (rt *Runtime) scaleZeroLocked(c *component, now time.Time, to int32, reason string) bool {
	from := c.desired
	rt.eventfLocked("%s %d→%d: %s", c.label(), from, to, reason)
	if err := c.scaleToLocked(to); err != nil {
		rt.eventfLocked("%s: scaling to %d failed: %v", c.label(), to, err)
		return false
	}
	rt.decisions = append(rt.decisions, DecisionRecord{Time: now, Component: c.name, Deployment: c.deployment,
		From: from, To: to, Reason: reason, Limit: zeroLimit})
	return true
}

// zeroLimit marks the decisions of the scale-to-zero rule (not the HPA's).
const zeroLimit = "ScaleToZero"

// coldStartLocked logs how long a woken component took from the request
// that woke it to its first Ready replica (the request is answered then).
func (c *component) coldStartLocked() {
	if c.wokeAt.IsZero() {
		return
	}
	rt := c.rt
	d := rt.now().Sub(c.wokeAt)
	c.wokeAt = time.Time{}
	c.coldStarts = append(c.coldStarts, d)
	rt.eventfLocked("%s: cold start %s (from the 0→1 decision to a Ready replica)", c.label(), d.Round(time.Millisecond))
}
