package validation_test

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/validation"
	"github.com/sdep-dev/sdep/internal/validation/validationtest"
)

func TestBaseIsValid(t *testing.T) {
	res := validation.Validate(validationtest.Base())
	if len(res.Errors)+len(res.Warnings) != 0 {
		t.Fatalf("base document: %v %v", res.Errors, res.Warnings)
	}
}

func TestExamplesAreValid(t *testing.T) {
	for _, f := range []string{"../../examples/seed-hpaspecs.json", "../../examples/seed-v1.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := decode.Documents(f, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			res := validation.Validate(d.Object)
			if len(res.Errors)+len(res.Warnings) != 0 {
				t.Errorf("%s: %v %v", f, res.Errors, res.Warnings)
			}
		}
	}
}

// TestRules has one case per validation rule: a change to the valid base
// document, and the problem (field path and message) it must produce.
func TestRules(t *testing.T) {
	for _, tt := range validationtest.InvalidCases() {
		t.Run(tt.Name, func(t *testing.T) {
			sd := validationtest.Base()
			tt.Mutate(sd)
			res := validation.Validate(sd)
			for _, p := range res.Errors {
				if p.Field == tt.Want.Field && strings.Contains(p.Message, tt.Want.Message) {
					return
				}
			}
			t.Errorf("want error %s: %s\ngot:\n%v", tt.Want.Field, tt.Want.Message, res.Errors)
		})
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	sd := validationtest.Base()
	sd.Spec.Protocol = "http"
	validationtest.Pred(sd).HpaSpecs[0].ScaleTargetRef.Name = "my-depp"
	validationtest.Pred(sd).Graph.Name = "classifer"
	res := validation.Validate(sd)
	var fields []string
	for _, p := range res.Errors {
		fields = append(fields, p.Field)
	}
	want := []string{"spec.protocol", "spec.predictors[0].hpaSpecs[0].scaleTargetRef.name", "spec.predictors[0].graph.name"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("error fields (-want +got):\n%s", diff)
	}
}

// The executor serves every protocol spec.protocol accepts: none is warned
// about.
func TestProtocolsNotWarned(t *testing.T) {
	for _, p := range []sdepv1.Protocol{sdepv1.ProtocolSeldon, sdepv1.ProtocolTensorflow, sdepv1.ProtocolKFServing, sdepv1.ProtocolV2} {
		sd := validationtest.Base()
		sd.Spec.Protocol = p
		res := validation.Validate(sd)
		for _, w := range append(res.Warnings, res.Errors...) {
			if w.Field == "spec.protocol" {
				t.Errorf("protocol %s: %s: %s", p, w.Field, w.Message)
			}
		}
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(sd *sdepv1.SeldonDeployment)
		field  string
	}{
		{"explainer", func(sd *sdepv1.SeldonDeployment) {
			validationtest.Pred(sd).Explainer = &sdepv1.Explainer{ModelURI: "gs://e"}
		}, "spec.predictors[0].explainer.type"},
		{"kafka", func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.ServerType = sdepv1.ServerTypeKafka
			validationtest.Pred(sd).SvcOrchSpec = &sdepv1.SvcOrchSpec{Env: []corev1.EnvVar{{Name: "KAFKA_BROKER"}, {Name: "KAFKA_INPUT_TOPIC"}, {Name: "KAFKA_OUTPUT_TOPIC"}}}
		}, "spec.serverType"},
		{"ssl", func(sd *sdepv1.SeldonDeployment) { validationtest.Pred(sd).SSL = &sdepv1.SSL{CertSecretName: "tls"} }, "spec.predictors[0].ssl"},
		{"empty componentSpec", func(sd *sdepv1.SeldonDeployment) {
			validationtest.Pred(sd).ComponentSpecs = append(validationtest.Pred(sd).ComponentSpecs, sdepv1.SeldonPodSpec{})
		}, "spec.predictors[0].componentSpecs[1].spec.containers"},
		{"replicas ignored under hpa", func(sd *sdepv1.SeldonDeployment) { validationtest.Comp(sd).Replicas = ptr.To[int32](3) },
			"spec.predictors[0].componentSpecs[0].replicas"},
		{"metricsv2 ignored", func(sd *sdepv1.SeldonDeployment) {
			validationtest.SetHpaSpec(sd, &sdepv1.SeldonHpaSpec{MaxReplicas: 4, Metrics: []sdepv1.MetricSpec{validationtest.CPUUtilization(10)},
				MetricsV2: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](20)}}}}})
		}, "spec.predictors[0].componentSpecs[0].hpaSpec.metricsv2"},
		{"componentSpec metadata", func(sd *sdepv1.SeldonDeployment) { validationtest.Comp(sd).Metadata.Namespace = "other" },
			"spec.predictors[0].componentSpecs[0].metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd := validationtest.Base()
			tt.mutate(sd)
			res := validation.Validate(sd)
			if len(res.Errors) > 0 {
				t.Fatalf("a warning case must stay valid: %v", res.Errors)
			}
			for _, w := range res.Warnings {
				if w.Field == tt.field {
					return
				}
			}
			t.Errorf("want a warning on %s, got %v", tt.field, res.Warnings)
		})
	}
}

