package resources

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/labels"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
)

// twoNodeDoc is a predictor of two componentSpecs (model a in the first,
// model b in the second, a router r over both in the first); extra is
// spliced in at the SeldonDeployment's spec, predExtra at the predictor,
// csExtra at componentSpecs[0].
func twoNodeDoc(name, extra, predExtra, csExtra string) string {
	return `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: ` + name + `, namespace: ns}
spec:
` + extra + `
  predictors:
  - name: p
` + predExtra + `
    componentSpecs:
    - metadata: {name: first}
` + csExtra + `
      spec:
        containers:
        - {name: r, image: router:1, resources: {requests: {cpu: 100m}}}
        - {name: a, image: model-a:1, resources: {requests: {cpu: 100m}}}
    - metadata: {name: second}
      spec:
        containers:
        - {name: b, image: model-b:1}
    graph:
      name: r
      type: ROUTER
      children:
      - {name: a, type: MODEL}
      - {name: b, type: MODEL}
`
}

const toZeroHPA = `
      hpaSpec:
        minReplicas: 0
        maxReplicas: 5
        metricsv2:
        - type: Object
          object:
            metric: {name: seldon_requests_in_flight}
            describedObject: {apiVersion: apps/v1, kind: Deployment, name: first}
            target: {type: AverageValue, averageValue: "2"}`

