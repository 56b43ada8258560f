package autoscale

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The expectations in this file are computed by hand from the upstream
// formulas (noted next to each case), not copied from Decide's output.

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func cpu(milli int64) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(milli, resource.DecimalSI)}
}

// old is a replica running and ready for an hour using usage of its 100m
// cpu request (usage < 0: no sample).
func old(name string, usage int64) Replica {
	r := Replica{Name: name, Ready: true, StartTime: now.Add(-time.Hour), ReadySince: now.Add(-time.Hour),
		Containers: []Container{{Name: "app", Requests: cpu(100)}}}
	if usage >= 0 {
		r.Containers[0].Usage = cpu(usage)
	}
	return r
}

// starting is a replica started 10 s ago and not ready yet.
func starting(name string, usage int64) Replica {
	r := old(name, usage)
	r.Ready, r.StartTime, r.ReadySince = false, now.Add(-10*time.Second), now.Add(-10*time.Second)
	return r
}

func olds(usages ...int64) []Replica {
	var out []Replica
	for i, u := range usages {
		out = append(out, old(string(rune('a'+i)), u))
	}
	return out
}

func TestDecideSingleStep(t *testing.T) {
	noWindow := downWindow(0)
	objectValue := autoscalingv2.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
		DescribedObject: autoscalingv2.CrossVersionObjectReference{Kind: "Service", Name: "front"},
		Metric:          autoscalingv2.MetricIdentifier{Name: "rps"},
		Target:          autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: resource.NewQuantity(100, resource.DecimalSI)},
	}}
	externalAvg := autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "queue"},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(10, resource.DecimalSI)},
	}}
	appCPU := func(target int32) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
			Name: corev1.ResourceCPU, Container: "app", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target}}}
	}
	memUtil := func(target int32) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target}}}
	}
	withSidecar := func(appUse, sideUse int64) Replica {
		r := old("s", 0)
		r.Containers = []Container{
			{Name: "app", Requests: cpu(100), Usage: cpu(appUse)},
			{Name: "sidecar", Requests: cpu(100), Usage: cpu(sideUse)},
		}
		return r
	}
	memReplica := func(name string, ready bool) Replica {
		r := old(name, 0)
		if !ready {
			r = starting(name, 0)
		}
		r.Containers = []Container{{Name: "app",
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")},
			Usage:    corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("200Mi")}}}
		return r
	}
	// predates: started 60 s ago (within the 5 min cpu initialization
	// period), ready for 10 s, but its sample covers a 30 s window ending
	// now, so it was mostly taken before readiness.
	predates := old("p", 300)
	predates.StartTime, predates.ReadySince, predates.SampleWindow = now.Add(-time.Minute), now.Add(-10*time.Second), 30*time.Second
	terminating := old("t", 1000)
	terminating.Terminating = true
	noRequest := old("n", 50)
	noRequest.Containers[0].Requests = nil

	cfgTol02 := DefaultConfig()
	cfgTol02.Tolerance = 0.2

	cases := []struct {
		name    string
		cfg     *Config
		spec    autoscalingv2.HorizontalPodAutoscalerSpec
		obs     Observation
		rec     int32 // Recommendation
		desired int32
		limit   Limit
		check   func(t *testing.T, d Decision)
	}{
		{
			// The first decision records the current 4 as a recommendation:
			// ceil(0.1*4) = 1 is held at 4 by the 300 s window.
			name: "a fresh autoscaler does not scale down at once",
			spec: spec(1, 10, nil, cpuUtilization(100)), obs: Observation{CurrentReplicas: 4, Replicas: olds(10, 10, 10, 10)},
			rec: 1, desired: 4, limit: LimitStabilization,
		},
		{
			// 105/100 = 1.05, within [0.9, 1.1].
			name: "105% is within the default tolerance",
			spec: spec(1, 10, nil, cpuUtilization(100)), obs: Observation{CurrentReplicas: 4, Replicas: olds(105, 105, 105, 105)},
			rec: 4, desired: 4, limit: LimitTolerance,
		},
		{
			// 1.11 > 1.1: ceil(1.11*4) = ceil(4.44) = 5; limit max(8, 4).
			name: "111% scales up",
			spec: spec(1, 10, nil, cpuUtilization(100)), obs: Observation{CurrentReplicas: 4, Replicas: olds(111, 111, 111, 111)},
			rec: 5, desired: 5, limit: LimitNone,
		},
		{
			// Config tolerance 0.2: 1.15 is within [0.8, 1.2].
			name: "configured tolerance 0.2 keeps 115%", cfg: &cfgTol02,
			spec: spec(1, 10, nil, cpuUtilization(100)), obs: Observation{CurrentReplicas: 4, Replicas: olds(115, 115, 115, 115)},
			rec: 4, desired: 4, limit: LimitTolerance,
		},
		{
			// 4*110.9m over 4*100m = 110.9% truncates to 110%; 1.10 is within.
			// Unrounded, 1.109 would give ceil(4.436) = 5.
			name: "utilization is truncated to a whole percent before the tolerance check",
			spec: spec(1, 10, nil, cpuUtilization(100)),
			obs: Observation{CurrentReplicas: 4, Replicas: func() []Replica {
				rs := olds(0, 0, 0, 0)
				for i := range rs {
					rs[i].Containers[0].Requests = cpu(1000)
					rs[i].Containers[0].Usage = cpu(1109)
				}
				return rs
			}()},
			rec: 4, desired: 4, limit: LimitTolerance,
		},
		{
			// Ratio 0.4; the missing replica counts as 100% of its request:
			// (3*40 + 100)/400 = 55% -> ceil(0.55*4) = 3 (ignoring it: ceil(0.4*3) = 2).
			name: "missing replica counts as 100% of request on scale-down",
			spec: spec(1, 10, noWindow, cpuUtilization(100)), obs: Observation{CurrentReplicas: 4, Replicas: olds(40, 40, 40, -1)},
			rec: 3, desired: 3,
		},
		{
			// Target 150%: missing counts as 150% of request: (3*60 + 150)/400 = 82%,
			// ratio 0.5466 -> ceil(2.19) = 3 (at 100% it would be 70% -> ceil(1.87) = 2).
			name: "missing replica counts as the target when it is above 100%",
			spec: spec(1, 10, noWindow, cpuUtilization(150)), obs: Observation{CurrentReplicas: 4, Replicas: olds(60, 60, 60, -1)},
			rec: 3, desired: 3,
		},
		{
			// Ratio 1.5 with two missing at 0%: 300/400 = 75% reverses the direction.
			name: "missing replicas reverse a scale-up",
			spec: spec(1, 10, nil, cpuUtilization(100)), obs: Observation{CurrentReplicas: 4, Replicas: olds(150, 150, -1, -1)},
			rec: 4, desired: 4, limit: LimitTolerance,
		},
		{
			// Not-ready replicas are set aside on a scale-down: ceil(0.2*2) = 1.
			name: "not-ready replicas are set aside on scale-down",
			spec: spec(1, 10, noWindow, cpuUtilization(100)),
			obs:  Observation{CurrentReplicas: 4, Replicas: []Replica{old("a", 20), old("b", 20), starting("c", 90), starting("d", 90)}},
			rec:  1, desired: 1,
		},
		{
			// Two ready at 210%, two starting: (420+0+0)/400 = 105%, within.
			// Without the rule it would be ceil(2.1*2) = 5.
			name: "not-ready replicas count as 0% on scale-up",
			spec: spec(1, 10, nil, cpuUtilization(100)),
			obs:  Observation{CurrentReplicas: 4, Replicas: []Replica{old("a", 210), old("b", 210), starting("c", 500), starting("d", 500)}},
			rec:  4, desired: 4, limit: LimitTolerance,
		},
		{
			// The predating sample is set aside: ratio 3, recomputed
			// (300+0)/200 = 150% -> ceil(1.5*2) = 3 (counted: ceil(3*2) = 6).
			name: "cpu sample taken before a full window of readiness is set aside",
			spec: spec(1, 10, nil, cpuUtilization(100)),
			obs:  Observation{CurrentReplicas: 2, Replicas: []Replica{old("a", 300), predates}},
			rec:  3, desired: 3,
			check: func(t *testing.T, d Decision) {
				if m := d.Metrics[0]; m.Ready != 1 || m.Unready != 1 {
					t.Errorf("ready/unready = %d/%d, want 1/1", m.Ready, m.Unready)
				}
			},
		},
		{
			// Memory ignores readiness: 200% on both -> ceil(2*2) = 4.
			name: "memory uses samples of not-ready replicas",
			spec: spec(1, 10, nil, memUtil(100)),
			obs:  Observation{CurrentReplicas: 2, Replicas: []Replica{memReplica("a", true), memReplica("b", false)}},
			rec:  4, desired: 4,
		},
		{
			// The terminating replica is left out: 50% -> ceil(0.5*2) = 1.
			name: "terminating replicas are left out",
			spec: spec(1, 10, noWindow, cpuUtilization(100)),
			obs:  Observation{CurrentReplicas: 3, Replicas: []Replica{old("a", 50), old("b", 50), terminating}},
			rec:  1, desired: 1,
		},
		{
			name: "a missing request fails the metric",
			spec: spec(1, 10, nil, cpuUtilization(100)),
			obs:  Observation{CurrentReplicas: 2, Replicas: []Replica{old("a", 50), noRequest}},
			rec:  -1, desired: 2, limit: LimitMetricsUnavailable,
			check: func(t *testing.T, d Decision) {
				want := Condition{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric",
					Message: "the HPA was unable to compute the replica count: missing request for cpu in container app of replica n"}
				if diff := cmp.Diff(want, d.Conditions[1]); diff != "" {
					t.Errorf("ScalingActive condition (-want +got):\n%s", diff)
				}
			},
		},
		{
			// Container app: 90/100 = 90%, target 50 -> ratio 1.8 -> ceil(3.6) = 4.
			// The whole replica would be 100/200 = 50%, within tolerance.
			name: "container resource looks at one container",
			spec: spec(1, 10, nil, appCPU(50)),
			obs:  Observation{CurrentReplicas: 2, Replicas: []Replica{withSidecar(90, 10), withSidecar(90, 10)}},
			rec:  4, desired: 4,
		},
		{
			// Same replicas, Resource cpu: (2*100)/(2*200) = 50%, target 50: within.
			name: "resource sums all containers",
			spec: spec(1, 10, nil, cpuUtilization(50)),
			obs:  Observation{CurrentReplicas: 2, Replicas: []Replica{withSidecar(90, 10), withSidecar(90, 10)}},
			rec:  2, desired: 2, limit: LimitTolerance,
		},
		{
			// No metrics: cpu 80%. 160% -> ratio 2 -> 4.
			name: "an empty metric list means cpu 80%",
			spec: spec(1, 10, nil), obs: Observation{CurrentReplicas: 2, Replicas: olds(160, 160)},
			rec: 4, desired: 4,
		},
		{
			// Object Value: 250/100 = 2.5 times 2 ready -> 5; limit max(4, 4) = 4.
			name: "object value metric scales the ready count",
			spec: spec(1, 10, nil, objectValue),
			obs: Observation{CurrentReplicas: 2, Replicas: olds(0, 0),
				Values: map[string]resource.Quantity{"object/Service/front/rps": resource.MustParse("250")}},
			rec: 5, desired: 4, limit: LimitPolicy,
		},
		{
			// External AverageValue: ceil(95/10) = 10; no behavior: max(2*3, 4) = 6.
			name: "external average value metric",
			spec: spec(1, 20, nil, externalAvg),
			obs: Observation{CurrentReplicas: 3, Replicas: olds(0, 0, 0),
				Values: map[string]resource.Quantity{"external/queue": resource.MustParse("95")}},
			rec: 10, desired: 6, limit: LimitPolicy,
		},
		{
			// cpu 200% of 100 -> 4; the external metric has no value. A
			// scale-up proceeds with the metrics that work.
			name: "a failed metric does not block a scale-up",
			spec: spec(1, 10, nil, cpuUtilization(100), externalAvg),
			obs:  Observation{CurrentReplicas: 2, Replicas: olds(200, 200)},
			rec:  4, desired: 4,
			check: func(t *testing.T, d Decision) {
				if d.Metrics[1].Reason != "FailedGetExternalMetric" {
					t.Errorf("external metric reason = %q, want FailedGetExternalMetric", d.Metrics[1].Reason)
				}
			},
		},
		{
			// cpu says 1, the external metric failed: no scale-down.
			name: "a failed metric blocks a scale-down",
			spec: spec(1, 10, noWindow, cpuUtilization(100), externalAvg),
			obs:  Observation{CurrentReplicas: 4, Replicas: olds(10, 10, 10, 10)},
			rec:  1, desired: 4, limit: LimitMetricsUnavailable,
		},
		{
			name: "zero replicas disable scaling",
			spec: spec(1, 10, nil, cpuUtilization(100)), obs: Observation{CurrentReplicas: 0},
			rec: -1, desired: 0, limit: LimitScalingDisabled,
		},
		{
			name: "above maxReplicas goes to maxReplicas",
			spec: spec(1, 3, nil, cpuUtilization(100)), obs: Observation{CurrentReplicas: 7, Replicas: olds(500, 500, 500, 500, 500, 500, 500)},
			rec: -1, desired: 3, limit: LimitMax,
		},
		{
			name: "minReplicas above maxReplicas is invalid",
			spec: spec(3, 2, nil, cpuUtilization(100)), obs: Observation{CurrentReplicas: 2, Replicas: olds(100, 100)},
			rec: -1, desired: 2, limit: LimitInvalidSpec,
		},
		{
			name: "an unknown metric type fails",
			spec: spec(1, 10, nil, autoscalingv2.MetricSpec{Type: "Bogus"}),
			obs:  Observation{CurrentReplicas: 2, Replicas: olds(100, 100)},
			rec:  -1, desired: 2, limit: LimitMetricsUnavailable,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				cfg = *tc.cfg
			}
			d, _ := cfg.Decide(tc.spec, State{}, tc.obs, now)
			if d.Recommendation != tc.rec || d.DesiredReplicas != tc.desired || d.Limit != tc.limit {
				t.Errorf("recommendation %d, desired %d, limit %q; want %d, %d, %q\n%s",
					d.Recommendation, d.DesiredReplicas, d.Limit, tc.rec, tc.desired, tc.limit, d)
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

func TestScaleLimits(t *testing.T) {
	pods := func(v, p int32) autoscalingv2.HPAScalingPolicy {
		return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: v, PeriodSeconds: p}
	}
	pct := func(v, p int32) autoscalingv2.HPAScalingPolicy {
		return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: v, PeriodSeconds: p}
	}
	rules := func(sel autoscalingv2.ScalingPolicySelect, ps ...autoscalingv2.HPAScalingPolicy) *autoscalingv2.HPAScalingRules {
		return &autoscalingv2.HPAScalingRules{SelectPolicy: &sel, Policies: ps}
	}
	ago := func(s int) time.Time { return now.Add(-time.Duration(s) * time.Second) }
	max, min, off := autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect, autoscalingv2.DisabledPolicySelect

	up := []struct {
		name    string
		current int32
		st      State
		r       *autoscalingv2.HPAScalingRules
		want    int32
	}{
		{"defaults from 1: Pods 4 beats Percent 100", 1, State{}, rules(max, pods(4, 15), pct(100, 15)), 5},
		{"defaults from 10: Percent 100 beats Pods 4", 10, State{}, rules(max, pods(4, 15), pct(100, 15)), 20},
		{"Min picks the smaller change", 10, State{}, rules(min, pods(4, 15), pct(100, 15)), 14},
		{"Disabled keeps the current count", 10, State{}, rules(off, pods(4, 15)), 10},
		{"Percent rounds up: 3 * 1.5 = 4.5 -> 5", 3, State{}, rules(max, pct(50, 15)), 5},
		{"Percent rounds up: 3 * 1.1 = 3.3 -> 4", 3, State{}, rules(max, pct(10, 15)), 4},
		{"a scale-up 5 s ago counts: start 5-4 = 1", 5, State{ScaleUpEvents: []ScaleEvent{{ago(5), 4}}}, rules(max, pods(4, 15), pct(100, 15)), 5},
		{"an event exactly one period old does not count", 5, State{ScaleUpEvents: []ScaleEvent{{ago(15), 4}}}, rules(max, pods(4, 15), pct(100, 15)), 10},
		{"a scale-down within the period raises the start: 6+2 = 8", 6, State{ScaleDownEvents: []ScaleEvent{{ago(10), 2}}}, rules(max, pods(1, 60)), 9},
	}
	for _, tc := range up {
		if got, _ := scaleUpLimit(tc.current, tc.st, now, tc.r); got != tc.want {
			t.Errorf("scale-up %s: limit %d, want %d", tc.name, got, tc.want)
		}
	}

	down := []struct {
		name    string
		current int32
		st      State
		r       *autoscalingv2.HPAScalingRules
		want    int32
	}{
		{"Percent 10 of 80 -> 72", 80, State{}, rules(max, pct(10, 60)), 72},
		{"Percent 10 of 72 -> 64 (64.8 truncated)", 72, State{}, rules(max, pct(10, 60)), 64},
		{"Percent 10 of 64 -> 57 (57.6 truncated)", 64, State{}, rules(max, pct(10, 60)), 57},
		{"Max at 28: Pods 24 beats Percent 25", 28, State{}, rules(max, pods(4, 60), pct(10, 60)), 24},
		{"Min at 28: Percent 25", 28, State{}, rules(min, pods(4, 60), pct(10, 60)), 25},
		{"Percent 100 allows 0", 7, State{}, rules(max, pct(100, 15)), 0},
		{"Disabled keeps the current count", 7, State{}, rules(off, pct(100, 15)), 7},
		{"a scale-down 30 s ago counts: start 72+8 = 80 -> 72", 72, State{ScaleDownEvents: []ScaleEvent{{ago(30), 8}}}, rules(max, pct(10, 60)), 72},
	}
	for _, tc := range down {
		if got, _ := scaleDownLimit(tc.current, tc.st, now, tc.r); got != tc.want {
			t.Errorf("scale-down %s: limit %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestStabilizationWindowBoundaries(t *testing.T) {
	recs := func() []Recommendation {
		return []Recommendation{{now.Add(-300 * time.Second), 5}, {now.Add(-301 * time.Second), 9}}
	}
	// Without behavior a recommendation exactly as old as the window counts
	// (the 5), one older does not (the 9).
	if got, _ := stabilizeLegacy(recs(), now, 2, 300*time.Second); got != 5 {
		t.Errorf("legacy stabilization = %d, want 5", got)
	}
	// With behavior it no longer counts: highest = max(2) = 2; current 4
	// is brought down to it.
	if got, _, _, _ := stabilizeWithBehavior(recs(), now, 4, 2, 0, 300*time.Second); got != 2 {
		t.Errorf("behavior stabilization = %d, want 2", got)
	}
	// Scale-up window: the lowest recommendation within 60 s (3) caps a
	// recommendation of 8 from current 2.
	upRecs := []Recommendation{{now.Add(-30 * time.Second), 3}, {now.Add(-90 * time.Second), 1}}
	if got, lowest, _, _ := stabilizeWithBehavior(upRecs, now, 2, 8, 60*time.Second, 0); got != 3 || lowest != 3 {
		t.Errorf("scale-up stabilization = %d (lowest %d), want 3 (3)", got, lowest)
	}
}

func TestHistoriesReuseOldSlots(t *testing.T) {
	// A steady target decided every 15 s for an hour: the scale-down
	// window (300 s) holds at most 21 recommendations (the new one reuses a
	// slot older than the window), plus the initial one replaced early.
	sp := spec(1, 10, nil, cpuUtilization(100))
	var st State
	for i := 0; i < 240; i++ {
		_, st = Decide(sp, st, Observation{CurrentReplicas: 2, Replicas: olds(100, 100)}, now.Add(time.Duration(i)*15*time.Second))
	}
	if n := len(st.Recommendations); n > 22 {
		t.Errorf("%d recommendations kept, want at most 22", n)
	}

	// Scale events: one slot per event, reused once older than the
	// longest policy period.
	r := &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}}}
	var ev []ScaleEvent
	for i := 0; i < 100; i++ {
		ev = recordScaleEvent(ev, now.Add(time.Duration(i)*30*time.Second), 1, r)
	}
	if len(ev) > 4 {
		t.Errorf("%d scale events kept, want at most 4", len(ev))
	}
}

