// Package validationtest holds SeldonDeployment test documents shared by
// the validator's own tests and the webhook's control-plane tests, so both
// check the same rules with the same expected messages.
package validationtest

import (
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/validation"
)

// Case is a change that makes Base invalid, and the problem it must produce
// (Message is matched as a substring).
type Case struct {
	Name   string
	Mutate func(sd *sdepv1.SeldonDeployment)
	Want   validation.Problem
}

// Problem is shorthand for validation.Problem in the table below.
type Problem = validation.Problem

const executorContainerName = validation.ExecutorContainerName

const annotationNoEngine = validation.AnnotationNoEngine

// Base is a valid SeldonDeployment shaped like the seed: one predictor, one
// named componentSpec with a cpu request, a legacy hpaSpecs entry on cpu.
func Base() *sdepv1.SeldonDeployment {
	return &sdepv1.SeldonDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "seldon-model"},
		Spec: sdepv1.SeldonDeploymentSpec{
			Predictors: []sdepv1.PredictorSpec{{
				Name: "example",
				ComponentSpecs: []sdepv1.SeldonPodSpec{{
					Metadata: metav1.ObjectMeta{Name: "my-dep"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name:  "classifier",
						Image: "seldonio/mock_classifier:1.0",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("0.5"),
						}},
					}}},
				}},
				HpaSpecs: []sdepv1.LegacyHpaSpec{{
					ScaleTargetRef: sdepv1.CrossVersionObjectReference{APIVersion: "extensions/v1beta1", Kind: "Deployment", Name: "my-dep"},
					MinReplicas:    ptr.To[int32](1),
					MaxReplicas:    4,
					Metrics:        []sdepv1.MetricSpec{CPUUtilization(10)},
				}},
				Graph: sdepv1.PredictiveUnit{Name: "classifier", Type: sdepv1.Model},
			}},
		},
	}
}

// CPUUtilization is a v2beta1 cpu metric at pct percent of the request.
func CPUUtilization(pct int32) sdepv1.MetricSpec {
	return sdepv1.MetricSpec{Type: sdepv1.ResourceMetricSourceType, Resource: &sdepv1.ResourceMetricSource{
		Name: corev1.ResourceCPU, TargetAverageUtilization: ptr.To(pct)}}
}

// Pred is the first predictor.
func Pred(sd *sdepv1.SeldonDeployment) *sdepv1.PredictorSpec { return &sd.Spec.Predictors[0] }

// Comp is the first predictor's first componentSpec.
func Comp(sd *sdepv1.SeldonDeployment) *sdepv1.SeldonPodSpec { return &Pred(sd).ComponentSpecs[0] }

// SetHpaSpec replaces the legacy hpaSpecs entry by a componentSpec hpaSpec.
func SetHpaSpec(sd *sdepv1.SeldonDeployment, h *sdepv1.SeldonHpaSpec) {
	Pred(sd).HpaSpecs = nil
	Comp(sd).HpaSpec = h
}

// AddContainer adds a container to Comp(sd).
func AddContainer(sd *sdepv1.SeldonDeployment, c corev1.Container) {
	Comp(sd).Spec.Containers = append(Comp(sd).Spec.Containers, c)
}

// setRequest sets Comp(sd)'s first container's request for res.
func setRequest(sd *sdepv1.SeldonDeployment, res corev1.ResourceName, value string) {
	Comp(sd).Spec.Containers[0].Resources.Requests[res] = resource.MustParse(value)
}

