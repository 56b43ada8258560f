package autoscale

import (
	"fmt"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// Upstream's defaults (pkg/apis/autoscaling/v2/defaults.go and the
// controller's built-in scale-up limit).
const (
	defaultScaleUpPercent   = 100
	defaultScaleUpPods      = 4
	defaultScaleUpPeriod    = 15
	defaultScaleDownPercent = 100
	defaultScaleDownPeriod  = 15

	// Without a behavior, one decision may scale up to
	// max(legacyScaleUpFactor*current, legacyScaleUpMinimum).
	legacyScaleUpFactor  = 2.0
	legacyScaleUpMinimum = 4.0
)

// EffectiveBehavior returns the behavior Decide applies: nil for nil (the
// HPA then uses the built-in rules, see the package doc), otherwise a copy
// with every unset field filled in as the API server's defaulting and the
// controller do: scaleUp {stabilization 0, policies Pods 4/15s and Percent
// 100/15s, selectPolicy Max}; scaleDown {stabilization
// downscaleStabilizationWindow, policy Percent 100/15s, selectPolicy Max}.
// A set field replaces its default whole (a policies list is not merged).
func EffectiveBehavior(b *autoscalingv2.HorizontalPodAutoscalerBehavior, downscaleStabilizationWindow time.Duration) *autoscalingv2.HorizontalPodAutoscalerBehavior {
	if b == nil {
		return nil
	}
	maxPolicy := autoscalingv2.MaxChangePolicySelect
	upWindow := int32(0)
	up := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: &upWindow,
		SelectPolicy:               &maxPolicy,
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: defaultScaleUpPods, PeriodSeconds: defaultScaleUpPeriod},
			{Type: autoscalingv2.PercentScalingPolicy, Value: defaultScaleUpPercent, PeriodSeconds: defaultScaleUpPeriod},
		},
	}
	maxPolicyDown := autoscalingv2.MaxChangePolicySelect
	downWindow := int32(downscaleStabilizationWindow / time.Second)
	down := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: &downWindow,
		SelectPolicy:               &maxPolicyDown,
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: defaultScaleDownPercent, PeriodSeconds: defaultScaleDownPeriod},
		},
	}
	c := b.DeepCopy()
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp:   overlayRules(c.ScaleUp, up),
		ScaleDown: overlayRules(c.ScaleDown, down),
	}
}

// overlayRules copies the set fields of from over to.
func overlayRules(from, to *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if from == nil {
		return to
	}
	if from.SelectPolicy != nil {
		to.SelectPolicy = from.SelectPolicy
	}
	if from.StabilizationWindowSeconds != nil {
		to.StabilizationWindowSeconds = from.StabilizationWindowSeconds
	}
	if from.Policies != nil {
		to.Policies = from.Policies
	}
	if from.Tolerance != nil {
		to.Tolerance = from.Tolerance
	}
	return to
}

// tolerances are the usage-ratio tolerances for each direction.
type tolerances struct {
	down, up float64
}

func (t tolerances) within(ratio float64) bool {
	return 1.0-t.down <= ratio && ratio <= 1.0+t.up
}

func (t tolerances) String() string {
	if t.down == t.up {
		return fmt.Sprintf("tolerance %s", trimFloat(t.up))
	}
	return fmt.Sprintf("tolerance -%s/+%s", trimFloat(t.down), trimFloat(t.up))
}

func tolerancesFor(cfg Config, b *autoscalingv2.HorizontalPodAutoscalerBehavior) tolerances {
	t := tolerances{down: cfg.Tolerance, up: cfg.Tolerance}
	if b == nil {
		return t
	}
	if b.ScaleDown != nil && b.ScaleDown.Tolerance != nil {
		t.down = b.ScaleDown.Tolerance.AsApproximateFloat64()
	}
	if b.ScaleUp != nil && b.ScaleUp.Tolerance != nil {
		t.up = b.ScaleUp.Tolerance.AsApproximateFloat64()
	}
	return t
}

