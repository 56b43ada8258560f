package resources

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
	"github.com/sdep-dev/sdep/internal/version"
)

// parse decodes one SeldonDeployment from YAML or JSON, failing the test on
// any error.
func parse(t testing.TB, doc string) *sdepv1.SeldonDeployment {
	t.Helper()
	docs, err := decode.Documents("test", []byte(doc))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(docs) != 1 {
		t.Fatalf("got %d documents, want 1", len(docs))
	}
	return docs[0].Object
}

func mustBuild(t testing.TB, sd *sdepv1.SeldonDeployment) *Result {
	t.Helper()
	objs, err := Build(sd, testOptions())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return objs
}

func seed(t testing.TB) *sdepv1.SeldonDeployment {
	t.Helper()
	return decodeFile(t, "../../examples/seed-hpaspecs.json")[0]
}

// TestSeed checks what issue 2 promises for the founding document, as
// written: one Deployment without replicas, aimed at by exactly one
// autoscaling/v2 HPA (min 1, max 4, cpu utilisation 10), every container of
// its pod with a cpu request, and upstream's Service names.
func TestSeed(t *testing.T) {
	objs := mustBuild(t, seed(t))

	if len(objs.Deployments) != 1 {
		t.Fatalf("got %d Deployments, want 1", len(objs.Deployments))
	}
	d := objs.Deployments[0]
	if d.Name != "seldon-model-example-0-my-dep" {
		t.Errorf("Deployment name = %q, want seldon-model-example-0-my-dep", d.Name)
	}
	if d.APIVersion != "apps/v1" || d.Kind != "Deployment" {
		t.Errorf("Deployment is %s %s, want apps/v1 Deployment", d.APIVersion, d.Kind)
	}
	if d.Spec.Replicas != nil {
		t.Errorf("Deployment spec.replicas = %d, want unset: the HPA owns it", *d.Spec.Replicas)
	}

	if len(objs.HPAs) != 1 {
		t.Fatalf("got %d HPAs, want 1", len(objs.HPAs))
	}
	h := objs.HPAs[0]
	if h.APIVersion != "autoscaling/v2" || h.Kind != "HorizontalPodAutoscaler" {
		t.Errorf("HPA is %s %s, want autoscaling/v2 HorizontalPodAutoscaler", h.APIVersion, h.Kind)
	}
	if h.Name != d.Name {
		t.Errorf("HPA name = %q, want the Deployment's %q", h.Name, d.Name)
	}
	wantRef := autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name}
	if diff := cmp.Diff(wantRef, h.Spec.ScaleTargetRef); diff != "" {
		t.Errorf("HPA scaleTargetRef (-want +got):\n%s", diff)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 1 || h.Spec.MaxReplicas != 4 {
		t.Errorf("HPA bounds = %v..%d, want 1..4", h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	wantMetrics := []autoscalingv2.MetricSpec{{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{
			Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(10)),
		}},
	}}
	if diff := cmp.Diff(wantMetrics, h.Spec.Metrics); diff != "" {
		t.Errorf("HPA metrics (-want +got):\n%s", diff)
	}
	if h.Labels[naming.LabelSeldonID] != "seldon-model" {
		t.Errorf("HPA labels = %v, want seldon-deployment-id: seldon-model", h.Labels)
	}

	containers := d.Spec.Template.Spec.Containers
	var names []string
	for _, c := range containers {
		names = append(names, c.Name)
		if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
			t.Errorf("container %q has no cpu request: the HPA could not compute utilisation", c.Name)
		}
	}
	if diff := cmp.Diff([]string{"classifier", validation.ExecutorContainerName}, names); diff != "" {
		t.Errorf("pod containers (-want +got):\n%s", diff)
	}

	var services []string
	for _, s := range objs.Services {
		services = append(services, s.Name)
	}
	if diff := cmp.Diff([]string{"seldon-model-example", "seldon-model-example-classifier"}, services); diff != "" {
		t.Errorf("Services (-want +got):\n%s", diff)
	}
	if len(objs.PDBs)+len(objs.ScaledObjects) != 0 {
		t.Errorf("got %d PDBs and %d ScaledObjects, want none", len(objs.PDBs), len(objs.ScaledObjects))
	}
}