// Each trigger gives the executor a Deployment of its own, and the graph
// is then wired through Services only; without one the executor stays in
// componentSpecs[0]'s pods.
func TestSeparateExecutorTriggers(t *testing.T) {
	tests := []struct {
		name, extra, predExtra, csExtra string
		separate                        bool
	}{
		{name: "none", separate: false},
		{name: "spec annotation", extra: `  annotations: {seldon.io/engine-separate-pod: "true"}`, separate: true},
		{name: "spec annotation false", extra: `  annotations: {seldon.io/engine-separate-pod: "false"}`, separate: false},
		{name: "predictor annotation", predExtra: `    annotations: {seldon.io/engine-separate-pod: "true"}`, separate: true},
		{name: "hpaSpec minReplicas 0", csExtra: toZeroHPA, separate: true},
		{name: "hpaSpec minReplicas 1", csExtra: strings.Replace(toZeroHPA, "minReplicas: 0", "minReplicas: 1", 1), separate: false},
		{name: "legacy hpaSpecs minReplicas 0", predExtra: `
    hpaSpecs:
    - scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: second}
      minReplicas: 0
      maxReplicas: 3
      metrics:
      - type: External
        external: {metricName: queue_depth, targetAverageValue: "5"}`, separate: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd := parse(t, twoNodeDoc("sd", tt.extra, tt.predExtra, tt.csExtra))
			res := validation.Validate(sd.DeepCopy())
			if len(res.Errors) > 0 {
				t.Fatalf("invalid test document: %v", res.Errors)
			}
			for _, w := range res.Warnings {
				if strings.Contains(w.Field, predictor.AnnotationEngineSeparatePod) {
					t.Errorf("warning about the annotation, which is acted on: %v", w)
				}
			}
			built := mustBuild(t, sd)
			p := &built.SeldonDeployment.Spec.Predictors[0]
			if got := predictor.ExecutorComponent(built.SeldonDeployment, p) < 0; got != tt.separate {
				t.Fatalf("ExecutorComponent separate = %v, want %v", got, tt.separate)
			}
			byName := map[string]*appsv1.Deployment{}
			var withExecutor []string
			for _, d := range built.Deployments {
				byName[d.Name] = d
				if findContainer(d, validation.ExecutorContainerName) != nil {
					withExecutor = append(withExecutor, d.Name)
				}
			}
			first, second := byName["sd-p-0-first"], byName["sd-p-1-second"]
			orch := byName["sd-p-svc-orch"]
			if first == nil || second == nil {
				t.Fatalf("Deployments %v lack the componentSpecs'", withExecutor)
			}
			wantHost := "sd-p-a.ns.svc.cluster.local" // node a, in componentSpecs[0]
			wantExecutorIn := "sd-p-0-first"
			if tt.separate {
				wantExecutorIn = "sd-p-svc-orch"
				if orch == nil {
					t.Fatal("no Deployment sd-p-svc-orch")
				}
				if len(built.Deployments) != 3 || built.Deployments[2] != orch {
					t.Errorf("the executor's Deployment is not third of %d (after the componentSpecs')", len(built.Deployments))
				}
			} else {
				wantHost = "localhost"
				if orch != nil {
					t.Fatal("a Deployment sd-p-svc-orch without a trigger")
				}
			}
			if len(withExecutor) != 1 || withExecutor[0] != wantExecutorIn {
				t.Fatalf("executor in %v, want only in %s", withExecutor, wantExecutorIn)
			}
			executorPod := byName[wantExecutorIn]

			// The predictor Service selects the executor's pods and no other.
			var svc = built.Services[0]
			if svc.Name != "sd-p" {
				t.Fatalf("first Service %q, want the predictor's", svc.Name)
			}
			sel := labels.SelectorFromSet(svc.Spec.Selector)
			for _, d := range built.Deployments {
				got := sel.Matches(labels.Set(d.Spec.Template.Labels))
				if want := d == executorPod; got != want {
					t.Errorf("predictor Service selects %s's pods: %v, want %v", d.Name, got, want)
				}
				hasLabel := d.Labels[naming.LabelContainsSvcOrch] == "true"
				if want := d == executorPod; hasLabel != want {
					t.Errorf("%s labelled %s: %v, want %v", d.Name, naming.LabelContainsSvcOrch, hasLabel, want)
				}
			}

			// Every graph container has a Service selecting its pods, those
			// of componentSpecs[0] included.
			services := map[string]bool{}
			for _, s := range built.Services {
				services[s.Name] = true
				if s.Name == "sd-p" {
					continue
				}
				sel := labels.SelectorFromSet(s.Spec.Selector)
				n := 0
				for _, d := range built.Deployments {
					if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("Service %s selects the pods of %d Deployments, want 1", s.Name, n)
				}
			}
			for _, c := range []string{"r", "a", "b"} {
				if !services["sd-p-"+c] {
					t.Errorf("no Service sd-p-%s", c)
				}
			}

			// The executor reaches node a on localhost only beside it.
			engine := decodeEngine(t, executorPod)
			if got := engine.Graph.Children[0].Endpoint.ServiceHost; got != wantHost {
				t.Errorf("node a host %q, want %q", got, wantHost)
			}
			if got := engine.Graph.Children[1].Endpoint.ServiceHost; got != "sd-p-b.ns.svc.cluster.local" {
				t.Errorf("node b host %q", got)
			}
			for _, h := range built.HPAs {
				if h.Spec.ScaleTargetRef.Name == "sd-p-svc-orch" {
					t.Error("an HPA aims at the executor's Deployment")
				}
			}
			// The build record: the executor's payload only on its Deployment.
			for _, c := range built.Components {
				if has := c.EnginePredictor != ""; has != (c.Deployment == executorPod) {
					t.Errorf("component %s EnginePredictor set %v", c.Name, has)
				}
				if c.Deployment == orch && (c.ComponentSpec != -1 || c.Replicas.Autoscaled()) {
					t.Errorf("executor record %+v", c)
				}
			}
		})
	}
}

