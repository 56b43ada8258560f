package validation

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
)

// base is a valid SeldonDeployment shaped like the seed: one predictor, one
// named componentSpec with a cpu request, a legacy hpaSpecs entry on cpu.
func base() *sdepv1.SeldonDeployment {
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
					Metrics:        []sdepv1.MetricSpec{cpuUtilization(10)},
				}},
				Graph: sdepv1.PredictiveUnit{Name: "classifier", Type: sdepv1.Model},
			}},
		},
	}
}

func cpuUtilization(pct int32) sdepv1.MetricSpec {
	return sdepv1.MetricSpec{Type: sdepv1.ResourceMetricSourceType, Resource: &sdepv1.ResourceMetricSource{
		Name: corev1.ResourceCPU, TargetAverageUtilization: ptr.To(pct)}}
}

func pred(sd *sdepv1.SeldonDeployment) *sdepv1.PredictorSpec { return &sd.Spec.Predictors[0] }
func comp(sd *sdepv1.SeldonDeployment) *sdepv1.SeldonPodSpec { return &pred(sd).ComponentSpecs[0] }

// v1HPA replaces the legacy hpaSpecs entry by a componentSpec hpaSpec.
func v1HPA(sd *sdepv1.SeldonDeployment, h *sdepv1.SeldonHpaSpec) {
	pred(sd).HpaSpecs = nil
	comp(sd).HpaSpec = h
}

func addContainer(sd *sdepv1.SeldonDeployment, c corev1.Container) {
	comp(sd).Spec.Containers = append(comp(sd).Spec.Containers, c)
}

func TestBaseIsValid(t *testing.T) {
	res := Validate(base(), DefaultOptions())
	if len(res.Errors)+len(res.Warnings) != 0 {
		t.Fatalf("base document: %v %v", res.Errors, res.Warnings)
	}
}

func TestExamplesAreValid(t *testing.T) {
	for _, f := range []string{"../../examples/seed-hpaspecs.json", "../../examples/seed-v1.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := decode.Documents(f, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			res := Validate(d.Object, DefaultOptions())
			if len(res.Errors)+len(res.Warnings) != 0 {
				t.Errorf("%s: %v %v", f, res.Errors, res.Warnings)
			}
		}
	}
}