// podTemplates renders the pod template of every Deployment.
func podTemplates(t *testing.T, sd *sdepv1.SeldonDeployment) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range mustBuild(t, sd).Deployments {
		y, err := yaml.Marshal(d.Spec.Template)
		if err != nil {
			t.Fatal(err)
		}
		out[d.Name] = string(y)
	}
	return out
}

// TestPodTemplatesIgnoreScaling: editing autoscaling bounds, metrics or
// behavior, replicas at any level, or traffic must not change any pod
// template, or every such edit would roll all pods.
func TestPodTemplatesIgnoreScaling(t *testing.T) {
	const twoPredictors = "testdata/two-predictors-traffic.yaml"
	tests := []struct {
		name   string
		input  string
		change func(sd *sdepv1.SeldonDeployment)
	}{
		{"seed: legacy hpaSpecs bounds", "../../examples/seed-hpaspecs.json", func(sd *sdepv1.SeldonDeployment) {
			h := &sd.Spec.Predictors[0].HpaSpecs[0]
			h.MinReplicas, h.MaxReplicas = new(int32(3)), 40
		}},
		{"seed: legacy hpaSpecs metric", "../../examples/seed-hpaspecs.json", func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[0].HpaSpecs[0].Metrics[0].Resource.TargetAverageUtilization = new(int32(80))
		}},
		{"seed: hpaSpecs removed", "../../examples/seed-hpaspecs.json", func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[0].HpaSpecs = nil
		}},
		{"seed: predictor replicas", "../../examples/seed-hpaspecs.json", func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[0].Replicas = new(int32(7))
		}},
		{"v1: hpaSpec bounds", "../../examples/seed-v1.yaml", func(sd *sdepv1.SeldonDeployment) {
			h := sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec
			h.MinReplicas, h.MaxReplicas = new(int32(2)), 20
		}},
		{"v1: hpaSpec metricsv2", "../../examples/seed-v1.yaml", func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.MetricsV2[0].Resource.Target.AverageUtilization = new(int32(50))
		}},
		{"v1: hpaSpec v2beta1 metrics added", "../../examples/seed-v1.yaml", func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.Metrics = []sdepv1.MetricSpec{{
				Type: sdepv1.ResourceMetricSourceType, Resource: &sdepv1.ResourceMetricSource{Name: "cpu", TargetAverageUtilization: new(int32(30))},
			}}
		}},
		{"v1: hpaSpec behavior", "../../examples/seed-v1.yaml", func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.Behavior.ScaleDown.StabilizationWindowSeconds = new(int32(600))
		}},
		{"v1: hpaSpec replaced by kedaSpec and pdbSpec", "../../examples/seed-v1.yaml", func(sd *sdepv1.SeldonDeployment) {
			cs := &sd.Spec.Predictors[0].ComponentSpecs[0]
			cs.HpaSpec = nil
			cs.KedaSpec = &sdepv1.SeldonScaledObjectSpec{Triggers: []sdepv1.KedaScaleTrigger{{Type: "cpu", Metadata: map[string]string{"value": "50"}}}}
			cs.PdbSpec = &sdepv1.SeldonPdbSpec{MaxUnavailable: new(intOrString("1"))}
		}},
		{"v1: hpaSpec removed, componentSpec replicas", "../../examples/seed-v1.yaml", func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec = nil
			sd.Spec.Predictors[0].ComponentSpecs[0].Replicas = new(int32(5))
		}},
		{"traffic", twoPredictors, func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[0].Traffic, sd.Spec.Predictors[1].Traffic = 10, 90
		}},
		{"spec replicas", twoPredictors, func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Replicas = new(int32(9))
		}},
		{"predictor replicas", twoPredictors, func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[0].Replicas = nil
			sd.Spec.Predictors[1].Replicas = new(int32(4))
		}},
		{"componentSpec replicas", twoPredictors, func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[1].ComponentSpecs[0].Replicas = new(int32(6))
		}},
		{"svcOrchSpec replicas", twoPredictors, func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[0].SvcOrchSpec = &sdepv1.SvcOrchSpec{Replicas: new(int32(2))}
			sd.Spec.Predictors[1].SvcOrchSpec.Replicas = new(int32(2))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := decodeFile(t, tt.input)[0]
			changed := base.DeepCopy()
			tt.change(changed)
			before, after := podTemplates(t, base), podTemplates(t, changed)
			if len(before) == 0 {
				t.Fatal("no pod templates to compare")
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("pod templates changed (-before +after):\n%s", diff)
			}
		})
	}
}