func TestScaleEventsOnlyWithBehavior(t *testing.T) {
	obs := Observation{CurrentReplicas: 2, Replicas: olds(200, 200)}
	_, st := Decide(spec(1, 10, nil, cpuUtilization(100)), State{}, obs, now)
	if len(st.ScaleUpEvents) != 0 {
		t.Errorf("scale-up events without behavior: %v", st.ScaleUpEvents)
	}
	d, st := Decide(spec(1, 10, &autoscalingv2.HorizontalPodAutoscalerBehavior{}, cpuUtilization(100)), State{}, obs, now)
	// 200% on 2 -> 4, within max(2+4, 4).
	if d.DesiredReplicas != 4 {
		t.Fatalf("desired %d, want 4", d.DesiredReplicas)
	}
	if diff := cmp.Diff([]ScaleEvent{{Time: now, Change: 2}}, st.ScaleUpEvents); diff != "" {
		t.Errorf("scale-up events (-want +got):\n%s", diff)
	}
}

func TestDecideDoesNotModifyItsInputs(t *testing.T) {
	sp := spec(1, 10, &autoscalingv2.HorizontalPodAutoscalerBehavior{}, cpuUtilization(100))
	in := State{
		Started:         true,
		Recommendations: []Recommendation{{now.Add(-time.Hour), 3}, {now.Add(-10 * time.Second), 4}},
		ScaleUpEvents:   []ScaleEvent{{now.Add(-time.Hour), 1}},
		ScaleDownEvents: []ScaleEvent{{now.Add(-time.Hour), 1}},
	}
	keep := in.clone()
	spKeep := *sp.DeepCopy()
	obs := Observation{CurrentReplicas: 4, Replicas: olds(300, 300, 300, 300)}
	d1, s1 := Decide(sp, in, obs, now)
	if diff := cmp.Diff(keep, in); diff != "" {
		t.Errorf("input state modified (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(spKeep, sp); diff != "" {
		t.Errorf("spec modified (-before +after):\n%s", diff)
	}
	// Same inputs, same outputs.
	d2, s2 := Decide(sp, in, obs, now)
	if diff := cmp.Diff(d1, d2); diff != "" {
		t.Errorf("decisions differ:\n%s", diff)
	}
	if diff := cmp.Diff(s1, s2); diff != "" {
		t.Errorf("states differ:\n%s", diff)
	}
}

func TestEffectiveBehavior(t *testing.T) {
	if got := EffectiveBehavior(nil, 5*time.Minute); got != nil {
		t.Errorf("nil behavior became %v", got)
	}
	i32 := func(v int32) *int32 { return &v }
	maxSel, minSel := autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect
	defaultUp := &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(0), SelectPolicy: &maxSel, Policies: []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
		{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
	}}
	got := EffectiveBehavior(&autoscalingv2.HorizontalPodAutoscalerBehavior{}, 120*time.Second)
	want := &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: defaultUp,
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(120), SelectPolicy: &maxSel, Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("empty behavior (-want +got):\n%s", diff)
	}

	// A partial scaleDown keeps the defaults it does not set; policies
	// replace the default list whole.
	partial := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
		SelectPolicy: &minSel,
		Policies:     []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}},
	}}
	got = EffectiveBehavior(partial, 300*time.Second)
	want = &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: defaultUp,
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(300), SelectPolicy: &minSel, Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("partial behavior (-want +got):\n%s", diff)
	}
	if partial.ScaleUp != nil || partial.ScaleDown.StabilizationWindowSeconds != nil {
		t.Errorf("EffectiveBehavior modified its argument: %+v", partial)
	}
}

