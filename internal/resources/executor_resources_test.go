package resources

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// TestExecutorResourcesFromOptions: an installation's executor resources
// apply when the predictor sets none, and svcOrchSpec.resources still wins.
func TestExecutorResourcesFromOptions(t *testing.T) {
	sd := &sdepv1.SeldonDeployment{}
	sd.Name, sd.Namespace = "m", "ns"
	p := &sdepv1.PredictorSpec{Name: "p", Graph: sdepv1.PredictiveUnit{Name: "c"}}
	custom := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("25m")}}
	opts := DefaultOptions()
	opts.ExecutorResources = &custom

	c, err := MakeExecutorContainer(sd, p, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Resources.Requests.Cpu().String(); got != "25m" || len(c.Resources.Limits) != 0 {
		t.Errorf("executor resources %v, want the Options' (cpu request 25m, no limits)", c.Resources)
	}

	own := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
	p.SvcOrchSpec = &sdepv1.SvcOrchSpec{Resources: &own}
	if c, err = MakeExecutorContainer(sd, p, opts); err != nil {
		t.Fatal(err)
	}
	if got := c.Resources.Requests.Cpu().String(); got != "2" {
		t.Errorf("executor cpu request %s, want svcOrchSpec's 2", got)
	}
}
