package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/models/mockclassifier"
	ipb "github.com/sdep-dev/sdep/internal/proto/inferencepb"
	tfpb "github.com/sdep-dev/sdep/internal/proto/tfservingpb"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/validation"
)

// tfServingDocument is shaped like the TensorFlow Serving documents users
// copy: protocol tensorflow, one user container running TF Serving with
// its REST and gRPC ports named http and grpc, the graph node pointing at
// them. The ports are the test's free ones instead of 8501/8500.
func tfServingDocument(httpPort, grpcPort int, transport string) string {
	return fmt.Sprintf(`apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: tfserving
spec:
  protocol: tensorflow
  transport: %[3]s
  predictors:
  - name: default
    replicas: 1
    componentSpecs:
    - spec:
        containers:
        - name: halfplustwo
          image: tensorflow/serving:2.1.0
          args:
          - --port=%[2]d
          - --rest_api_port=%[1]d
          - --model_name=halfplustwo
          - --model_base_path=gs://bucket/half_plus_two
          ports:
          - containerPort: %[1]d
            name: http
            protocol: TCP
          - containerPort: %[2]d
            name: grpc
            protocol: TCP
    graph:
      name: halfplustwo
      type: MODEL
      endpoint:
        httpPort: %[1]d
        grpcPort: %[2]d
`, httpPort, grpcPort, transport)
}

// renderedExecutor renders the document as the operator does and returns
// the executor container's arguments and environment.
func renderedExecutor(t *testing.T, doc string) (args, env []string, probes []string) {
	t.Helper()
	docs, err := decode.Documents("tfserving.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if res := validation.Validate(docs[0].Object); res.Err() != nil {
		t.Fatalf("the document does not validate: %v", res.Err())
	} else {
		for _, w := range res.Warnings {
			if w.Field == "spec.protocol" {
				t.Errorf("warning on spec.protocol: %s", w.Message)
			}
		}
	}
	objs, err := resources.Build(docs[0].Object, resources.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range objs.Deployments[0].Spec.Template.Spec.Containers {
		if c.Name != validation.ExecutorContainerName {
			continue
		}
		if len(c.Command) != 2 || c.Command[1] != "executor" {
			t.Fatalf("executor command %v", c.Command)
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				env = append(env, e.Name+"="+e.Value)
			}
		}
		if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil {
			probes = append(probes, c.ReadinessProbe.HTTPGet.Path)
		}
		if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil {
			probes = append(probes, c.LivenessProbe.HTTPGet.Path)
		}
		return c.Args, env, probes
	}
	t.Fatal("no executor container rendered")
	return nil, nil, nil
}

// TestTFServingDocumentsRenderAServingExecutor: the rendered executor, run
// with exactly the rendered arguments (ports moved to free ones), serves
// TensorFlow Serving's API in front of the tensorflow mock, REST and gRPC.
func TestTFServingDocumentsRenderAServingExecutor(t *testing.T) {
	want := mockclassifier.Predict([][]float64{{1, 2, 3, 4}}, 0)[0]
	for _, transport := range []string{"rest", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			ports := distinctFreePorts(t, 4)
			mh, mg, eh, eg := ports[0], ports[1], ports[2], ports[3]
			args, env, probes := renderedExecutor(t, tfServingDocument(mh, mg, transport))
			if !containsArg(args, "--protocol=tensorflow") {
				t.Errorf("rendered args %v lack --protocol=tensorflow", args)
			}
			model := startProcess(t, nil, "model", "mock-classifier", "--protocol", "tensorflow", "--host", "127.0.0.1",
				"--http-port", strconv.Itoa(mh), "--grpc-port", strconv.Itoa(mg))
			waitListening(t, mh, model)
			waitListening(t, mg, model)
			ex := startProcess(t, env, append(append([]string{"executor"}, args...),
				"--http-port", strconv.Itoa(eh), "--grpc-port", strconv.Itoa(eg), "--pod-annotations", os.DevNull)...)
			waitListening(t, eh, ex)
			waitListening(t, eg, ex)
			base := "http://127.0.0.1:" + strconv.Itoa(eh)
			for _, p := range probes {
				if code, b := httpDo(t, "GET", base+p, ""); code != 200 {
					t.Errorf("probe %s = %d %s", p, code, b)
				}
			}
			code, b := httpDo(t, "POST", base+"/v1/models/halfplustwo:predict", `{"instances":[[1,2,3,4]]}`)
			var pr struct{ Predictions [][]float64 }
			if err := json.Unmarshal(b, &pr); code != 200 || err != nil || len(pr.Predictions) != 1 || math.Abs(pr.Predictions[0][0]-want) > 1e-9 {
				t.Errorf("REST :predict = %d %s, want predictions [[%v]]", code, b, want)
			}
			if code, b := httpDo(t, "GET", base+"/v1/models/halfplustwo", ""); code != 200 || !strings.Contains(string(b), "AVAILABLE") {
				t.Errorf("REST model status = %d %s", code, b)
			}
			tfPredictOverGRPC(t, eg, want)
		})
	}
}

