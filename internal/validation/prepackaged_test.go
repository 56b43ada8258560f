package validation_test

import (
	"strings"
	"testing"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
)

func decodeOne(t *testing.T, doc string) *sdepv1.SeldonDeployment {
	t.Helper()
	docs, err := decode.Documents("doc.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return docs[0].Object
}

// What upstream accepts: an UNKNOWN_TYPE node with a built-in
// implementation, and an empty componentSpec (left out by defaulting).
func TestUpstreamAccepts(t *testing.T) {
	sd := decodeOne(t, `apiVersion: machinelearning.seldon.io/v1alpha2
kind: SeldonDeployment
metadata: {name: ab}
spec:
  predictors:
  - name: p
    componentSpecs:
    - spec: {containers: []}
    - spec:
        containers:
        - {name: a, image: example/a:1}
        - {name: b, image: example/b:1}
    graph:
      name: ab
      type: UNKNOWN_TYPE
      implementation: RANDOM_ABTEST
      parameters: [{name: ratioA, type: FLOAT, value: "0.5"}]
      children: [{name: a, type: MODEL}, {name: b, type: MODEL}]
`)
	res := validation.Validate(sd)
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].Field != "spec.predictors[0].componentSpecs[0].spec.containers" {
		t.Errorf("warnings %v: want one about the empty componentSpec", res.Warnings)
	}
	validation.Default(sd, predictor.DefaultOptions())
	p := sd.Spec.Predictors[0]
	if len(p.ComponentSpecs) != 1 || len(p.ComponentSpecs[0].Spec.Containers) != 2 {
		t.Fatalf("componentSpecs after Default: %+v, want the empty one dropped", p.ComponentSpecs)
	}
	if p.Graph.Children[0].Endpoint == nil || p.Graph.Children[0].Endpoint.ServiceHost != "localhost" {
		t.Errorf("child a endpoint %+v: want it in the executor's pod", p.Graph.Children[0].Endpoint)
	}

	sd.Spec.Predictors[0].Graph.Implementation = ""
	if err := validation.Validate(sd).Err(); err == nil {
		t.Error("an UNKNOWN_TYPE node left to a container must say its methods")
	}
}

// Defaulting gives a server node without a container one of its name, in
// componentSpecs[0] when there is one, after the user's containers.
func TestServerContainersAppended(t *testing.T) {
	sd := decodeOne(t, `apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: s}
spec:
  predictors:
  - name: p
    componentSpecs:
    - spec: {containers: [{name: input, image: example/t:1}]}
    graph:
      name: input
      type: TRANSFORMER
      children:
      - {name: iris, implementation: SKLEARN_SERVER, modelUri: 'gs://b/iris'}
`)
	if err := validation.Validate(sd).Err(); err != nil {
		t.Fatal(err)
	}
	validation.Default(sd, predictor.DefaultOptions())
	cs := sd.Spec.Predictors[0].ComponentSpecs
	if len(cs) != 1 || len(cs[0].Spec.Containers) != 2 || cs[0].Spec.Containers[1].Name != "iris" {
		t.Fatalf("componentSpecs %+v: want iris appended to the first", cs)
	}
	iris := sd.Spec.Predictors[0].Graph.Children[0]
	if iris.Type != sdepv1.Model || iris.Endpoint == nil || iris.Endpoint.ServicePort != 9001 {
		t.Errorf("iris %+v: want a MODEL on the second port", iris)
	}
	before := sd.DeepCopy()
	validation.Default(sd, predictor.DefaultOptions())
	if len(sd.Spec.Predictors[0].ComponentSpecs[0].Spec.Containers) != len(before.Spec.Predictors[0].ComponentSpecs[0].Spec.Containers) {
		t.Error("Default is not idempotent: the server container was added twice")
	}
}

// A cpu HPA on a pod with a server container the user wrote without a cpu
// request is valid: the builders give server containers one.
func TestCPUHPAOnServerContainer(t *testing.T) {
	doc := `apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: s}
spec:
  protocol: tensorflow
  predictors:
  - name: p
    svcOrchSpec: {resources: {requests: {cpu: 100m}}}
    componentSpecs:
    - hpaSpec: {maxReplicas: 3, metrics: [{type: Resource, resource: {name: cpu, targetAverageUtilization: 50}}]}
      spec: {containers: [{name: NAME, resources: {requests: {memory: 1Mi}}}]}
    graph: {name: NAME, implementation: IMPL, modelUri: 'gs://b/m'}
`
	sd := decodeOne(t, strings.NewReplacer("NAME", "tf", "IMPL", "TENSORFLOW_SERVER").Replace(doc))
	if err := validation.Validate(sd).Err(); err != nil {
		t.Fatal(err)
	}
	// A user container of an ordinary node still needs its request.
	sd = decodeOne(t, strings.NewReplacer("NAME", "tf", "IMPL", "UNKNOWN_IMPLEMENTATION", "modelUri: 'gs://b/m'", "type: MODEL").Replace(doc))
	if err := validation.Validate(sd).Err(); err == nil || !strings.Contains(err.Error(), `container "tf" has no cpu request`) {
		t.Fatalf("got %v, want the missing cpu request reported", err)
	}
}
