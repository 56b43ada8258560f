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

// validate rejects what the API server would (scale-to-zero is not
// supported here, so minReplicas must be at least 1).
func validate(spec autoscalingv2.HorizontalPodAutoscalerSpec, minR int32) error {
	switch {
	case minR < 1:
		return fmt.Errorf("minReplicas %d must be at least 1", minR)
	case spec.MaxReplicas < minR:
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
