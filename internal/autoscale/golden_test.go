package autoscale

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/sdep-dev/sdep/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden decision logs in testdata")

// t0 is the simulated clock's origin.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// scenario is a metric trace run through Decide step by step, the
// simulated target following every decision.
type scenario struct {
	name string
	// about is printed at the top of the log.
	about    string
	spec     autoscalingv2.HorizontalPodAutoscalerSpec
	cfg      *Config // nil: DefaultConfig
	replicas int32   // initial replicas, running and ready for an hour
	// requests of each replica's single container "app"; default cpu 100m.
	requests corev1.ResourceList
	steps    []step
}

// step is one decision. Per-replica CPU is cpu millicores, or load
// millicores spread evenly over the ready replicas, overridden by cpuOf.
type step struct {
	at      time.Duration
	note    string
	scaleTo *int32 // someone sets the target's replicas before this step
	cpu     int64
	load    int64
	cpuOf   map[int]int64
	memMi   int64 // memory usage per replica in Mi (0: not reported)
	missing []int // replicas without any sample
	unready []int // replicas not ready at this step (the rest are ready)
	values  map[string]resource.Quantity
	custom  map[string][]int64 // pods metric values per replica (milli); -1: missing
}

type simReplica struct {
	name       string
	start      time.Time
	ready      bool
	readySince time.Time
}

func int32p(v int32) *int32 { return &v }

func (sc scenario) run(t *testing.T) string {
	t.Helper()
	cfg := DefaultConfig()
	if sc.cfg != nil {
		cfg = *sc.cfg
	}
	requests := sc.requests
	if requests == nil {
		requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
	}
	var log strings.Builder
	fmt.Fprintf(&log, "# %s\n", sc.name)
	for _, line := range strings.Split(strings.TrimSpace(sc.about), "\n") {
		fmt.Fprintf(&log, "# %s\n", strings.TrimSpace(line))
	}

	var reps []simReplica
	next := 0
	resize := func(n int32, now time.Time, fresh bool) {
		for int32(len(reps)) < n {
			r := simReplica{name: fmt.Sprintf("r%d", next), start: now.Add(-time.Hour), ready: true, readySince: now.Add(-time.Hour)}
			if fresh {
				// A new replica starts now and is not ready yet.
				r.start, r.ready, r.readySince = now, false, now
			}
			reps = append(reps, r)
			next++
		}
		reps = reps[:n]
	}
	current := sc.replicas
	resize(current, t0, false)

	var state State
	for _, s := range sc.steps {
		now := t0.Add(s.at)
		if s.note != "" {
			fmt.Fprintf(&log, "\n# %s", s.note)
		}
		if s.scaleTo != nil {
			current = *s.scaleTo
			resize(current, now, false)
			fmt.Fprintf(&log, "\n# the target is scaled to %d by hand", current)
		}
		for i := range reps {
			want := !slices.Contains(s.unready, i)
			if reps[i].ready != want {
				reps[i].ready, reps[i].readySince = want, now
			}
		}
		obs := Observation{CurrentReplicas: current, Values: s.values}
		ready := 0
		for _, r := range reps {
			if r.ready {
				ready++
			}
		}
		for i, r := range reps {
			rep := Replica{Name: r.name, Ready: r.ready, StartTime: r.start, ReadySince: r.readySince}
			ct := Container{Name: "app", Requests: requests}
			if !slices.Contains(s.missing, i) {
				cpu := s.cpu
				if s.load > 0 {
					cpu = 0
					if r.ready && ready > 0 {
						cpu = s.load / int64(ready)
					}
				}
				if v, ok := s.cpuOf[i]; ok {
					cpu = v
				}
				ct.Usage = corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(cpu, resource.DecimalSI)}
				if s.memMi > 0 {
					ct.Usage[corev1.ResourceMemory] = *resource.NewQuantity(s.memMi<<20, resource.BinarySI)
				}
			}
			rep.Containers = []Container{ct}
			for key, vals := range s.custom {
				if i < len(vals) && vals[i] >= 0 {
					if rep.Custom == nil {
						rep.Custom = map[string]resource.Quantity{}
					}
					rep.Custom[key] = *resource.NewMilliQuantity(vals[i], resource.DecimalSI)
				}
			}
			obs.Replicas = append(obs.Replicas, rep)
		}

		var d Decision
		d, state = cfg.Decide(sc.spec, state, obs, now)
		fmt.Fprintf(&log, "\nt=%s %s\n", seconds(s.at), d)
		for _, m := range d.Metrics {
			fmt.Fprintf(&log, "    %s\n", metricLine(m))
		}
		fmt.Fprintf(&log, "    recommendation %d, stabilized %d, limit %s\n", d.Recommendation, d.Stabilized, limitName(d.Limit))
		var conds []string
		for _, c := range d.Conditions {
			conds = append(conds, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
		}
		fmt.Fprintf(&log, "    %s\n", strings.Join(conds, " "))

		if d.DesiredReplicas != current {
			current = d.DesiredReplicas
			resize(current, now, true)
		}
	}
	return log.String()
}

