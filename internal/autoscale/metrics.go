package autoscale

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MetricKey is the key under which Observation.Values (Object and External
// metrics) and Replica.Custom (Pods metrics) hold a metric's samples:
// "pods/<metric>", "object/<kind>/<name>/<metric>" or "external/<metric>",
// where <metric> is the metric name followed by its selector in braces if
// it has one. Resource metrics have no key ("").
func MetricKey(m autoscalingv2.MetricSpec) string {
	switch {
	case m.Type == autoscalingv2.PodsMetricSourceType && m.Pods != nil:
		return "pods/" + metricIdent(m.Pods.Metric)
	case m.Type == autoscalingv2.ObjectMetricSourceType && m.Object != nil:
		return fmt.Sprintf("object/%s/%s/%s", m.Object.DescribedObject.Kind, m.Object.DescribedObject.Name, metricIdent(m.Object.Metric))
	case m.Type == autoscalingv2.ExternalMetricSourceType && m.External != nil:
		return "external/" + metricIdent(m.External.Metric)
	}
	return ""
}

func metricIdent(id autoscalingv2.MetricIdentifier) string {
	if id.Selector == nil {
		return id.Name
	}
	return id.Name + "{" + metav1.FormatLabelSelector(id.Selector) + "}"
}

// calc carries what every metric calculation needs.
type calc struct {
	cfg     Config
	now     time.Time
	current int32 // the target's spec.replicas
	tol     tolerances
	obs     Observation
}

func fail(res MetricResult, reason string, err error) MetricResult {
	res.Reason = reason
	res.Err = err.Error()
	res.Proposed = 0
	return res
}

func (c calc) metric(m autoscalingv2.MetricSpec) MetricResult {
	res := MetricResult{Type: m.Type}
	switch m.Type {
	case autoscalingv2.ResourceMetricSourceType:
		if m.Resource == nil {
			res.Name = "resource"
			return fail(res, "FailedGetResourceMetric", errors.New("resource metric source is not set"))
		}
		return c.resource(res, m.Resource.Name, "", m.Resource.Target)
	case autoscalingv2.ContainerResourceMetricSourceType:
		if m.ContainerResource == nil {
			res.Name = "container resource"
			return fail(res, "FailedGetContainerResourceMetric", errors.New("containerResource metric source is not set"))
		}
		return c.resource(res, m.ContainerResource.Name, m.ContainerResource.Container, m.ContainerResource.Target)
	case autoscalingv2.PodsMetricSourceType:
		if m.Pods == nil {
			res.Name = "pods metric"
			return fail(res, "FailedGetPodsMetric", errors.New("pods metric source is not set"))
		}
		return c.pods(res, m)
	case autoscalingv2.ObjectMetricSourceType:
		if m.Object == nil {
			res.Name = "object metric"
			return fail(res, "FailedGetObjectMetric", errors.New("object metric source is not set"))
		}
		return c.object(res, m)
	case autoscalingv2.ExternalMetricSourceType:
		if m.External == nil {
			res.Name = "external metric"
			return fail(res, "FailedGetExternalMetric", errors.New("external metric source is not set"))
		}
		return c.external(res, m)
	}
	res.Name = string(m.Type)
	return fail(res, "InvalidMetricSourceType", fmt.Errorf("unknown metric source type %q", string(m.Type)))
}

// podSample is one replica's value for a pods-based metric (milli-units).
type podSample struct {
	value  int64
	time   time.Time
	window time.Duration
}

// groups is the upstream pod grouping: replicas with a usable sample,
// not-ready ones, ones missing a sample, and terminating ones.
type groups struct {
	ready                     int
	unready, missing, ignored map[int]bool
}

func (c calc) group(samples map[int]podSample, res corev1.ResourceName) groups {
	g := groups{unready: map[int]bool{}, missing: map[int]bool{}, ignored: map[int]bool{}}
	for i, r := range c.obs.Replicas {
		if r.Terminating {
			g.ignored[i] = true
			continue
		}
		if r.Pending {
			g.unready[i] = true
			continue
		}
		s, ok := samples[i]
		if !ok {
			g.missing[i] = true
			continue
		}
		if res == corev1.ResourceCPU && c.cpuSampleUnready(r, s) {
			g.unready[i] = true
			continue
		}
		g.ready++
	}
	return g
}

// cpuSampleUnready applies the CPU readiness rules: within the CPU
// initialization period a sample counts only from a ready replica and only
// if taken a full window after it became ready; afterwards a not-ready
// replica's sample is set aside only if it has never been ready.
func (c calc) cpuSampleUnready(r Replica, s podSample) bool {
	if r.StartTime.IsZero() || r.ReadySince.IsZero() {
		return true
	}
	if r.StartTime.Add(c.cfg.CPUInitializationPeriod).After(c.now) {
		return !r.Ready || s.time.Before(r.ReadySince.Add(s.window))
	}
	return !r.Ready && r.StartTime.Add(c.cfg.InitialReadinessDelay).After(r.ReadySince)
}

// resourceSamples reads each replica's usage of res, summed over its
// containers, or of one container. A replica lacking the usage of any
// counted container has no sample.
func (c calc) resourceSamples(res corev1.ResourceName, container string) map[int]podSample {
	out := map[int]podSample{}
	for i, r := range c.obs.Replicas {
		var sum int64
		found := false
		missing := len(r.Containers) == 0
		for _, ct := range r.Containers {
			if container != "" && ct.Name != container {
				continue
			}
			found = true
			q, ok := ct.Usage[res]
			if !ok {
				missing = true
				break
			}
			sum += q.MilliValue()
		}
		if missing || !found {
			continue
		}
		t := r.SampleTime
		if t.IsZero() {
			t = c.now
		}
		out[i] = podSample{value: sum, time: t, window: r.SampleWindow}
	}
	return out
}

// requests sums each replica's request of res (over all its containers,
// or the named one). Every replica must declare it.
func (c calc) requests(res corev1.ResourceName, container string) (map[int]int64, error) {
	out := map[int]int64{}
	for i, r := range c.obs.Replicas {
		var sum int64
		found := false
		for _, ct := range r.Containers {
			if container != "" && ct.Name != container {
				continue
			}
			found = true
			q, ok := ct.Requests[res]
			if !ok {
				return nil, fmt.Errorf("missing request for %s in container %s of replica %s", res, ct.Name, r.Name)
			}
			sum += q.MilliValue()
		}
		if container != "" && !found {
			return nil, fmt.Errorf("container %s not found in replica %s", container, r.Name)
		}
		out[i] = sum
	}
	return out, nil
}

func (c calc) resource(res MetricResult, name corev1.ResourceName, container string, target autoscalingv2.MetricTarget) MetricResult {
	reason := "FailedGetResourceMetric"
	res.Name = string(name)
	if container != "" {
		reason = "FailedGetContainerResourceMetric"
		res.Name = fmt.Sprintf("%s (container %s)", name, container)
	}
	valueStatus := func(v autoscalingv2.MetricValueStatus) autoscalingv2.MetricStatus {
		if container != "" {
			return autoscalingv2.MetricStatus{Type: autoscalingv2.ContainerResourceMetricSourceType,
				ContainerResource: &autoscalingv2.ContainerResourceMetricStatus{Name: name, Container: container, Current: v}}
		}
		return autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: name, Current: v}}
	}
	format := resource.DecimalSI
	if name == corev1.ResourceMemory {
		format = resource.BinarySI
	}
	if len(c.obs.Replicas) == 0 {
		return fail(res, reason, errors.New("no replicas while calculating replica count"))
	}
	samples := c.resourceSamples(name, container)
	if len(samples) == 0 {
		return fail(res, reason, fmt.Errorf("no %s usage reported by any replica", name))
	}
	g := c.group(samples, name)
	res.Ready, res.Unready, res.Missing, res.Ignored = g.ready, len(g.unready), len(g.missing), len(g.ignored)

	if target.AverageValue != nil {
		// A raw average target ignores requests; upstream's plain-metric path.
		t := target.AverageValue.MilliValue()
		res.Target = quantityString(t, format)
		usage, err := c.plain(&res, samples, g, t, func(v int64) string { return quantityString(v, format) + " per replica" })
		if err != nil {
			return fail(res, reason, err)
		}
		res.Status = valueStatus(autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(usage, format)})
		return res
	}
	if target.AverageUtilization == nil {
		return fail(res, reason, errors.New("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set"))
	}
	targetUtil := *target.AverageUtilization
	res.Target = fmt.Sprintf("%d%%", targetUtil)
	if targetUtil <= 0 {
		return fail(res, reason, errors.New("invalid resource metric source: averageUtilization must be positive"))
	}

	metrics := map[int]int64{}
	for i, s := range samples {
		if !g.ignored[i] && !g.unready[i] {
			metrics[i] = s.value
		}
	}
	if len(metrics) == 0 {
		return fail(res, reason, errors.New("did not receive metrics for targeted replicas (replicas might be unready)"))
	}
	requests, err := c.requests(name, container)
	if err != nil {
		return fail(res, reason, err)
	}
	ratio, util, raw, err := utilizationRatio(metrics, requests, targetUtil)
	if err != nil {
		return fail(res, reason, err)
	}
	res.Ratio = ratio
	res.Current = fmt.Sprintf("%d%% of request", util)
	u := util
	res.Status = valueStatus(autoscalingv2.MetricValueStatus{AverageUtilization: &u, AverageValue: resource.NewMilliQuantity(raw, format)})

	scaleUpWithUnready := len(g.unready) > 0 && ratio > 1.0
	if !scaleUpWithUnready && len(g.missing) == 0 {
		if c.tol.within(ratio) {
			res.Proposed, res.WithinTolerance = c.current, true
			return res
		}
		res.Proposed = ceilReplicas(ratio * float64(g.ready))
		return res
	}

	var parts []string
	if len(g.missing) > 0 {
		switch {
		case ratio < 1.0:
			// On a scale-down, a replica without a sample counts as using
			// its whole request (or the target, if that is above 100%).
			fallback := int64(max(100, targetUtil))
			for i := range g.missing {
				metrics[i] = requests[i] * fallback / 100
			}
			parts = append(parts, fmt.Sprintf("%s at %d%% of request", plural(len(g.missing), "missing replica"), fallback))
		case ratio > 1.0:
			for i := range g.missing {
				metrics[i] = 0
			}
			parts = append(parts, fmt.Sprintf("%s at 0%%", plural(len(g.missing), "missing replica")))
		}
	}
	if scaleUpWithUnready {
		for i := range g.unready {
			metrics[i] = 0
		}
		parts = append(parts, fmt.Sprintf("%s at 0%%", plural(len(g.unready), "not-ready replica")))
	}
	newRatio, newUtil, _, err := utilizationRatio(metrics, requests, targetUtil)
	if err != nil {
		return fail(res, reason, err)
	}
	note := recomputedNote(parts, fmt.Sprintf("%d%%", newUtil))
	res.Proposed, res.WithinTolerance, res.Note = c.conservative(ratio, newRatio, len(metrics), note)
	return res
}