// tfPredictOverGRPC calls TF Serving's gRPC Predict for halfplustwo on the
// executor's gRPC port and checks the mock's answer.
func tfPredictOverGRPC(t *testing.T, port int, want float64) {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///127.0.0.1:"+strconv.Itoa(port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := tfpb.NewPredictionServiceClient(conn).Predict(ctx, &tfpb.PredictRequest{
		ModelSpec: &tfpb.ModelSpec{Name: "halfplustwo"},
		Inputs: map[string]*tfpb.TensorProto{"x": {Dtype: tfpb.DataType_DT_FLOAT,
			TensorShape: &tfpb.TensorShapeProto{Dim: []*tfpb.TensorShapeProto_Dim{{Size: 1}, {Size: 4}}},
			FloatVal:    []float32{1, 2, 3, 4}}}})
	if err != nil {
		t.Fatalf("gRPC Predict: %v", err)
	}
	if got := r.GetOutputs()["proba"].GetDoubleVal(); len(got) != 1 || math.Abs(got[0]-want) > 1e-9 {
		t.Errorf("gRPC Predict = %v, want proba %v", r, want)
	}
}

// distinctFreePorts holds n loopback listeners open at once, so the ports
// differ (ports picked one after another may repeat), then frees them.
func distinctFreePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = l.Close() }()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func containsArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