// TestRules has one case per validation rule: a change to the valid base
// document, and the problem (field path and message) it must produce.
func TestRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(sd *sdepv1.SeldonDeployment)
		want   Problem // Message is matched as a substring
	}{
		// metadata
		{"name required", func(sd *sdepv1.SeldonDeployment) { sd.Name = "" },
			Problem{"metadata.name", "required: the names of every Deployment"}},
		{"name charset", func(sd *sdepv1.SeldonDeployment) { sd.Name = "Seldon_Model" },
			Problem{"metadata.name", `"Seldon_Model" is not a valid name`}},
		{"name starts with letter", func(sd *sdepv1.SeldonDeployment) { sd.Name = "1model" },
			Problem{"metadata.name", `"1model" must start with a letter`}},
		// spec
		{"no predictors", func(sd *sdepv1.SeldonDeployment) { sd.Spec.Predictors = nil },
			Problem{"spec.predictors", "Graph contains no predictors"}},
		{"protocol", func(sd *sdepv1.SeldonDeployment) { sd.Spec.Protocol = "http" },
			Problem{"spec.protocol", `Invalid protocol "http"`}},
		{"transport", func(sd *sdepv1.SeldonDeployment) { sd.Spec.Transport = "tcp" },
			Problem{"spec.transport", `Invalid transport "tcp"`}},
		{"serverType", func(sd *sdepv1.SeldonDeployment) { sd.Spec.ServerType = "batch" },
			Problem{"spec.serverType", `Invalid serverType "batch"`}},
		{"kafka needs env", func(sd *sdepv1.SeldonDeployment) { sd.Spec.ServerType = sdepv1.ServerTypeKafka },
			Problem{"spec.predictors[0].svcOrchSpec.env", "For kafka please supply svcOrchSpec envs KAFKA_BROKER, KAFKA_INPUT_TOPIC, KAFKA_OUTPUT_TOPIC"}},
		{"negative spec replicas", func(sd *sdepv1.SeldonDeployment) { sd.Spec.Replicas = ptr.To[int32](-1) },
			Problem{"spec.replicas", "-1 is negative"}},
		// predictors
		{"predictor name", func(sd *sdepv1.SeldonDeployment) { pred(sd).Name = "" },
			Problem{"spec.predictors[0].name", "required"}},
		{"duplicate predictor", func(sd *sdepv1.SeldonDeployment) {
			p := *pred(sd).DeepCopy()
			sd.Spec.Predictors = append(sd.Spec.Predictors, p)
			sd.Spec.Predictors[0].Traffic, sd.Spec.Predictors[1].Traffic = 50, 50
		}, Problem{"spec.predictors[1].name", `Duplicate predictor name "example"`}},
		{"duplicate svc-name", func(sd *sdepv1.SeldonDeployment) {
			p := *pred(sd).DeepCopy()
			p.Name = "other"
			sd.Spec.Predictors = append(sd.Spec.Predictors, p)
			sd.Spec.Predictors[0].Traffic, sd.Spec.Predictors[1].Traffic = 50, 50
			sd.Spec.Predictors[0].Annotations = map[string]string{"seldon.io/svc-name": "svc"}
			sd.Spec.Predictors[1].Annotations = map[string]string{"seldon.io/svc-name": "svc"}
		}, Problem{"spec.predictors[1].annotations[seldon.io/svc-name]", "Found duplicate service name in seldon.io/svc-name with value svc"}},
		{"only predictor is shadow", func(sd *sdepv1.SeldonDeployment) { pred(sd).Shadow = true },
			Problem{"spec.predictors[0].shadow", "Shadow can not exist as only predictor"}},
		{"two shadows", func(sd *sdepv1.SeldonDeployment) {
			for _, n := range []string{"s1", "s2"} {
				p := *pred(sd).DeepCopy()
				p.Name, p.Shadow = n, true
				sd.Spec.Predictors = append(sd.Spec.Predictors, p)
			}
		}, Problem{"spec.predictors", "Multiple shadows are not allowed"}},
		{"shadow traffic range", func(sd *sdepv1.SeldonDeployment) {
			p := *pred(sd).DeepCopy()
			p.Name, p.Shadow, p.Traffic = "s", true, 101
			sd.Spec.Predictors = append(sd.Spec.Predictors, p)
		}, Problem{"spec.predictors[1].traffic", "shadow traffic is illegal"}},
		{"traffic sums to 100", func(sd *sdepv1.SeldonDeployment) {
			p := *pred(sd).DeepCopy()
			p.Name = "b"
			sd.Spec.Predictors = append(sd.Spec.Predictors, p)
			sd.Spec.Predictors[0].Traffic, sd.Spec.Predictors[1].Traffic = 50, 40
		}, Problem{"spec.predictors", "Traffic must sum to 100 for multiple predictors (it sums to 90)"}},
		{"single predictor traffic", func(sd *sdepv1.SeldonDeployment) { pred(sd).Traffic = 30 },
			Problem{"spec.predictors", "Traffic must sum be 100 for a single predictor when set"}},
		{"no-engine with a graph", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).Annotations = map[string]string{AnnotationNoEngine: "true"}
			pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "x", Implementation: sdepv1.SimpleModel}}
		}, Problem{"spec.predictors[0].annotations[seldon.io/no-engine]", "Running without engine only valid for single element graphs"}},
		// componentSpecs
		{"componentSpec name charset", func(sd *sdepv1.SeldonDeployment) { comp(sd).Metadata.Name = "My.Dep" },
			Problem{"spec.predictors[0].componentSpecs[0].metadata.name", `"My.Dep" is not a valid name`}},
		{"componentSpec names unique", func(sd *sdepv1.SeldonDeployment) {
			c := *comp(sd).DeepCopy()
			c.Spec.Containers[0].Name = "other"
			pred(sd).ComponentSpecs = append(pred(sd).ComponentSpecs, c)
		}, Problem{"spec.predictors[0].componentSpecs[1].metadata.name", `"my-dep" is also the name of componentSpecs[0]`}},
		{"no containers", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).ComponentSpecs = append(pred(sd).ComponentSpecs, sdepv1.SeldonPodSpec{Metadata: metav1.ObjectMeta{Name: "empty"}})
		}, Problem{"spec.predictors[0].componentSpecs[1].spec.containers", "at least one container"}},
		{"ephemeral containers", func(sd *sdepv1.SeldonDeployment) {
			comp(sd).Spec.EphemeralContainers = []corev1.EphemeralContainer{{}}
		}, Problem{"spec.predictors[0].componentSpecs[0].spec.ephemeralContainers", "cannot be part of a pod template"}},
		{"executor name reserved", func(sd *sdepv1.SeldonDeployment) {
			addContainer(sd, corev1.Container{Name: ExecutorContainerName, Resources: comp(sd).Spec.Containers[0].Resources})
		}, Problem{"spec.predictors[0].componentSpecs[0].spec.containers[1].name", "reserved for the executor"}},
		{"container names unique in predictor", func(sd *sdepv1.SeldonDeployment) {
			c := *comp(sd).DeepCopy()
			c.Metadata.Name = "second"
			pred(sd).ComponentSpecs = append(pred(sd).ComponentSpecs, c)
		}, Problem{"spec.predictors[0].componentSpecs[1].spec.containers[0].name", `"classifier" is also the name of spec.predictors[0].componentSpecs[0].spec.containers[0]`}},
		{"pdb needs one field", func(sd *sdepv1.SeldonDeployment) { comp(sd).PdbSpec = &sdepv1.SeldonPdbSpec{} },
			Problem{"spec.predictors[0].componentSpecs[0].pdbSpec", "set minAvailable or maxUnavailable"}},
		{"pdb fields exclusive", func(sd *sdepv1.SeldonDeployment) {
			one := intstr.FromInt32(1)
			comp(sd).PdbSpec = &sdepv1.SeldonPdbSpec{MinAvailable: &one, MaxUnavailable: &one}
		}, Problem{"spec.predictors[0].componentSpecs[0].pdbSpec", "mutually exclusive"}},
		{"keda needs triggers", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).HpaSpecs = nil
			comp(sd).KedaSpec = &sdepv1.SeldonScaledObjectSpec{}
		}, Problem{"spec.predictors[0].componentSpecs[0].kedaSpec.triggers", "at least one trigger"}},
		// autoscalers
		{"one autoscaler per component", func(sd *sdepv1.SeldonDeployment) {
			comp(sd).HpaSpec = &sdepv1.SeldonHpaSpec{MaxReplicas: 2, Metrics: []sdepv1.MetricSpec{cpuUtilization(50)}}
		}, Problem{"spec.predictors[0].componentSpecs[0]", "has 2 autoscalers (hpaSpec, spec.predictors[0].hpaSpecs[0]): keep exactly one"}},
		{"keda and hpa", func(sd *sdepv1.SeldonDeployment) {
			comp(sd).KedaSpec = &sdepv1.SeldonScaledObjectSpec{Triggers: []sdepv1.KedaScaleTrigger{{Type: "cpu"}}}
		}, Problem{"spec.predictors[0].componentSpecs[0]", "has 2 autoscalers (kedaSpec, spec.predictors[0].hpaSpecs[0])"}},
		{"legacy target unknown", func(sd *sdepv1.SeldonDeployment) { pred(sd).HpaSpecs[0].ScaleTargetRef.Name = "my-depp" },
			Problem{"spec.predictors[0].hpaSpecs[0].scaleTargetRef.name", `"my-depp" matches no componentSpecs[].metadata.name (have: my-dep)`}},
		{"legacy target missing", func(sd *sdepv1.SeldonDeployment) { pred(sd).HpaSpecs[0].ScaleTargetRef.Name = "" },
			Problem{"spec.predictors[0].hpaSpecs[0].scaleTargetRef.name", "HorizontalPodAutoscalerSpec 0 has no target reference"}},
		{"legacy target ambiguous", func(sd *sdepv1.SeldonDeployment) {
			c := *comp(sd).DeepCopy()
			c.Spec.Containers[0].Name = "other"
			pred(sd).ComponentSpecs = append(pred(sd).ComponentSpecs, c)
		}, Problem{"spec.predictors[0].hpaSpecs[0].scaleTargetRef.name", `"my-dep" matches 2 componentSpecs`}},
		{"legacy kind", func(sd *sdepv1.SeldonDeployment) { pred(sd).HpaSpecs[0].ScaleTargetRef.Kind = "StatefulSet" },
			Problem{"spec.predictors[0].hpaSpecs[0].scaleTargetRef.kind", `"StatefulSet": must be Deployment`}},
		{"legacy apiVersion", func(sd *sdepv1.SeldonDeployment) { pred(sd).HpaSpecs[0].ScaleTargetRef.APIVersion = "apps/v2" },
			Problem{"spec.predictors[0].hpaSpecs[0].scaleTargetRef.apiVersion", `"apps/v2": use apps/v1`}},
		{"maxReplicas at least 1", func(sd *sdepv1.SeldonDeployment) { pred(sd).HpaSpecs[0].MaxReplicas = 0 },
			Problem{"spec.predictors[0].hpaSpecs[0].maxReplicas", "maxReplicas is required and must be at least 1"}},
		{"minReplicas at least 1", func(sd *sdepv1.SeldonDeployment) { pred(sd).HpaSpecs[0].MinReplicas = ptr.To[int32](0) },
			Problem{"spec.predictors[0].hpaSpecs[0].minReplicas", "0: must be at least 1"}},
		{"min not above max", func(sd *sdepv1.SeldonDeployment) {
			v1HPA(sd, &sdepv1.SeldonHpaSpec{MinReplicas: ptr.To[int32](5), MaxReplicas: 4, Metrics: []sdepv1.MetricSpec{cpuUtilization(10)}})
		}, Problem{"spec.predictors[0].componentSpecs[0].hpaSpec.minReplicas", "5 is greater than maxReplicas 4"}},
		{"utilisation above 0", func(sd *sdepv1.SeldonDeployment) { pred(sd).HpaSpecs[0].Metrics[0] = cpuUtilization(0) },
			Problem{"spec.predictors[0].hpaSpecs[0].metrics[0].resource.targetAverageUtilization", "a utilisation target must be greater than 0"}},
		{"v2 utilisation above 0", func(sd *sdepv1.SeldonDeployment) {
			v1HPA(sd, &sdepv1.SeldonHpaSpec{MaxReplicas: 4, MetricsV2: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](0)}}}}})
		}, Problem{"spec.predictors[0].componentSpecs[0].hpaSpec.metricsv2[0].resource.target.averageUtilization", "greater than 0"}},
		{"metric type unknown", func(sd *sdepv1.SeldonDeployment) { pred(sd).HpaSpecs[0].Metrics[0].Type = "Cpu" },
			Problem{"spec.predictors[0].hpaSpecs[0].metrics[0].type", `"Cpu": use Resource, ContainerResource, Pods, Object or External`}},
		{"metric source missing", func(sd *sdepv1.SeldonDeployment) { pred(sd).HpaSpecs[0].Metrics[0].Type = sdepv1.PodsMetricSourceType },
			Problem{"spec.predictors[0].hpaSpecs[0].metrics[0].pods", "required: type is Pods"}},
		{"metric target missing", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).HpaSpecs[0].Metrics[0].Resource.TargetAverageUtilization = nil
		},
			Problem{"spec.predictors[0].hpaSpecs[0].metrics[0].resource", "set targetAverageUtilization or targetAverageValue"}},
		{"external target", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).HpaSpecs[0].Metrics = []sdepv1.MetricSpec{{Type: sdepv1.ExternalMetricSourceType, External: &sdepv1.ExternalMetricSource{MetricName: "q"}}}
		}, Problem{"spec.predictors[0].hpaSpecs[0].metrics[0].external", "set targetValue or targetAverageValue"}},
		{"v2 target type", func(sd *sdepv1.SeldonDeployment) {
			v1HPA(sd, &sdepv1.SeldonHpaSpec{MaxReplicas: 4, MetricsV2: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "rps"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](5)}}}}})
		}, Problem{"spec.predictors[0].componentSpecs[0].hpaSpec.metricsv2[0].pods.target.type", "Utilization applies to Resource and ContainerResource metrics only"}},
		{"behavior policy", func(sd *sdepv1.SeldonDeployment) {
			v1HPA(sd, &sdepv1.SeldonHpaSpec{MaxReplicas: 4, Metrics: []sdepv1.MetricSpec{cpuUtilization(10)},
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
					Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 0, PeriodSeconds: 15}}}}})
		}, Problem{"spec.predictors[0].componentSpecs[0].hpaSpec.behavior.scaleDown.policies[0].value", "0: must be greater than 0"}},
		{"behavior window", func(sd *sdepv1.SeldonDeployment) {
			v1HPA(sd, &sdepv1.SeldonHpaSpec{MaxReplicas: 4, Metrics: []sdepv1.MetricSpec{cpuUtilization(10)},
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](7200)}}})
		}, Problem{"spec.predictors[0].componentSpecs[0].hpaSpec.behavior.scaleUp.stabilizationWindowSeconds", "7200: must be between 0 and 3600"}},
		{"cpu request on every container", func(sd *sdepv1.SeldonDeployment) {
			addContainer(sd, corev1.Container{Name: "sidecar", Image: "busybox"})
		}, Problem{"spec.predictors[0].componentSpecs[0].spec.containers[1].resources.requests.cpu", `container "sidecar" has no cpu request`}},
		{"memory request for memory metric", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).HpaSpecs[0].Metrics[0].Resource.Name = corev1.ResourceMemory
		}, Problem{"spec.predictors[0].componentSpecs[0].spec.containers[0].resources.requests.memory", `container "classifier" has no memory request`}},
		{"executor cpu request", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).SvcOrchSpec = &sdepv1.SvcOrchSpec{Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse("1Gi")}}}
		}, Problem{"spec.predictors[0].svcOrchSpec.resources.requests.cpu", `the executor container "seldon-container-engine" that sdep adds to this pod has no cpu request`}},
		{"container resource names a container", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).HpaSpecs[0].Metrics[0] = sdepv1.MetricSpec{Type: sdepv1.ContainerResourceMetricSourceType,
				ContainerResource: &sdepv1.ContainerResourceMetricSource{Name: corev1.ResourceCPU, Container: "nope", TargetAverageUtilization: ptr.To[int32](10)}}
		}, Problem{"spec.predictors[0].hpaSpecs[0].metrics[0].containerResource.container", `"nope" is not a container of spec.predictors[0].componentSpecs[0]`}},
		// graph
		{"graph node name required", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Implementation: sdepv1.SimpleModel}}
		}, Problem{"spec.predictors[0].graph.children[0].name", "required"}},
		{"graph node names unique", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "classifier"}}
		}, Problem{"spec.predictors[0].graph.children[0].name", `"classifier" is also the name of spec.predictors[0].graph`}},
		{"graph node container", func(sd *sdepv1.SeldonDeployment) { pred(sd).Graph.Name = "classifer" },
			Problem{"spec.predictors[0].graph.name", `Can't find container for Predictive Unit "classifer"`}},
		{"graph node type", func(sd *sdepv1.SeldonDeployment) { pred(sd).Graph.Type = "MODELL" },
			Problem{"spec.predictors[0].graph.type", `"MODELL": use MODEL`}},
		{"unknown type needs methods", func(sd *sdepv1.SeldonDeployment) { pred(sd).Graph.Type = sdepv1.UnknownType },
			Problem{"spec.predictors[0].graph.type", "Predictive Unit has no implementation methods defined"}},
		{"graph node method", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).Graph.Methods = []sdepv1.PredictiveUnitMethod{"PREDICT"}
		}, Problem{"spec.predictors[0].graph.methods[0]", `"PREDICT": use TRANSFORM_INPUT`}},
		{"graph node implementation", func(sd *sdepv1.SeldonDeployment) { pred(sd).Graph.Implementation = "MAGIC" },
			Problem{"spec.predictors[0].graph.implementation", `"MAGIC": use a built-in`}},
		{"prepackaged needs modelUri", func(sd *sdepv1.SeldonDeployment) { pred(sd).Graph.Implementation = sdepv1.SKLearnServer },
			Problem{"spec.predictors[0].graph.modelUri", "Predictive unit modelUri required when using standalone servers"}},
		{"prepackaged tensorflow protocol", func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Protocol = sdepv1.ProtocolTensorflow
			pred(sd).Graph.Implementation = sdepv1.XGBoostServer
			pred(sd).Graph.ModelURI = "gs://m"
		}, Problem{"spec.predictors[0].graph.implementation", "Prepackaged server does not handle tensorflow protocol XGBOOST_SERVER"}},
		{"prepackaged without container", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "iris", Implementation: sdepv1.SKLearnServer, ModelURI: "gs://m"}}
		}, Problem{"spec.predictors[0].graph.children[0].implementation", `add a container named "iris"`}},
		{"logger mode", func(sd *sdepv1.SeldonDeployment) { pred(sd).Graph.Logger = &sdepv1.Logger{} },
			Problem{"spec.predictors[0].graph.logger.mode", "No logger mode specified"}},
		{"endpoint type", func(sd *sdepv1.SeldonDeployment) { pred(sd).Graph.Endpoint = &sdepv1.Endpoint{Type: "HTTP"} },
			Problem{"spec.predictors[0].graph.endpoint.type", `"HTTP": use REST or GRPC`}},
		{"one endpoint type", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).Graph.Endpoint = &sdepv1.Endpoint{Type: sdepv1.EndpointREST}
			pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "m2", Implementation: sdepv1.SimpleModel, Endpoint: &sdepv1.Endpoint{Type: sdepv1.EndpointGRPC}}}
		}, Problem{"spec.predictors[0].graph", "Multiple endpoint.types found - can only have 1 type in graph. Please use spec.transport"}},
		{"endpoint type against transport", func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Transport = sdepv1.TransportGrpc
			pred(sd).Graph.Endpoint = &sdepv1.Endpoint{Type: sdepv1.EndpointREST}
		}, Problem{"spec.predictors[0].graph.endpoint.type", "Mixed transport types found"}},
		{"parameter type", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).Graph.Parameters = []sdepv1.Parameter{{Name: "a", Value: "1", Type: "LONG"}}
		}, Problem{"spec.predictors[0].graph.parameters[0].type", `"LONG": use INT, FLOAT, DOUBLE, STRING or BOOL`}},
		{"parameter value", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).Graph.Parameters = []sdepv1.Parameter{{Name: "intValue", Value: "1.5", Type: sdepv1.ParameterInt}}
		}, Problem{"spec.predictors[0].graph.parameters[0].value", `"1.5" is not a valid INT`}},
		{"abtest children", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "ab", Implementation: sdepv1.RandomABTest}}
		}, Problem{"spec.predictors[0].graph.children[0].children", "RANDOM_ABTEST routes to one of exactly 2 children, it has 0"}},
		{"abtest needs ratioA", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "ab", Implementation: sdepv1.RandomABTest,
				Children: []sdepv1.PredictiveUnit{{Name: "a", Implementation: sdepv1.SimpleModel}, {Name: "b", Implementation: sdepv1.SimpleModel}}}}
		}, Problem{"spec.predictors[0].graph.children[0].parameters", "Parameter 'ratioA' is missing"}},
		{"abtest ratio", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).Graph.Children = []sdepv1.PredictiveUnit{{Name: "ab", Implementation: sdepv1.RandomABTest,
				Parameters: []sdepv1.Parameter{{Name: "ratioA", Value: "1.5", Type: sdepv1.ParameterFloat}},
				Children:   []sdepv1.PredictiveUnit{{Name: "a", Implementation: sdepv1.SimpleModel}, {Name: "b", Implementation: sdepv1.SimpleModel}}}}
		}, Problem{"spec.predictors[0].graph.children[0].parameters[0].value", "ratioA 1.5 is the share of requests for the first child"}},
		{"graph depth", func(sd *sdepv1.SeldonDeployment) {
			n := &pred(sd).Graph
			for i := 0; i < sdepv1.MaxGraphDepth; i++ {
				n.Children = []sdepv1.PredictiveUnit{{Name: "n" + strings.Repeat("x", i), Implementation: sdepv1.SimpleModel}}
				n = &n.Children[0]
			}
		}, Problem{"spec.predictors[0].graph" + strings.Repeat(".children[0]", sdepv1.MaxGraphDepth), "deeper than 32 levels"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd := base()
			tt.mutate(sd)
			res := Validate(sd, DefaultOptions())
			for _, p := range res.Errors {
				if p.Field == tt.want.Field && strings.Contains(p.Message, tt.want.Message) {
					return
				}
			}
			t.Errorf("want error %s: %s\ngot:\n%v", tt.want.Field, tt.want.Message, res.Errors)
		})
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	sd := base()
	sd.Spec.Protocol = "http"
	pred(sd).HpaSpecs[0].ScaleTargetRef.Name = "my-depp"
	pred(sd).Graph.Name = "classifer"
	res := Validate(sd, DefaultOptions())
	var fields []string
	for _, p := range res.Errors {
		fields = append(fields, p.Field)
	}
	want := []string{"spec.protocol", "spec.predictors[0].hpaSpecs[0].scaleTargetRef.name", "spec.predictors[0].graph.name"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("error fields (-want +got):\n%s", diff)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(sd *sdepv1.SeldonDeployment)
		field  string
	}{
		{"traffic across predictors", func(sd *sdepv1.SeldonDeployment) {
			p := *pred(sd).DeepCopy()
			p.Name, p.HpaSpecs = "b", nil
			p.ComponentSpecs[0].Metadata.Name = "other"
			sd.Spec.Predictors = append(sd.Spec.Predictors, p)
			sd.Spec.Predictors[0].Traffic, sd.Spec.Predictors[1].Traffic = 50, 50
		}, "spec.predictors[*].traffic"},
		{"shadow", func(sd *sdepv1.SeldonDeployment) {
			p := *pred(sd).DeepCopy()
			p.Name, p.Shadow, p.HpaSpecs = "s", true, nil
			sd.Spec.Predictors = append(sd.Spec.Predictors, p)
		}, "spec.predictors[1].shadow"},
		{"explainer", func(sd *sdepv1.SeldonDeployment) { pred(sd).Explainer = &sdepv1.Explainer{Type: "AnchorTabular"} }, "spec.predictors[0].explainer"},
		{"logger", func(sd *sdepv1.SeldonDeployment) { pred(sd).Graph.Logger = &sdepv1.Logger{Mode: sdepv1.LogAll} }, "spec.predictors[0].graph.logger"},
		{"protocol", func(sd *sdepv1.SeldonDeployment) { sd.Spec.Protocol = sdepv1.ProtocolV2 }, "spec.protocol"},
		{"kafka", func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.ServerType = sdepv1.ServerTypeKafka
			pred(sd).SvcOrchSpec = &sdepv1.SvcOrchSpec{Env: []corev1.EnvVar{{Name: "KAFKA_BROKER"}, {Name: "KAFKA_INPUT_TOPIC"}, {Name: "KAFKA_OUTPUT_TOPIC"}}}
		}, "spec.serverType"},
		{"ssl", func(sd *sdepv1.SeldonDeployment) { pred(sd).SSL = &sdepv1.SSL{CertSecretName: "tls"} }, "spec.predictors[0].ssl"},
		{"prepackaged", func(sd *sdepv1.SeldonDeployment) {
			pred(sd).Graph.Implementation, pred(sd).Graph.ModelURI = sdepv1.SKLearnServer, "gs://m"
		}, "spec.predictors[0].graph.implementation"},
		{"replicas ignored under hpa", func(sd *sdepv1.SeldonDeployment) { comp(sd).Replicas = ptr.To[int32](3) },
			"spec.predictors[0].componentSpecs[0].replicas"},
		{"metricsv2 ignored", func(sd *sdepv1.SeldonDeployment) {
			v1HPA(sd, &sdepv1.SeldonHpaSpec{MaxReplicas: 4, Metrics: []sdepv1.MetricSpec{cpuUtilization(10)},
				MetricsV2: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](20)}}}}})
		}, "spec.predictors[0].componentSpecs[0].hpaSpec.metricsv2"},
		{"componentSpec metadata", func(sd *sdepv1.SeldonDeployment) { comp(sd).Metadata.Namespace = "other" },
			"spec.predictors[0].componentSpecs[0].metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd := base()
			tt.mutate(sd)
			res := Validate(sd, DefaultOptions())
			if len(res.Errors) > 0 {
				t.Fatalf("a warning case must stay valid: %v", res.Errors)
			}
			for _, w := range res.Warnings {
				if w.Field == tt.field {
					return
				}
			}
			t.Errorf("want a warning on %s, got %v", tt.field, res.Warnings)
		})
	}
}

func TestValidateDoesNotModify(t *testing.T) {
	sd := base()
	before := sd.DeepCopy()
	Validate(sd, DefaultOptions())
	if diff := cmp.Diff(before, sd); diff != "" {
		t.Errorf("Validate changed its input:\n%s", diff)
	}
}