// conservative finishes a recomputation that filled in missing or
// not-ready replicas: no change if the new ratio is within tolerance or
// reverses the direction, or if the new count would.
func (c calc) conservative(ratio, newRatio float64, n int, note string) (int32, bool, string) {
	switch {
	case c.tol.within(newRatio):
		return c.current, true, note + ", within tolerance: no change"
	case (ratio < 1.0 && newRatio > 1.0) || (ratio > 1.0 && newRatio < 1.0):
		return c.current, true, note + ", reverses direction: no change"
	}
	replicas := ceilReplicas(newRatio * float64(n))
	if (newRatio < 1.0 && replicas > c.current) || (newRatio > 1.0 && replicas < c.current) {
		return c.current, true, note + fmt.Sprintf(", %d replicas reverses direction: no change", replicas)
	}
	return replicas, false, note + fmt.Sprintf(" -> %d replicas", replicas)
}

// plain is upstream's calculation for average-value metrics of pods (raw
// resource usage, Pods metrics): samples in milli-units, target per replica.
// It fills in res's ratio, current value and proposal, and returns the
// average usage.
func (c calc) plain(res *MetricResult, samples map[int]podSample, g groups, target int64, show func(int64) string) (int64, error) {
	metrics := map[int]int64{}
	for i, s := range samples {
		if !g.ignored[i] && !g.unready[i] {
			metrics[i] = s.value
		}
	}
	if len(metrics) == 0 {
		return 0, errors.New("did not receive metrics for targeted replicas (replicas might be unready)")
	}
	if target == 0 {
		return 0, errors.New("target value is zero")
	}
	ratio, usage := usageRatio(metrics, target)
	res.Ratio = ratio
	res.Current = show(usage)

	scaleUpWithUnready := len(g.unready) > 0 && ratio > 1.0
	if !scaleUpWithUnready && len(g.missing) == 0 {
		if c.tol.within(ratio) {
			res.Proposed, res.WithinTolerance = c.current, true
			return usage, nil
		}
		res.Proposed = ceilReplicas(ratio * float64(g.ready))
		return usage, nil
	}
	var parts []string
	if len(g.missing) > 0 {
		switch {
		case ratio < 1.0:
			for i := range g.missing {
				metrics[i] = target
			}
			parts = append(parts, fmt.Sprintf("%s at target", plural(len(g.missing), "missing replica")))
		case ratio > 1.0:
			for i := range g.missing {
				metrics[i] = 0
			}
			parts = append(parts, fmt.Sprintf("%s at 0", plural(len(g.missing), "missing replica")))
		}
	}
	if scaleUpWithUnready {
		for i := range g.unready {
			metrics[i] = 0
		}
		parts = append(parts, fmt.Sprintf("%s at 0", plural(len(g.unready), "not-ready replica")))
	}
	newRatio, newUsage := usageRatio(metrics, target)
	note := recomputedNote(parts, show(newUsage))
	res.Proposed, res.WithinTolerance, res.Note = c.conservative(ratio, newRatio, len(metrics), note)
	return usage, nil
}

