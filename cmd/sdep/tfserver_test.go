package main

import (
	"encoding/json"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/models/mockclassifier"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/validation"
)

// tfServerDocument is shaped like upstream's prepackaged TensorFlow
// documents: protocol tensorflow, a TENSORFLOW_SERVER node with a modelUri
// and no container of its own, so sdep adds TF Serving's container.
const tfServerDocument = `apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: tfserver
spec:
  protocol: tensorflow
  predictors:
  - name: default
    replicas: 1
    graph:
      name: halfplustwo
      implementation: TENSORFLOW_SERVER
      modelUri: gs://bucket/half_plus_two
      parameters:
      - name: model_name
        type: STRING
        value: halfplustwo
`

// TestTensorflowServerDocumentRendersAServingExecutor: the prepackaged
// TENSORFLOW_SERVER document renders TF Serving's container on the ports
// the executor is told to call, and the rendered executor, started with
// exactly its rendered arguments, serves TF Serving's REST and gRPC API in
// front of the tensorflow mock listening on those ports.
func TestTensorflowServerDocumentRendersAServingExecutor(t *testing.T) {
	docs, err := decode.Documents("tfserver.yaml", []byte(tfServerDocument))
	if err != nil {
		t.Fatal(err)
	}
	if res := validation.Validate(docs[0].Object); res.Err() != nil {
		t.Fatalf("the document does not validate: %v", res.Err())
	}
	ports := distinctFreePorts(t, 4)
	opts := resources.DefaultOptions()
	opts.Predictor.HTTPPortBase, opts.Predictor.GRPCPortBase = int32(ports[0]), int32(ports[1])
	objs, err := resources.Build(docs[0].Object, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Deployments) != 1 {
		t.Fatalf("%d Deployments rendered, want 1", len(objs.Deployments))
	}
	var args, env []string
	var serverPorts = map[string]int32{}
	for _, c := range objs.Deployments[0].Spec.Template.Spec.Containers {
		switch c.Name {
		case validation.ExecutorContainerName:
			args = c.Args
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					env = append(env, e.Name+"="+e.Value)
				}
			}
		case "halfplustwo":
			for _, p := range c.Ports {
				serverPorts[p.Name] = p.ContainerPort
			}
		}
	}
	if args == nil {
		t.Fatal("no executor container rendered")
	}
	if !containsArg(args, "--protocol=tensorflow") {
		t.Errorf("rendered executor args %v lack --protocol=tensorflow", args)
	}
	mh, mg := int(serverPorts["http"]), int(serverPorts["grpc"])
	if mh != ports[0] || mg != ports[1] {
		t.Fatalf("the server container listens on http %d, grpc %d; want the port bases %d, %d", mh, mg, ports[0], ports[1])
	}
	model := startProcess(t, nil, "model", "mock-classifier", "--protocol", "tensorflow", "--host", "127.0.0.1",
		"--http-port", strconv.Itoa(mh), "--grpc-port", strconv.Itoa(mg))
	waitListening(t, mh, model)
	waitListening(t, mg, model)
	eh, eg := ports[2], ports[3]
	ex := startProcess(t, env, append(append([]string{"executor"}, args...),
		"--http-port", strconv.Itoa(eh), "--grpc-port", strconv.Itoa(eg), "--pod-annotations", os.DevNull)...)
	waitListening(t, eh, ex)
	waitListening(t, eg, ex)

	want := mockclassifier.Predict([][]float64{{1, 2, 3, 4}}, 0)[0]
	base := "http://127.0.0.1:" + strconv.Itoa(eh)
	code, b := httpDo(t, "POST", base+"/v1/models/halfplustwo:predict", `{"instances":[[1,2,3,4]]}`)
	var pr struct{ Predictions [][]float64 }
	if err := json.Unmarshal(b, &pr); code != 200 || err != nil || len(pr.Predictions) != 1 || math.Abs(pr.Predictions[0][0]-want) > 1e-9 {
		t.Errorf("REST :predict = %d %s, want predictions [[%v]]", code, b, want)
	}
	tfPredictOverGRPC(t, eg, want)
}