func metricLine(m MetricResult) string {
	if m.Err != "" {
		return m.String()
	}
	var groups []string
	for _, g := range []struct {
		n    int
		name string
	}{{m.Ready, "ready"}, {m.Unready, "not ready"}, {m.Missing, "missing"}, {m.Ignored, "ignored"}} {
		if g.n > 0 {
			groups = append(groups, fmt.Sprintf("%d %s", g.n, g.name))
		}
	}
	s := fmt.Sprintf("%s: ratio %.3f -> %d", describe(m), m.Ratio, m.Proposed)
	if m.WithinTolerance {
		s += " (no change)"
	}
	if len(groups) > 0 {
		s += " [" + strings.Join(groups, ", ") + "]"
	}
	if m.Note != "" {
		s += "; " + m.Note
	}
	return s
}

func limitName(l Limit) string {
	if l == LimitNone {
		return "none"
	}
	return string(l)
}

func TestGoldenDecisionLogs(t *testing.T) {
	names := map[string]bool{}
	for _, sc := range scenarios() {
		if names[sc.name] {
			t.Fatalf("duplicate scenario %q", sc.name)
		}
		names[sc.name] = true
		t.Run(sc.name, func(t *testing.T) {
			golden.Compare(t, sc.name, "decision log", []byte(sc.run(t)), *update)
		})
	}
	golden.NoOrphans(t, names)
}

func cpuUtilization(target int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target}}}
}

func memoryAverage(v string) autoscalingv2.MetricSpec {
	q := resource.MustParse(v)
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}}
}

func downWindow(seconds int32) *autoscalingv2.HorizontalPodAutoscalerBehavior {
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &seconds}}
}

func selectP(s autoscalingv2.ScalingPolicySelect) *autoscalingv2.ScalingPolicySelect { return &s }

func spec(minR, maxR int32, b *autoscalingv2.HorizontalPodAutoscalerBehavior, metrics ...autoscalingv2.MetricSpec) autoscalingv2.HorizontalPodAutoscalerSpec {
	return autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: &minR, MaxReplicas: maxR, Behavior: b, Metrics: metrics}
}

// inFlightKey is the Observation.Values key of the request-autoscaling example's metric.
const inFlightKey = "object/Deployment/requests-default-0-my-dep/seldon_requests_in_flight"

// inFlight is the request-autoscaling Object metric with an AverageValue target.
func inFlight(target int64) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
		Metric:          autoscalingv2.MetricIdentifier{Name: "seldon_requests_in_flight"},
		DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "requests-default-0-my-dep"},
		Target:          autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(target, resource.DecimalSI)},
	}}
}

func inFlightValue(v string) map[string]resource.Quantity {
	return map[string]resource.Quantity{inFlightKey: resource.MustParse(v)}
}

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