func (c calc) pods(res MetricResult, m autoscalingv2.MetricSpec) MetricResult {
	const reason = "FailedGetPodsMetric"
	key := MetricKey(m)
	res.Name = "pods metric " + metricIdent(m.Pods.Metric)
	if m.Pods.Target.AverageValue == nil {
		return fail(res, reason, errors.New("pods metric target must be an averageValue"))
	}
	if len(c.obs.Replicas) == 0 {
		return fail(res, reason, errors.New("no replicas while calculating replica count"))
	}
	samples := map[int]podSample{}
	for i, r := range c.obs.Replicas {
		if q, ok := r.Custom[key]; ok {
			samples[i] = podSample{value: q.MilliValue()}
		}
	}
	if len(samples) == 0 {
		return fail(res, reason, fmt.Errorf("unable to get metric %s: no replica reported it", m.Pods.Metric.Name))
	}
	g := c.group(samples, "")
	res.Ready, res.Unready, res.Missing, res.Ignored = g.ready, len(g.unready), len(g.missing), len(g.ignored)
	t := m.Pods.Target.AverageValue.MilliValue()
	res.Target = milliString(t)
	usage, err := c.plain(&res, samples, g, t, func(v int64) string { return milliString(v) + " per replica" })
	if err != nil {
		return fail(res, reason, err)
	}
	res.Status = autoscalingv2.MetricStatus{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricStatus{
		Metric:  m.Pods.Metric,
		Current: autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(usage, resource.DecimalSI)},
	}}
	return res
}