func decodeEngine(t *testing.T, d *appsv1.Deployment) sdepv1.PredictorSpec {
	t.Helper()
	c := findContainer(d, validation.ExecutorContainerName)
	if c == nil {
		t.Fatalf("no executor in %s", d.Name)
	}
	raw, err := base64.StdEncoding.DecodeString(envMap(*c)[EnvEnginePredictor])
	if err != nil {
		t.Fatal(err)
	}
	var p sdepv1.PredictorSpec
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// The executor's own Deployment takes svcOrchSpec.replicas, then the
// predictor's, then spec.replicas, else 1; the componentSpecs keep theirs.
func TestSeparateExecutorReplicas(t *testing.T) {
	sep := `  annotations: {seldon.io/engine-separate-pod: "true"}`
	tests := []struct {
		name, extra, predExtra string
		want                   int32
	}{
		{"default", sep, "", 1},
		{"spec", sep + "\n  replicas: 4", "", 4},
		{"predictor", sep + "\n  replicas: 4", "    replicas: 3", 3},
		{"svcOrchSpec", sep + "\n  replicas: 4", "    replicas: 3\n    svcOrchSpec: {replicas: 2}", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd := parse(t, twoNodeDoc("sd", tt.extra, tt.predExtra, ""))
			res := validation.Validate(sd.DeepCopy())
			if len(res.Errors) > 0 {
				t.Fatal(res.Errors)
			}
			for _, w := range res.Warnings {
				if strings.Contains(w.Field, "svcOrchSpec.replicas") {
					t.Errorf("svcOrchSpec.replicas is acted on, yet warned about: %v", w)
				}
			}
			built := mustBuild(t, sd)
			var orch *appsv1.Deployment
			for _, d := range built.Deployments {
				if d.Name == "sd-p-svc-orch" {
					orch = d
				}
			}
			if orch == nil || orch.Spec.Replicas == nil || *orch.Spec.Replicas != tt.want {
				t.Fatalf("svc-orch replicas %v, want %d", orch, tt.want)
			}
		})
	}
	// Beside componentSpecs[0], svcOrchSpec.replicas is not acted on, and the
	// warning names the annotation that would act on it.
	sd := parse(t, twoNodeDoc("sd", "", "    svcOrchSpec: {replicas: 2}", ""))
	warned := false
	for _, w := range validation.Validate(sd).Warnings {
		warned = warned || (strings.Contains(w.Field, "svcOrchSpec.replicas") && strings.Contains(w.Message, predictor.AnnotationEngineSeparatePod))
	}
	if !warned {
		t.Error("no warning naming seldon.io/engine-separate-pod for svcOrchSpec.replicas beside componentSpecs[0]")
	}
}

// A long name is hashed as every other object name is.
func TestSeparateExecutorLongName(t *testing.T) {
	long := strings.Repeat("x", 60)
	sd := parse(t, twoNodeDoc(long, `  annotations: {seldon.io/engine-separate-pod: "true"}`, "", ""))
	built := mustBuild(t, sd)
	want := naming.Fit(long + "-p-svc-orch")
	if len(want) > naming.MaxNameLength || want == long+"-p-svc-orch" {
		t.Fatalf("naming.Fit(%q) = %q: not hashed", long+"-p-svc-orch", want)
	}
	found := false
	for _, d := range built.Deployments {
		found = found || (d.Name == want && findContainer(d, validation.ExecutorContainerName) != nil)
	}
	if !found || ExecutorDeploymentName(built.SeldonDeployment, &built.SeldonDeployment.Spec.Predictors[0]) != want {
		t.Errorf("no executor Deployment %q", want)
	}
}