// TestPodTemplatesFollowPodChanges is the control for
// TestPodTemplatesIgnoreScaling: a change that must reach the pods does.
func TestPodTemplatesFollowPodChanges(t *testing.T) {
	for name, change := range map[string]func(*sdepv1.SeldonDeployment){
		"image": func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[0].ComponentSpecs[0].Spec.Containers[0].Image = "seldonio/mock_classifier:1.1"
		},
		"graph parameter": func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[0].Graph.Parameters = []sdepv1.Parameter{{Name: "x", Value: "1", Type: "INT"}}
		},
		"executor resources": func(sd *sdepv1.SeldonDeployment) {
			sd.Spec.Predictors[0].SvcOrchSpec = &sdepv1.SvcOrchSpec{Resources: &corev1.ResourceRequirements{}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			base := seed(t)
			changed := base.DeepCopy()
			change(changed)
			if cmp.Equal(podTemplates(t, base), podTemplates(t, changed)) {
				t.Error("pod template did not change")
			}
		})
	}
}

// TestBuildDeterministic builds every golden input twice, and once more
// from a copy, and wants identical objects and YAML each time.
func TestBuildDeterministic(t *testing.T) {
	for name, input := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			for _, sd := range decodeFile(t, input) {
				first, second := mustBuild(t, sd), mustBuild(t, sd.DeepCopy())
				if diff := cmp.Diff(first, second); diff != "" {
					t.Fatalf("second Build differs (-first +second):\n%s", diff)
				}
				y1, err1 := first.YAML()
				y2, err2 := mustBuild(t, sd).YAML()
				if err1 != nil || err2 != nil {
					t.Fatalf("YAML: %v, %v", err1, err2)
				}
				if !bytes.Equal(y1, y2) {
					t.Fatal("rendering twice gave different YAML")
				}
			}
		})
	}
}

// TestBuildLeavesInputAlone: Build defaults a copy, never the caller's object.
func TestBuildLeavesInputAlone(t *testing.T) {
	sd := seed(t)
	before := sd.DeepCopy()
	mustBuild(t, sd)
	if diff := cmp.Diff(before, sd); diff != "" {
		t.Errorf("Build changed its input (-before +after):\n%s", diff)
	}
}

func TestBuildOwnerReferences(t *testing.T) {
	sd := parse(t, routerCombinerWithKedaAndPDB)

	for _, obj := range mustBuild(t, sd).All() {
		if refs := obj.GetOwnerReferences(); len(refs) != 0 {
			t.Errorf("%s %s: owner references %v without a UID, want none", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), refs)
		}
	}

	sd.UID = types.UID("0c3a5a3e-2f8c-4a4e-9d38-6f1c4a7b9e10")
	all := mustBuild(t, sd).All()
	if len(all) < 5 {
		t.Fatalf("got %d objects, want every kind", len(all))
	}
	for _, obj := range all {
		refs := obj.GetOwnerReferences()
		if len(refs) != 1 {
			t.Errorf("%s %s: %d owner references, want 1", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), len(refs))
			continue
		}
		r := refs[0]
		if r.APIVersion != "machinelearning.seldon.io/v1" || r.Kind != "SeldonDeployment" || r.Name != sd.Name || r.UID != sd.UID ||
			r.Controller == nil || !*r.Controller || r.BlockOwnerDeletion == nil || !*r.BlockOwnerDeletion {
			t.Errorf("%s %s: owner reference %+v, want the SeldonDeployment as controller", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), r)
		}
	}
}