// readyCount counts running, ready replicas (Object and External metrics
// with a Value target scale by it).
func (c calc) readyCount() (int, error) {
	if len(c.obs.Replicas) == 0 {
		return 0, errors.New("no replicas while calculating replica count")
	}
	n := 0
	for _, r := range c.obs.Replicas {
		if !r.Pending && !r.Terminating && r.Ready {
			n++
		}
	}
	return n, nil
}

// statusReplicas counts live replicas, as the target's status.replicas.
func (c calc) statusReplicas() int32 {
	var n int32
	for _, r := range c.obs.Replicas {
		if !r.Terminating {
			n++
		}
	}
	return n
}

// valueReplicas is the proposal for a whole-value target (Object or
// External with a Value target): ratio times the ready replicas.
func (c calc) valueReplicas(res *MetricResult, usage, target int64) error {
	ratio := float64(usage) / float64(target)
	res.Ratio = ratio
	if c.current == 0 {
		res.Proposed = ceilReplicas(ratio)
		return nil
	}
	if c.tol.within(ratio) {
		res.Proposed, res.WithinTolerance = c.current, true
		return nil
	}
	ready, err := c.readyCount()
	if err != nil {
		return fmt.Errorf("unable to calculate ready replicas: %w", err)
	}
	res.Ready = ready
	res.Proposed = ceilReplicas(ratio * float64(ready))
	return nil
}

