package resources

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// restrictedFailures evaluates a pod template with the Pod Security
// "restricted" policy at "latest" and returns each failed check as
// "reason: detail".
func restrictedFailures(t *testing.T, tpl *corev1.PodTemplateSpec) []string {
	t.Helper()
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	var out []string
	for _, r := range evaluator.EvaluatePod(lv, &tpl.ObjectMeta, &tpl.Spec) {
		if !r.Allowed {
			out = append(out, r.ForbiddenReason+": "+r.ForbiddenDetail)
		}
	}
	return out
}

// userContainers names the containers the document itself declares.
func userContainers(sd *sdepv1.SeldonDeployment) map[string]bool {
	names := map[string]bool{}
	for _, p := range sd.Spec.Predictors {
		for _, cs := range p.ComponentSpecs {
			for _, c := range cs.Spec.Containers {
				names[c.Name] = true
			}
		}
	}
	return names
}

// onlyInjected returns a copy of the template without the user's containers.
func onlyInjected(tpl *corev1.PodTemplateSpec, user map[string]bool) *corev1.PodTemplateSpec {
	out := tpl.DeepCopy()
	out.Spec.Containers = nil
	for _, c := range tpl.Spec.Containers {
		if !user[c.Name] {
			out.Spec.Containers = append(out.Spec.Containers, c)
		}
	}
	return out
}

// compliant makes every user container meet the restricted profile.
func compliant(sd *sdepv1.SeldonDeployment) {
	for i := range sd.Spec.Predictors {
		for j := range sd.Spec.Predictors[i].ComponentSpecs {
			cs := &sd.Spec.Predictors[i].ComponentSpecs[j]
			for k := range cs.Spec.Containers {
				cs.Spec.Containers[k].SecurityContext = &corev1.SecurityContext{
					RunAsNonRoot:             new(true),
					AllowPrivilegeEscalation: new(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				}
			}
		}
	}
}

// The seed's user containers come from the user and set no securityContext,
// so the restricted profile refuses them; everything sdep adds to the pod
// must pass it, and a seed whose containers comply must pass as a whole.
// builtin-only has no user container: its executor-only pod must pass.
func TestPodsPassRestrictedPodSecurity(t *testing.T) {
	for _, name := range []string{"seed-hpaspecs", "seed-v1", "builtin-only"} {
		input := goldenCases(t)[name]
		t.Run(name, func(t *testing.T) {
			sd := decodeFile(t, input)[0]
			user := userContainers(sd)
			objs, err := Build(sd.DeepCopy(), testOptions())
			if err != nil {
				t.Fatal(err)
			}
			if len(objs.Deployments) == 0 {
				t.Fatal("no Deployment rendered")
			}
			for _, d := range objs.Deployments {
				tpl := &d.Spec.Template
				injected := onlyInjected(tpl, user)
				if len(injected.Spec.Containers) == 0 {
					t.Fatalf("%s: no injected container to check", d.Name)
				}
				if f := restrictedFailures(t, injected); len(f) > 0 {
					t.Errorf("%s: the containers sdep injects fail Pod Security restricted:\n%s", d.Name, strings.Join(f, "\n"))
				}
				// Every failure of the whole pod names a user container and
				// no injected one.
				for _, f := range restrictedFailures(t, tpl) {
					for _, c := range injected.Spec.Containers {
						if strings.Contains(f, fmt.Sprintf("%q", c.Name)) {
							t.Errorf("%s: failure names injected container %q: %s", d.Name, c.Name, f)
						}
					}
					names := false
					for u := range user {
						names = names || strings.Contains(f, fmt.Sprintf("%q", u))
					}
					if !names {
						t.Errorf("%s: failure names no user container: %s", d.Name, f)
					}
				}
			}

			ok := sd.DeepCopy()
			compliant(ok)
			objs, err = Build(ok, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range objs.Deployments {
				if f := restrictedFailures(t, &d.Spec.Template); len(f) > 0 {
					t.Errorf("%s with compliant user containers fails Pod Security restricted:\n%s", d.Name, strings.Join(f, "\n"))
				}
			}
		})
	}
}