// recordRecommendation stores rec, reusing the last slot for which isOld is
// true (as upstream does), else appending.
func recordRecommendation(recs []Recommendation, rec Recommendation, isOld func(Recommendation) bool) []Recommendation {
	old := -1
	for i, r := range recs {
		if isOld(r) {
			old = i
		}
	}
	if old >= 0 {
		recs[old] = rec
		return recs
	}
	return append(recs, rec)
}

// stabilizeLegacy is the no-behavior stabilization: the highest
// recommendation not older than the window, the new one included.
func stabilizeLegacy(recs []Recommendation, now time.Time, desired int32, window time.Duration) (int32, []Recommendation) {
	cutoff := now.Add(-window)
	highest := desired
	for _, r := range recs {
		if !r.Time.Before(cutoff) && r.Replicas > highest {
			highest = r.Replicas
		}
	}
	recs = recordRecommendation(recs, Recommendation{Time: now, Replicas: desired}, func(r Recommendation) bool {
		return r.Time.Before(cutoff)
	})
	return highest, recs
}

// stabilizeWithBehavior bounds the current replica count between the
// lowest recommendation within the scale-up window and the highest within
// the scale-down window (both include the new recommendation; a window
// excludes a recommendation exactly as old as the window).
func stabilizeWithBehavior(recs []Recommendation, now time.Time, current, desired int32, upWindow, downWindow time.Duration) (stabilized, lowest, highest int32, out []Recommendation) {
	upCutoff := now.Add(-upWindow)
	downCutoff := now.Add(-downWindow)
	lowest, highest = desired, desired
	for _, r := range recs {
		if r.Time.After(upCutoff) {
			lowest = min(lowest, r.Replicas)
		}
		if r.Time.After(downCutoff) {
			highest = max(highest, r.Replicas)
		}
	}
	stabilized = current
	if stabilized < lowest {
		stabilized = lowest
	}
	if stabilized > highest {
		stabilized = highest
	}
	out = recordRecommendation(recs, Recommendation{Time: now, Replicas: desired}, func(r Recommendation) bool {
		return r.Time.Before(upCutoff) && r.Time.Before(downCutoff)
	})
	return stabilized, lowest, highest, out
}

// changeInPeriod sums the changes recorded within the last period (an event
// exactly period old no longer counts).
func changeInPeriod(events []ScaleEvent, now time.Time, periodSeconds int32) int64 {
	cutoff := now.Add(-time.Duration(periodSeconds) * time.Second)
	var sum int64
	for _, e := range events {
		if e.Time.After(cutoff) {
			sum += int64(e.Change)
		}
	}
	return sum
}

// saturate and saturateFloat convert to int32, holding values beyond its
// range at MinInt32 or MaxInt32 (and NaN at 0) instead of wrapping: near
// MaxInt32 replicas a limit must not overflow into a negative count.
func saturate(v int64) int32 {
	return int32(min(max(v, math.MinInt32), math.MaxInt32))
}

func saturateFloat(f float64) int32 {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt32:
		return math.MaxInt32
	case f <= math.MinInt32:
		return math.MinInt32
	}
	return int32(f)
}

func longestPeriod(r *autoscalingv2.HPAScalingRules) int32 {
	var longest int32
	for _, p := range r.Policies {
		longest = max(longest, p.PeriodSeconds)
	}
	return longest
}

// recordScaleEvent stores a scale event, reusing the last slot of an event
// older than the direction's longest policy period, else appending.
func recordScaleEvent(events []ScaleEvent, now time.Time, change int32, rules *autoscalingv2.HPAScalingRules) []ScaleEvent {
	cutoff := now.Add(-time.Duration(longestPeriod(rules)) * time.Second)
	old := -1
	for i, e := range events {
		if e.Time.Before(cutoff) {
			old = i
		}
	}
	ev := ScaleEvent{Time: now, Change: change}
	if old >= 0 {
		events[old] = ev
		return events
	}
	return append(events, ev)
}

