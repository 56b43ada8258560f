// Package differential plays the same CPU trace to kube-controller-manager's
// HPA controller (on the local control plane of internal/devcluster, with
// its test metrics.k8s.io API) and to internal/autoscale, and checks that
// both settle on the same replica count after every step of the trace and
// pass through the same counts on the way. The object cases do the same
// with an Object metric (sdep's seldon_requests_in_flight, AverageValue
// target) served by sdep's custom metrics API server, whose values the test
// sets; two of them have minReplicas 0 (HPAScaleToZero, on on both sides):
// one scales the target to 0 and back, the other checks that a target set
// to 0 by hand is left alone. At every checkpoint the HPA's ScaledToZero
// condition must match the model's State.ScaledToZero.
//
// Both sides run with the same settings: sync period, tolerance, downscale
// stabilization, and a CPU initialization period and initial readiness delay
// of 1 ms, so that every Running, Ready pod's sample counts (see model for
// how the model's replicas look). devcluster sets only the first two flags
// on its kube-controller-manager, so the test runs devcluster without the
// HPA controller and starts a second kube-controller-manager with the HPA
// controller alone and every flag set.
//
// Checkpoints are where a count has held for quietPeriod (and, on the real
// side, every pod is ready and none is terminating). The counts passed
// through are asserted too: on the real side they are deterministic for
// these traces. The one thing the model does not see is a new pod still
// Pending at the controller's next sync (it counts as using no CPU on a
// scale-up); the traces are chosen so that the rate limit, not the
// recommendation, decides every scale-up step, which makes such a pod
// change nothing. Timing differs by design (the model's decisions are
// exactly a sync period apart), so only counts are compared, not when they
// happen.
//
// KUBEBUILDER_ASSETS must name the folder `hack/control-plane.sh all` prints;
// without it, or with a binary missing, the test fails.
package differential

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Settings shared by kube-controller-manager (kcmHPAFlags) and the model
// (modelConfig).
const (
	syncPeriod              = time.Second
	downscaleStabilization  = 2 * time.Second
	tolerance               = 0.1
	cpuInitializationPeriod = time.Millisecond
	initialReadinessDelay   = time.Millisecond
	scaleToZero             = true // the HPAScaleToZero feature gate
)

const (
	workload = "app"
	// metricsWindow is the sample window devcluster's fake metrics API reports.
	metricsWindow = time.Second
	// quietPeriod is how long a count must hold to be a checkpoint. The
	// longest wait between two changes is a stabilization window (the
	// longest any case uses) plus a sync period; one more period is margin.
	quietPeriod = downscaleStabilization + 2*syncPeriod + syncPeriod
	// stepTimeout bounds one step on the real side.
	stepTimeout = 45 * time.Second
)

var cpuRequest = resource.MustParse("100m")

// traceCase is an HPA and the per-pod CPU usage of each step, or, for an
// object case, the value of the Deployment's Object metric objectMetric.
type traceCase struct {
	name     string
	min, max int32
	target   int32 // average CPU utilization, percent of the request; object: AverageValue
	behavior *autoscalingv2.HorizontalPodAutoscalerBehavior
	trace    []string
	object   bool
	// byHand sets the Deployment's replicas, on both sides, before the
	// step of that index (someone else scaling the target).
	byHand map[int]int32
}

func (tc traceCase) spec() autoscalingv2.HorizontalPodAutoscalerSpec {
	metric := autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(tc.target)},
		},
	}
	if tc.object {
		metric = autoscalingv2.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
			Metric:          autoscalingv2.MetricIdentifier{Name: objectMetric},
			DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: workload},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType,
				AverageValue: resource.NewQuantity(int64(tc.target), resource.DecimalSI)},
		}}
	}
	return autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: workload},
		MinReplicas:    new(tc.min),
		MaxReplicas:    tc.max,
		Metrics:        []autoscalingv2.MetricSpec{metric},
		Behavior:       tc.behavior.DeepCopy(),
	}
}