// averageValueReplicas is the proposal for a per-replica target on a
// whole value (Object or External with an AverageValue target): ceil(value
// / target), unless the per-replica ratio is within tolerance. It returns
// the per-replica usage. With no live replica (scaling from zero, or
// before new replicas exist) upstream divides by zero: the ratio is
// infinite or NaN, never within tolerance, so the proposal is always
// ceil(value / target); Ratio is then value / target and the usage
// reported is the whole value (upstream's status is undefined there).
func (c calc) averageValueReplicas(res *MetricResult, usage, target int64) int64 {
	status := c.statusReplicas()
	if status == 0 {
		res.Ratio = float64(usage) / float64(target)
		res.Proposed = ceilReplicas(res.Ratio)
		return usage
	}
	res.Ratio = float64(usage) / (float64(target) * float64(status))
	res.Proposed = status
	if c.tol.within(res.Ratio) {
		res.WithinTolerance = true
	} else {
		res.Proposed = ceilReplicas(float64(usage) / float64(target))
	}
	return int64(math.Ceil(float64(usage) / float64(status)))
}

// averageValueString shows averageValueReplicas' usage: per replica, or
// the whole value when no replica is live.
func (c calc) averageValueString(v int64) string {
	if c.statusReplicas() == 0 {
		return milliString(v) + " in total with no replica running"
	}
	return milliString(v) + " per replica"
}

func (c calc) object(res MetricResult, m autoscalingv2.MetricSpec) MetricResult {
	const reason = "FailedGetObjectMetric"
	o := m.Object
	res.Name = fmt.Sprintf("object %s/%s metric %s", o.DescribedObject.Kind, o.DescribedObject.Name, metricIdent(o.Metric))
	q, ok := c.obs.Values[MetricKey(m)]
	status := func(v autoscalingv2.MetricValueStatus) autoscalingv2.MetricStatus {
		return autoscalingv2.MetricStatus{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricStatus{
			DescribedObject: o.DescribedObject, Metric: o.Metric, Current: v}}
	}
	switch {
	case o.Target.Type == autoscalingv2.ValueMetricType && o.Target.Value != nil:
		if !ok {
			return fail(res, reason, fmt.Errorf("unable to get metric %s on %s %s: no value", o.Metric.Name, o.DescribedObject.Kind, o.DescribedObject.Name))
		}
		usage, t := q.MilliValue(), o.Target.Value.MilliValue()
		res.Current, res.Target = milliString(usage), milliString(t)
		if err := c.valueReplicas(&res, usage, t); err != nil {
			return fail(res, reason, err)
		}
		res.Status = status(autoscalingv2.MetricValueStatus{Value: resource.NewMilliQuantity(usage, resource.DecimalSI)})
		return res
	case o.Target.Type == autoscalingv2.AverageValueMetricType && o.Target.AverageValue != nil:
		if !ok {
			return fail(res, reason, fmt.Errorf("unable to get metric %s on %s %s: no value", o.Metric.Name, o.DescribedObject.Kind, o.DescribedObject.Name))
		}
		usage, t := q.MilliValue(), o.Target.AverageValue.MilliValue()
		perReplica := c.averageValueReplicas(&res, usage, t)
		res.Current = c.averageValueString(perReplica)
		res.Target = milliString(t)
		res.Status = status(autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(perReplica, resource.DecimalSI)})
		return res
	}
	return fail(res, reason, errors.New("invalid object metric source: neither a value target nor an average value target was set"))
}

