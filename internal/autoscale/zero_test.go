package autoscale

import (
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Scale-to-zero (HPAScaleToZero) edge cases. Expectations follow upstream's
// reconcileAutoscaler and replica calculator, worked out by hand next to
// each case.

const queueKey = "external/queue"

func queueAvg(target int64) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "queue"},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(target, resource.DecimalSI)},
	}}
}

func queueValue(target int64) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "queue"},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: resource.NewQuantity(target, resource.DecimalSI)},
	}}
}

func objectValueTarget(target int64) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
		DescribedObject: autoscalingv2.CrossVersionObjectReference{Kind: "Service", Name: "front"},
		Metric:          autoscalingv2.MetricIdentifier{Name: "rps"},
		Target:          autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: resource.NewQuantity(target, resource.DecimalSI)},
	}}
}

func podsRPS(target int64) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "rps"},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(target, resource.DecimalSI)},
	}}
}

func values(kv ...any) map[string]resource.Quantity {
	out := map[string]resource.Quantity{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = resource.MustParse(kv[i+1].(string))
	}
	return out
}

// atZero is the State of an autoscaler that scaled its target to 0.
var atZero = State{Started: true, Recommendations: []Recommendation{{Time: now.Add(-600e9), Replicas: 0}}, ScaledToZero: true}

func condition(d Decision, typ autoscalingv2.HorizontalPodAutoscalerConditionType) (Condition, bool) {
	for _, c := range d.Conditions {
		if c.Type == typ {
			return c, true
		}
	}
	return Condition{}, false
}

func TestMinReplicasProblem(t *testing.T) {
	cases := []struct {
		name    string
		min     *int32
		metrics []autoscalingv2.MetricSpec
		gate    bool
		field   string // "" for no problem
	}{
		{"unset minReplicas means 1", nil, []autoscalingv2.MetricSpec{cpuUtilization(50)}, true, ""},
		{"1 with cpu", int32p(1), []autoscalingv2.MetricSpec{cpuUtilization(50)}, true, ""},
		{"negative", int32p(-1), []autoscalingv2.MetricSpec{inFlight(2)}, true, "minReplicas"},
		{"0 with the gate off", int32p(0), []autoscalingv2.MetricSpec{inFlight(2)}, false, "minReplicas"},
		{"0 with cpu only", int32p(0), []autoscalingv2.MetricSpec{cpuUtilization(50)}, true, "metrics"},
		{"0 with a pods metric only", int32p(0), []autoscalingv2.MetricSpec{podsRPS(10)}, true, "metrics"},
		{"0 without metrics (the default cpu metric)", int32p(0), nil, true, "metrics"},
		{"0 with an object metric", int32p(0), []autoscalingv2.MetricSpec{inFlight(2)}, true, ""},
		{"0 with an external metric among others", int32p(0), []autoscalingv2.MetricSpec{cpuUtilization(50), queueAvg(10)}, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := MinReplicasProblem(autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: tc.min, MaxReplicas: 5, Metrics: tc.metrics}, tc.gate)
			switch {
			case tc.field == "" && p != nil:
				t.Fatalf("unexpected problem %+v", *p)
			case tc.field != "" && p == nil:
				t.Fatalf("no problem, want one on %s", tc.field)
			case tc.field != "" && p.Field != tc.field:
				t.Fatalf("problem on %s (%s), want %s", p.Field, p.Message, tc.field)
			}
		})
	}
	// The API server's wording, and a fix.
	p := MinReplicasProblem(spec(0, 5, nil, cpuUtilization(50)), true)
	if !strings.Contains(p.Message, "must specify at least one Object or External metric to support scaling to zero replicas") ||
		!strings.Contains(p.Message, "set minReplicas to at least 1") {
		t.Errorf("message %q", p.Message)
	}
	// Decide refuses such a spec and changes nothing.
	d, _ := Decide(spec(0, 5, nil, cpuUtilization(50)), State{}, Observation{CurrentReplicas: 2, Replicas: olds(10, 10)}, now)
	if d.Limit != LimitInvalidSpec || d.Changed() || !strings.Contains(d.LimitMessage, "metrics: must specify") {
		t.Errorf("decision %s (limit %s)", d, d.Limit)
	}
}