var cases = []traceCase{
	{
		// Without behavior: the built-in scale-up limit max(2×current, 4)
		// takes 1 to 10 in three decisions; 120m is above target but
		// already at maxReplicas; at 40% of a 50% target (ratio 0.8) each
		// decision proposes ceil(0.8×n) until 4, where 3.2 rounds back up
		// to 4, each step held by the stabilization window.
		//
		// 500m (ratio 10) rather than less: a scale-up's new pods may still
		// be Pending at the controller's next sync, and then count as using
		// nothing. With a ratio of at least 8 the recommendation from the
		// old pods alone (ceil(10×1) = 10 at 4 replicas) still exceeds the
		// rate limit (8), so the counts passed through do not depend on how
		// fast kwok starts pods. The behavior case's limit of 2 pods a
		// second is far below what 300m proposes from the old pods alone.
		name: "no behavior", min: 1, max: 10, target: 50,
		trace: []string{"20m", "500m", "120m", "40m", "10m"},
	},
	{
		// An explicit behavior: at most 2 pods added and 3 removed per
		// second, scale-down stabilization of its own.
		name: "behavior", min: 1, max: 10, target: 50,
		behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: &autoscalingv2.HPAScalingRules{
				Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 1}},
			},
			ScaleDown: &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: new(int32(downscaleStabilization / time.Second)),
				Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 3, PeriodSeconds: 1}},
			},
		},
		trace: []string{"20m", "300m", "10m"},
	},
	{
		// Request autoscaling: the Object metric seldon_requests_in_flight
		// (served by sdep's metrics API server) with an AverageValue target
		// of 2, so each decision proposes ceil(value / 2) whatever the
		// current count. 30 in flight is capped by the built-in rate
		// (4 → 8) and then by maxReplicas. The count of replicas a new pod
		// adds does not enter the proposal, so Pending pods change nothing.
		name: "object requests in flight", min: 1, max: 10, target: 2, object: true,
		trace: []string{"1", "8", "30", "6", "1"},
	},
	{
		// Scale to zero and back (HPAScaleToZero): the same metric with
		// minReplicas 0. At 0 in flight the recommendation is 0, held by
		// the stabilization window and then applied; the HPA sets its
		// ScaledToZero condition and so goes on reading the metric at 0
		// replicas. 6 in flight wakes the target to ceil(6 / 2) = 3 (the
		// built-in rate allows max(2×0, 4) = 4 from zero); 30 goes 0 → 4 →
		// 8 → 10. With no replica running the per-replica ratio is a
		// division by zero on both sides, never within tolerance, so the
		// proposal is ceil(value / 2) whether or not the new pods exist yet.
		name: "object scale to zero", min: 0, max: 10, target: 2, object: true,
		trace: []string{"1", "0", "6", "0", "30", "0"},
	},
	{
		// A target someone else scaled to 0 is left alone, even with
		// minReplicas 0 and 30 in flight: the HPA did not scale it to zero
		// (no ScaledToZero condition), so scaling is disabled. Scaled back
		// to 1 by hand, it is autoscaled again (1 → 4 → 8 → 10).
		name: "object scaled to zero by hand", min: 0, max: 10, target: 2, object: true,
		trace:  []string{"2", "2", "30", "30"},
		byHand: map[int]int32{1: 0, 3: 1},
	},
}

// TestHPAControllerAndAutoscaleAgreeOnCPUTrace is the differential test
// (CPU traces, and the object case on a custom metric).
func TestHPAControllerAndAutoscaleAgreeOnCPUTrace(t *testing.T) {
	h := startHarness(t)
	h.objects = startObjectMetrics(t, h)
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			runCase(t, h, tc)
		})
	}
}

func runCase(t *testing.T, h *realHarness, tc traceCase) {
	begin := time.Now()
	ns := h.setUp(t, tc, resource.MustParse(tc.trace[0]))
	m := newModel(modelConfig(), tc)

	var realSteps, modelSteps [][]int32
	current := int32(1) // the Deployment starts at one replica
	for i, usage := range tc.trace {
		perPod := resource.MustParse(usage)
		if n, ok := tc.byHand[i]; ok {
			h.scaleByHand(t, ns, n)
			m.scaleByHand(n)
			current = n
		}
		if i > 0 {
			h.set(tc, ns, perPod)
		}
		stepStart := time.Now()
		kcm := h.waitStable(t, ns, current, stepTimeout)
		current = kcm[len(kcm)-1]
		t.Logf("step %d (%s per pod): real %v in %s; HPA %s", i, usage, kcm,
			time.Since(stepStart).Round(100*time.Millisecond), h.hpaSummary(ns))
		modelled, reasons, err := m.step(perPod)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reasons {
			t.Logf("  model %s", r)
		}
		realSteps, modelSteps = append(realSteps, kcm), append(modelSteps, modelled)
		if got, want := modelled[len(modelled)-1], kcm[len(kcm)-1]; got != want {
			t.Fatalf("step %d (%s per pod): autoscale settles at %d replicas, the HPA controller at %d\n%s",
				i, usage, got, want, table(tc.trace, realSteps, modelSteps))
		}
		// The ScaledToZero condition decides whether a target at 0 is
		// autoscaled at all: both sides must agree on it too.
		real0, err := h.scaledToZero(ns)
		if err != nil {
			t.Fatal(err)
		}
		if real0 != m.state.ScaledToZero {
			t.Fatalf("step %d (%s per pod): the HPA's ScaledToZero condition is %t, autoscale's State.ScaledToZero %t",
				i, usage, real0, m.state.ScaledToZero)
		}
	}
	t.Logf("%s in %s\n%s", tc.name, time.Since(begin).Round(100*time.Millisecond), table(tc.trace, realSteps, modelSteps))
	if !slices.EqualFunc(realSteps, modelSteps, slices.Equal) {
		t.Errorf("same checkpoints but different counts passed through:\n%s", table(tc.trace, realSteps, modelSteps))
	}
}

// table lays out both sides' counts per step.
func table(trace []string, kcm, modelled [][]int32) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-5s %-6s %-28s %s\n", "step", "value", "kube-controller-manager", "autoscale")
	for i := range kcm {
		fmt.Fprintf(&b, "%-5d %-6s %-28s %s\n", i, trace[i], arrows(kcm[i]), arrows(modelled[i]))
	}
	return b.String()
}

func arrows(counts []int32) string {
	s := make([]string, len(counts))
	for i, c := range counts {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, "→")
}
