package predictor

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

func TestExecutorComponentAndScalesToZero(t *testing.T) {
	zero, one := int32(0), int32(1)
	two := func() *sdepv1.PredictorSpec {
		return &sdepv1.PredictorSpec{Name: "p", ComponentSpecs: []sdepv1.SeldonPodSpec{
			{Metadata: metav1.ObjectMeta{Name: "a"}}, {Metadata: metav1.ObjectMeta{Name: "b"}},
		}}
	}
	tests := []struct {
		name     string
		sd       *sdepv1.SeldonDeployment
		p        func() *sdepv1.PredictorSpec
		want     int
		toZeroAt int // -1: none
	}{
		{"no componentSpecs", nil, func() *sdepv1.PredictorSpec { return &sdepv1.PredictorSpec{} }, -1, -1},
		{"plain", nil, two, 0, -1},
		{"spec annotation", &sdepv1.SeldonDeployment{Spec: sdepv1.SeldonDeploymentSpec{
			Annotations: map[string]string{AnnotationEngineSeparatePod: "true"}}}, two, -1, -1},
		{"predictor annotation", nil, func() *sdepv1.PredictorSpec {
			p := two()
			p.Annotations = map[string]string{AnnotationEngineSeparatePod: "true"}
			return p
		}, -1, -1},
		{"hpaSpec min 1", nil, func() *sdepv1.PredictorSpec {
			p := two()
			p.ComponentSpecs[1].HpaSpec = &sdepv1.SeldonHpaSpec{MinReplicas: &one, MaxReplicas: 3}
			return p
		}, 0, -1},
		{"hpaSpec min 0 on the second", nil, func() *sdepv1.PredictorSpec {
			p := two()
			p.ComponentSpecs[1].HpaSpec = &sdepv1.SeldonHpaSpec{MinReplicas: &zero, MaxReplicas: 3}
			return p
		}, -1, 1},
		{"kedaSpec beside hpaSpec min 0: KEDA's", nil, func() *sdepv1.PredictorSpec {
			p := two()
			p.ComponentSpecs[1].HpaSpec = &sdepv1.SeldonHpaSpec{MinReplicas: &zero, MaxReplicas: 3}
			p.ComponentSpecs[1].KedaSpec = &sdepv1.SeldonScaledObjectSpec{}
			return p
		}, 0, -1},
		{"legacy hpaSpecs min 0 naming a", nil, func() *sdepv1.PredictorSpec {
			p := two()
			p.HpaSpecs = []sdepv1.LegacyHpaSpec{{ScaleTargetRef: sdepv1.CrossVersionObjectReference{Name: "a"}, MinReplicas: &zero, MaxReplicas: 2}}
			return p
		}, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p()
			if got := ExecutorComponent(tt.sd, p); got != tt.want {
				t.Errorf("ExecutorComponent = %d, want %d", got, tt.want)
			}
			for j := range p.ComponentSpecs {
				if got := ScalesToZero(p, j); got != (j == tt.toZeroAt) {
					t.Errorf("ScalesToZero(%d) = %v", j, got)
				}
			}
		})
	}
}
