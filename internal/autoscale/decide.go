package autoscale

import (
	"fmt"
	"slices"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// DefaultCPUUtilization is the target of the metric an HPA without metrics
// gets (average CPU utilization of 80%).
const DefaultCPUUtilization = 80

// Decide is DefaultConfig().Decide.
func Decide(spec autoscalingv2.HorizontalPodAutoscalerSpec, state State, obs Observation, now time.Time) (Decision, State) {
	return DefaultConfig().Decide(spec, state, obs, now)
}

// Decide runs one HPA reconciliation: from the spec, the state left by the
// previous decision, what is observed now and the current time, it returns
// the decision and the next state. It assumes the caller applies
// DesiredReplicas (the returned state records the scale event).
// spec.ScaleTargetRef is not used.
func (cfg Config) Decide(spec autoscalingv2.HorizontalPodAutoscalerSpec, state State, obs Observation, now time.Time) (Decision, State) {
	cur := obs.CurrentReplicas
	d := Decision{Time: now, CurrentReplicas: cur, DesiredReplicas: cur, Recommendation: -1, Stabilized: -1}
	minR := int32(1)
	if spec.MinReplicas != nil {
		minR = *spec.MinReplicas
	}
	maxR := spec.MaxReplicas
	if err := validate(spec, minR, cfg.ScaleToZero); err != nil {
		d.Limit, d.LimitMessage = LimitInvalidSpec, err.Error()
		d.Reason = "invalid spec: " + err.Error()
		d.Conditions = []Condition{{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "InvalidSpec", Message: err.Error()}}
		return d, state.clone()
	}
	behavior := EffectiveBehavior(spec.Behavior, cfg.DownscaleStabilizationWindow)

	st := state.clone()
	if !st.Started {
		st.Started = true
		st.Recommendations = append(st.Recommendations, Recommendation{Time: now, Replicas: cur})
	}
	able := Condition{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "SucceededGetScale",
		Message: "the HPA controller was able to get the target's current scale"}

	// Scale-to-zero (upstream's HPAScaleToZero): at 0 replicas, metrics are
	// read only if the autoscaler scaled the target to 0 itself and it has
	// an Object or External metric, or if it did and minReplicas has since
	// been raised above 0 (then the target goes back to minReplicas).
	objectOrExternal := HasObjectOrExternalMetric(spec.Metrics)
	scaledToZero := cfg.ScaleToZero && st.ScaledToZero
	fromZero := cur == 0 && scaledToZero && (minR != 0 || objectOrExternal)

	switch {
	case cur == 0 && !fromZero:
		d.Limit = LimitScalingDisabled
		d.LimitMessage = "scaling is disabled since the replica count of the target is zero"
		d.Reason = d.LimitMessage
		d.Conditions = []Condition{able, {Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse,
			Reason: "ScalingDisabled", Message: d.LimitMessage}}
		if !cfg.ScaleToZero {
			st.ScaledToZero = false
		}
		return d, st
	case cur > maxR:
		d.DesiredReplicas, d.Limit = maxR, LimitMax
		d.LimitMessage = fmt.Sprintf("current number of replicas above maxReplicas %d", maxR)
		d.Reason = d.LimitMessage
		d.Conditions = []Condition{able}
	case cur < minR && cur != 0:
		d.DesiredReplicas, d.Limit = minR, LimitMin
		d.LimitMessage = fmt.Sprintf("current number of replicas below minReplicas %d", minR)
		d.Reason = d.LimitMessage
		d.Conditions = []Condition{able}
	default:
		if !cfg.decideFromMetrics(&d, &st, spec, behavior, obs, minR, maxR, now, able) {
			return d, st
		}
		if cur == 0 && minR != 0 && d.DesiredReplicas < minR {
			// Upstream raises a scale from zero to minReplicas after the
			// limits, leaving the conditions as they were set.
			d.DesiredReplicas, d.Limit = minR, LimitMin
			d.LimitMessage = fmt.Sprintf("scaling from zero to at least minReplicas %d", minR)
			d.Reason += " (" + d.LimitMessage + ")"
		}
	}

	if d.DesiredReplicas != cur {
		if behavior != nil {
			if d.DesiredReplicas > cur {
				st.ScaleUpEvents = recordScaleEvent(st.ScaleUpEvents, now, d.DesiredReplicas-cur, behavior.ScaleUp)
			} else {
				st.ScaleDownEvents = recordScaleEvent(st.ScaleDownEvents, now, cur-d.DesiredReplicas, behavior.ScaleDown)
			}
		}
		// Every change of the count sets the ScaledToZero condition anew.
		st.ScaledToZero = false
		if cfg.ScaleToZero {
			cond := Condition{Type: autoscalingv2.ScaledToZero, Status: corev1.ConditionFalse, Reason: "NotScaledToZero",
				Message: "the HPA controller did not scale the workload to zero"}
			if cur > 0 && d.DesiredReplicas == 0 && minR == 0 && objectOrExternal {
				st.ScaledToZero = true
				cond = Condition{Type: autoscalingv2.ScaledToZero, Status: corev1.ConditionTrue, Reason: "ScaledToZero",
					Message: "the HPA controller scaled the workload to zero"}
			}
			d.Conditions = append(d.Conditions, cond)
		}
	}
	return d, st
}

// decideFromMetrics fills in d from the metrics; it returns false when no
// scaling may happen because metrics are unavailable.
func (cfg Config) decideFromMetrics(d *Decision, st *State, spec autoscalingv2.HorizontalPodAutoscalerSpec,
	behavior *autoscalingv2.HorizontalPodAutoscalerBehavior, obs Observation, minR, maxR int32, now time.Time, able Condition) bool {
	cur := obs.CurrentReplicas
	tol := tolerancesFor(cfg, behavior)
	c := calc{cfg: cfg, now: now, current: cur, tol: tol, obs: obs}

	metrics := spec.Metrics
	if len(metrics) == 0 {
		metrics = []autoscalingv2.MetricSpec{DefaultMetric()}
	}
	d.Metrics = make([]MetricResult, len(metrics))
	var rec int32
	decisive, invalid, firstInvalid := -1, 0, -1
	for i, m := range metrics {
		r := c.metric(m)
		d.Metrics[i] = r
		if r.Err != "" {
			invalid++
			if firstInvalid < 0 {
				firstInvalid = i
			}
			continue
		}
		if rec == 0 || r.Proposed > rec {
			rec, decisive = r.Proposed, i
		}
	}

	if invalid >= len(metrics) || (invalid > 0 && rec < cur) {
		bad := d.Metrics[firstInvalid]
		d.Limit = LimitMetricsUnavailable
		if invalid >= len(metrics) {
			d.LimitMessage = fmt.Sprintf("no metric could be computed; %s: %s", bad.Name, bad.Err)
		} else {
			d.LimitMessage = fmt.Sprintf("not scaling down while %s is unavailable: %s", bad.Name, bad.Err)
			d.Recommendation = rec
		}
		d.Reason = d.LimitMessage
		d.Conditions = []Condition{able, {Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse,
			Reason: bad.Reason, Message: "the HPA was unable to compute the replica count: " + bad.Err}}
		return false
	}
	top := d.Metrics[decisive]
	d.Recommendation = rec
	active := Condition{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionTrue, Reason: "ValidMetricFound",
		Message: "the HPA was able to successfully calculate a replica count from " + top.Name}

	var (
		stab              int32
		stabMsg           string
		final             int32
		limitReason       string
		limitPolicyDetail string
	)
	var ableToScale Condition // set on every path below
	if behavior == nil {
		window := cfg.DownscaleStabilizationWindow
		stab, st.Recommendations = stabilizeLegacy(st.Recommendations, now, rec, window)
		if stab != rec {
			ableToScale = Condition{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ScaleDownStabilized",
				Message: "recent recommendations were higher than current one, applying the highest recent recommendation"}
			stabMsg = fmt.Sprintf("stabilized: highest recommendation within %s is %d", seconds(window), stab)
		} else {
			ableToScale = Condition{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale",
				Message: "recommended size matches current size"}
		}
		final, limitReason, limitPolicyDetail = legacyLimits(cur, stab, minR, maxR)
	} else {
		upWindow := time.Duration(*behavior.ScaleUp.StabilizationWindowSeconds) * time.Second
		downWindow := time.Duration(*behavior.ScaleDown.StabilizationWindowSeconds) * time.Second
		var lowest, highest int32
		stab, lowest, highest, st.Recommendations = stabilizeWithBehavior(st.Recommendations, now, cur, rec, upWindow, downWindow)
		switch {
		case stab == rec:
			ableToScale = Condition{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale",
				Message: "recommended size matches current size"}
		case rec >= cur:
			ableToScale = Condition{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ScaleUpStabilized",
				Message: "recent recommendations were lower than current one, applying the lowest recent recommendation"}
			stabMsg = fmt.Sprintf("scale-up stabilized: lowest recommendation within %s is %d", seconds(upWindow), lowest)
		default:
			ableToScale = Condition{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ScaleDownStabilized",
				Message: "recent recommendations were higher than current one, applying the highest recent recommendation"}
			stabMsg = fmt.Sprintf("scale-down stabilized: highest recommendation within %s is %d", seconds(downWindow), highest)
		}
		final, limitReason, limitPolicyDetail = rateLimits(cur, stab, minR, maxR, *st, now, behavior)
	}
	d.Stabilized, d.DesiredReplicas = stab, final

	limited := Condition{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionFalse, Reason: limitReason,
		Message: limitConditionMessages[limitReason]}
	if final != stab {
		limited.Status = corev1.ConditionTrue
	}
	d.Conditions = []Condition{ableToScale, active, limited}

	switch {
	case final != stab:
		switch limitReason {
		case "TooManyReplicas":
			d.Limit, d.LimitMessage = LimitMax, fmt.Sprintf("limited by maxReplicas %d", maxR)
		case "TooFewReplicas":
			d.Limit, d.LimitMessage = LimitMin, fmt.Sprintf("limited by minReplicas %d", minR)
		default:
			d.Limit, d.LimitMessage = LimitPolicy, limitPolicyDetail
		}
	case stab != rec:
		d.Limit, d.LimitMessage = LimitStabilization, stabMsg
	case rec == cur && top.WithinTolerance:
		d.Limit = LimitTolerance
		d.LimitMessage = "within " + tol.String()
		if top.Note != "" {
			d.LimitMessage = top.Note
		}
	}

	var notes []string
	add := func(s string) {
		if s != "" && !slices.Contains(notes, s) {
			notes = append(notes, s)
		}
	}
	add(top.Note)
	if stab != rec {
		add(stabMsg)
	}
	add(d.LimitMessage)
	d.Reason = describe(top)
	if len(notes) > 0 {
		d.Reason += " (" + strings.Join(notes, "; ") + ")"
	}
	return true
}

var limitConditionMessages = map[string]string{
	"ScaleUpLimit":       "the desired replica count is increasing faster than the maximum scale rate",
	"TooManyReplicas":    "the desired replica count is more than the maximum replica count",
	"ScaleDownLimit":     "the desired replica count is decreasing faster than the maximum scale rate",
	"TooFewReplicas":     "the desired replica count is less than the minimum replica count",
	"DesiredWithinRange": "the desired count is within the acceptable range",
}

// legacyLimits clamps without behavior: to [minReplicas, maxReplicas] and
// to the built-in scale-up rate of max(2*current, 4) per decision.
func legacyLimits(cur, desired, minR, maxR int32) (int32, string, string) {
	upLimit := legacyScaleUpLimit(cur)
	maxAllowed, reason := maxR, "TooManyReplicas"
	if maxR > upLimit {
		maxAllowed, reason = upLimit, "ScaleUpLimit"
	}
	detail := fmt.Sprintf("scale-up limited by the default rate max(2*%d, 4) = %d", cur, upLimit)
	switch {
	case desired < minR:
		return minR, "TooFewReplicas", ""
	case desired > maxAllowed:
		return maxAllowed, reason, detail
	}
	return desired, "DesiredWithinRange", ""
}

// rateLimits applies the behavior's rate policies and minReplicas /
// maxReplicas, as upstream's convertDesiredReplicasWithBehaviorRate.
func rateLimits(cur, desired, minR, maxR int32, st State, now time.Time, b *autoscalingv2.HorizontalPodAutoscalerBehavior) (int32, string, string) {
	switch {
	case desired > cur:
		limit, detail := scaleUpLimit(cur, st, now, b.ScaleUp)
		if limit < cur {
			limit = cur
		}
		maxAllowed, reason := maxR, "TooManyReplicas"
		if maxR > limit {
			maxAllowed, reason = limit, "ScaleUpLimit"
		}
		if desired > maxAllowed {
			return maxAllowed, reason, detail
		}
	case desired < cur:
		limit, detail := scaleDownLimit(cur, st, now, b.ScaleDown)
		if limit > cur {
			limit = cur
		}
		minAllowed, reason := minR, "TooFewReplicas"
		if minR < limit {
			minAllowed, reason = limit, "ScaleDownLimit"
		}
		if desired < minAllowed {
			return minAllowed, reason, detail
		}
	}
	return desired, "DesiredWithinRange", ""
}

// DefaultMetric is the metric of an HPA without metrics: average CPU
// utilization of DefaultCPUUtilization percent.
func DefaultMetric() autoscalingv2.MetricSpec {
	target := int32(DefaultCPUUtilization)
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target},
		},
	}
}

func (s State) clone() State {
	return State{
		Started:         s.Started,
		Recommendations: append([]Recommendation(nil), s.Recommendations...),
		ScaleUpEvents:   append([]ScaleEvent(nil), s.ScaleUpEvents...),
		ScaleDownEvents: append([]ScaleEvent(nil), s.ScaleDownEvents...),
		ScaledToZero:    s.ScaledToZero,
	}
}
