package controller

import (
	"context"
	"maps"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
)

const seedSvcOrch = "seldon-model-example-svc-orch"

// upstreamSvcOrchSelector is what Seldon Core 1.x selects its separate
// executor's pods by: seldon-app and seldon-deployment-id, the latter with
// the predictor Service's name for a value.
var upstreamSvcOrchSelector = map[string]string{
	naming.LabelSeldonApp: seedService,
	naming.LabelSeldonID:  seedService,
}

// With seldon.io/engine-separate-pod, sdep makes the Deployment Seldon Core
// made under the same name, <sdep>-<predictor>-svc-orch: it is adopted in
// place (its UID and selector kept), not made again beside it.
func TestAdoptingUpstreamsSvcOrch(t *testing.T) {
	separate := func() *sdepv1.SeldonDeployment {
		sd := seedSD(t, "seed-v1.yaml")
		sd.Spec.Annotations = map[string]string{predictor.AnnotationEngineSeparatePod: "true"}
		return sd
	}
	row := tableRow{
		name: "upstream's svc-orch Deployment is adopted",
		sd:   separate, converged: true,
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			d := getDeployment(t, c, seedSvcOrch)
			if err := c.Delete(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			d = d.DeepCopy()
			d.ResourceVersion, d.UID = "", "upstream-svc-orch"
			delete(d.Annotations, AnnotationDesiredHash)
			d.Labels = mergeStrings(d.Labels, map[string]string{naming.LabelSeldonID: seedService})
			d.Spec.Replicas = new(int32(2))
			d.Spec.Selector = &metav1.LabelSelector{MatchLabels: upstreamSvcOrchSelector}
			d.Spec.Template.Labels = mergeStrings(d.Spec.Template.Labels, upstreamSvcOrchSelector)
			executor(d).Image = "seldonio/seldon-core-executor:1.18.2"
			if err := c.Create(context.Background(), d); err != nil {
				t.Fatal(err)
			}
		},
		wantWrites: []string{"Patch Deployment/" + seedSvcOrch},
		wantEvents: []string{"Normal AdoptDeployment"},
		check: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment, _ *recorded) {
			d := getDeployment(t, c, seedSvcOrch)
			if d.UID != "upstream-svc-orch" {
				t.Errorf("UID %s: made again", d.UID)
			}
			if !maps.Equal(d.Spec.Selector.MatchLabels, upstreamSvcOrchSelector) {
				t.Errorf("selector %v", d.Spec.Selector.MatchLabels)
			}
			if d.Labels[naming.LabelSeldonID] != "seldon-model" {
				t.Errorf("label %s=%q, want the SeldonDeployment's id so it is listed as a child", naming.LabelSeldonID, d.Labels[naming.LabelSeldonID])
			}
			if executor(d).Image != "sdep:test" {
				t.Errorf("executor %q", executor(d).Image)
			}
			// Its count is the document's (svcOrchSpec, predictor, spec, 1:
			// upstream's rule too), not an autoscaler's: the 2 set here goes.
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
				t.Errorf("replicas %v, want the document's 1", d.Spec.Replicas)
			}
		},
	}
	runRow(t, row)
	runRow(t, tableRow{
		name: "then no write", sd: separate, converged: true,
		edit: func(t *testing.T, c client.Client, sd *sdepv1.SeldonDeployment) {
			row.edit(t, c, sd)
			if err := reconcileOnce(t, newTableReconciler(c, nil, false), sd); err != nil {
				t.Fatal(err)
			}
		},
	})
}
