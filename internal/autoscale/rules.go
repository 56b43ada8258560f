package autoscale

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// Problem is one rule of an HPA spec that is broken: Field is relative to
// the spec ("behavior.scaleUp.policies[0].value"), Message says what is
// allowed.
type Problem struct {
	Field, Message string
}

// BehaviorProblems checks a behavior as the API server does. They are the
// one set of behavior rules in sdep: the validator reports them with the
// document's field path, and Decide refuses a spec that breaks one.
func BehaviorProblems(b *autoscalingv2.HorizontalPodAutoscalerBehavior) []Problem {
	if b == nil {
		return nil
	}
	var out []Problem
	out = append(out, scalingRulesProblems("behavior.scaleUp", b.ScaleUp)...)
	out = append(out, scalingRulesProblems("behavior.scaleDown", b.ScaleDown)...)
	return out
}

func scalingRulesProblems(field string, r *autoscalingv2.HPAScalingRules) []Problem {
	if r == nil {
		return nil
	}
	var out []Problem
	fail := func(f, format string, args ...any) {
		out = append(out, Problem{Field: field + f, Message: fmt.Sprintf(format, args...)})
	}
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > 3600) {
		fail(".stabilizationWindowSeconds", "%d: must be between 0 and 3600", *w)
	}
	if s := r.SelectPolicy; s != nil {
		switch *s {
		case autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect, autoscalingv2.DisabledPolicySelect:
		default:
			fail(".selectPolicy", "%q: use Max, Min or Disabled", *s)
		}
	}
	if r.Policies != nil && len(r.Policies) == 0 {
		fail(".policies", "empty: list at least one policy, or leave policies out for the defaults")
	}
	for k, p := range r.Policies {
		pf := fmt.Sprintf(".policies[%d]", k)
		if p.Type != autoscalingv2.PodsScalingPolicy && p.Type != autoscalingv2.PercentScalingPolicy {
			fail(pf+".type", "%q: use Pods or Percent", p.Type)
		}
		if p.Value <= 0 {
			fail(pf+".value", "%d: must be greater than 0", p.Value)
		}
		if p.PeriodSeconds <= 0 || p.PeriodSeconds > 1800 {
			fail(pf+".periodSeconds", "%d: must be between 1 and 1800", p.PeriodSeconds)
		}
	}
	if t := r.Tolerance; t != nil && t.Sign() < 0 {
		fail(".tolerance", "%s: must not be negative", t.String())
	}
	return out
}

// MinReplicasProblem checks minReplicas (the API server's rules, with the
// HPAScaleToZero feature gate as given): it must not be negative; 0 needs
// the gate and at least one Object or External metric among the metrics
// (the only ones that can be read while no replica runs). nil minReplicas
// means 1 and is always fine.
func MinReplicasProblem(spec autoscalingv2.HorizontalPodAutoscalerSpec, scaleToZero bool) *Problem {
	if spec.MinReplicas == nil {
		return nil
	}
	switch minR := *spec.MinReplicas; {
	case minR < 0:
		return &Problem{Field: "minReplicas", Message: fmt.Sprintf("%d: must not be negative: set it to 1 or more (0 to scale to zero)", minR)}
	case minR == 0 && !scaleToZero:
		return &Problem{Field: "minReplicas", Message: "0: must be at least 1 while scale-to-zero is off (the HPAScaleToZero feature gate, Config.ScaleToZero): set it to 1 or more, or turn scale-to-zero on"}
	case minR == 0 && !HasObjectOrExternalMetric(spec.Metrics):
		return &Problem{Field: "metrics", Message: "must specify at least one Object or External metric to support scaling to zero replicas " +
			"(minReplicas is 0): add one, or set minReplicas to at least 1"}
	}
	return nil
}

// HasObjectOrExternalMetric reports whether an Object or External metric
// is among the metrics (upstream looks at the type alone).
func HasObjectOrExternalMetric(metrics []autoscalingv2.MetricSpec) bool {
	for _, m := range metrics {
		if m.Type == autoscalingv2.ObjectMetricSourceType || m.Type == autoscalingv2.ExternalMetricSourceType {
			return true
		}
	}
	return false
}

// validate rejects what the API server would.
func validate(spec autoscalingv2.HorizontalPodAutoscalerSpec, minR int32, scaleToZero bool) error {
	if p := MinReplicasProblem(spec, scaleToZero); p != nil {
		return fmt.Errorf("%s: %s", p.Field, p.Message)
	}
	if spec.MaxReplicas < minR {
		return fmt.Errorf("maxReplicas %d must not be less than minReplicas %d", spec.MaxReplicas, minR)
	}
	problems := BehaviorProblems(spec.Behavior)
	if len(problems) == 0 {
		return nil
	}
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.Field + ": " + p.Message
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}