func TestScaleToZeroConditions(t *testing.T) {
	s := spec(0, 10, downWindow(0), inFlight(2))
	// 2 -> 0: ceil(0 / 2) = 0, minReplicas 0, an Object metric.
	d, st := Decide(s, State{}, Observation{CurrentReplicas: 2, Replicas: olds(0, 0), Values: values(inFlightKey, "0")}, now)
	c, ok := condition(d, autoscalingv2.ScaledToZero)
	want := Condition{Type: autoscalingv2.ScaledToZero, Status: corev1.ConditionTrue, Reason: "ScaledToZero",
		Message: "the HPA controller scaled the workload to zero"}
	if d.DesiredReplicas != 0 || !ok || c != want || !st.ScaledToZero {
		t.Fatalf("2 -> %d, condition %+v (present %t), State.ScaledToZero %t", d.DesiredReplicas, c, ok, st.ScaledToZero)
	}
	if got := d.Conditions[len(d.Conditions)-1].Type; got != autoscalingv2.ScaledToZero {
		t.Errorf("ScaledToZero is not the last condition: %v", got)
	}

	// At 0 with nothing to do: no change, so the condition is left as it is.
	d, st = Decide(s, st, Observation{CurrentReplicas: 0, Values: values(inFlightKey, "0")}, now.Add(15e9))
	if _, ok := condition(d, autoscalingv2.ScaledToZero); ok || !st.ScaledToZero || d.Changed() {
		t.Fatalf("at 0, idle: %s, conditions %+v, State.ScaledToZero %t", d, d.Conditions, st.ScaledToZero)
	}
	if c, _ := condition(d, autoscalingv2.ScalingActive); c.Reason != "ValidMetricFound" {
		t.Errorf("at 0, ScalingActive %+v, want ValidMetricFound", c)
	}

	// 0 -> 3: the condition turns False.
	d, st = Decide(s, st, Observation{CurrentReplicas: 0, Values: values(inFlightKey, "5")}, now.Add(30e9))
	c, _ = condition(d, autoscalingv2.ScaledToZero)
	want = Condition{Type: autoscalingv2.ScaledToZero, Status: corev1.ConditionFalse, Reason: "NotScaledToZero",
		Message: "the HPA controller did not scale the workload to zero"}
	if d.DesiredReplicas != 3 || c != want || st.ScaledToZero {
		t.Fatalf("0 -> %d (want 3), condition %+v, State.ScaledToZero %t", d.DesiredReplicas, c, st.ScaledToZero)
	}
}

func TestScaleToZeroGateOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ScaleToZero = false
	s := spec(1, 10, downWindow(0), inFlight(2))
	// A State left by a controller with the gate on: at 0 it no longer
	// counts, scaling is disabled and the condition goes.
	d, st := cfg.Decide(s, atZero, Observation{CurrentReplicas: 0, Values: values(inFlightKey, "9")}, now)
	if d.Limit != LimitScalingDisabled || d.Changed() || st.ScaledToZero {
		t.Fatalf("gate off at 0: %s (limit %s), State.ScaledToZero %t", d, d.Limit, st.ScaledToZero)
	}
	// A change of the count sets no ScaledToZero condition.
	d, st = cfg.Decide(s, State{ScaledToZero: true}, Observation{CurrentReplicas: 2, Replicas: olds(0, 0), Values: values(inFlightKey, "9")}, now)
	if _, ok := condition(d, autoscalingv2.ScaledToZero); ok || d.DesiredReplicas != 5 || st.ScaledToZero {
		t.Fatalf("gate off 2 -> %d (want 5), conditions %+v, State.ScaledToZero %t", d.DesiredReplicas, d.Conditions, st.ScaledToZero)
	}
}

