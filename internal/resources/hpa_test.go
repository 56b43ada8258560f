package resources

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

func quantity(s string) *resource.Quantity { return new(resource.MustParse(s)) }

func TestMetricToV2(t *testing.T) {
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"queue": "predictions"}}
	tests := []struct {
		name string
		in   sdepv1.MetricSpec
		want autoscalingv2.MetricSpec
	}{{
		name: "Resource utilization",
		in: sdepv1.MetricSpec{Type: "Resource", Resource: &sdepv1.ResourceMetricSource{
			Name: corev1.ResourceCPU, TargetAverageUtilization: new(int32(10)),
		}},
		want: autoscalingv2.MetricSpec{Type: "Resource", Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: "Utilization", AverageUtilization: new(int32(10))},
		}},
	}, {
		name: "Resource averageValue wins over utilization",
		in: sdepv1.MetricSpec{Type: "Resource", Resource: &sdepv1.ResourceMetricSource{
			Name: corev1.ResourceMemory, TargetAverageValue: quantity("400Mi"), TargetAverageUtilization: new(int32(50)),
		}},
		want: autoscalingv2.MetricSpec{Type: "Resource", Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: quantity("400Mi")},
		}},
	}, {
		name: "ContainerResource utilization",
		in: sdepv1.MetricSpec{Type: "ContainerResource", ContainerResource: &sdepv1.ContainerResourceMetricSource{
			Name: corev1.ResourceCPU, Container: "classifier", TargetAverageUtilization: new(int32(60)),
		}},
		want: autoscalingv2.MetricSpec{Type: "ContainerResource", ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
			Name: corev1.ResourceCPU, Container: "classifier",
			Target: autoscalingv2.MetricTarget{Type: "Utilization", AverageUtilization: new(int32(60))},
		}},
	}, {
		name: "ContainerResource averageValue",
		in: sdepv1.MetricSpec{Type: "ContainerResource", ContainerResource: &sdepv1.ContainerResourceMetricSource{
			Name: corev1.ResourceMemory, Container: "classifier", TargetAverageValue: quantity("1Gi"),
		}},
		want: autoscalingv2.MetricSpec{Type: "ContainerResource", ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
			Name: corev1.ResourceMemory, Container: "classifier",
			Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: quantity("1Gi")},
		}},
	}, {
		name: "Pods",
		in: sdepv1.MetricSpec{Type: "Pods", Pods: &sdepv1.PodsMetricSource{
			MetricName: "rps", TargetAverageValue: resource.MustParse("20"), Selector: selector,
		}},
		want: autoscalingv2.MetricSpec{Type: "Pods", Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: "rps", Selector: selector},
			Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: quantity("20")},
		}},
	}, {
		name: "Object value",
		in: sdepv1.MetricSpec{Type: "Object", Object: &sdepv1.ObjectMetricSource{
			Target:     sdepv1.CrossVersionObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "main"},
			MetricName: "hits", TargetValue: resource.MustParse("2k"), Selector: selector,
		}},
		want: autoscalingv2.MetricSpec{Type: "Object", Object: &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "main"},
			Metric:          autoscalingv2.MetricIdentifier{Name: "hits", Selector: selector},
			Target:          autoscalingv2.MetricTarget{Type: "Value", Value: quantity("2k")},
		}},
	}, {
		name: "Object averageValue",
		in: sdepv1.MetricSpec{Type: "Object", Object: &sdepv1.ObjectMetricSource{
			Target:     sdepv1.CrossVersionObjectReference{APIVersion: "v1", Kind: "Service", Name: "front"},
			MetricName: "hits", AverageValue: quantity("50"),
		}},
		want: autoscalingv2.MetricSpec{Type: "Object", Object: &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "v1", Kind: "Service", Name: "front"},
			Metric:          autoscalingv2.MetricIdentifier{Name: "hits"},
			Target:          autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: quantity("50")},
		}},
	}, {
		name: "External value",
		in: sdepv1.MetricSpec{Type: "External", External: &sdepv1.ExternalMetricSource{
			MetricName: "queue_depth", MetricSelector: selector, TargetValue: quantity("30"), TargetAverageValue: quantity("3"),
		}},
		want: autoscalingv2.MetricSpec{Type: "External", External: &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: "queue_depth", Selector: selector},
			Target: autoscalingv2.MetricTarget{Type: "Value", Value: quantity("30")},
		}},
	}, {
		name: "External averageValue",
		in: sdepv1.MetricSpec{Type: "External", External: &sdepv1.ExternalMetricSource{
			MetricName: "undelivered", TargetAverageValue: quantity("5"),
		}},
		want: autoscalingv2.MetricSpec{Type: "External", External: &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: "undelivered"},
			Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: quantity("5")},
		}},
	}, {
		name: "type without its source keeps only the type",
		in:   sdepv1.MetricSpec{Type: "Pods"},
		want: autoscalingv2.MetricSpec{Type: "Pods"},
	}, {
		name: "unknown type",
		in:   sdepv1.MetricSpec{Type: "Custom", Resource: &sdepv1.ResourceMetricSource{Name: "cpu"}},
		want: autoscalingv2.MetricSpec{Type: "Custom"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := *tt.in.DeepCopy()
			got := MetricToV2(in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("MetricToV2 (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.in, in); diff != "" {
				t.Errorf("MetricToV2 changed its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestMetricsToV2(t *testing.T) {
	if got := MetricsToV2(nil); got != nil {
		t.Errorf("MetricsToV2(nil) = %v, want nil", got)
	}
	in := []sdepv1.MetricSpec{
		{Type: "Pods", Pods: &sdepv1.PodsMetricSource{MetricName: "a", TargetAverageValue: resource.MustParse("1")}},
		{Type: "Resource", Resource: &sdepv1.ResourceMetricSource{Name: "cpu", TargetAverageUtilization: new(int32(5))}},
	}
	got := MetricsToV2(in)
	want := []autoscalingv2.MetricSpec{MetricToV2(in[0]), MetricToV2(in[1])}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MetricsToV2 keeps order and converts each (-want +got):\n%s", diff)
	}
}

func inFlight(name, apiVersion string) []autoscalingv2.MetricSpec {
	return []autoscalingv2.MetricSpec{{Type: "Object", Object: &autoscalingv2.ObjectMetricSource{
		Metric:          autoscalingv2.MetricIdentifier{Name: "seldon_requests_in_flight"},
		DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: apiVersion, Kind: "Deployment", Name: name},
		Target:          autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: quantity("2")},
	}}}
}

func TestMakeHPA(t *testing.T) {
	cpu := func(u int32) []sdepv1.MetricSpec {
		return []sdepv1.MetricSpec{{Type: "Resource", Resource: &sdepv1.ResourceMetricSource{Name: "cpu", TargetAverageUtilization: new(u)}}}
	}
	cpuV2 := func(u int32) []autoscalingv2.MetricSpec {
		return []autoscalingv2.MetricSpec{{Type: "Resource", Resource: &autoscalingv2.ResourceMetricSource{
			Name: "cpu", Target: autoscalingv2.MetricTarget{Type: "Utilization", AverageUtilization: new(u)},
		}}}
	}
	behavior := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: new(int32(60))}}
	tests := []struct {
		name string
		cs   sdepv1.SeldonPodSpec
		want *autoscalingv2.HorizontalPodAutoscalerSpec // nil: no HPA
	}{{
		name: "no hpaSpec",
		cs:   sdepv1.SeldonPodSpec{Replicas: new(int32(2))},
	}, {
		name: "kedaSpec wins",
		cs: sdepv1.SeldonPodSpec{
			HpaSpec:  &sdepv1.SeldonHpaSpec{MaxReplicas: 3},
			KedaSpec: &sdepv1.SeldonScaledObjectSpec{},
		},
	}, {
		name: "v2beta1 metrics converted",
		cs:   sdepv1.SeldonPodSpec{HpaSpec: &sdepv1.SeldonHpaSpec{MinReplicas: new(int32(1)), MaxReplicas: 4, Metrics: cpu(10)}},
		want: &autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: new(int32(1)), MaxReplicas: 4, Metrics: cpuV2(10)},
	}, {
		name: "metricsv2 passed through with behavior",
		cs:   sdepv1.SeldonPodSpec{HpaSpec: &sdepv1.SeldonHpaSpec{MaxReplicas: 5, MetricsV2: cpuV2(70), Behavior: behavior}},
		want: &autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5, Metrics: cpuV2(70), Behavior: behavior},
	}, {
		name: "metrics win over metricsv2",
		cs:   sdepv1.SeldonPodSpec{HpaSpec: &sdepv1.SeldonHpaSpec{MaxReplicas: 5, Metrics: cpu(20), MetricsV2: cpuV2(70)}},
		want: &autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5, Metrics: cpuV2(20)},
	}, {
		name: "an empty metrics list does not hide metricsv2",
		cs:   sdepv1.SeldonPodSpec{HpaSpec: &sdepv1.SeldonHpaSpec{MaxReplicas: 5, Metrics: []sdepv1.MetricSpec{}, MetricsV2: cpuV2(70)}},
		want: &autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5, Metrics: cpuV2(70)},
	}, {
		name: "an Object metric's describedObject names the componentSpec: resolved to its Deployment",
		cs:   sdepv1.SeldonPodSpec{HpaSpec: &sdepv1.SeldonHpaSpec{MaxReplicas: 10, MetricsV2: inFlight("comp", "")}},
		want: &autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 10, Metrics: inFlight("sd-p-1-comp", "apps/v1")},
	}, {
		name: "an Object metric naming anything else is left as written",
		cs:   sdepv1.SeldonPodSpec{HpaSpec: &sdepv1.SeldonHpaSpec{MaxReplicas: 10, MetricsV2: inFlight("other", "apps/v1")}},
		want: &autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 10, Metrics: inFlight("other", "apps/v1")},
	}, {
		name: "no metrics: the API server's default applies",
		cs:   sdepv1.SeldonPodSpec{HpaSpec: &sdepv1.SeldonHpaSpec{MaxReplicas: 2}},
		want: &autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 2},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cs.Metadata.Name = "comp"
			tt.cs.Spec.Containers = []corev1.Container{{Name: "model", Image: "m:1"}}
			sd := &sdepv1.SeldonDeployment{
				ObjectMeta: metav1.ObjectMeta{Name: "sd", Namespace: "ns"},
				Spec: sdepv1.SeldonDeploymentSpec{Predictors: []sdepv1.PredictorSpec{{
					Name: "p", ComponentSpecs: []sdepv1.SeldonPodSpec{{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "first"}}}}, tt.cs},
				}}},
			}
			got := MakeHPA(sd, &sd.Spec.Predictors[0], 1)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("MakeHPA = %+v, want nil", got)
				}
				return
			}
			want := &autoscalingv2.HorizontalPodAutoscaler{
				TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
				ObjectMeta: metav1.ObjectMeta{
					Name: "sd-p-1-comp", Namespace: "ns", Labels: map[string]string{"seldon-deployment-id": "sd"},
				},
				Spec: *tt.want,
			}
			want.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "sd-p-1-comp"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("MakeHPA (-want +got):\n%s", diff)
			}
		})
	}
}
