package v1

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// SeldonHpaSpec autoscales one componentSpec with a HorizontalPodAutoscaler.
// sdep always creates an autoscaling/v2 HPA; metrics in the v2beta1 shape are
// converted, and take precedence over metricsv2 when both are given.
type SeldonHpaSpec struct {
	// MinReplicas may be 0 (scale to zero) when an Object or External
	// metric is among the metrics, as the API server requires of an HPA.
	// +kubebuilder:validation:Minimum=0
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// +kubebuilder:validation:Minimum=1
	MaxReplicas int32 `json:"maxReplicas"`
	// Metrics in the autoscaling/v2beta1 shape.
	Metrics []MetricSpec `json:"metrics,omitempty"`
	// MetricsV2 in the autoscaling/v2 shape.
	MetricsV2 []autoscalingv2.MetricSpec `json:"metricsv2,omitempty"`
	// Behavior is passed to the HPA as is (scale-up/down policies and
	// stabilization windows).
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

// LegacyHpaSpec is an autoscaling/v2beta1 HorizontalPodAutoscalerSpec, as
// written in a predictor's hpaSpecs list.
type LegacyHpaSpec struct {
	ScaleTargetRef CrossVersionObjectReference `json:"scaleTargetRef"`
	// MinReplicas may be 0 (scale to zero) when an Object or External
	// metric is among the metrics, as the API server requires of an HPA.
	// +kubebuilder:validation:Minimum=0
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// +kubebuilder:validation:Minimum=1
	MaxReplicas int32        `json:"maxReplicas"`
	Metrics     []MetricSpec `json:"metrics,omitempty"`
}

// CrossVersionObjectReference names an object of any version.
type CrossVersionObjectReference struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	APIVersion string `json:"apiVersion,omitempty"`
}

// MetricSourceType is the kind of an autoscaling metric.
type MetricSourceType string

// Metric source types (the same names in v2beta1 and v2).
const (
	ObjectMetricSourceType            MetricSourceType = "Object"
	PodsMetricSourceType              MetricSourceType = "Pods"
	ResourceMetricSourceType          MetricSourceType = "Resource"
	ContainerResourceMetricSourceType MetricSourceType = "ContainerResource"
	ExternalMetricSourceType          MetricSourceType = "External"
)

// MetricSpec is an autoscaling/v2beta1 MetricSpec: a type and the matching source.
type MetricSpec struct {
	Type              MetricSourceType               `json:"type"`
	Object            *ObjectMetricSource            `json:"object,omitempty"`
	Pods              *PodsMetricSource              `json:"pods,omitempty"`
	Resource          *ResourceMetricSource          `json:"resource,omitempty"`
	ContainerResource *ContainerResourceMetricSource `json:"containerResource,omitempty"`
	External          *ExternalMetricSource          `json:"external,omitempty"`
}

// ObjectMetricSource is a metric describing one Kubernetes object (v2beta1).
type ObjectMetricSource struct {
	Target       CrossVersionObjectReference `json:"target"`
	MetricName   string                      `json:"metricName"`
	TargetValue  resource.Quantity           `json:"targetValue"`
	Selector     *metav1.LabelSelector       `json:"selector,omitempty"`
	AverageValue *resource.Quantity          `json:"averageValue,omitempty"`
}

// PodsMetricSource is a per-pod metric averaged across pods (v2beta1).
type PodsMetricSource struct {
	MetricName         string                `json:"metricName"`
	TargetAverageValue resource.Quantity     `json:"targetAverageValue"`
	Selector           *metav1.LabelSelector `json:"selector,omitempty"`
}

// ResourceMetricSource is a resource (cpu, memory) of whole pods (v2beta1).
type ResourceMetricSource struct {
	Name                     corev1.ResourceName `json:"name"`
	TargetAverageUtilization *int32              `json:"targetAverageUtilization,omitempty"`
	TargetAverageValue       *resource.Quantity  `json:"targetAverageValue,omitempty"`
}

// ContainerResourceMetricSource is a resource of one container in each pod (v2beta1).
type ContainerResourceMetricSource struct {
	Name                     corev1.ResourceName `json:"name"`
	Container                string              `json:"container"`
	TargetAverageUtilization *int32              `json:"targetAverageUtilization,omitempty"`
	TargetAverageValue       *resource.Quantity  `json:"targetAverageValue,omitempty"`
}

// ExternalMetricSource is a metric from outside the cluster (v2beta1).
type ExternalMetricSource struct {
	MetricName         string                `json:"metricName"`
	MetricSelector     *metav1.LabelSelector `json:"metricSelector,omitempty"`
	TargetValue        *resource.Quantity    `json:"targetValue,omitempty"`
	TargetAverageValue *resource.Quantity    `json:"targetAverageValue,omitempty"`
}

// SeldonScaledObjectSpec autoscales one componentSpec with a KEDA ScaledObject
// (keda.sh/v1alpha1); its fields are copied to the ScaledObject's spec.
type SeldonScaledObjectSpec struct {
	PollingInterval  *int32              `json:"pollingInterval,omitempty"`
	CooldownPeriod   *int32              `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount *int32              `json:"idleReplicaCount,omitempty"`
	MinReplicaCount  *int32              `json:"minReplicaCount,omitempty"`
	MaxReplicaCount  *int32              `json:"maxReplicaCount,omitempty"`
	Advanced         *KedaAdvancedConfig `json:"advanced,omitempty"`
	// +kubebuilder:validation:MinItems=1
	Triggers []KedaScaleTrigger `json:"triggers"`
	Fallback *KedaFallback      `json:"fallback,omitempty"`
}

// KedaAdvancedConfig is KEDA's advanced section.
type KedaAdvancedConfig struct {
	HorizontalPodAutoscalerConfig *KedaHPAConfig `json:"horizontalPodAutoscalerConfig,omitempty"`
	RestoreToOriginalReplicaCount bool           `json:"restoreToOriginalReplicaCount,omitempty"`
}

// KedaHPAConfig configures the HPA that KEDA creates.
type KedaHPAConfig struct {
	Name     string                                         `json:"name,omitempty"`
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

// KedaScaleTrigger is one KEDA scaler.
type KedaScaleTrigger struct {
	Type              string                         `json:"type"`
	Name              string                         `json:"name,omitempty"`
	Metadata          map[string]string              `json:"metadata"`
	AuthenticationRef *KedaAuthenticationRef         `json:"authenticationRef,omitempty"`
	MetricType        autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
	UseCachedMetrics  bool                           `json:"useCachedMetrics,omitempty"`
}

// KedaAuthenticationRef points at a KEDA TriggerAuthentication.
type KedaAuthenticationRef struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// KedaFallback is the replica count KEDA uses when a scaler keeps failing.
type KedaFallback struct {
	FailureThreshold int32 `json:"failureThreshold"`
	Replicas         int32 `json:"replicas"`
}

// SeldonPdbSpec creates a PodDisruptionBudget for one componentSpec's pods.
// Exactly one of the two fields may be set.
type SeldonPdbSpec struct {
	MinAvailable   *intstr.IntOrString `json:"minAvailable,omitempty"`
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}