func selectPolicy(r *autoscalingv2.HPAScalingRules) autoscalingv2.ScalingPolicySelect {
	if r.SelectPolicy == nil {
		return autoscalingv2.MaxChangePolicySelect
	}
	return *r.SelectPolicy
}

// scaleUpLimit is the highest replica count the scale-up rules allow now,
// and a description of the policy that sets it. Percent proposals round
// up, so that a small percentage still adds a replica.
func scaleUpLimit(current int32, st State, now time.Time, r *autoscalingv2.HPAScalingRules) (int32, string) {
	sel := selectPolicy(r)
	if sel == autoscalingv2.DisabledPolicySelect {
		return current, "scale-up disabled by selectPolicy Disabled"
	}
	limit, chosen := int32(math.MinInt32), ""
	if sel == autoscalingv2.MinChangePolicySelect {
		limit = math.MaxInt32
	}
	for _, p := range r.Policies {
		added := changeInPeriod(st.ScaleUpEvents, now, p.PeriodSeconds)
		removed := changeInPeriod(st.ScaleDownEvents, now, p.PeriodSeconds)
		start := int64(current) - added + removed
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = saturate(start + int64(p.Value))
		case autoscalingv2.PercentScalingPolicy:
			proposed = saturateFloat(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		default:
			continue
		}
		if (sel == autoscalingv2.MinChangePolicySelect && proposed < limit) ||
			(sel != autoscalingv2.MinChangePolicySelect && proposed > limit) {
			limit, chosen = proposed, policyString(p)
		}
	}
	if chosen == "" {
		// No usable policy: upstream's result would be MinInt32 (or
		// MaxInt32), raised to the current count (or capped by
		// maxReplicas) later.
		return limit, "scale-up rules have no policies"
	}
	return limit, fmt.Sprintf("scale-up limited by policy %s", chosen)
}

// scaleDownLimit is the lowest replica count the scale-down rules allow
// now, and a description of the policy that sets it. Percent proposals
// truncate the remaining count, i.e. the removed share rounds up.
func scaleDownLimit(current int32, st State, now time.Time, r *autoscalingv2.HPAScalingRules) (int32, string) {
	sel := selectPolicy(r)
	if sel == autoscalingv2.DisabledPolicySelect {
		return current, "scale-down disabled by selectPolicy Disabled"
	}
	limit, chosen := int32(math.MaxInt32), ""
	if sel == autoscalingv2.MinChangePolicySelect {
		limit = math.MinInt32
	}
	for _, p := range r.Policies {
		added := changeInPeriod(st.ScaleUpEvents, now, p.PeriodSeconds)
		removed := changeInPeriod(st.ScaleDownEvents, now, p.PeriodSeconds)
		start := int64(current) - added + removed
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = saturate(start - int64(p.Value))
		case autoscalingv2.PercentScalingPolicy:
			proposed = saturateFloat(float64(start) * (1 - float64(p.Value)/100))
		default:
			continue
		}
		if (sel == autoscalingv2.MinChangePolicySelect && proposed > limit) ||
			(sel != autoscalingv2.MinChangePolicySelect && proposed < limit) {
			limit, chosen = proposed, policyString(p)
		}
	}
	if chosen == "" {
		return limit, "scale-down rules have no policies"
	}
	return limit, fmt.Sprintf("scale-down limited by policy %s", chosen)
}

func policyString(p autoscalingv2.HPAScalingPolicy) string {
	if p.Type == autoscalingv2.PercentScalingPolicy {
		return fmt.Sprintf("Percent %d%%/%ds", p.Value, p.PeriodSeconds)
	}
	return fmt.Sprintf("%s %d/%ds", p.Type, p.Value, p.PeriodSeconds)
}

// legacyScaleUpLimit is the built-in scale-up limit used without behavior.
func legacyScaleUpLimit(current int32) int32 {
	return saturateFloat(math.Max(legacyScaleUpFactor*float64(current), legacyScaleUpMinimum))
}