func TestTolerancesFromBehavior(t *testing.T) {
	up, down := resource.MustParse("0.05"), resource.MustParse("250m")
	got := tolerancesFor(DefaultConfig(), &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp:   &autoscalingv2.HPAScalingRules{Tolerance: &up},
		ScaleDown: &autoscalingv2.HPAScalingRules{Tolerance: &down},
	})
	if math.Abs(got.up-0.05) > 1e-9 || math.Abs(got.down-0.25) > 1e-9 {
		t.Errorf("tolerances = %+v, want up 0.05, down 0.25", got)
	}
	// 1.06 is outside +0.05; 0.76 is within -0.25.
	if got.within(1.06) || !got.within(0.76) || got.within(0.74) {
		t.Errorf("within() disagrees with [0.75, 1.05]")
	}
	if got := tolerancesFor(DefaultConfig(), nil); got.up != 0.1 || got.down != 0.1 {
		t.Errorf("default tolerances = %+v, want 0.1 both", got)
	}
}

func TestMetricKey(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"queue": "a"}}
	cases := []struct {
		m    autoscalingv2.MetricSpec
		want string
	}{
		{cpuUtilization(50), ""},
		{autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "rps"}}}, "pods/rps"},
		{autoscalingv2.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference{Kind: "Ingress", Name: "main"}, Metric: autoscalingv2.MetricIdentifier{Name: "hits"}}}, "object/Ingress/main/hits"},
		{autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: "depth", Selector: sel}}}, "external/depth{queue=a}"},
	}
	for _, tc := range cases {
		if got := MetricKey(tc.m); got != tc.want {
			t.Errorf("MetricKey(%s) = %q, want %q", tc.m.Type, got, tc.want)
		}
	}
}

