package validation_test

import (
	"os"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
	"github.com/sdep-dev/sdep/internal/validation/validationtest"
)

// inFlightMetric is an Object metric on the componentSpec's Deployment, the
// kind the API server accepts with minReplicas 0.
func inFlightMetric() autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
		Metric:          autoscalingv2.MetricIdentifier{Name: "seldon_requests_in_flight"},
		DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "my-dep"},
		Target:          autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("2"))},
	}}
}

// The ways to a separate executor, each valid and warned about no more.
var separateExecutor = []struct {
	name   string
	mutate func(sd *sdepv1.SeldonDeployment)
}{
	{"spec annotation", func(sd *sdepv1.SeldonDeployment) {
		sd.Spec.Annotations = map[string]string{validation.AnnotationEngineSeparatePod: "true"}
	}},
	{"predictor annotation", func(sd *sdepv1.SeldonDeployment) {
		validationtest.Pred(sd).Annotations = map[string]string{validation.AnnotationEngineSeparatePod: "true"}
	}},
	{"hpaSpec minReplicas 0", func(sd *sdepv1.SeldonDeployment) {
		validationtest.SetHpaSpec(sd, &sdepv1.SeldonHpaSpec{MinReplicas: ptr.To[int32](0), MaxReplicas: 4,
			MetricsV2: []autoscalingv2.MetricSpec{inFlightMetric()}})
	}},
	{"legacy hpaSpecs minReplicas 0", func(sd *sdepv1.SeldonDeployment) {
		h := &validationtest.Pred(sd).HpaSpecs[0]
		h.MinReplicas = ptr.To[int32](0)
		h.Metrics = []sdepv1.MetricSpec{{Type: sdepv1.ExternalMetricSourceType, External: &sdepv1.ExternalMetricSource{
			MetricName: "queue_depth", TargetAverageValue: ptr.To(resource.MustParse("5"))}}}
	}},
}

func TestSeparateExecutorIsActedOn(t *testing.T) {
	for _, tt := range separateExecutor {
		t.Run(tt.name, func(t *testing.T) {
			sd := validationtest.Base()
			tt.mutate(sd)
			// svcOrchSpec.replicas applies to the executor's own Deployment.
			validationtest.Pred(sd).SvcOrchSpec = &sdepv1.SvcOrchSpec{Replicas: ptr.To[int32](2)}
			res := validation.Validate(sd.DeepCopy())
			if len(res.Errors)+len(res.Warnings) != 0 {
				t.Fatalf("errors %v warnings %v, want none", res.Errors, res.Warnings)
			}
			if predictor.ExecutorComponent(sd, validationtest.Pred(sd)) != -1 {
				t.Fatal("the executor is not separate")
			}
			// Every graph node is reached through its Service.
			validation.Default(sd, predictor.DefaultOptions())
			if got := validationtest.Pred(sd).Graph.Endpoint.ServiceHost; got != "seldon-model-example-classifier.default.svc.cluster.local" {
				t.Errorf("classifier host %q, want its Service's", got)
			}
		})
	}
	// Without any, the executor shares componentSpecs[0]'s pods, the node
	// is on localhost and svcOrchSpec.replicas is warned about, naming the
	// annotation that would act on it.
	sd := validationtest.Base()
	validationtest.Pred(sd).SvcOrchSpec = &sdepv1.SvcOrchSpec{Replicas: ptr.To[int32](2)}
	res := validation.Validate(sd.DeepCopy())
	if len(res.Warnings) != 1 || res.Warnings[0].Field != "spec.predictors[0].svcOrchSpec.replicas" ||
		!strings.Contains(res.Warnings[0].Message, validation.AnnotationEngineSeparatePod) {
		t.Errorf("warnings %v, want one on svcOrchSpec.replicas naming %s", res.Warnings, validation.AnnotationEngineSeparatePod)
	}
	validation.Default(sd, predictor.DefaultOptions())
	if got := validationtest.Pred(sd).Graph.Endpoint.ServiceHost; got != "localhost" {
		t.Errorf("classifier host %q, want localhost beside the executor", got)
	}
}

// A cpu HPA looks at the executor's cpu request only when the executor is
// in the pod it scales.
func TestCPUHPAAndTheSeparateExecutor(t *testing.T) {
	zeroCPU := &sdepv1.SvcOrchSpec{Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("0"), corev1.ResourceMemory: resource.MustParse("64Mi")}}}
	sd := validationtest.Base()
	validationtest.Pred(sd).SvcOrchSpec = zeroCPU
	if res := validation.Validate(sd); !hasError(res, "spec.predictors[0].svcOrchSpec.resources.requests.cpu") {
		t.Fatalf("beside componentSpecs[0], a zero executor cpu request must be refused: %v", res.Errors)
	}
	sd = validationtest.Base()
	validationtest.Pred(sd).SvcOrchSpec = zeroCPU
	sd.Spec.Annotations = map[string]string{validation.AnnotationEngineSeparatePod: "true"}
	if res := validation.Validate(sd); len(res.Errors) != 0 {
		t.Errorf("with the executor in its own pods its cpu request does not matter to the HPA: %v", res.Errors)
	}
}

func hasError(res validation.Result, field string) bool {
	for _, p := range res.Errors {
		if p.Field == field {
			return true
		}
	}
	return false
}

func TestRequestsToZeroExampleIsValid(t *testing.T) {
	const f = "../../examples/requests-to-zero.json"
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decode.Documents(f, data)
	if err != nil {
		t.Fatal(err)
	}
	res := validation.Validate(docs[0].Object)
	if len(res.Errors)+len(res.Warnings) != 0 {
		t.Errorf("%v %v", res.Errors, res.Warnings)
	}
}