func (c calc) external(res MetricResult, m autoscalingv2.MetricSpec) MetricResult {
	const reason = "FailedGetExternalMetric"
	e := m.External
	res.Name = "external metric " + metricIdent(e.Metric)
	q, ok := c.obs.Values[MetricKey(m)]
	status := func(v autoscalingv2.MetricValueStatus) autoscalingv2.MetricStatus {
		return autoscalingv2.MetricStatus{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricStatus{
			Metric: e.Metric, Current: v}}
	}
	if e.Target.AverageValue == nil && e.Target.Value == nil {
		return fail(res, reason, errors.New("invalid external metric source: neither a value target nor an average value target was set"))
	}
	if !ok {
		return fail(res, reason, fmt.Errorf("unable to get external metric %s: no value", e.Metric.Name))
	}
	usage := q.MilliValue()
	if e.Target.AverageValue != nil {
		t := e.Target.AverageValue.MilliValue()
		perReplica := c.averageValueReplicas(&res, usage, t)
		res.Current = c.averageValueString(perReplica)
		res.Target = milliString(t)
		res.Status = status(autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(perReplica, resource.DecimalSI)})
		return res
	}
	t := e.Target.Value.MilliValue()
	res.Current, res.Target = milliString(usage), milliString(t)
	if err := c.valueReplicas(&res, usage, t); err != nil {
		return fail(res, reason, err)
	}
	res.Status = status(autoscalingv2.MetricValueStatus{Value: resource.NewMilliQuantity(usage, resource.DecimalSI)})
	return res
}

// utilizationRatio is upstream's: the utilization is the integer
// percentage of summed usage over summed requests, and the ratio is taken
// from that truncated percentage.
func utilizationRatio(metrics, requests map[int]int64, target int32) (ratio float64, util int32, rawAverage int64, err error) {
	var usageTotal, requestTotal int64
	n := 0
	for i, v := range metrics {
		req, ok := requests[i]
		if !ok {
			continue
		}
		usageTotal += v
		requestTotal += req
		n++
	}
	if requestTotal == 0 {
		return 0, 0, 0, errors.New("the replicas' requests add up to zero")
	}
	pct := usageTotal * 100 / requestTotal
	if pct > math.MaxInt32 || pct < math.MinInt32 {
		return 0, 0, 0, fmt.Errorf("resource utilization %d%% is out of range", pct)
	}
	util = int32(pct)
	return float64(util) / float64(target), util, usageTotal / int64(n), nil
}

// usageRatio is upstream's plain-metric ratio: the integer average of the
// samples over the target.
func usageRatio(metrics map[int]int64, target int64) (float64, int64) {
	var total int64
	for _, v := range metrics {
		total += v
	}
	avg := total / int64(len(metrics))
	return float64(avg) / float64(target), avg
}

func ceilReplicas(f float64) int32 {
	c := math.Ceil(f)
	switch {
	case c > math.MaxInt32:
		return math.MaxInt32
	case c < 0 || math.IsNaN(c):
		return 0
	}
	return int32(c)
}

func quantityString(milli int64, format resource.Format) string {
	return resource.NewMilliQuantity(milli, format).String()
}

// milliString shows a milli-value as a plain decimal number: 47500 is "47.5".
func milliString(milli int64) string {
	sign := ""
	if milli < 0 {
		sign, milli = "-", -milli
	}
	whole, frac := milli/1000, milli%1000
	if frac == 0 {
		return fmt.Sprintf("%s%d", sign, whole)
	}
	return strings.TrimRight(fmt.Sprintf("%s%d.%03d", sign, whole, frac), "0")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// recomputedNote says how a usage was recomputed: with which replicas
// filled in, or with none when the ratio was exactly 1 and missing
// replicas change nothing (as upstream, which fills them in only on a
// scale-up or a scale-down).
func recomputedNote(parts []string, usage string) string {
	if len(parts) == 0 {
		return "recomputed without the replicas that have no sample: " + usage
	}
	return fmt.Sprintf("recomputed with %s: %s", strings.Join(parts, " and "), usage)
}