// InvalidCases has one case per validation rule.
func InvalidCases() []Case {
	return []Case{
		// metadata
		{"name required", func(sd *sdepv1.SeldonDeployment) { sd.Name = "" },
			Problem{Field: "metadata.name", Message: "required: the names of every Deployment"}},
		{"name charset", func(sd *sdepv1.SeldonDeployment) { sd.Name = "Seldon_Model" },
			Problem{Field: "metadata.name", Message: `"Seldon_Model" is not a valid name`}},
		{"name starts with letter", func(sd *sdepv1.SeldonDeployment) { sd.Name = "1model" },
			Problem{Field: "metadata.name", Message: `"1model" must start with a letter`}},
		// spec
		{"no predictors", func(sd *sdepv1.SeldonDeployment) { sd.Spec.Predictors = nil },
			Problem{Field: "spec.predictors", Message: "Graph contains no predictors"}},
		{"protocol", func(sd *sdepv1.SeldonDeployment) { sd.Spec.Protocol = "http" },
			Problem{Field: "spec.protocol", Message: `Invalid protocol "http"`}},
		{"transport", func(sd *sdepv1.SeldonDeployment) { sd.Spec.Transport = "tcp" },
			Problem{Field: "spec.transport", Message: `Invalid transport "tcp"`}},
		{"serverType", func(sd *sdepv1.SeldonDeployment) { sd.Spec.ServerType = "batch" },
			Problem{Field: "spec.serverType", Message: `Invalid serverType "batch"`}},
		{"kafka needs env", func(sd *sdepv1.SeldonDeployment) { sd.Spec.ServerType = sdepv1.ServerTypeKafka },
			Problem{Field: "spec.predictors[0].svcOrchSpec.env", Message: "For kafka please supply svcOrchSpec envs KAFKA_BROKER, KAFKA_INPUT_TOPIC, KAFKA_OUTPUT_TOPIC"}},
		{"negative spec replicas", func(sd *sdepv1.SeldonDeployment) { sd.Spec.Replicas = ptr.To[int32](-1) },
			Problem{Field: "spec.replicas", Message: "-1 is negative"}},
		// predictors
		{"predictor name", func(sd *sdepv1.SeldonDeployment) { Pred(sd).Name = "" },
			Problem{Field: "spec.predictors[0].name", Message: "required"}},
		{"duplicate predictor", func(sd *sdepv1.SeldonDeployment) {
			p := *Pred(sd).DeepCopy()
			sd.Spec.Predictors = append(sd.Spec.Predictors, p)
			sd.Spec.Predictors[0].Traffic, sd.Spec.Predictors[1].Traffic = 50, 50
		}, Problem{Field: "spec.predictors[1].name", Message: `Duplicate predictor name "example"`}},
		{"duplicate svc-name", func(sd *sdepv1.SeldonDeployment) {
			p := *Pred(sd).DeepCopy()
			p.Name = "other"
			sd.Spec.Predictors = append(sd.Spec.Predictors, p)
			sd.Spec.Predictors[0].Traffic, sd.Spec.Predictors[1].Traffic = 50, 50
			sd.Spec.Predictors[0].Annotations = map[string]string{"seldon.io/svc-name": "svc"}
			sd.Spec.Predictors[1].Annotations = map[string]string{"seldon.io/svc-name": "svc"}
		}, Problem{Field: "spec.predictors[1].annotations[seldon.io/svc-name]", Message: "Found duplicate service name in seldon.io/svc-name with value svc"}},
		{"only predictor is shadow", func(sd *sdepv1.SeldonDeployment) { Pred(sd).Shadow = true },
			Problem{Field: "spec.predictors[0].shadow", Message: "Shadow can not exist as only predictor"}},
		{"two shadows", func(sd *sdepv1.SeldonDeployment) {
			for _, n := range []string{"s1", "s2"} {
				p := *Pred(sd).DeepCopy()
				p.Name, p.Shadow = n, true
				sd.Spec.Predictors = append(sd.Spec.Predictors, p)
			}
		}, Problem{Field: "spec.predictors", Message: "Multiple shadows are not allowed"}},
		{"shadow traffic range", func(sd *sdepv1.SeldonDeployment) {
			p := *Pred(sd).DeepCopy()
			p.Name, p.Shadow, p.Traffic = "s", true, 101
			sd.Spec.Predictors = append(sd.Spec.Predictors, p)
		}, Problem{Field: "spec.predictors[1].traffic", Message: "shadow traffic is illegal"}},
		{"traffic sums to 100", func(sd *sdepv1.SeldonDeployment) {
			p := *Pred(sd).DeepCopy()
			p.Name = "b"
			sd.Spec.Predictors = append(sd.Spec.Predictors, p)
			sd.Spec.Predictors[0].Traffic, sd.Spec.Predictors[1].Traffic = 50, 40
		}, Problem{Field: "spec.predictors", Message: "Traffic must sum to 100 for multiple predictors (it sums to 90)"}},
		{"single predictor traffic", func(sd *sdepv1.SeldonDeployment) { Pred(sd).Traffic = 30 },
			Problem{Field: "spec.predictors", Message: "Traffic must sum be 100 for a single predictor when set"}},
		{"no-engine with a graph", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Annotations = map[string]string{annotationNoEngine: "true"}
			Pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "x", Implementation: sdepv1.SimpleModel}}
		}, Problem{Field: "spec.predictors[0].annotations[seldon.io/no-engine]", Message: "Running without engine only valid for single element graphs"}},
		// componentSpecs
		{"componentSpec name charset", func(sd *sdepv1.SeldonDeployment) { Comp(sd).Metadata.Name = "My.Dep" },
			Problem{Field: "spec.predictors[0].componentSpecs[0].metadata.name", Message: `"My.Dep" is not a valid name`}},
		{"componentSpec names unique", func(sd *sdepv1.SeldonDeployment) {
			c := *Comp(sd).DeepCopy()
			c.Spec.Containers[0].Name = "other"
			Pred(sd).ComponentSpecs = append(Pred(sd).ComponentSpecs, c)
		}, Problem{Field: "spec.predictors[0].componentSpecs[1].metadata.name", Message: `"my-dep" is also the name of componentSpecs[0]`}},
		{"no containers but a pdbSpec", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).ComponentSpecs = append(Pred(sd).ComponentSpecs, sdepv1.SeldonPodSpec{Metadata: metav1.ObjectMeta{Name: "empty"},
				PdbSpec: &sdepv1.SeldonPdbSpec{MinAvailable: ptr.To(intstr.FromInt32(1))}})
		}, Problem{Field: "spec.predictors[0].componentSpecs[1].spec.containers", Message: "at least one container"}},
		{"ephemeral containers", func(sd *sdepv1.SeldonDeployment) {
			Comp(sd).Spec.EphemeralContainers = []corev1.EphemeralContainer{{}}
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].spec.ephemeralContainers", Message: "cannot be part of a pod template"}},
		{"executor name reserved", func(sd *sdepv1.SeldonDeployment) {
			AddContainer(sd, corev1.Container{Name: executorContainerName, Resources: Comp(sd).Spec.Containers[0].Resources})
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].spec.containers[1].name", Message: "reserved for the executor"}},
		{"container names unique in predictor", func(sd *sdepv1.SeldonDeployment) {
			c := *Comp(sd).DeepCopy()
			c.Metadata.Name = "second"
			Pred(sd).ComponentSpecs = append(Pred(sd).ComponentSpecs, c)
		}, Problem{Field: "spec.predictors[0].componentSpecs[1].spec.containers[0].name", Message: `"classifier" is also the name of spec.predictors[0].componentSpecs[0].spec.containers[0]`}},
		{"pdb needs one field", func(sd *sdepv1.SeldonDeployment) { Comp(sd).PdbSpec = &sdepv1.SeldonPdbSpec{} },
			Problem{Field: "spec.predictors[0].componentSpecs[0].pdbSpec", Message: "set minAvailable or maxUnavailable"}},
		{"pdb fields exclusive", func(sd *sdepv1.SeldonDeployment) {
			one := intstr.FromInt32(1)
			Comp(sd).PdbSpec = &sdepv1.SeldonPdbSpec{MinAvailable: &one, MaxUnavailable: &one}
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].pdbSpec", Message: "mutually exclusive"}},
		{"keda needs triggers", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).HpaSpecs = nil
			Comp(sd).KedaSpec = &sdepv1.SeldonScaledObjectSpec{}
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].kedaSpec.triggers", Message: "at least one trigger"}},
		// autoscalers
		{"one autoscaler per component", func(sd *sdepv1.SeldonDeployment) {
			Comp(sd).HpaSpec = &sdepv1.SeldonHpaSpec{MaxReplicas: 2, Metrics: []sdepv1.MetricSpec{CPUUtilization(50)}}
		}, Problem{Field: "spec.predictors[0].componentSpecs[0]", Message: "has 2 autoscalers (hpaSpec, spec.predictors[0].hpaSpecs[0]): keep exactly one"}},
		{"keda and hpa", func(sd *sdepv1.SeldonDeployment) {
			Comp(sd).KedaSpec = &sdepv1.SeldonScaledObjectSpec{Triggers: []sdepv1.KedaScaleTrigger{{Type: "cpu"}}}
		}, Problem{Field: "spec.predictors[0].componentSpecs[0]", Message: "has 2 autoscalers (kedaSpec, spec.predictors[0].hpaSpecs[0])"}},
		{"legacy target unknown", func(sd *sdepv1.SeldonDeployment) { Pred(sd).HpaSpecs[0].ScaleTargetRef.Name = "my-depp" },
			Problem{Field: "spec.predictors[0].hpaSpecs[0].scaleTargetRef.name", Message: `"my-depp" matches no componentSpecs[].metadata.name (have: my-dep)`}},
		{"legacy target missing", func(sd *sdepv1.SeldonDeployment) { Pred(sd).HpaSpecs[0].ScaleTargetRef.Name = "" },
			Problem{Field: "spec.predictors[0].hpaSpecs[0].scaleTargetRef.name", Message: "HorizontalPodAutoscalerSpec 0 has no target reference"}},
		{"legacy target ambiguous", func(sd *sdepv1.SeldonDeployment) {
			c := *Comp(sd).DeepCopy()
			c.Spec.Containers[0].Name = "other"
			Pred(sd).ComponentSpecs = append(Pred(sd).ComponentSpecs, c)
		}, Problem{Field: "spec.predictors[0].hpaSpecs[0].scaleTargetRef.name", Message: `"my-dep" matches 2 componentSpecs`}},
		{"legacy kind", func(sd *sdepv1.SeldonDeployment) { Pred(sd).HpaSpecs[0].ScaleTargetRef.Kind = "StatefulSet" },
			Problem{Field: "spec.predictors[0].hpaSpecs[0].scaleTargetRef.kind", Message: `"StatefulSet": must be Deployment`}},
		{"legacy apiVersion", func(sd *sdepv1.SeldonDeployment) { Pred(sd).HpaSpecs[0].ScaleTargetRef.APIVersion = "apps/v2" },
			Problem{Field: "spec.predictors[0].hpaSpecs[0].scaleTargetRef.apiVersion", Message: `"apps/v2": use apps/v1`}},
		{"maxReplicas at least 1", func(sd *sdepv1.SeldonDeployment) { Pred(sd).HpaSpecs[0].MaxReplicas = 0 },
			Problem{Field: "spec.predictors[0].hpaSpecs[0].maxReplicas", Message: "maxReplicas is required and must be at least 1"}},
		{"minReplicas 0 needs an Object or External metric", func(sd *sdepv1.SeldonDeployment) { Pred(sd).HpaSpecs[0].MinReplicas = ptr.To[int32](0) },
			Problem{Field: "spec.predictors[0].hpaSpecs[0].minReplicas", Message: "0 needs at least one Object or External metric"}},
		{"v2 minReplicas 0 on CPU", func(sd *sdepv1.SeldonDeployment) {
			SetHpaSpec(sd, &sdepv1.SeldonHpaSpec{MinReplicas: ptr.To[int32](0), MaxReplicas: 4, MetricsV2: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](10)}}}}})
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].hpaSpec.minReplicas", Message: "or set minReplicas to 1"}},
		{"minReplicas not negative", func(sd *sdepv1.SeldonDeployment) { Pred(sd).HpaSpecs[0].MinReplicas = ptr.To[int32](-1) },
			Problem{Field: "spec.predictors[0].hpaSpecs[0].minReplicas", Message: "-1 is negative"}},
		{"min not above max", func(sd *sdepv1.SeldonDeployment) {
			SetHpaSpec(sd, &sdepv1.SeldonHpaSpec{MinReplicas: ptr.To[int32](5), MaxReplicas: 4, Metrics: []sdepv1.MetricSpec{CPUUtilization(10)}})
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].hpaSpec.minReplicas", Message: "5 is greater than maxReplicas 4"}},
		{"utilisation above 0", func(sd *sdepv1.SeldonDeployment) { Pred(sd).HpaSpecs[0].Metrics[0] = CPUUtilization(0) },
			Problem{Field: "spec.predictors[0].hpaSpecs[0].metrics[0].resource.targetAverageUtilization", Message: "a utilisation target must be greater than 0"}},
		{"v2 utilisation above 0", func(sd *sdepv1.SeldonDeployment) {
			SetHpaSpec(sd, &sdepv1.SeldonHpaSpec{MaxReplicas: 4, MetricsV2: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](0)}}}}})
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].hpaSpec.metricsv2[0].resource.target.averageUtilization", Message: "greater than 0"}},
		{"metric type unknown", func(sd *sdepv1.SeldonDeployment) { Pred(sd).HpaSpecs[0].Metrics[0].Type = "Cpu" },
			Problem{Field: "spec.predictors[0].hpaSpecs[0].metrics[0].type", Message: `"Cpu": use Resource, ContainerResource, Pods, Object or External`}},
		{"metric source missing", func(sd *sdepv1.SeldonDeployment) { Pred(sd).HpaSpecs[0].Metrics[0].Type = sdepv1.PodsMetricSourceType },
			Problem{Field: "spec.predictors[0].hpaSpecs[0].metrics[0].pods", Message: "required: type is Pods"}},
		{"metric target missing", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).HpaSpecs[0].Metrics[0].Resource.TargetAverageUtilization = nil
		},
			Problem{Field: "spec.predictors[0].hpaSpecs[0].metrics[0].resource", Message: "set targetAverageUtilization or targetAverageValue"}},
		{"external target", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).HpaSpecs[0].Metrics = []sdepv1.MetricSpec{{Type: sdepv1.ExternalMetricSourceType, External: &sdepv1.ExternalMetricSource{MetricName: "q"}}}
		}, Problem{Field: "spec.predictors[0].hpaSpecs[0].metrics[0].external", Message: "set targetValue or targetAverageValue"}},
		{"v2 target type", func(sd *sdepv1.SeldonDeployment) {
			SetHpaSpec(sd, &sdepv1.SeldonHpaSpec{MaxReplicas: 4, MetricsV2: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "rps"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](5)}}}}})
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].hpaSpec.metricsv2[0].pods.target.type", Message: "Utilization applies to Resource and ContainerResource metrics only"}},
		{"behavior policy", func(sd *sdepv1.SeldonDeployment) {
			SetHpaSpec(sd, &sdepv1.SeldonHpaSpec{MaxReplicas: 4, Metrics: []sdepv1.MetricSpec{CPUUtilization(10)},
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
					Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 0, PeriodSeconds: 15}}}}})
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].hpaSpec.behavior.scaleDown.policies[0].value", Message: "0: must be greater than 0"}},
		{"behavior window", func(sd *sdepv1.SeldonDeployment) {
			SetHpaSpec(sd, &sdepv1.SeldonHpaSpec{MaxReplicas: 4, Metrics: []sdepv1.MetricSpec{CPUUtilization(10)},
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](7200)}}})
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].hpaSpec.behavior.scaleUp.stabilizationWindowSeconds", Message: "7200: must be between 0 and 3600"}},
		{"cpu request on every container", func(sd *sdepv1.SeldonDeployment) {
			AddContainer(sd, corev1.Container{Name: "sidecar", Image: "busybox"})
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].spec.containers[1].resources.requests.cpu", Message: `container "sidecar" has no cpu request`}},
		{"memory request for memory metric", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).HpaSpecs[0].Metrics[0].Resource.Name = corev1.ResourceMemory
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].spec.containers[0].resources.requests.memory", Message: `container "classifier" has no memory request`}},
		{"executor cpu request", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).SvcOrchSpec = &sdepv1.SvcOrchSpec{Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse("1Gi")}}}
		}, Problem{Field: "spec.predictors[0].svcOrchSpec.resources.requests.cpu", Message: `the executor container "seldon-container-engine" that sdep adds to this pod has no cpu request`}},
		{"cpu request zero under a cpu metric", func(sd *sdepv1.SeldonDeployment) {
			setRequest(sd, corev1.ResourceCPU, "0")
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].spec.containers[0].resources.requests.cpu", Message: `container "classifier" requests 0 cpu, so the HPA cannot compute cpu utilisation`}},
		{"memory request zero under a v2 utilisation metric", func(sd *sdepv1.SeldonDeployment) {
			setRequest(sd, corev1.ResourceMemory, "0")
			SetHpaSpec(sd, &sdepv1.SeldonHpaSpec{MaxReplicas: 4, MetricsV2: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)}}}}})
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].spec.containers[0].resources.requests.memory", Message: `container "classifier" requests 0 memory`}},
		{"executor cpu request zero under a cpu metric", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).SvcOrchSpec = &sdepv1.SvcOrchSpec{Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("0")}}}
		}, Problem{Field: "spec.predictors[0].svcOrchSpec.resources.requests.cpu", Message: `the executor container "seldon-container-engine" that sdep adds to this pod requests 0 cpu`}},
		// quantities
		{"negative cpu request", func(sd *sdepv1.SeldonDeployment) { setRequest(sd, corev1.ResourceCPU, "-1") },
			Problem{Field: "spec.predictors[0].componentSpecs[0].spec.containers[0].resources.requests.cpu", Message: "-1 is negative: use 0 or more"}},
		{"negative memory request", func(sd *sdepv1.SeldonDeployment) { setRequest(sd, corev1.ResourceMemory, "-64Mi") },
			Problem{Field: "spec.predictors[0].componentSpecs[0].spec.containers[0].resources.requests.memory", Message: "-64Mi is negative: use 0 or more"}},
		{"negative init container limit", func(sd *sdepv1.SeldonDeployment) {
			Comp(sd).Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1Gi")}}}}
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].spec.initContainers[0].resources.limits.memory", Message: "-1Gi is negative"}},
		{"negative executor request", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).SvcOrchSpec = &sdepv1.SvcOrchSpec{Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("-1")}}}
		}, Problem{Field: "spec.predictors[0].svcOrchSpec.resources.requests.memory", Message: "-1 is negative"}},
		{"cpu request too large", func(sd *sdepv1.SeldonDeployment) { setRequest(sd, corev1.ResourceCPU, "10e399") },
			Problem{Field: "spec.predictors[0].componentSpecs[0].spec.containers[0].resources.requests.cpu", Message: "10e399 is too large: quantities must not exceed 9223372036854775807m"}},
		{"request above limit", func(sd *sdepv1.SeldonDeployment) {
			Comp(sd).Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}
		}, Problem{Field: "spec.predictors[0].componentSpecs[0].spec.containers[0].resources.requests.cpu", Message: "request 500m is above limits.cpu 250m: a request must not exceed its limit"}},
		{"executor request above limit", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).EngineResources = &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}}
		}, Problem{Field: "spec.predictors[0].engineResources.requests.memory", Message: "request 1Gi is above limits.memory 512Mi"}},
		{"hpa target too large", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).HpaSpecs[0].Metrics[0].Resource.TargetAverageUtilization = nil
			Pred(sd).HpaSpecs[0].Metrics[0].Resource.TargetAverageValue = ptr.To(resource.MustParse("10e399"))
		}, Problem{Field: "spec.predictors[0].hpaSpecs[0].metrics[0].resource.targetAverageValue", Message: "10e399 is too large"}},
		{"container resource names a container", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).HpaSpecs[0].Metrics[0] = sdepv1.MetricSpec{Type: sdepv1.ContainerResourceMetricSourceType,
				ContainerResource: &sdepv1.ContainerResourceMetricSource{Name: corev1.ResourceCPU, Container: "nope", TargetAverageUtilization: ptr.To[int32](10)}}
		}, Problem{Field: "spec.predictors[0].hpaSpecs[0].metrics[0].containerResource.container", Message: `"nope" is not a container of spec.predictors[0].componentSpecs[0]`}},
		// graph
		{"graph node name required", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Implementation: sdepv1.SimpleModel}}
		}, Problem{Field: "spec.predictors[0].graph.children[0].name", Message: "required"}},
		{"graph node names unique", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "classifier"}}
		}, Problem{Field: "spec.predictors[0].graph.children[0].name", Message: `"classifier" is also the name of spec.predictors[0].graph`}},
		{"graph node container", func(sd *sdepv1.SeldonDeployment) { Pred(sd).Graph.Name = "classifer" },
			Problem{Field: "spec.predictors[0].graph.name", Message: `Can't find container for Predictive Unit "classifer"`}},
		{"graph node type", func(sd *sdepv1.SeldonDeployment) { Pred(sd).Graph.Type = "MODELL" },
			Problem{Field: "spec.predictors[0].graph.type", Message: `"MODELL": use MODEL`}},
		{"unknown type needs methods", func(sd *sdepv1.SeldonDeployment) { Pred(sd).Graph.Type = sdepv1.UnknownType },
			Problem{Field: "spec.predictors[0].graph.type", Message: "Predictive Unit has no implementation methods defined"}},
		{"graph node method", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Methods = []sdepv1.PredictiveUnitMethod{"PREDICT"}
		}, Problem{Field: "spec.predictors[0].graph.methods[0]", Message: `"PREDICT": use TRANSFORM_INPUT`}},
		{"server not in the table", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "gbm", Implementation: "LIGHTGBM_SERVER", ModelURI: "gs://m"}}
		}, Problem{Field: "spec.predictors[0].graph.children[0].implementation", Message: "No entry in predictors map for LIGHTGBM_SERVER"}},
		{"prepackaged needs modelUri", func(sd *sdepv1.SeldonDeployment) { Pred(sd).Graph.Implementation = sdepv1.SKLearnServer },
			Problem{Field: "spec.predictors[0].graph.modelUri", Message: "Predictive unit modelUri required when using standalone servers"}},
		{"prepackaged tensorflow protocol", func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Protocol = sdepv1.ProtocolTensorflow
			Pred(sd).Graph.Implementation = sdepv1.XGBoostServer
			Pred(sd).Graph.ModelURI = "gs://m"
		}, Problem{Field: "spec.predictors[0].graph.implementation", Message: "Prepackaged server does not handle tensorflow protocol XGBOOST_SERVER"}},
		{"server node named like the executor", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: executorContainerName, Implementation: sdepv1.SKLearnServer, ModelURI: "gs://m"}}
		}, Problem{Field: "spec.predictors[0].graph.children[0].name", Message: "reserved for the executor"}},
		{"server node name not a container name", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "Iris_Model", Implementation: sdepv1.SKLearnServer, ModelURI: "gs://m"}}
		}, Problem{Field: "spec.predictors[0].graph.children[0].name", Message: "cannot name the server's container"}},
		{"server without an image for the protocol", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "triton", Implementation: sdepv1.TritonServer, ModelURI: "gs://m"}}
		}, Problem{Field: "spec.predictors[0].graph.children[0].implementation", Message: `TRITON_SERVER has no image for protocol "seldon"`}},
		{"logger mode", func(sd *sdepv1.SeldonDeployment) { Pred(sd).Graph.Logger = &sdepv1.Logger{} },
			Problem{Field: "spec.predictors[0].graph.logger.mode", Message: "No logger mode specified"}},
		{"endpoint type", func(sd *sdepv1.SeldonDeployment) { Pred(sd).Graph.Endpoint = &sdepv1.Endpoint{Type: "HTTP"} },
			Problem{Field: "spec.predictors[0].graph.endpoint.type", Message: `"HTTP": use REST or GRPC`}},
		{"one endpoint type", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Endpoint = &sdepv1.Endpoint{Type: sdepv1.EndpointREST}
			Pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "m2", Implementation: sdepv1.SimpleModel, Endpoint: &sdepv1.Endpoint{Type: sdepv1.EndpointGRPC}}}
		}, Problem{Field: "spec.predictors[0].graph", Message: "Multiple endpoint.types found - can only have 1 type in graph. Please use spec.transport"}},
		{"endpoint type against transport", func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Transport = sdepv1.TransportGrpc
			Pred(sd).Graph.Endpoint = &sdepv1.Endpoint{Type: sdepv1.EndpointREST}
		}, Problem{Field: "spec.predictors[0].graph.endpoint.type", Message: "Mixed transport types found"}},
		{"parameter type", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Parameters = []sdepv1.Parameter{{Name: "a", Value: "1", Type: "LONG"}}
		}, Problem{Field: "spec.predictors[0].graph.parameters[0].type", Message: `"LONG": use INT, FLOAT, DOUBLE, STRING or BOOL`}},
		{"parameter value", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Parameters = []sdepv1.Parameter{{Name: "intValue", Value: "1.5", Type: sdepv1.ParameterInt}}
		}, Problem{Field: "spec.predictors[0].graph.parameters[0].value", Message: `"1.5" is not a valid INT`}},
		{"abtest children", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "ab", Implementation: sdepv1.RandomABTest}}
		}, Problem{Field: "spec.predictors[0].graph.children[0].children", Message: "RANDOM_ABTEST routes to one of exactly 2 children, it has 0"}},
		{"abtest needs ratioA", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "ab", Implementation: sdepv1.RandomABTest,
				Children: []sdepv1.PredictiveUnit{{Name: "a", Implementation: sdepv1.SimpleModel}, {Name: "b", Implementation: sdepv1.SimpleModel}}}}
		}, Problem{Field: "spec.predictors[0].graph.children[0].parameters", Message: "Parameter 'ratioA' is missing"}},
		{"abtest ratio", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "ab", Implementation: sdepv1.RandomABTest,
				Parameters: []sdepv1.Parameter{{Name: "ratioA", Value: "1.5", Type: sdepv1.ParameterFloat}},
				Children:   []sdepv1.PredictiveUnit{{Name: "a", Implementation: sdepv1.SimpleModel}, {Name: "b", Implementation: sdepv1.SimpleModel}}}}
		}, Problem{Field: "spec.predictors[0].graph.children[0].parameters[0].value", Message: "ratioA 1.5 is the share of requests for the first child"}},
		{"abtest ratio not a number", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "ab", Implementation: sdepv1.RandomABTest,
				Parameters: []sdepv1.Parameter{{Name: "ratioA", Value: "half", Type: sdepv1.ParameterString}},
				Children:   []sdepv1.PredictiveUnit{{Name: "a", Implementation: sdepv1.SimpleModel}, {Name: "b", Implementation: sdepv1.SimpleModel}}}}
		}, Problem{Field: "spec.predictors[0].graph.children[0].parameters[0].value", Message: "ratioA half is the share of requests for the first child"}},
		{"simple router needs a child", func(sd *sdepv1.SeldonDeployment) {
			Pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "r", Implementation: sdepv1.SimpleRouter}}
		}, Problem{Field: "spec.predictors[0].graph.children[0].children", Message: "SIMPLE_ROUTER sends every request to its first child, and it has none"}},
		{"graph depth", func(sd *sdepv1.SeldonDeployment) {
			n := &Pred(sd).Graph
			for i := 0; i < sdepv1.MaxGraphDepth; i++ {
				n.Children = []sdepv1.PredictiveUnit{{Name: "n" + strings.Repeat("x", i), Implementation: sdepv1.SimpleModel}}
				n = &n.Children[0]
			}
		}, Problem{Field: "spec.predictors[0].graph" + strings.Repeat(".children[0]", sdepv1.MaxGraphDepth), Message: "deeper than 32 levels"}},
	}
}