func TestDecideAtZeroReplicas(t *testing.T) {
	noWindow := downWindow(0)
	cases := []struct {
		name    string
		spec    autoscalingv2.HorizontalPodAutoscalerSpec
		st      State
		obs     Observation
		desired int32
		limit   Limit
		check   func(t *testing.T, d Decision)
	}{
		{
			// Someone else scaled it to 0: upstream disables scaling.
			name: "not scaled to zero by the autoscaler",
			spec: spec(0, 10, noWindow, inFlight(2)), st: State{Started: true},
			obs:     Observation{CurrentReplicas: 0, Values: values(inFlightKey, "9")},
			desired: 0, limit: LimitScalingDisabled,
		},
		{
			// statusReplicas 0: 2 / (2 × 0) is +Inf, never within
			// tolerance, so ceil(2 / 2) = 1 (at 1 replica the ratio 1.0
			// would have been within tolerance).
			name: "object AverageValue at the target wakes one replica",
			spec: spec(0, 10, noWindow, inFlight(2)), st: atZero,
			obs:     Observation{CurrentReplicas: 0, Values: values(inFlightKey, "2")},
			desired: 1,
		},
		{
			// Value targets from zero: ceil(ratio), no ready-pod count.
			name: "object Value target from zero: ceil(250 / 100) = 3",
			spec: spec(0, 10, noWindow, objectValueTarget(100)), st: atZero,
			obs:     Observation{CurrentReplicas: 0, Values: values("object/Service/front/rps", "250")},
			desired: 3,
		},
		{
			name: "external Value target from zero: ceil(0.5) = 1",
			spec: spec(0, 10, noWindow, queueValue(10)), st: atZero,
			obs:     Observation{CurrentReplicas: 0, Values: values(queueKey, "5")},
			desired: 1,
		},
		{
			name: "external Value target at 0 stays at 0",
			spec: spec(0, 10, noWindow, queueValue(10)), st: atZero,
			obs:     Observation{CurrentReplicas: 0, Values: values(queueKey, "0")},
			desired: 0,
		},
		{
			// Resource and Pods metrics cannot be read at 0 (upstream: no
			// metrics returned). One failed metric among others blocks only
			// a scale-down, and from 0 there is none: the object metric's
			// ceil(9 / 2) = 5 is capped by the built-in max(2×0, 4) = 4.
			name: "cpu and pods metrics fail at 0, the object metric decides",
			spec: spec(0, 10, nil, cpuUtilization(50), podsRPS(10), inFlight(2)), st: atZero,
			obs:     Observation{CurrentReplicas: 0, Values: values(inFlightKey, "9")},
			desired: 4, limit: LimitPolicy,
			check: func(t *testing.T, d Decision) {
				if d.Metrics[0].Err == "" || d.Metrics[1].Err == "" || d.Metrics[2].Err != "" {
					t.Errorf("metric errors %q, %q, %q: want cpu and pods to fail", d.Metrics[0].Err, d.Metrics[1].Err, d.Metrics[2].Err)
				}
				if c, _ := condition(d, autoscalingv2.ScalingActive); c.Status != corev1.ConditionTrue || c.Reason != "ValidMetricFound" {
					t.Errorf("ScalingActive %+v", c)
				}
			},
		},
		{
			name: "cpu fails at 0 and the object metric says 0: stays at 0, scaling active",
			spec: spec(0, 10, nil, cpuUtilization(50), inFlight(2)), st: atZero,
			obs:     Observation{CurrentReplicas: 0, Values: values(inFlightKey, "0")},
			desired: 0,
			check: func(t *testing.T, d Decision) {
				if c, _ := condition(d, autoscalingv2.ScalingActive); c.Reason != "ValidMetricFound" {
					t.Errorf("ScalingActive %+v", c)
				}
			},
		},
		{
			// Terminating replicas of the scale-down do not count as live.
			name: "terminating replicas at 0 do not count",
			spec: spec(0, 10, noWindow, inFlight(2)), st: atZero,
			obs: Observation{CurrentReplicas: 0, Values: values(inFlightKey, "6"), Replicas: func() []Replica {
				r := olds(0, 0)
				r[0].Terminating, r[1].Terminating = true, true
				return r
			}()},
			desired: 3,
		},
		{
			// minReplicas raised to 2 after the autoscaler scaled to 0:
			// metrics are read (minReplicas != 0 and ScaledToZero), the
			// behavior's limits keep 0 (no change), and upstream then
			// raises a scale from zero to minReplicas.
			name: "minReplicas raised while at 0: back to minReplicas",
			spec: spec(2, 10, noWindow, inFlight(2)), st: atZero,
			obs:     Observation{CurrentReplicas: 0, Values: values(inFlightKey, "0")},
			desired: 2, limit: LimitMin,
		},
		{
			// The same with a cpu metric alone: it cannot be read at 0, so
			// every metric failed and upstream stops before raising to
			// minReplicas.
			name: "minReplicas raised while at 0, cpu only: metrics unavailable",
			spec: spec(1, 10, nil, cpuUtilization(50)), st: atZero,
			obs:     Observation{CurrentReplicas: 0},
			desired: 0, limit: LimitMetricsUnavailable,
		},
		{
			name: "the object metric cannot be read at 0: stays at 0",
			spec: spec(0, 10, noWindow, inFlight(2)), st: atZero,
			obs:     Observation{CurrentReplicas: 0},
			desired: 0, limit: LimitMetricsUnavailable,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := Decide(tc.spec, tc.st, tc.obs, now)
			if d.DesiredReplicas != tc.desired || d.Limit != tc.limit {
				t.Errorf("desired %d, limit %q; want %d, %q\n%s", d.DesiredReplicas, d.Limit, tc.desired, tc.limit, d)
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

func TestScaleToZeroFromAboveZero(t *testing.T) {
	// cpu at 0 usage proposes ceil(0 × 2) = 0 too: with an object metric
	// at 0 the target goes to 0.
	s := spec(0, 10, downWindow(0), cpuUtilization(50), inFlight(2))
	d, st := Decide(s, State{}, Observation{CurrentReplicas: 2, Replicas: olds(0, 0), Values: values(inFlightKey, "0")}, now)
	if d.DesiredReplicas != 0 || !st.ScaledToZero {
		t.Errorf("idle cpu and object: 2 -> %d, ScaledToZero %t; want 0, true", d.DesiredReplicas, st.ScaledToZero)
	}
	// cpu at 40m of 100m (40%, target 50%): ceil(0.8 × 2) = 2 wins over 0.
	d, st = Decide(s, State{}, Observation{CurrentReplicas: 2, Replicas: olds(40, 40), Values: values(inFlightKey, "0")}, now)
	if d.DesiredReplicas != 2 || st.ScaledToZero {
		t.Errorf("busy cpu, idle object: 2 -> %d, ScaledToZero %t; want 2, false", d.DesiredReplicas, st.ScaledToZero)
	}

	// Scale-down policies on the way to 0: Pods 1/15s from 1 allows 0.
	one := int32(1)
	b := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: new(int32),
		Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: one, PeriodSeconds: 15}}}}
	d, _ = Decide(spec(0, 10, b, inFlight(2)), State{}, Observation{CurrentReplicas: 1, Replicas: olds(0), Values: values(inFlightKey, "0")}, now)
	if d.DesiredReplicas != 0 {
		t.Errorf("Pods 1/15s from 1: %s, want 0", d)
	}
	// A failed metric blocks the scale-down to 0 as any scale-down.
	d, st = Decide(spec(0, 10, downWindow(0), inFlight(2), queueAvg(10)), State{},
		Observation{CurrentReplicas: 2, Replicas: olds(0, 0), Values: values(inFlightKey, "0")}, now)
	if d.DesiredReplicas != 2 || d.Limit != LimitMetricsUnavailable || st.ScaledToZero {
		t.Errorf("object 0, external missing: %s (limit %s), want no change", d, d.Limit)
	}
}

