package resources

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
)

// MakeHPA builds the autoscaling/v2 HorizontalPodAutoscaler of
// componentSpecs[j] of predictor p, named as and aimed at its Deployment.
// It returns nil when the componentSpec has no hpaSpec, or has a kedaSpec
// (KEDA then owns scaling, as in Seldon Core). Legacy predictor-level
// hpaSpecs arrive here through validation.Default, which moves each onto
// the componentSpec its scaleTargetRef names.
//
// minReplicas 0 (scale to zero) is rendered as 1: the HPA scales 1..max and
// is inactive while the Deployment is at 0 (the API server's rule for a
// target at 0 replicas), and a scaler outside the operator moves the
// Deployment between 0 and 1 (docs/request-autoscaling.md). This works on
// every cluster, whether or not its HPA controller can scale to zero itself.
//
// metrics (v2beta1 shape) are converted by MetricsToV2 and, when non-empty,
// replace metricsv2, as upstream; behavior is passed through.
func MakeHPA(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, j int) *autoscalingv2.HorizontalPodAutoscaler {
	cs := &p.ComponentSpecs[j]
	if cs.HpaSpec == nil || cs.KedaSpec != nil {
		return nil
	}
	h := cs.HpaSpec
	name := naming.DeploymentName(sd, p, j)
	metrics := MetricsToV2(h.Metrics)
	if len(h.Metrics) == 0 {
		metrics = nil
		for _, m := range h.MetricsV2 {
			metrics = append(metrics, *m.DeepCopy())
		}
	}
	for i := range metrics {
		resolveDescribedObject(sd, p, &metrics[i])
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: objectMeta(sd, name, seldonIDLabels(sd), nil),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: deploymentRef(name),
			MinReplicas:    hpaMin(h.MinReplicas),
			MaxReplicas:    h.MaxReplicas,
			Metrics:        metrics,
			Behavior:       h.Behavior.DeepCopy(),
		},
	}
}

// resolveDescribedObject points an Object metric whose describedObject is a
// Deployment named after a componentSpec (componentSpecs[].metadata.name)
// at that componentSpec's Deployment, as validation.Default does for the
// legacy scaleTargetRef. Any other name is left as written.
func resolveDescribedObject(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, m *autoscalingv2.MetricSpec) {
	if m.Type != autoscalingv2.ObjectMetricSourceType || m.Object == nil {
		return
	}
	ref := &m.Object.DescribedObject
	if ref.Kind != "Deployment" || ref.Name == "" {
		return
	}
	if k := predictor.ComponentByName(p, ref.Name); k >= 0 {
		ref.Name = naming.DeploymentName(sd, p, k)
		if ref.APIVersion == "" {
			ref.APIVersion = "apps/v1"
		}
	}
}

// HPAMinReplicas is the minReplicas an HPA is rendered with for an hpaSpec's
// minReplicas: 1 when unset (the API server's default) or 0, else the value.
func HPAMinReplicas(v *int32) int32 {
	if v == nil || *v < 1 {
		return 1
	}
	return *v
}

// hpaMin is minReplicas in the rendered HPA: left out when the document
// leaves it out, else HPAMinReplicas.
func hpaMin(v *int32) *int32 {
	if v == nil {
		return nil
	}
	return new(HPAMinReplicas(v))
}

func deploymentRef(name string) autoscalingv2.CrossVersionObjectReference {
	return autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name}
}

// MetricsToV2 converts autoscaling/v2beta1 metrics to autoscaling/v2 with
// MetricToV2; nil for none.
func MetricsToV2(metrics []sdepv1.MetricSpec) []autoscalingv2.MetricSpec {
	var out []autoscalingv2.MetricSpec
	for _, m := range metrics {
		out = append(out, MetricToV2(m))
	}
	return out
}

// MetricToV2 converts one autoscaling/v2beta1 metric to autoscaling/v2
// (docs/compatibility.md#autoscaling):
//
//   - Resource, ContainerResource: target AverageValue when
//     targetAverageValue is set, else Utilization of targetAverageUtilization;
//   - Pods: target AverageValue of targetAverageValue;
//   - Object: describedObject from target; target AverageValue when
//     averageValue is set, else Value of targetValue;
//   - External: target Value when targetValue is set, else AverageValue of
//     targetAverageValue.
//
// Only the field the target type reads is set (v2beta1's Object always had
// a targetValue, often zero). A metric whose source is missing keeps only
// its type; validation reports it.
func MetricToV2(m sdepv1.MetricSpec) autoscalingv2.MetricSpec {
	out := autoscalingv2.MetricSpec{Type: autoscalingv2.MetricSourceType(m.Type)}
	switch m.Type {
	case sdepv1.ResourceMetricSourceType:
		if r := m.Resource; r != nil {
			out.Resource = &autoscalingv2.ResourceMetricSource{
				Name:   r.Name,
				Target: resourceTarget(r.TargetAverageUtilization, r.TargetAverageValue),
			}
		}
	case sdepv1.ContainerResourceMetricSourceType:
		if r := m.ContainerResource; r != nil {
			out.ContainerResource = &autoscalingv2.ContainerResourceMetricSource{
				Name:      r.Name,
				Container: r.Container,
				Target:    resourceTarget(r.TargetAverageUtilization, r.TargetAverageValue),
			}
		}
	case sdepv1.PodsMetricSourceType:
		if s := m.Pods; s != nil {
			out.Pods = &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector.DeepCopy()},
				Target: autoscalingv2.MetricTarget{
					Type:         autoscalingv2.AverageValueMetricType,
					AverageValue: new(s.TargetAverageValue.DeepCopy()),
				},
			}
		}
	case sdepv1.ObjectMetricSourceType:
		if s := m.Object; s != nil {
			target := autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: new(s.TargetValue.DeepCopy())}
			if s.AverageValue != nil {
				target = autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: new(s.AverageValue.DeepCopy())}
			}
			out.Object = &autoscalingv2.ObjectMetricSource{
				DescribedObject: autoscalingv2.CrossVersionObjectReference{
					Kind: s.Target.Kind, Name: s.Target.Name, APIVersion: s.Target.APIVersion,
				},
				Metric: autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector.DeepCopy()},
				Target: target,
			}
		}
	case sdepv1.ExternalMetricSourceType:
		if s := m.External; s != nil {
			target := autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType}
			if s.TargetAverageValue != nil {
				target.AverageValue = new(s.TargetAverageValue.DeepCopy())
			}
			if s.TargetValue != nil {
				target = autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: new(s.TargetValue.DeepCopy())}
			}
			out.External = &autoscalingv2.ExternalMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.MetricSelector.DeepCopy()},
				Target: target,
			}
		}
	}
	return out
}

// resourceTarget is the v2 target of a v2beta1 resource metric.
func resourceTarget(utilization *int32, averageValue *resource.Quantity) autoscalingv2.MetricTarget {
	if averageValue != nil {
		return autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: new(averageValue.DeepCopy())}
	}
	return autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: copyInt32(utilization)}
}