// NodeAccessCases give the pod access to its node. Each Want is a warning
// under validation.Validate and an error under a Policy with
// RefusePrivileged.
func NodeAccessCases() []Case {
	spec := "spec.predictors[0].componentSpecs[0].spec"
	return []Case{
		{"privileged container", func(sd *sdepv1.SeldonDeployment) {
			Comp(sd).Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		}, Problem{Field: spec + ".containers[0].securityContext.privileged", Message: "the pod runs privileged: "}},
		{"privileged init container", func(sd *sdepv1.SeldonDeployment) {
			Comp(sd).Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox",
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}
		}, Problem{Field: spec + ".initContainers[0].securityContext.privileged", Message: "the pod runs privileged: "}},
		{"second componentSpec", func(sd *sdepv1.SeldonDeployment) {
			cs := *Comp(sd).DeepCopy()
			cs.Metadata.Name = "second"
			cs.Spec.Containers[0].Name = "other"
			cs.Spec.HostNetwork = true
			Pred(sd).ComponentSpecs = append(Pred(sd).ComponentSpecs, cs)
		}, Problem{Field: "spec.predictors[0].componentSpecs[1].spec.hostNetwork", Message: "the pod uses the node's network namespace"}},
		{"hostPID", func(sd *sdepv1.SeldonDeployment) { Comp(sd).Spec.HostPID = true },
			Problem{Field: spec + ".hostPID", Message: "the pod shares the node's process namespace"}},
		{"hostIPC", func(sd *sdepv1.SeldonDeployment) { Comp(sd).Spec.HostIPC = true },
			Problem{Field: spec + ".hostIPC", Message: "the pod shares the node's IPC namespace"}},
		{"hostNetwork", func(sd *sdepv1.SeldonDeployment) { Comp(sd).Spec.HostNetwork = true },
			Problem{Field: spec + ".hostNetwork", Message: "the pod uses the node's network namespace"}},
		{"hostPath volume", func(sd *sdepv1.SeldonDeployment) {
			Comp(sd).Spec.Volumes = []corev1.Volume{
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}},
			}
		}, Problem{Field: spec + ".volumes[1].hostPath", Message: `the pod mounts "/" from the node's filesystem`}},
	}
}