func TestScaledToZeroIsKeptUntilTheNextChange(t *testing.T) {
	// Upstream keeps the condition in the HPA's status: the autoscaler
	// scaled to 0, someone scaled the target to 2 by hand and the metric
	// asks for 2 (no change), so ScaledToZero stays True; if the target is
	// then set to 0 by hand, it is autoscaled from 0 all the same.
	s := spec(0, 10, downWindow(0), inFlight(2))
	d, st := Decide(s, atZero, Observation{CurrentReplicas: 2, Replicas: olds(0, 0), Values: values(inFlightKey, "4")}, now)
	if d.Changed() || !st.ScaledToZero {
		t.Fatalf("at 2 with 4 in flight: %s, ScaledToZero %t; want no change, true", d, st.ScaledToZero)
	}
	d, _ = Decide(s, st, Observation{CurrentReplicas: 0, Values: values(inFlightKey, "4")}, now.Add(15e9))
	if d.DesiredReplicas != 2 {
		t.Fatalf("set to 0 by hand with the condition still True: %s, want 0 -> 2", d)
	}
}

func TestScaleUpLimitsFromZero(t *testing.T) {
	pct := autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}
	pods := autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15}
	maxSel := autoscalingv2.MaxChangePolicySelect
	minSel := autoscalingv2.MinChangePolicySelect
	cases := []struct {
		name string
		st   State
		r    autoscalingv2.HPAScalingRules
		want int32
	}{
		// ceil(0 × 2) = 0: a Percent policy alone never leaves 0.
		{"Percent 100 from 0", State{}, autoscalingv2.HPAScalingRules{SelectPolicy: &maxSel, Policies: []autoscalingv2.HPAScalingPolicy{pct}}, 0},
		{"Pods 4 from 0", State{}, autoscalingv2.HPAScalingRules{SelectPolicy: &maxSel, Policies: []autoscalingv2.HPAScalingPolicy{pods}}, 4},
		{"Max of both from 0", State{}, autoscalingv2.HPAScalingRules{SelectPolicy: &maxSel, Policies: []autoscalingv2.HPAScalingPolicy{pods, pct}}, 4},
		{"Min of both from 0", State{}, autoscalingv2.HPAScalingRules{SelectPolicy: &minSel, Policies: []autoscalingv2.HPAScalingPolicy{pods, pct}}, 0},
		// 3 removed 5 s ago: the period starts at 3, ceil(3 × 2) = 6.
		{"Percent 100 within the period of a scale-down to 0", State{ScaleDownEvents: []ScaleEvent{{now.Add(-5e9), 3}}},
			autoscalingv2.HPAScalingRules{SelectPolicy: &maxSel, Policies: []autoscalingv2.HPAScalingPolicy{pct}}, 6},
	}
	for _, tc := range cases {
		if got, _ := scaleUpLimit(0, tc.st, now, &tc.r); got != tc.want {
			t.Errorf("%s: limit %d, want %d", tc.name, got, tc.want)
		}
	}
	// The built-in rate without behavior: max(2 × 0, 4) = 4.
	if got := legacyScaleUpLimit(0); got != 4 {
		t.Errorf("legacy limit from 0 = %d, want 4", got)
	}
}