func httpDo(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// v2Document is shaped like a v2 model server run as a user container
// (MLServer-style: one model, REST and gRPC ports), protocol v2 or
// kfserving.
func v2Document(protocol string, httpPort, grpcPort int) string {
	return fmt.Sprintf(`apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: oip
spec:
  protocol: %[3]s
  predictors:
  - name: default
    componentSpecs:
    - spec:
        containers:
        - name: classifier
          image: seldonio/mlserver:1.3.5
          env:
          - name: MLSERVER_HTTP_PORT
            value: "%[1]d"
          - name: MLSERVER_GRPC_PORT
            value: "%[2]d"
          - name: MLSERVER_MODEL_NAME
            value: classifier
          ports:
          - {containerPort: %[1]d, name: http}
          - {containerPort: %[2]d, name: grpc}
    graph:
      name: classifier
      type: MODEL
      endpoint: {httpPort: %[1]d, grpcPort: %[2]d}
`, httpPort, grpcPort, protocol)
}

// TestV2DocumentsRenderAServingExecutor: protocol v2 and kfserving render an
// executor that serves the Open Inference Protocol in front of the v2 mock.
func TestV2DocumentsRenderAServingExecutor(t *testing.T) {
	want := mockclassifier.Predict([][]float64{{1, 2, 3, 4}}, 0)[0]
	for _, protocol := range []string{"v2", "kfserving"} {
		t.Run(protocol, func(t *testing.T) {
			ports := distinctFreePorts(t, 4)
			mh, mg, eh, eg := ports[0], ports[1], ports[2], ports[3]
			args, env, _ := renderedExecutor(t, v2Document(protocol, mh, mg))
			if !containsArg(args, "--protocol="+protocol) {
				t.Errorf("rendered args %v lack --protocol=%s", args, protocol)
			}
			model := startProcess(t, nil, "model", "mock-classifier", "--protocol", protocol, "--host", "127.0.0.1",
				"--http-port", strconv.Itoa(mh), "--grpc-port", strconv.Itoa(mg))
			waitListening(t, mh, model)
			ex := startProcess(t, env, append(append([]string{"executor"}, args...),
				"--http-port", strconv.Itoa(eh), "--grpc-port", strconv.Itoa(eg), "--pod-annotations", os.DevNull)...)
			waitListening(t, eh, ex)
			waitListening(t, eg, ex)
			base := "http://127.0.0.1:" + strconv.Itoa(eh)
			code, b := httpDo(t, "POST", base+"/v2/models/classifier/infer",
				`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}`)
			var r struct {
				Outputs []struct{ Data []float64 }
			}
			if err := json.Unmarshal(b, &r); code != 200 || err != nil || len(r.Outputs) != 1 || len(r.Outputs[0].Data) != 1 ||
				math.Abs(r.Outputs[0].Data[0]-want) > 1e-9 {
				t.Errorf("REST infer = %d %s, want proba %v", code, b, want)
			}
			if code, b := httpDo(t, "GET", base+"/v2/health/ready", ""); code != 200 {
				t.Errorf("/v2/health/ready = %d %s", code, b)
			}
			conn, err := grpc.NewClient("passthrough:///127.0.0.1:"+strconv.Itoa(eg), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := ipb.NewGRPCInferenceServiceClient(conn).ModelInfer(ctx, &ipb.ModelInferRequest{ModelName: "classifier",
				Inputs: []*ipb.ModelInferRequest_InferInputTensor{{Name: "input", Datatype: "FP32", Shape: []int64{1, 4},
					Contents: &ipb.InferTensorContents{Fp32Contents: []float32{1, 2, 3, 4}}}}})
			if err != nil {
				t.Fatalf("gRPC ModelInfer: %v", err)
			}
			if got := resp.GetOutputs()[0].GetContents().GetFp64Contents(); len(got) != 1 || math.Abs(got[0]-want) > 1e-9 {
				t.Errorf("gRPC ModelInfer = %v, want proba %v", resp, want)
			}
		})
	}
}

// TestExecutorFileTakesTheDocumentsProtocol: `sdep executor --file` without
// --protocol serves the document's spec.protocol.
func TestExecutorFileTakesTheDocumentsProtocol(t *testing.T) {
	ports := distinctFreePorts(t, 4)
	mh, mg, eh, eg := ports[0], ports[1], ports[2], ports[3]
	doc := filepath.Join(t.TempDir(), "oip.yaml")
	if err := os.WriteFile(doc, []byte(v2Document("v2", mh, mg)), 0o600); err != nil {
		t.Fatal(err)
	}
	model := startProcess(t, nil, "model", "mock-classifier", "--protocol", "v2", "--host", "127.0.0.1",
		"--http-port", strconv.Itoa(mh), "--grpc-port", strconv.Itoa(mg))
	waitListening(t, mh, model)
	ex := startProcess(t, nil, "executor", "--file", doc, "--http-port", strconv.Itoa(eh), "--grpc-port", strconv.Itoa(eg),
		"--pod-annotations", os.DevNull)
	waitListening(t, eh, ex)
	code, b := httpDo(t, "POST", "http://127.0.0.1:"+strconv.Itoa(eh)+"/v2/models/classifier/infer",
		`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}`)
	if code != 200 || !strings.Contains(string(b), `"proba"`) {
		t.Errorf("v2 infer through `executor --file` = %d %s", code, b)
	}
}
