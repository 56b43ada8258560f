package validation

import (
	"strings"
	"testing"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

func TestAmbassadorAnnotationsWarn(t *testing.T) {
	sd := &sdepv1.SeldonDeployment{}
	sd.Name = "iris"
	sd.Annotations = map[string]string{"seldon.io/ambassador-header": "x: y", "seldon.io/istio-host": "a.example.com"}
	sd.Spec.Annotations = map[string]string{"getambassador.io/config": "---"}
	sd.Spec.Predictors = []sdepv1.PredictorSpec{{Name: "p", Graph: sdepv1.PredictiveUnit{Name: "m", Type: sdepv1.Model}}}
	res := Validate(sd)
	text := res.Warnings.Error()
	for _, field := range []string{"metadata.annotations[seldon.io/ambassador-header]", "spec.annotations[getambassador.io/config]"} {
		if !strings.Contains(text, field) || !strings.Contains(text, "Ambassador") {
			t.Errorf("no Ambassador warning on %s in:\n%s", field, text)
		}
	}
	if strings.Contains(text, "istio-host") {
		t.Errorf("an Istio annotation warned about:\n%s", text)
	}
	sd.Annotations, sd.Spec.Annotations = nil, nil
	if text := Validate(sd).Warnings.Error(); strings.Contains(text, "Ambassador") {
		t.Errorf("Ambassador warning without its annotations:\n%s", text)
	}
}
