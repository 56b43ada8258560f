package controller

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// Turning on scale to zero for a live component the HPA has at 3: the
// executor moves to its own Deployment, the component's pod template loses
// it, the HPA stays at minReplicas 1, and no write carries replicas (the
// component keeps its 3 until the HPA and the scaler move it).
func TestTurningOnScaleToZeroKeepsTheLiveCount(t *testing.T) {
	toZero := func(sd *sdepv1.SeldonDeployment) {
		h := sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec
		h.MinReplicas = new(int32(0))
		h.MetricsV2 = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
			Metric:          autoscalingv2.MetricIdentifier{Name: "seldon_requests_in_flight"},
			DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "my-dep"},
			Target:          autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: new(resource.MustParse("2"))},
		}}}
	}
	runRow(t, tableRow{
		sd:        func() *sdepv1.SeldonDeployment { return seedSD(t, "seed-v1.yaml") },
		converged: true,
		edit: func(t *testing.T, c client.Client, sd *sdepv1.SeldonDeployment) {
			editDeployment(t, c, seedDeployment, func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(3)) })
			toZero(sd)
			sd.Generation++
			if err := c.Update(context.Background(), sd); err != nil {
				t.Fatal(err)
			}
		},
		wantWrites: []string{
			"Patch Deployment/" + seedDeployment, "Create Deployment/" + seedSvcOrch,
			"Patch HorizontalPodAutoscaler/" + seedDeployment, "Patch SeldonDeployment/seldon-model",
		},
		wantEvents: []string{"Normal UpdateDeployment", "Normal CreateDeployment", "Normal UpdateHorizontalPodAutoscaler"},
		check: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment, rec *recorded) {
			d := getDeployment(t, c, seedDeployment)
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
				t.Errorf("replicas %v, want the live 3", d.Spec.Replicas)
			}
			if executor(d).Name != "" {
				t.Error("the executor is still in the component's pods")
			}
			if executor(getDeployment(t, c, seedSvcOrch)).Name == "" {
				t.Error("no executor in the svc-orch Deployment")
			}
			for _, body := range rec.bodies["Patch Deployment/"+seedDeployment] {
				if strings.Contains(body, `"replicas"`) {
					t.Errorf("the patch carries replicas: %s", body)
				}
			}
			h := &autoscalingv2.HorizontalPodAutoscaler{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: seedDeployment}, h); err != nil {
				t.Fatal(err)
			}
			if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 1 {
				t.Errorf("HPA minReplicas %v, want 1", h.Spec.MinReplicas)
			}
		},
	})
}
