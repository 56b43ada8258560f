package autoscale

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// FuzzDecide runs two decisions in a row on odd inputs: negative, zero and
// huge usages, requests, targets, metric values and replica counts, every
// metric type, with and without a behavior, from a fresh State or one whose
// autoscaler scaled the target to zero. Decide must not panic, must not
// modify the State it is given, and a decision that scales must land in
// [minReplicas, maxReplicas]; one that does not keeps the current count. A
// target at 0 the autoscaler did not scale there is never scaled.
func FuzzDecide(f *testing.F) {
	f.Add(int32(1), int32(10), int32(2), uint8(3), int64(50), int64(100), int32(10), uint8(0), int64(0), int64(0), false, int32(4), int32(15), uint8(0xff))
	f.Add(int32(1), int32(10), int32(2), uint8(3), int64(-50), int64(0), int32(-1), uint8(1), int64(0), int64(0), true, int32(100), int32(60), uint8(0x0f))
	f.Add(int32(1), int32(math.MaxInt32), int32(math.MaxInt32-1), uint8(2), int64(math.MaxInt64), int64(1), int32(1), uint8(0), int64(0), int64(0), false, int32(0), int32(0), uint8(3))
	f.Add(int32(2), int32(5), int32(3), uint8(0), int64(0), int64(0), int32(50), uint8(3), int64(math.MinInt64), int64(0), true, int32(math.MaxInt32), int32(1800), uint8(0))
	f.Add(int32(1), int32(100), int32(7), uint8(4), int64(1e15), int64(1e3), int32(1), uint8(4), int64(1e18), int64(-1), true, int32(-5), int32(1), uint8(0x55))
	f.Add(int32(1), int32(3), int32(-4), uint8(1), int64(1), int64(1), int32(80), uint8(2), int64(1), int64(1), false, int32(1), int32(1), uint8(1))
	// Scale to zero: minReplicas 0, an object (kind 3) or external (kind 4)
	// metric; kind/6 odd starts from a State that scaled the target to 0.
	f.Add(int32(0), int32(10), int32(0), uint8(0), int64(0), int64(100), int32(50), uint8(9), int64(7000), int64(2000), false, int32(4), int32(15), uint8(0))
	f.Add(int32(0), int32(10), int32(3), uint8(3), int64(0), int64(100), int32(50), uint8(4), int64(0), int64(2000), true, int32(100), int32(15), uint8(0xff))
	f.Add(int32(0), int32(10), int32(0), uint8(0), int64(0), int64(100), int32(50), uint8(10), int64(1e18), int64(1), true, int32(100), int32(15), uint8(0))
	f.Fuzz(func(t *testing.T, minR, maxR, current int32, n uint8, usage, request int64, util int32,
		kind uint8, value, target int64, withBehavior bool, policyValue, period int32, ready uint8) {
		spec := autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: &minR, MaxReplicas: maxR}
		milli := func(v int64) *resource.Quantity { return resource.NewMilliQuantity(v, resource.DecimalSI) }
		ident := autoscalingv2.MetricIdentifier{Name: "m"}
		switch kind % 6 {
		case 0: // cpu utilization
			spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &util}}}}
		case 1: // memory average value
			spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: milli(target)}}}}
		case 2: // pods metric
			spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
				Metric: ident, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: milli(target)}}}}
		case 3: // object value
			spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
				DescribedObject: autoscalingv2.CrossVersionObjectReference{Kind: "Service", Name: "s"}, Metric: ident,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: milli(target)}}}}
		case 4: // external average value
			spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
				Metric: ident, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: milli(target)}}}}
		case 5: // no metrics: the default cpu metric
		}
		if withBehavior {
			window := period
			spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &window, Policies: []autoscalingv2.HPAScalingPolicy{
					{Type: autoscalingv2.PodsScalingPolicy, Value: policyValue, PeriodSeconds: period},
					{Type: autoscalingv2.PercentScalingPolicy, Value: policyValue, PeriodSeconds: period},
				}},
				ScaleDown: &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{
					{Type: autoscalingv2.PercentScalingPolicy, Value: policyValue, PeriodSeconds: period},
				}},
			}
		}
		obs := Observation{CurrentReplicas: current, Values: map[string]resource.Quantity{}}
		for _, m := range spec.Metrics {
			if k := MetricKey(m); k != "" {
				obs.Values[k] = *milli(value)
			}
		}
		for i := range int(n % 17) {
			r := Replica{Name: string(rune('a' + i)), Ready: ready&(1<<(i%8)) != 0,
				StartTime: now.Add(-time.Hour), ReadySince: now.Add(-time.Hour),
				Containers: []Container{{Name: "app",
					Requests: corev1.ResourceList{corev1.ResourceCPU: *milli(request), corev1.ResourceMemory: *milli(request)},
					Usage:    corev1.ResourceList{corev1.ResourceCPU: *milli(usage * int64(i+1)), corev1.ResourceMemory: *milli(usage)}}},
				Custom: map[string]resource.Quantity{"pods/m": *milli(value - int64(i))},
			}
			r.Pending = i == 5
			r.Terminating = i == 6
			obs.Replicas = append(obs.Replicas, r)
		}

		check := func(d Decision, cur int32, st State) {
			t.Helper()
			if cur == 0 && !st.ScaledToZero && d.Changed() {
				t.Fatalf("scaled a target at 0 that the autoscaler did not scale there: %s", d.Reason)
			}
			if d.CurrentReplicas != cur {
				t.Fatalf("CurrentReplicas %d, want %d", d.CurrentReplicas, cur)
			}
			if d.Changed() && (d.DesiredReplicas < minR || d.DesiredReplicas > maxR) {
				t.Fatalf("scaled %d -> %d, outside [%d, %d]: %s", cur, d.DesiredReplicas, minR, maxR, d.Reason)
			}
		}
		state := State{ScaledToZero: (kind/6)%2 == 1}
		d, next := Decide(spec, state, obs, now)
		check(d, current, state)
		if !cmp.Equal(state, State{ScaledToZero: (kind/6)%2 == 1}) {
			t.Fatal("Decide modified the State it was given")
		}
		// A second decision from the first one's state, at the new count.
		before := next.clone()
		obs.CurrentReplicas = d.DesiredReplicas
		d2, _ := Decide(spec, next, obs, now.Add(15*time.Second))
		check(d2, d.DesiredReplicas, next)
		if !cmp.Equal(before, next) {
			t.Fatal("Decide modified the State it was given")
		}
	})
}
