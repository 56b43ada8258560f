package hpa

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestHPAScalesDeployment1To4To1 proves the control plane itself: a plain
// Deployment and an autoscaling/v2 HPA, no operator. CPU well above target
// takes it to maxReplicas; no CPU brings it back to minReplicas.
func TestHPAScalesDeployment1To4To1(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "plain")
	labels := map[string]string{"app": "web"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "web",
					Image: "example.invalid/web:1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("100m"),
					}},
				}}},
			},
		},
	}
	if err := k8s.Create(ctx, deploy); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, ns, "web", 1, scaleTimeout)

	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    new(int32(1)),
			MaxReplicas:    4,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(50))},
				},
			}},
		},
	}
	if err := k8s.Create(ctx, hpa); err != nil {
		t.Fatal(err)
	}

	// 400m per pod is 400% of the request: far above the 50% target.
	cluster.SetCPU(ns, resource.MustParse("400m"))
	up := waitReplicas(t, ns, "web", 4, scaleTimeout)
	cluster.SetCPU(ns, resource.MustParse("0"))
	down := waitReplicas(t, ns, "web", 1, scaleTimeout)
	t.Logf("plain Deployment: 1→4 in %.1fs, 4→1 in %.1fs", up.Seconds(), down.Seconds())
}
