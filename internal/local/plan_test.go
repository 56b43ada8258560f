package local

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/predictor"
)

func seedDocument(t *testing.T, image string) *sdepv1.SeldonDeployment {
	t.Helper()
	data, err := os.ReadFile("../../examples/seed-hpaspecs.json")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decode.Documents("seed-hpaspecs.json", data)
	if err != nil {
		t.Fatal(err)
	}
	sd := docs[0].Object
	if image != "" {
		sd.Spec.Predictors[0].ComponentSpecs[0].Spec.Containers[0].Image = image
	}
	return sd
}

func TestNewPlanRunsTheSeedFromTheBuildersObjects(t *testing.T) {
	plan, err := NewPlan(seedDocument(t, ""), Mappings{Self: "/opt/sdep"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Predictors) != 1 || len(plan.Predictors[0].Components) != 1 {
		t.Fatalf("plan has %d predictors; want 1 with 1 component", len(plan.Predictors))
	}
	c := plan.Predictors[0].Components[0]
	if c.Name != "my-dep" || c.Deployment != "seldon-model-example-0-my-dep" || c.Replicas != 1 {
		t.Errorf("component %q, deployment %q, replicas %d", c.Name, c.Deployment, c.Replicas)
	}
	if c.HPA == nil || c.HPA.MaxReplicas != 4 || *c.HPA.Metrics[0].Resource.Target.AverageUtilization != 10 {
		t.Errorf("HPA spec %+v, want the builders' 1-4 replicas on cpu 10%%", c.HPA)
	}
	// The executor container of the pod runs once, inside sdep serve.
	if len(c.Containers) != 1 {
		t.Fatalf("%d containers, want only the classifier", len(c.Containers))
	}
	ct := c.Containers[0]
	if diff := cmp.Diff([]string{"/opt/sdep", "model", "mock-classifier", "--host", "127.0.0.1", "--drain-period=0"}, ct.Command); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	if q := ct.Requests[corev1.ResourceCPU]; q.MilliValue() != 500 {
		t.Errorf("cpu request %s, want 500m", q.String())
	}
	if predictor.NamedPort(ct.Ports, "http") != 9000 || predictor.NamedPort(ct.Ports, "grpc") != 9500 {
		t.Errorf("ports %+v, want http 9000 and grpc 9500 as the pod has", ct.Ports)
	}
}

func TestNewPlanContainerMappings(t *testing.T) {
	tests := []struct {
		name      string
		image     string
		args      []string
		m         Mappings
		command   []string
		external  string
		wantError []string
	}{
		{name: "mock classifier without tag", image: "seldonio/mock_classifier",
			command: []string{"sdep", "model", "mock-classifier", "--host", "127.0.0.1", "--drain-period=0"}},
		{name: "mock classifier from a registry", image: "registry.example:5000/seldonio/mock_classifier:1.19",
			command: []string{"sdep", "model", "mock-classifier", "--host", "127.0.0.1", "--drain-period=0"}},
		{name: "sdep's own image with model args", image: "registry.example/sdep-dev/sdep:0.1.0", args: []string{"model", "mock-classifier"},
			command: []string{"sdep", "model", "mock-classifier"}},
		{name: "sdep's own image running something else", image: "sdep:0.1.0", args: []string{"executor"},
			wantError: []string{"--run classifier="}},
		{name: "unknown image names both flags", image: "myorg/model:2",
			wantError: []string{`container "classifier"`, `"myorg/model:2"`, "--run classifier=", "--endpoint classifier=HOST:PORT"}},
		{name: "run", image: "myorg/model:2", m: Mappings{Run: map[string]string{"classifier": "python -m model --port 1"}},
			command: []string{"/bin/sh", "-c", "exec python -m model --port 1"}},
		{name: "run overrides a built-in", image: "seldonio/mock_classifier:1.0", m: Mappings{Run: map[string]string{"classifier": "./model"}},
			command: []string{"/bin/sh", "-c", "exec ./model"}},
		{name: "endpoint", image: "myorg/model:2", m: Mappings{Endpoints: map[string]string{"classifier": "10.0.0.5:9000"}},
			external: "10.0.0.5:9000"},
		{name: "endpoint without port", image: "myorg/model:2", m: Mappings{Endpoints: map[string]string{"classifier": "10.0.0.5"}},
			wantError: []string{"--endpoint classifier=10.0.0.5", "HOST:PORT"}},
		{name: "both flags", image: "myorg/model:2",
			m:         Mappings{Run: map[string]string{"classifier": "x"}, Endpoints: map[string]string{"classifier": "h:1"}},
			wantError: []string{"both --run and --endpoint"}},
		{name: "flag for a container the document lacks", image: "seldonio/mock_classifier:1.0",
			m: Mappings{Run: map[string]string{"clasifier": "x"}}, wantError: []string{"--run clasifier: no container of that name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.Self = "sdep"
			sd := seedDocument(t, tt.image)
			sd.Spec.Predictors[0].ComponentSpecs[0].Spec.Containers[0].Args = tt.args
			plan, err := NewPlan(sd, tt.m)
			if len(tt.wantError) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantError {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ct := plan.Predictors[0].Components[0].Containers[0]
			if diff := cmp.Diff(tt.command, ct.Command); diff != "" {
				t.Errorf("command (-want +got):\n%s", diff)
			}
			if ct.External != tt.external {
				t.Errorf("external %q, want %q", ct.External, tt.external)
			}
		})
	}
}

func TestNewPlanRejectsAnInvalidDocument(t *testing.T) {
	sd := seedDocument(t, "")
	sd.Spec.Predictors[0].HpaSpecs[0].ScaleTargetRef.Name = "my-depp"
	if _, err := NewPlan(sd, Mappings{}); err == nil || !strings.Contains(err.Error(), "my-depp") {
		t.Errorf("error %v, want the validator's complaint about my-depp", err)
	}
}

func TestProcessEnvGivesEachReplicaItsOwnPorts(t *testing.T) {
	env := []corev1.EnvVar{
		{Name: "PREDICTIVE_UNIT_HTTP_SERVICE_PORT", Value: "9000"},
		{Name: "MLSERVER_HTTP_PORT", Value: "9000"},
		{Name: "PREDICTIVE_UNIT_GRPC_SERVICE_PORT", Value: "9500"},
		{Name: "PREDICTIVE_UNIT_ID", Value: "9000"}, // not a port variable: kept
		{Name: "FROM_API", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
	}
	got := processEnv(env, map[int32]int32{9000: 41000, 9500: 41001})
	got = got[len(os.Environ()):]
	want := []string{
		"PREDICTIVE_UNIT_HTTP_SERVICE_PORT=41000",
		"MLSERVER_HTTP_PORT=41000",
		"PREDICTIVE_UNIT_GRPC_SERVICE_PORT=41001",
		"PREDICTIVE_UNIT_ID=9000",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}
