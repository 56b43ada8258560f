package resources

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
)

// MakePDB builds the policy/v1 PodDisruptionBudget of componentSpecs[j] of
// predictor p, named as its Deployment, or nil when it has no pdbSpec. It
// selects exactly the pods of that Deployment (the Deployment's own
// selector); Seldon Core selected every pod of the SeldonDeployment, so
// one componentSpec's budget also held back evictions of all the others.
func MakePDB(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, j int) *policyv1.PodDisruptionBudget {
	spec := p.ComponentSpecs[j].PdbSpec
	if spec == nil {
		return nil
	}
	name := naming.DeploymentName(sd, p, j)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(sd, name, seldonIDLabels(sd), nil),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable:   copyIntOrString(spec.MinAvailable),
			MaxUnavailable: copyIntOrString(spec.MaxUnavailable),
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(sd, name)},
		},
	}
}

func copyIntOrString(v *intstr.IntOrString) *intstr.IntOrString {
	if v == nil {
		return nil
	}
	return new(*v)
}
