package executor

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/validation"
)

// The executor reads exactly what the builders inject: the seed's
// ENGINE_PREDICTOR decodes strictly, builds an executor, and points the
// classifier node at the model container in the same pod.
func TestReadsTheEnginePredictorTheBuildersInject(t *testing.T) {
	data, err := os.ReadFile("../../examples/seed-hpaspecs.json")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decode.Documents("seed", data)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := resources.Build(docs[0].Object, resources.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var encoded string
	for _, c := range objs.Deployments[0].Spec.Template.Spec.Containers {
		if c.Name != validation.ExecutorContainerName {
			continue
		}
		for _, e := range c.Env {
			if e.Name == resources.EnvEnginePredictor {
				encoded = e.Value
			}
		}
	}
	if encoded == "" {
		t.Fatalf("no %s on the executor container", resources.EnvEnginePredictor)
	}
	pred, err := PredictorFromEnv(encoded)
	if err != nil {
		t.Fatal(err)
	}
	want := &v1.Endpoint{ServiceHost: "localhost", ServicePort: 9000, Type: v1.EndpointREST, HTTPPort: 9000, GRPCPort: 9500}
	if diff := cmp.Diff(want, pred.Graph.Endpoint); diff != "" {
		t.Errorf("classifier endpoint (-want +got):\n%s", diff)
	}
	e, err := New(pred)
	if err != nil {
		t.Fatalf("the executor refuses the injected predictor: %v", err)
	}
	defer e.Close()
	set, ok := e.EndpointSet("classifier")
	if !ok {
		t.Fatal("no endpoint set for the classifier node")
	}
	if got := set.Endpoints(); len(got) != 1 || got[0] != (Endpoint{Host: "localhost", HTTPPort: 9000, GRPCPort: 9500}) {
		t.Errorf("classifier endpoints %v", got)
	}
}