func scenarios() []scenario {
	upTol, downTol := resource.MustParse("0.05"), resource.MustParse("0.2")
	zero := int32(0)
	return []scenario{
		{
			name: "tolerance",
			about: `cpu target 100% with the default tolerance 0.1: 105% and 110% change nothing, 111% scales up;
			90% changes nothing, 85% is outside the tolerance but still rounds up to the same count.
			Behavior sets a 0 s scale-down window so scale-downs show at once.`,
			spec:     spec(1, 10, downWindow(0), cpuUtilization(100)),
			replicas: 4,
			steps: []step{
				{at: 0, cpu: 105},
				{at: sec(15), cpu: 110},
				{at: sec(30), cpu: 111},
				{at: sec(45), cpu: 90},
				{at: sec(60), cpu: 85},
				{at: sec(75), cpu: 70},
			},
		},
		{
			name: "configurable-tolerance",
			about: `behavior tolerances: scale-up 0.05, scale-down 0.2 (cpu target 100%).
			106% scales up, 85% and 82% stay, 79% scales down.`,
			spec: spec(1, 10, &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp:   &autoscalingv2.HPAScalingRules{Tolerance: &upTol},
				ScaleDown: &autoscalingv2.HPAScalingRules{Tolerance: &downTol, StabilizationWindowSeconds: &zero},
			}, cpuUtilization(100)),
			replicas: 4,
			steps: []step{
				{at: 0, cpu: 106},
				{at: sec(15), cpu: 85},
				{at: sec(30), cpu: 82},
				{at: sec(45), cpu: 79},
			},
		},
		{
			name: "default-scale-up",
			about: `no behavior: the built-in scale-up limit max(2*current, 4) per decision.
			380m of load on replicas requesting 100m, cpu target 10%: 1 -> 4 -> 8 -> 16 -> 32.
			At 60 s the metric is within tolerance, yet the target goes on to 38: without behavior the stabilization
			takes the highest recommendation of the window in both directions, and the 38 held back by the rate limit is still in it.`,
			spec:     spec(1, 100, nil, cpuUtilization(10)),
			replicas: 1,
			steps: []step{
				{at: 0, load: 380},
				{at: sec(15), load: 380},
				{at: sec(30), load: 380},
				{at: sec(45), load: 380},
				{at: sec(60), load: 380},
			},
		},
		{
			name:     "default-scale-up-10-to-20",
			about:    `no behavior: 10 replicas at 400% of a 50% target double to 20, then maxReplicas 30 caps the next doubling.`,
			spec:     spec(1, 30, nil, cpuUtilization(50)),
			replicas: 10,
			steps: []step{
				{at: 0, cpu: 400},
				{at: sec(15), cpu: 400},
			},
		},
		{
			name: "default-behavior-policies",
			about: `an empty behavior gets the API defaults: scale-up policies Pods 4/15s and Percent 100/15s, selectPolicy Max.
			From 1 replica Pods 4 wins (1 -> 5); 5 s later the period still holds it; after 15 s Percent 100 wins (5 -> 10 -> 20).`,
			spec:     spec(1, 100, &autoscalingv2.HorizontalPodAutoscalerBehavior{}, cpuUtilization(10)),
			replicas: 1,
			steps: []step{
				{at: 0, load: 380},
				{at: sec(5), load: 380},
				{at: sec(15), load: 380},
				{at: sec(30), load: 380},
			},
		},
		{
			name: "scale-down-stabilization-default",
			about: `no behavior: scale-down takes the highest recommendation of the last 300 s (the flag default).
			The first decision records the current 4; a 3 at 120 s holds the target at 3 until 420 s.`,
			spec:     spec(1, 10, nil, cpuUtilization(50)),
			replicas: 4,
			steps: []step{
				{at: 0, cpu: 50, note: "steady at the target"},
				{at: sec(60), cpu: 10, note: "load drops"},
				{at: sec(120), cpu: 35},
				{at: sec(180), cpu: 10},
				{at: sec(300), cpu: 10, note: "the recommendations of t=0 are exactly 300 s old and still count"},
				{at: sec(315), cpu: 10},
				{at: sec(420), cpu: 10},
				{at: sec(435), cpu: 10},
			},
		},
		{
			name:     "scale-down-stabilization-short",
			about:    `behavior scaleDown.stabilizationWindowSeconds 60: the load drops at 15 s and the target scales down at 60 s.`,
			spec:     spec(1, 10, downWindow(60), cpuUtilization(50)),
			replicas: 4,
			steps: []step{
				{at: 0, cpu: 50},
				{at: sec(15), cpu: 10},
				{at: sec(45), cpu: 10},
				{at: sec(60), cpu: 10},
			},
		},
		{
			name:  "scale-up-stabilization",
			about: `behavior scaleUp.stabilizationWindowSeconds 30: a spike at 15 s is acted on at 30 s, once every recommendation within 30 s is high.`,
			spec: spec(1, 10, &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: int32p(30)},
			}, cpuUtilization(50)),
			replicas: 2,
			steps: []step{
				{at: 0, cpu: 50},
				{at: sec(15), cpu: 150},
				{at: sec(30), cpu: 150},
			},
		},
		{
			name:  "select-policy-min",
			about: `scaleUp selectPolicy Min over Pods 4/15s and Percent 100/15s: the smaller change wins (10 -> 14 -> 18).`,
			spec: spec(1, 100, &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{SelectPolicy: selectP(autoscalingv2.MinChangePolicySelect)},
			}, cpuUtilization(50)),
			replicas: 10,
			steps: []step{
				{at: 0, cpu: 200},
				{at: sec(15), cpu: 200},
			},
		},
		{
			name:  "select-policy-disabled",
			about: `scaleDown selectPolicy Disabled: low load never scales down; scale-up still works.`,
			spec: spec(1, 20, &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{SelectPolicy: selectP(autoscalingv2.DisabledPolicySelect), StabilizationWindowSeconds: &zero},
			}, cpuUtilization(50)),
			replicas: 6,
			steps: []step{
				{at: 0, cpu: 5},
				{at: sec(15), cpu: 5},
				{at: sec(30), cpu: 100},
			},
		},
		{
			name: "percent-scale-down",
			about: `the Kubernetes docs example: scaleDown policies Pods 4/60s and Percent 10/60s (selectPolicy Max), no window.
			80 -> 72 (10% of 80), held for the rest of the 60 s period, then 64 (10% of 72 rounds up to 8), 57, ...
			Percent allows the bigger change above 40 replicas; below, Pods 4 does (28 -> 24); on a tie the first policy is named.`,
			spec: spec(10, 100, &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &zero, Policies: []autoscalingv2.HPAScalingPolicy{
					{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 60},
					{Type: autoscalingv2.PercentScalingPolicy, Value: 10, PeriodSeconds: 60},
				}},
			}, cpuUtilization(50)),
			replicas: 80,
			steps: []step{
				{at: 0, cpu: 1}, {at: sec(15), cpu: 1}, {at: sec(45), cpu: 1},
				{at: sec(60), cpu: 1}, {at: sec(120), cpu: 1}, {at: sec(180), cpu: 1},
				{at: sec(240), cpu: 1}, {at: sec(300), cpu: 1}, {at: sec(360), cpu: 1},
				{at: sec(420), cpu: 1}, {at: sec(480), cpu: 1}, {at: sec(540), cpu: 1},
				{at: sec(600), cpu: 1},
			},
		},
		{
			name: "min-max-clamp",
			about: `minReplicas 2, maxReplicas 5, no behavior, Config.DownscaleStabilizationWindow 30 s (the flag).
			The scale-up rate, then maxReplicas, limit the growth; low load stops at minReplicas;
			a target scaled by hand outside [2, 5] is brought back without looking at metrics.`,
			spec:     spec(2, 5, nil, cpuUtilization(50)),
			cfg:      &Config{Tolerance: 0.1, DownscaleStabilizationWindow: 30 * time.Second, CPUInitializationPeriod: 5 * time.Minute, InitialReadinessDelay: 30 * time.Second},
			replicas: 2,
			steps: []step{
				{at: 0, cpu: 500},
				{at: sec(15), cpu: 500},
				{at: sec(30), cpu: 5},
				{at: sec(60), cpu: 5},
				{at: sec(75), cpu: 50, scaleTo: int32p(9)},
				{at: sec(90), cpu: 50, scaleTo: int32p(1)},
			},
		},
		{
			name: "missing-metrics",
			about: `replicas without a cpu sample (cpu target 100%, scale-down window 0).
			Scale-down: a missing replica counts as 100% of its request (4 -> 3, where ignoring it would give 2).
			Scale-up: missing replicas count as 0%; the recomputation can fall within tolerance or reverse the direction.`,
			spec:     spec(1, 10, downWindow(0), cpuUtilization(100)),
			replicas: 4,
			steps: []step{
				{at: 0, cpu: 40, missing: []int{3}},
				{at: sec(15), cpu: 150, missing: []int{2}, note: "scale-up, recomputed 100% is within tolerance"},
				{at: sec(30), cpu: 250, missing: []int{2}},
				{at: sec(45), cpu: 140, missing: []int{3, 4}, note: "scale-up, recomputed 84% reverses the direction"},
				{at: sec(60), cpu: 150, missing: []int{0, 1, 2, 3, 4}, note: "no replica reports cpu"},
			},
		},
		{
			name: "unready-scale-up",
			about: `replicas that are not ready yet (cpu target 100%, default behavior).
			New replicas start not ready and their cpu samples are set aside; on a scale-up they count as 0%,
			which can bring the ratio within tolerance.`,
			spec:     spec(1, 20, &autoscalingv2.HorizontalPodAutoscalerBehavior{}, cpuUtilization(100)),
			replicas: 2,
			steps: []step{
				{at: 0, cpu: 210},
				{at: sec(15), cpu: 260, cpuOf: map[int]int64{2: 50, 3: 50, 4: 50}, unready: []int{2, 3, 4}, note: "r2, r3 and r4 are starting"},
				{at: sec(30), cpu: 260, note: "r2, r3 and r4 are ready"},
				{at: sec(45), cpu: 300, cpuOf: map[int]int64{5: 20, 6: 20, 7: 20, 8: 20, 9: 20}, unready: []int{5, 6, 7, 8, 9}},
			},
		},
		{
			name: "several-metrics",
			about: `cpu utilization (target 50%) and memory average value (target 200Mi); the highest proposal wins.
			While memory is unavailable, a scale-down is skipped but a scale-up proceeds.`,
			spec:     spec(1, 20, downWindow(0), cpuUtilization(50), memoryAverage("200Mi")),
			requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			replicas: 4,
			steps: []step{
				{at: 0, cpu: 25, memMi: 300},
				{at: sec(15), cpu: 80, memMi: 150},
				{at: sec(30), cpu: 10, note: "memory is not reported; cpu alone says scale down"},
				{at: sec(45), cpu: 80, note: "memory is not reported; cpu says scale up"},
				{at: sec(60), cpu: 10, memMi: 100},
			},
		},
		{
			name:     "maintenance-mode",
			about:    `a target scaled to 0 by hand disables autoscaling until it is scaled up again.`,
			spec:     spec(2, 10, nil, cpuUtilization(50)),
			replicas: 3,
			steps: []step{
				{at: 0, cpu: 50},
				{at: sec(15), scaleTo: int32p(0)},
				{at: sec(30)},
				{at: sec(45), cpu: 200, scaleTo: int32p(1)},
				{at: sec(60), cpu: 200},
			},
		},
		{
			name:  "external-metric",
			about: `an External metric with an AverageValue target of 10 per replica: proposal ceil(95 / 10) = 10; no behavior.`,
			spec: spec(1, 20, nil, autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "queue_length"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(10, resource.DecimalSI)},
			}}),
			replicas: 2,
			steps: []step{
				{at: 0, values: map[string]resource.Quantity{"external/queue_length": resource.MustParse("95")}},
				{at: sec(15), values: map[string]resource.Quantity{"external/queue_length": resource.MustParse("95")}},
				{at: sec(30), values: map[string]resource.Quantity{"external/queue_length": resource.MustParse("95")}},
				{at: sec(45), values: map[string]resource.Quantity{"external/queue_length": resource.MustParse("100")}},
				{at: sec(60), note: "the metric cannot be read"},
			},
		},
		{
			name: "object-requests-in-flight",
			about: `request autoscaling (examples/requests-hpa.json with maxReplicas 10): the Object metric seldon_requests_in_flight ` +
				`of the component's Deployment, from sdep's metrics API, with an AverageValue target of 2 in flight per replica: ` +
				`proposal ceil(in flight / 2) whatever the current count; no scale-down window.`,
			spec: spec(1, 10, downWindow(0), autoscalingv2.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
				Metric:          autoscalingv2.MetricIdentifier{Name: "seldon_requests_in_flight"},
				DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "requests-default-0-my-dep"},
				Target:          autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(2, resource.DecimalSI)},
			}}),
			replicas: 1,
			steps: []step{
				{at: 0, note: "concurrency 8", values: map[string]resource.Quantity{inFlightKey: resource.MustParse("8")}},
				{at: sec(15), values: map[string]resource.Quantity{inFlightKey: resource.MustParse("8")}},
				{at: sec(30), note: "one request fewer: ceil(7 / 2) is still 4", values: map[string]resource.Quantity{inFlightKey: resource.MustParse("7")}},
				{at: sec(45), note: "concurrency 4", values: map[string]resource.Quantity{inFlightKey: resource.MustParse("4")}},
				{at: sec(60), note: "idle: the minimum", values: map[string]resource.Quantity{inFlightKey: resource.MustParse("0")}},
				{at: sec(75), note: "a burst of 30: capped by the rate, then by maxReplicas", values: map[string]resource.Quantity{inFlightKey: resource.MustParse("30")}},
				{at: sec(90), values: map[string]resource.Quantity{inFlightKey: resource.MustParse("30")}},
			},
		},
		{
			name: "scale-to-zero-after-idle",
			about: `scale to zero (HPAScaleToZero, on by default): minReplicas 0 and an Object metric with an AverageValue
			target of 2 in flight per replica; no behavior, so the default 300 s scale-down window.
			Idle from 60 s: the recommendation is 0 at once, but the 3 recorded at 0 s holds the target until it is older
			than the window (it still counts at exactly 300 s); at 315 s the target goes to 0 and the ScaledToZero condition
			is set, so later decisions go on reading the metric at 0 replicas.`,
			spec:     spec(0, 10, nil, inFlight(2)),
			replicas: 3,
			steps: []step{
				{at: 0, note: "concurrency 6: steady at 3", values: inFlightValue("6")},
				{at: sec(60), note: "idle", values: inFlightValue("0")},
				{at: sec(180), values: inFlightValue("0")},
				{at: sec(300), values: inFlightValue("0")},
				{at: sec(315), values: inFlightValue("0")},
				{at: sec(330), note: "at 0 the metric is still read: 0 proposes 0", values: inFlightValue("0")},
			},
		},
		{
			name: "wake-from-zero-object",
			about: `waking from zero on an Object AverageValue metric (target 2 per replica, minReplicas 0, scale-down window 0,
			the default scale-up policies Pods 4/15s and Percent 100/15s).
			With no replica running the proposal is ceil(value / target): 7 in flight wake the target to 4.
			A Percent policy allows nothing from a period that starts at 0 replicas, Pods 4 allows 4; a period that holds a
			scale-down starts at the count before it (4 at 65 s, so up to 8).`,
			spec:     spec(0, 10, downWindow(0), inFlight(2)),
			replicas: 1,
			steps: []step{
				{at: 0, note: "idle: 1 -> 0 at once (no window)", values: inFlightValue("0")},
				{at: sec(15), note: "still idle, decided from the metric at 0 replicas", values: inFlightValue("0")},
				{at: sec(30), note: "7 in flight: 0 -> ceil(7 / 2) = 4", values: inFlightValue("7")},
				{at: sec(45), values: inFlightValue("7")},
				{at: sec(60), note: "idle again", values: inFlightValue("0")},
				{at: sec(65), note: "a burst of 20 within 15 s of the scale-down: Pods 4 from a period start of 4 allows 8", values: inFlightValue("20")},
				{at: sec(80), note: "the next period: Percent 100 of 8", values: inFlightValue("20")},
			},
		},
		{
			name: "scale-to-zero-rate-policies",
			about: `behavior policies on the way to 0 and back: scaleDown Percent 50/15s (window 0) removes half, truncated
			(4 -> 2 -> 1 -> 0); scaleUp Percent 100/15s alone. Waking within 15 s of the last scale-down starts the period at
			the 1 replica just removed (0 -> 2); once the scale-down is out of every period a Percent policy allows
			ceil(0 * 2) = 0 and the target stays at 0 (ScalingLimited ScaleUpLimit), as upstream.`,
			spec: spec(0, 10, &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{
					{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}},
				ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &zero, Policies: []autoscalingv2.HPAScalingPolicy{
					{Type: autoscalingv2.PercentScalingPolicy, Value: 50, PeriodSeconds: 15}}},
			}, inFlight(2)),
			replicas: 4,
			steps: []step{
				{at: 0, values: inFlightValue("0")},
				{at: sec(15), values: inFlightValue("0")},
				{at: sec(30), values: inFlightValue("0")},
				{at: sec(35), note: "8 in flight 5 s after reaching 0", values: inFlightValue("8")},
				{at: sec(50), values: inFlightValue("8")},
				{at: sec(65), note: "idle", values: inFlightValue("0")},
				{at: sec(80), values: inFlightValue("0")},
				{at: sec(95), values: inFlightValue("0")},
				{at: sec(200), note: "8 in flight long after: Percent 100 of 0 allows 0", values: inFlightValue("8")},
				{at: sec(215), values: inFlightValue("8")},
			},
		},
		{
			name: "scaled-to-zero-by-hand",
			about: `a Deployment someone else scaled to 0 stays at 0 even with minReplicas 0 and an Object metric: the autoscaler
			did not scale it there (no ScaledToZero condition), so scaling is disabled, as upstream. Scaled back to 1 by hand,
			it is autoscaled again.`,
			spec:     spec(0, 10, downWindow(0), inFlight(2)),
			replicas: 2,
			steps: []step{
				{at: 0, values: inFlightValue("4")},
				{at: sec(15), scaleTo: int32p(0), note: "30 in flight, but the target was scaled to 0 by hand", values: inFlightValue("30")},
				{at: sec(30), values: inFlightValue("30")},
				{at: sec(45), scaleTo: int32p(1), values: inFlightValue("30")},
			},
		},
		{
			name: "min-replicas-zero-needs-object-metric",
			about: `minReplicas 0 with only a cpu metric: refused as the API server refuses it (no metric can be read at 0
			replicas), the decision names the field and the fix and changes nothing.`,
			spec:     spec(0, 10, nil, cpuUtilization(50)),
			replicas: 2,
			steps: []step{
				{at: 0, cpu: 200},
				{at: sec(15), cpu: 200},
			},
		},
		{
			name: "scale-to-zero-gate-off",
			about: `Config.ScaleToZero false (kube-controller-manager with HPAScaleToZero=false): minReplicas 0 is refused even
			with an Object metric.`,
			spec:     spec(0, 10, nil, inFlight(2)),
			cfg:      &Config{Tolerance: 0.1, DownscaleStabilizationWindow: 5 * time.Minute, CPUInitializationPeriod: 5 * time.Minute, InitialReadinessDelay: 30 * time.Second},
			replicas: 2,
			steps: []step{
				{at: 0, values: inFlightValue("0")},
			},
		},
		{
			name: "external-metric-from-zero",
			about: `an External metric (queue length, AverageValue target 10 per replica) with minReplicas 0, scale-down window 0
			and the default scale-up policies: an empty queue takes the target to 0, 25 queued wake it to ceil(25 / 10) = 3;
			a Value target of the same metric would give ceil(ratio) from zero too.`,
			spec: spec(0, 20, downWindow(0), autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "queue_length"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(10, resource.DecimalSI)},
			}}),
			replicas: 2,
			steps: []step{
				{at: 0, values: map[string]resource.Quantity{"external/queue_length": resource.MustParse("0")}},
				{at: sec(15), values: map[string]resource.Quantity{"external/queue_length": resource.MustParse("0")}},
				{at: sec(30), values: map[string]resource.Quantity{"external/queue_length": resource.MustParse("25")}},
				{at: sec(45), values: map[string]resource.Quantity{"external/queue_length": resource.MustParse("25")}},
				{at: sec(60), note: "the metric cannot be read: nothing changes", values: nil},
				{at: sec(75), values: map[string]resource.Quantity{"external/queue_length": resource.MustParse("0")}},
				{at: sec(90), note: "the metric cannot be read at 0 replicas: the target stays at 0", values: nil},
			},
		},
		{
			name:  "pods-metric",
			about: `a Pods metric (requests per second, target 10 per replica average); a replica without a sample counts as 0 on scale-up.`,
			spec: spec(1, 20, downWindow(0), autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "rps"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(10, resource.DecimalSI)},
			}}),
			replicas: 3,
			steps: []step{
				{at: 0, custom: map[string][]int64{"pods/rps": {25000, 25000, -1}}},
				{at: sec(15), custom: map[string][]int64{"pods/rps": {4000, 4000, 4000, 4000, 4000}}},
			},
		},
	}
}