// minReplicas 0: the HPA is rendered with 1, the Deployment with 0
// replicas, the policy says so, and the executor is told which component
// scales to zero (and nothing else of its hpaSpec).
func TestScaleToZeroRendering(t *testing.T) {
	sd := decodeFile(t, "../../examples/requests-to-zero.json")[0]
	if res := validation.Validate(sd.DeepCopy()); len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	built := mustBuild(t, sd)
	if sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.MinReplicas == nil || *sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.MinReplicas != 0 {
		t.Fatal("Build changed the document's minReplicas")
	}
	if len(built.HPAs) != 1 {
		t.Fatalf("%d HPAs", len(built.HPAs))
	}
	h := built.HPAs[0]
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 1 || h.Spec.MaxReplicas != 10 {
		t.Errorf("HPA bounds %s..%d, want 1..10", strconvPtr(h.Spec.MinReplicas), h.Spec.MaxReplicas)
	}
	if got := built.SeldonDeployment.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.MinReplicas; got == nil || *got != 0 {
		t.Errorf("the defaulted document's minReplicas %v, want 0 kept", got)
	}
	var comp, orch *Component
	for i := range built.Components {
		switch c := &built.Components[i]; c.ComponentSpec {
		case 0:
			comp = c
		case -1:
			orch = c
		}
	}
	if comp == nil || orch == nil {
		t.Fatalf("components %+v", built.Components)
	}
	if comp.Deployment.Name != h.Spec.ScaleTargetRef.Name || comp.Deployment.Name != "requests-to-zero-default-0-my-dep" {
		t.Errorf("HPA aims at %q, component Deployment %q", h.Spec.ScaleTargetRef.Name, comp.Deployment.Name)
	}
	if r := comp.Deployment.Spec.Replicas; r == nil || *r != 0 {
		t.Errorf("component Deployment replicas %v, want 0", r)
	}
	rp := comp.Replicas
	if !rp.ToZero || rp.AutoscaledBy != KindHPA || rp.Min != 0 || rp.Max != 10 || rp.Initial() != 0 {
		t.Errorf("policy %+v (initial %d)", rp, rp.Initial())
	}
	if rp.Updated() != nil {
		t.Errorf("Updated() = %d, want nil: no write to an existing Deployment carries replicas", *rp.Updated())
	}
	if findContainer(comp.Deployment, validation.ExecutorContainerName) != nil {
		t.Error("the executor runs in the pods that scale to zero")
	}
	if orch.Deployment.Name != "requests-to-zero-default-svc-orch" || orch.Replicas.Initial() != 1 {
		t.Errorf("executor Deployment %s, replicas %d", orch.Deployment.Name, orch.Replicas.Initial())
	}
	engine := decodeEngine(t, orch.Deployment)
	hs := engine.ComponentSpecs[0].HpaSpec
	if hs == nil || hs.MinReplicas == nil || *hs.MinReplicas != 0 || hs.MaxReplicas != 0 || len(hs.MetricsV2) != 0 {
		t.Errorf("ENGINE_PREDICTOR hpaSpec %+v, want only minReplicas 0", hs)
	}
	if got := engine.Graph.Endpoint.ServiceHost; got != "requests-to-zero-default-classifier.default.svc.cluster.local" {
		t.Errorf("classifier host %q", got)
	}
}

// Editing the scaling bounds of a component that scales to zero changes
// neither pod template (no roll); moving minReplicas between 0 and 1 does
// change the executor's, which must know.
func TestScaleToZeroEnginePredictorStability(t *testing.T) {
	build := func(minR, maxR string) map[string]string {
		doc := strings.Replace(strings.Replace(toZeroHPA, "minReplicas: 0", "minReplicas: "+minR, 1), "maxReplicas: 5", "maxReplicas: "+maxR, 1)
		sd := parse(t, twoNodeDoc("sd", `  annotations: {seldon.io/engine-separate-pod: "true"}`, "", doc))
		out := map[string]string{}
		for _, d := range mustBuild(t, sd).Deployments {
			tmpl, err := json.Marshal(d.Spec.Template)
			if err != nil {
				t.Fatal(err)
			}
			out[d.Name] = string(tmpl)
		}
		return out
	}
	a, b, c := build("0", "5"), build("0", "9"), build("1", "5")
	for name := range a {
		if a[name] != b[name] {
			t.Errorf("%s: maxReplicas changed the pod template", name)
		}
	}
	if a["sd-p-svc-orch"] == c["sd-p-svc-orch"] {
		t.Error("minReplicas 0 -> 1 left the executor's ENGINE_PREDICTOR as it was")
	}
}

func strconvPtr(v *int32) string {
	if v == nil {
		return "unset"
	}
	return strconv.Itoa(int(*v))
}

func TestHPAMinReplicas(t *testing.T) {
	for _, tt := range []struct {
		in   *int32
		want int32
	}{{nil, 1}, {new(int32(0)), 1}, {new(int32(1)), 1}, {new(int32(3)), 3}} {
		if got := HPAMinReplicas(tt.in); got != tt.want {
			t.Errorf("HPAMinReplicas(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
	if hpaMin(nil) != nil {
		t.Error("hpaMin(nil) is set: an unset minReplicas must stay unset")
	}
}