func TestCPUHelpers(t *testing.T) {
	// 1.5 CPU seconds in 10 s on a 0.5 core request: 0.15 cores = 30%.
	if got := CPUUtilization(1.5, 10, 0.5); math.Abs(got-30) > 1e-9 {
		t.Errorf("CPUUtilization = %v, want 30", got)
	}
	if got := CPUUtilization(1, 0, 0.5); got != 0 {
		t.Errorf("CPUUtilization with no interval = %v, want 0", got)
	}
	if got := CPUUsage(1.5, 10); got.MilliValue() != 150 {
		t.Errorf("CPUUsage = %s, want 150m", got.String())
	}
	if got := CPUUsage(-2, 10); got.MilliValue() != 0 {
		t.Errorf("CPUUsage of a negative delta = %s, want 0", got.String())
	}
	// The usage feeds the utilization calculation: 150m of 500m is 30%.
	obs := Observation{CurrentReplicas: 1, Replicas: []Replica{old("a", 0)}}
	obs.Replicas[0].Containers[0] = Container{Name: "app", Requests: cpu(500), Usage: corev1.ResourceList{corev1.ResourceCPU: CPUUsage(1.5, 10)}}
	d, _ := Decide(spec(1, 10, nil, cpuUtilization(30)), State{}, obs, now)
	if d.Metrics[0].Current != "30% of request" {
		t.Errorf("current = %q, want 30%% of request", d.Metrics[0].Current)
	}
}

