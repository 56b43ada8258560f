package local

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdep-dev/sdep/internal/decode"
)

// irisLike is shaped like upstream's sklearn iris example: no
// componentSpecs, the server chosen by implementation alone.
const irisLike = `apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: iris
spec:
  predictors:
  - name: default
    replicas: 1
    graph:
      name: classifier
      implementation: %IMPL%
      modelUri: %URI%
`

func planOf(t *testing.T, impl, uri string, m Mappings) (*Plan, error) {
	t.Helper()
	doc := strings.NewReplacer("%IMPL%", impl, "%URI%", uri).Replace(irisLike)
	docs, err := decode.Documents("iris.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return NewPlan(docs[0].Object, m)
}

func TestPrepackagedNodeWithoutContainerGetsOne(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := planOf(t, "XGBOOST_SERVER", "file://"+dir, Mappings{Self: "/opt/sdep", ModelCache: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cs := plan.Predictors[0].Components
	if len(cs) != 1 || len(cs[0].Containers) != 1 {
		t.Fatalf("components %+v, want one with the classifier container", cs)
	}
	c := cs[0].Containers[0]
	want := []string{"/opt/sdep", "model", "xgboost", "--model-dir", dir, "--host", "127.0.0.1"}
	if strings.Join(c.Command, " ") != strings.Join(want, " ") {
		t.Errorf("command %q, want %q", c.Command, want)
	}
	if c.Name != "classifier" || c.Image != "seldonio/xgboostserver:1.18.2" {
		t.Errorf("container %s image %s", c.Name, c.Image)
	}
	if len(c.Ports) == 0 {
		t.Error("the builders gave the server container no ports")
	}
	// The planned document carries the added componentSpec; the caller's
	// document is left as it was.
	if len(plan.SeldonDeployment.Spec.Predictors[0].ComponentSpecs) != 1 {
		t.Errorf("the planned document has %d componentSpecs", len(plan.SeldonDeployment.Spec.Predictors[0].ComponentSpecs))
	}
	docs, _ := decode.Documents("iris.yaml", []byte(strings.NewReplacer("%IMPL%", "XGBOOST_SERVER", "%URI%", "file://"+dir).Replace(irisLike)))
	sd := docs[0].Object
	if _, err := NewPlan(sd, Mappings{Self: "/opt/sdep", ModelCache: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if n := len(sd.Spec.Predictors[0].ComponentSpecs); n != 0 {
		t.Errorf("NewPlan changed its argument: %d componentSpecs", n)
	}
}

func TestPrepackagedRunFlagWins(t *testing.T) {
	plan, err := planOf(t, "TRITON_SERVER", "gs://absent/never-fetched", Mappings{
		Self: "/opt/sdep", Run: map[string]string{"classifier": "my-triton --x"}, ModelCache: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.Predictors[0].Components[0].Containers[0].Command; got[len(got)-1] != "exec my-triton --x" {
		t.Errorf("command %q, want the --run command", got)
	}
}

func TestPrepackagedErrorsNameTheFix(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, c := range []struct{ impl, uri, want string }{
		{"XGBOOST_SERVER", "/does/not/exist", "/does/not/exist"},
		{"TENSORFLOW_SERVER", "/m", "spec.protocol: tensorflow"},
		{"SKLEARN_SERVER", "/m", "python3-sklearn"},
	} {
		_, err := planOf(t, c.impl, c.uri, Mappings{Self: "/opt/sdep", ModelCache: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.impl, err, c.want)
		}
	}
}

// TestPrepackagedServersFromPath: the servers sdep does not run itself
// are the binaries on PATH, started with the ports and model directory.
func TestPrepackagedServersFromPath(t *testing.T) {
	bin := t.TempDir()
	for _, name := range []string{"mlserver", "tensorflow_model_server", "tritonserver"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	model := t.TempDir()
	for _, c := range []struct {
		impl, protocol string
		want           []string
	}{
		{"MLFLOW_SERVER", "v2", []string{"exec '" + bin + "/mlserver' start '" + model + "'", "MLSERVER_MODEL_IMPLEMENTATION='mlserver_mlflow.MLflowRuntime'", `MLSERVER_HTTP_PORT="$PREDICTIVE_UNIT_HTTP_SERVICE_PORT"`}},
		{"SKLEARN_SERVER", "v2", []string{"mlserver_sklearn.SKLearnModel"}},
		{"TENSORFLOW_SERVER", "tensorflow", []string{"tensorflow_model_server' --port=\"$PREDICTIVE_UNIT_GRPC_SERVICE_PORT\"", "--model_base_path='" + model + "'", "--model_name='classifier'"}},
		{"TRITON_SERVER", "v2", []string{"tritonserver' --grpc-port=", "--model-repository='" + model + "'"}},
	} {
		doc := strings.NewReplacer("%IMPL%", c.impl, "%URI%", model).Replace(irisLike)
		doc = strings.Replace(doc, "  predictors:", "  protocol: "+c.protocol+"\n  predictors:", 1)
		docs, err := decode.Documents("doc.yaml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := NewPlan(docs[0].Object, Mappings{Self: "/opt/sdep", ModelCache: t.TempDir()})
		if err != nil {
			t.Errorf("%s (%s): %v", c.impl, c.protocol, err)
			continue
		}
		cmd := strings.Join(plan.Predictors[0].Components[0].Containers[0].Command, " ")
		for _, w := range c.want {
			if !strings.Contains(cmd, w) {
				t.Errorf("%s (%s): command %s lacks %s", c.impl, c.protocol, cmd, w)
			}
		}
	}
}

// TestPrepackagedFetchStopsWithTheMappingsContext: a model fetch from a
// server that never answers ends when Mappings.Context is cancelled (as
// sdep serve's Ctrl-C cancels it).
func TestPrepackagedFetchStopsWithTheMappingsContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	t.Setenv("STORAGE_EMULATOR_HOST", srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := planOf(t, "XGBOOST_SERVER", "gs://models/stalled", Mappings{Self: "/opt/sdep", ModelCache: t.TempDir(), Context: ctx})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "context canceled") {
			t.Errorf("a cancelled fetch: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the fetch went on after its context was cancelled")
	}
}