const routerCombinerWithKedaAndPDB = `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: owned, namespace: ns}
spec:
  predictors:
  - name: p
    componentSpecs:
    - spec:
        containers: [{name: router, image: r:1}]
      pdbSpec: {minAvailable: 1}
    - spec:
        containers: [{name: model, image: m:1, resources: {requests: {cpu: 100m}}}]
      hpaSpec: {maxReplicas: 3}
    - spec:
        containers: [{name: other, image: o:1}]
      kedaSpec:
        triggers: [{type: cpu, metadata: {value: "50"}}]
    graph:
      name: router
      type: ROUTER
      children: [{name: model}, {name: other}]
`

func TestBuildErrors(t *testing.T) {
	collision := parse(t, `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: sd}
spec:
  predictors:
  - name: a-0-b
    componentSpecs: [{metadata: {name: c}, spec: {containers: [{name: first, image: "first:1"}]}}]
    graph: {name: first}
  - name: a
    componentSpecs: [{metadata: {name: b-0-c}, spec: {containers: [{name: second, image: "second:1"}]}}]
    graph: {name: second}
`)
	tests := []struct {
		name string
		sd   *sdepv1.SeldonDeployment
		want string
	}{
		{"nil", nil, "no SeldonDeployment"},
		{"no name", &sdepv1.SeldonDeployment{}, "metadata.name: required"},
		{"two Deployments with one name", collision, `two objects would be the Deployment "sd-a-0-b-0-c"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Build(tt.sd, testOptions())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build error = %v, want it to contain %q", err, tt.want)
			}
			if objs != nil {
				t.Errorf("Build returned objects with an error")
			}
		})
	}
}

// TestBuildWarnOnlyFields: fields validation only warns about build nothing
// of their own and break nothing; the executor stays in componentSpecs[0].
func TestBuildWarnOnlyFields(t *testing.T) {
	sd := parse(t, `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: warned}
spec:
  protocol: v2
  serverType: kafka
  predictors:
  - name: main
    traffic: 60
    annotations: {seldon.io/no-engine: "true"}
    ssl: {certSecretName: tls}
    explainer: {type: AnchorTabular, modelUri: gs://bucket/explainer}
    svcOrchSpec:
      env: [{name: KAFKA_BROKER, value: b}, {name: KAFKA_INPUT_TOPIC, value: i}, {name: KAFKA_OUTPUT_TOPIC, value: o}]
    componentSpecs:
    - spec:
        containers: [{name: model, image: m:1}]
    graph:
      name: model
      logger: {mode: all, url: http://logger}
  - name: shadow
    shadow: true
    graph:
      name: sk
      implementation: SKLEARN_SERVER
      modelUri: gs://bucket/model
`)
	objs := mustBuild(t, sd)
	var deployments []string
	for _, d := range objs.Deployments {
		deployments = append(deployments, d.Name)
	}
	if diff := cmp.Diff([]string{"warned-main-0-model", "warned-main-explainer", "warned-shadow-0-sk"}, deployments); diff != "" {
		t.Errorf("Deployments (-want +got):\n%s", diff)
	}
	if c := findContainer(objs.Deployments[0], validation.ExecutorContainerName); c == nil {
		t.Error("no executor in componentSpecs[0]'s pods")
	} else if !contains(c.Args, "--protocol=v2") {
		t.Errorf("executor args %v lack --protocol=v2", c.Args)
	}
	if objs.Deployments[2].Spec.Template.Labels[LabelShadow] != "true" {
		t.Errorf("shadow predictor's pods lack %s", LabelShadow)
	}
	if _, err := objs.YAML(); err != nil {
		t.Errorf("YAML: %v", err)
	}
}

func TestDefaultOptions(t *testing.T) {
	o := DefaultOptions()
	if o.ExecutorImage != version.Image() || o.ExecutorPullPolicy != corev1.PullIfNotPresent {
		t.Errorf("DefaultOptions() = %+v, want image %s, IfNotPresent", o, version.Image())
	}
	if diff := cmp.Diff(o, Options{}.complete()); diff != "" {
		t.Errorf("the zero Options do not complete to DefaultOptions (-want +got):\n%s", diff)
	}
	custom := Options{ExecutorImage: "registry.example.com/sdep:1", Predictor: predictor.Options{ExecutorHTTPPort: 8080}}.complete()
	if custom.ExecutorImage != "registry.example.com/sdep:1" || custom.Predictor.ExecutorHTTPPort != 8080 || custom.Predictor.ExecutorGRPCPort != 5001 {
		t.Errorf("complete() = %+v, want the set fields kept and the others defaulted", custom)
	}
}

// TestYAML: the stream kubectl apply reads has one document per object,
// each with apiVersion and kind and no status or null timestamps.
func TestYAML(t *testing.T) {
	objs := mustBuild(t, parse(t, routerCombinerWithKedaAndPDB))
	out, err := objs.YAML()
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(strings.TrimPrefix(string(out), "---\n"), "---\n")
	all := objs.All()
	if len(docs) != len(all) {
		t.Fatalf("got %d documents, want %d", len(docs), len(all))
	}
	for i, doc := range docs {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		gvk := all[i].GetObjectKind().GroupVersionKind()
		if m["apiVersion"] != gvk.GroupVersion().String() || m["kind"] != gvk.Kind || m["apiVersion"] == "" || m["kind"] == "" {
			t.Errorf("document %d: apiVersion %v kind %v, want %s", i, m["apiVersion"], m["kind"], gvk)
		}
		if _, ok := m["status"]; ok {
			t.Errorf("document %d (%s) has a status", i, gvk.Kind)
		}
		if strings.Contains(doc, "creationTimestamp") || strings.Contains(doc, "null") {
			t.Errorf("document %d (%s) has null noise:\n%s", i, gvk.Kind, doc)
		}
	}
}

func findContainer(d *appsv1.Deployment, name string) *corev1.Container {
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == name {
			return &d.Spec.Template.Spec.Containers[i]
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func intOrString(s string) intstr.IntOrString { return intstr.Parse(s) }

// Build's record carries the executor's ENGINE_PREDICTOR for the pod that
// runs the executor, and none for the others.
func TestBuildRecordsTheEnginePredictor(t *testing.T) {
	sd := seed(t)
	sd.Spec.Predictors[0].ComponentSpecs = append(sd.Spec.Predictors[0].ComponentSpecs, *sd.Spec.Predictors[0].ComponentSpecs[0].DeepCopy())
	second := &sd.Spec.Predictors[0].ComponentSpecs[1]
	second.Metadata.Name = "other"
	second.Spec.Containers[0].Name = "other-model"
	built := mustBuild(t, sd)
	if len(built.Components) != 2 {
		t.Fatalf("%d components, want 2", len(built.Components))
	}
	want, err := EnginePredictor(&built.SeldonDeployment.Spec.Predictors[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := built.Components[0].EnginePredictor; got == "" || got != want {
		t.Errorf("componentSpecs[0] payload %.40q…, want %.40q…", got, want)
	}
	if got := built.Components[1].EnginePredictor; got != "" {
		t.Errorf("componentSpecs[1] runs no executor but has payload %.40q…", got)
	}
}