func TestValidateDoesNotModify(t *testing.T) {
	sd := validationtest.Base()
	before := sd.DeepCopy()
	validation.Validate(sd)
	if diff := cmp.Diff(before, sd); diff != "" {
		t.Errorf("Validate changed its input:\n%s", diff)
	}
}

// A request of 0 breaks a utilisation target only: an AverageValue target
// compares usage itself.
func TestZeroRequestWithAverageValueTarget(t *testing.T) {
	sd := validationtest.Base()
	validationtest.Comp(sd).Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("0")
	m := &validationtest.Pred(sd).HpaSpecs[0].Metrics[0]
	m.Resource.TargetAverageUtilization = nil
	m.Resource.TargetAverageValue = ptr.To(resource.MustParse("200m"))
	if res := validation.Validate(sd); len(res.Errors) != 0 {
		t.Errorf("want no errors, got %v", res.Errors)
	}
	m.Resource.TargetAverageValue = nil
	m.Resource.TargetAverageUtilization = ptr.To[int32](50)
	if res := validation.Validate(sd); len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Message, "requests 0 cpu") {
		t.Errorf("want the zero-request error, got %v", res.Errors)
	}
}

// Access to the node is a warning by default and an error, with the same
// field, under RefusePrivileged; nothing else changes.
func TestNodeAccess(t *testing.T) {
	refuse := validation.Policy{RefusePrivileged: true}
	for _, tt := range validationtest.NodeAccessCases() {
		t.Run(tt.Name, func(t *testing.T) {
			sd := validationtest.Base()
			tt.Mutate(sd)
			has := func(ps validation.Problems) bool {
				for _, p := range ps {
					if p.Field == tt.Want.Field && strings.Contains(p.Message, tt.Want.Message) {
						return true
					}
				}
				return false
			}
			res := validation.Validate(sd)
			if len(res.Errors) != 0 || len(res.Warnings) != 1 || !has(res.Warnings) {
				t.Errorf("Validate: want the one warning %s: %s\ngot errors %v\nwarnings %v", tt.Want.Field, tt.Want.Message, res.Errors, res.Warnings)
			}
			if got := validation.ValidateWith(sd, validation.Policy{}); !cmp.Equal(got, res) {
				t.Errorf("ValidateWith the zero policy differs from Validate:\n%s", cmp.Diff(res, got))
			}
			res = validation.ValidateWith(sd, refuse)
			if len(res.Warnings) != 0 || len(res.Errors) != 1 || !has(res.Errors) {
				t.Errorf("RefusePrivileged: want the one error %s: %s\ngot errors %v\nwarnings %v", tt.Want.Field, tt.Want.Message, res.Errors, res.Warnings)
			}
			if !strings.Contains(res.Errors.Error(), "--refuse-privileged") {
				t.Errorf("the error does not say what refused it: %v", res.Errors)
			}
		})
	}
	// A securityContext that is not privileged, and a pod without host
	// namespaces, are no finding under either policy.
	sd := validationtest.Base()
	validationtest.Comp(sd).Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(false)}
	validationtest.Comp(sd).Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	if res := validation.ValidateWith(sd, refuse); len(res.Errors)+len(res.Warnings) != 0 {
		t.Errorf("privileged: false refused: %v %v", res.Errors, res.Warnings)
	}
}

// TestTrafficAndShadowDoNotWarn: sdep serve splits traffic and mirrors to
// the shadow, so a canary with a shadow is valid and draws no warning.
func TestTrafficAndShadowDoNotWarn(t *testing.T) {
	sd := validationtest.Base()
	canary := *validationtest.Pred(sd).DeepCopy()
	canary.Name, canary.HpaSpecs = "canary", nil
	canary.ComponentSpecs[0].Metadata.Name = "canary-classifier"
	shadow := *canary.DeepCopy()
	shadow.Name, shadow.Shadow = "shadow", true
	shadow.ComponentSpecs[0].Metadata.Name = "shadow-classifier"
	sd.Spec.Predictors = append(sd.Spec.Predictors, canary, shadow)
	sd.Spec.Predictors[0].Traffic, sd.Spec.Predictors[1].Traffic = 75, 25
	res := validation.Validate(sd)
	if len(res.Errors)+len(res.Warnings) != 0 {
		t.Fatalf("canary and shadow: errors %v, warnings %v", res.Errors, res.Warnings)
	}
}