func TestMilliString(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 47500: "47.5", 16666: "16.666", 10000: "10", -1500: "-1.5", 5: "0.005"} {
		if got := milliString(in); got != want {
			t.Errorf("milliString(%d) = %q, want %q", in, got, want)
		}
	}
}

// Near MaxInt32 replicas the scale-up limits saturate instead of wrapping
// into negative counts (FuzzDecide found the built-in one).
func TestScaleUpLimitsSaturate(t *testing.T) {
	if got, reason, _ := legacyLimits(math.MaxInt32-1, math.MaxInt32, 1, math.MaxInt32); got != math.MaxInt32 || reason != "DesiredWithinRange" {
		t.Errorf("legacyLimits near MaxInt32 = %d %s, want %d DesiredWithinRange", got, reason, int32(math.MaxInt32))
	}
	for _, p := range []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PodsScalingPolicy, Value: 10, PeriodSeconds: 15},
		{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
	} {
		if got, _ := scaleUpLimit(math.MaxInt32-5, State{}, now, &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{p}}); got != math.MaxInt32 {
			t.Errorf("scaleUpLimit %s near MaxInt32 = %d, want %d", policyString(p), got, int32(math.MaxInt32))
		}
	}
	down := &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: math.MaxInt32, PeriodSeconds: 15}}}
	if got, _ := scaleDownLimit(-5, State{}, now, down); got != math.MinInt32 {
		t.Errorf("scaleDownLimit below MinInt32 = %d, want %d", got, int32(math.MinInt32))
	}
	if got := saturateFloat(math.NaN()); got != 0 {
		t.Errorf("saturateFloat(NaN) = %d", got)
	}
}

// At a ratio of exactly 1 a missing replica is filled in neither way, and
// the note says so instead of naming nothing.
func TestRecomputedNoteWithNothingFilledIn(t *testing.T) {
	d, _ := DefaultConfig().Decide(spec(1, 10, nil, cpuUtilization(100)), State{},
		Observation{CurrentReplicas: 3, Replicas: olds(100, 100, -1)}, now)
	if len(d.Metrics) != 1 {
		t.Fatalf("metrics: %+v", d.Metrics)
	}
	if note := d.Metrics[0].Note; strings.Contains(note, "recomputed with :") || !strings.Contains(note, "recomputed without the replicas that have no sample: 100%") {
		t.Errorf("note %q", note)
	}
	if d.DesiredReplicas != 3 {
		t.Errorf("desired %d, want 3", d.DesiredReplicas)
	}
}
