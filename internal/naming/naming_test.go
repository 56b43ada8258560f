package naming

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

func TestSeedNames(t *testing.T) {
	sd := &sdepv1.SeldonDeployment{ObjectMeta: metav1.ObjectMeta{Name: "seldon-model"}}
	p := &sdepv1.PredictorSpec{Name: "example", ComponentSpecs: []sdepv1.SeldonPodSpec{{
		Metadata: metav1.ObjectMeta{Name: "my-dep"},
		Spec:     corev1.PodSpec{Containers: []corev1.Container{{Name: "classifier"}}},
	}}}
	if got := DeploymentName(sd, p, 0); got != "seldon-model-example-0-my-dep" {
		t.Errorf("deployment %q", got)
	}
	if got := PredictorServiceName(sd, p); got != "seldon-model-example" {
		t.Errorf("predictor service %q", got)
	}
	if got := ContainerServiceName(sd, p, "classifier"); got != "seldon-model-example-classifier" {
		t.Errorf("container service %q", got)
	}
	p.ComponentSpecs[0].Metadata.Name = ""
	p.ComponentSpecs[0].Spec.Containers = append(p.ComponentSpecs[0].Spec.Containers, corev1.Container{Name: "side"})
	if got := DeploymentName(sd, p, 0); got != "seldon-model-example-0-classifier-side" {
		t.Errorf("unnamed componentSpec deployment %q", got)
	}
	p.Annotations = map[string]string{AnnotationServiceName: "mine"}
	if got := PredictorServiceName(sd, p); got != "mine" {
		t.Errorf("svc-name annotation ignored: %q", got)
	}
}

func TestFitHashesLongNames(t *testing.T) {
	long := strings.Repeat("a", 64)
	// md5("a"*64) computed independently: echo -n aaaa...(64) | md5sum
	want := "seldon-014842d480b571495a4a0363793f7367"
	if got := Fit(long); got != want {
		t.Errorf("Fit(64 a) = %q, want %q", got, want)
	}
	if got := Fit(long[:63]); got != long[:63] {
		t.Errorf("63 characters must be kept, got %q", got)
	}
}
