package controller

import (
	"context"
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
)

// upstreamSelector is the selector Seldon Core 1.x gives the seed's
// Deployment: seldon-deployment-id, the graph container's Service label and
// seldon-app (it hosts the executor), not sdep's (seldon-deployment-id, app).
var upstreamSelector = map[string]string{
	naming.LabelSeldonID:        "seldon-model",
	"seldon-app-svc-classifier": seedPodService,
	naming.LabelSeldonApp:       seedService,
}

// asUpstreamMadeIt replaces the converged Deployment by one another
// operator made: its own selector, its executor, no sdep hash, 3 replicas.
func asUpstreamMadeIt(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
	t.Helper()
	d := getDeployment(t, c, seedDeployment)
	if err := c.Delete(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	d = d.DeepCopy()
	d.ResourceVersion, d.UID = "", "upstream-uid"
	delete(d.Annotations, AnnotationDesiredHash)
	d.Spec.Replicas = new(int32(3))
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: upstreamSelector}
	d.Spec.Template.Labels = mergeStrings(d.Spec.Template.Labels, upstreamSelector)
	delete(d.Spec.Template.Labels, naming.LabelApp) // upstream's pods have it; sdep must not need it in the selector
	executor(d).Image = "seldonio/seldon-core-executor:1.18.2"
	if err := c.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

func TestAdoptionTable(t *testing.T) {
	rows := []tableRow{{
		name:       "a Deployment another operator made is adopted with its selector, not made again",
		converged:  true,
		edit:       asUpstreamMadeIt,
		wantWrites: []string{"Patch Deployment/" + seedDeployment},
		wantEvents: []string{"Normal AdoptDeployment"},
		check: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment, rec *recorded) {
			d := getDeployment(t, c, seedDeployment)
			if d.UID != "upstream-uid" {
				t.Errorf("UID %s: the Deployment was made again", d.UID)
			}
			if got := d.Spec.Selector.MatchLabels; !maps.Equal(got, upstreamSelector) {
				t.Errorf("selector %v, want upstream's %v", got, upstreamSelector)
			}
			for k, v := range upstreamSelector {
				if d.Spec.Template.Labels[k] != v {
					t.Errorf("pod label %s=%q, want %q (the selector's)", k, d.Spec.Template.Labels[k], v)
				}
			}
			if d.Spec.Template.Labels[naming.LabelApp] != seedDeployment {
				t.Errorf("pods lost sdep's app label: %v", d.Spec.Template.Labels)
			}
			if executor(d).Image != "sdep:test" {
				t.Errorf("executor %q, want sdep's", executor(d).Image)
			}
			if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
				t.Errorf("strategy %+v, want maxUnavailable 0", d.Spec.Strategy)
			}
			if d.Annotations[AnnotationAdopted] != "true" || d.Annotations[AnnotationDesiredHash] == "" {
				t.Errorf("annotations %v", d.Annotations)
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
				t.Errorf("replicas %v, want the live 3", d.Spec.Replicas)
			}
			for _, body := range rec.bodies["Patch Deployment/"+seedDeployment] {
				if strings.Contains(body, `"replicas"`) || strings.Contains(body, `"selector"`) {
					t.Errorf("the adoption patch writes replicas or the selector: %s", body)
				}
			}
		},
	}, {
		name:      "an adopted Deployment keeps its selector and strategy: no write",
		converged: true,
		edit: func(t *testing.T, c client.Client, sd *sdepv1.SeldonDeployment) {
			asUpstreamMadeIt(t, c, sd)
			r := newTableReconciler(c, nil, false)
			if err := reconcileOnce(t, r, sd); err != nil {
				t.Fatal(err)
			}
		},
	}, {
		name:      "another operator's child that sdep does not make is left alone",
		converged: true,
		edit: func(t *testing.T, c client.Client, sd *sdepv1.SeldonDeployment) {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: "ns", Name: "seldon-model-example-explainer",
					Labels: map[string]string{naming.LabelSeldonID: "seldon-model"},
					OwnerReferences: []metav1.OwnerReference{{
						APIVersion: sdepv1.GroupVersion.String(), Kind: "SeldonDeployment", Name: sd.Name, UID: sd.UID, Controller: new(true),
					}},
				},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9000}}},
			}
			if err := c.Create(context.Background(), svc); err != nil {
				t.Fatal(err)
			}
		},
		check: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment, _ *recorded) {
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "seldon-model-example-explainer"}, &corev1.Service{}); err != nil {
				t.Errorf("the other operator's Service: %v", err)
			}
		},
	}, {
		name:      "sdep's own Deployment keeps sdep's strategy",
		converged: true,
		check: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment, _ *recorded) {
			d := getDeployment(t, c, seedDeployment)
			if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "10%" {
				t.Errorf("strategy %+v, want maxUnavailable 10%%", d.Spec.Strategy)
			}
			if _, ok := d.Annotations[AnnotationAdopted]; ok {
				t.Errorf("sdep's own Deployment marked adopted")
			}
		},
	}}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) { runRow(t, row) })
	}
}
