package executor

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/models/mockclassifier"
	"github.com/sdep-dev/sdep/internal/predictor"
	tfpb "github.com/sdep-dev/sdep/internal/proto/tfservingpb"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/validation"
	"github.com/sdep-dev/sdep/internal/validation/validationtest"
)

// tfPredictions reads {"predictions": [[p], ...]}.
func tfPredictions(t testing.TB, key string, b []byte) []float64 {
	t.Helper()
	var m map[string][][]float64
	if err := json.Unmarshal(b, &m); err != nil || len(m[key]) == 0 {
		t.Fatalf("not {%q: [[...]]}: %v: %s", key, err, b)
	}
	var out []float64
	for _, r := range m[key] {
		out = append(out, r...)
	}
	return out
}

// TestTensorflowREST runs TensorFlow Serving's REST API through the
// executor to the tensorflow mock classifier.
func TestTensorflowREST(t *testing.T) {
	s := serve(t, startMock(t, mockclassifier.ProtocolTensorflow, "halfplustwo"), WithProtocol("tensorflow"))
	u := s.restURL
	rows := [][]float64{{1, 2, 3, 4}, {6, 5, 4, 3}}
	want := mockclassifier.Predict(rows, 0)
	for _, tc := range []struct{ path, body, key string }{
		{"/v1/models/halfplustwo:predict", `{"instances":[[1,2,3,4],[6,5,4,3]]}`, "predictions"},
		{"/v1/models/halfplustwo/:predict", `{"instances":[[1,2,3,4],[6,5,4,3]]}`, "predictions"},
		{"/v1/models/halfplustwo/versions/2:predict", `{"instances":[[1,2,3,4],[6,5,4,3]]}`, "predictions"},
		{"/v1/models:predict", `{"instances":[[1,2,3,4],[6,5,4,3]]}`, "predictions"},
		{"/v1/models/halfplustwo:predict", `{"inputs":[[1,2,3,4],[6,5,4,3]]}`, "outputs"},
	} {
		code, b, _ := rawReq(t, "POST", u+tc.path, tc.body)
		if code != 200 {
			t.Fatalf("POST %s = %d %s", tc.path, code, b)
		}
		if got := tfPredictions(t, tc.key, b); len(got) != 2 || !near(got[0], want[0]) || !near(got[1], want[1]) {
			t.Errorf("POST %s = %v, want %v", tc.path, got, want)
		}
	}
	code, b, _ := rawReq(t, "POST", u+"/v1/models/halfplustwo:regress", `{"examples":[{"a":1,"b":2,"c":3,"d":4}]}`)
	var reg struct{ Results []float64 }
	if err := json.Unmarshal(b, &reg); code != 200 || err != nil || len(reg.Results) != 1 || !near(reg.Results[0], want[0]) {
		t.Errorf(":regress = %d %s, want results [%v]", code, b, want[0])
	}
	code, b, _ = rawReq(t, "POST", u+"/v1/models/halfplustwo:classify", `{"examples":[{"a":1,"b":2,"c":3,"d":4}]}`)
	if code != 200 || decodeJSON(t, b)["results"] == nil {
		t.Errorf(":classify = %d %s", code, b)
	}
	code, b, _ = rawReq(t, "GET", u+"/v1/models/halfplustwo", "")
	if code != 200 || decodeJSON(t, b)["model_version_status"] == nil {
		t.Errorf("model status = %d %s", code, b)
	}
	code, b, _ = rawReq(t, "GET", u+"/v1/models/halfplustwo/metadata", "")
	if m := decodeJSON(t, b); code != 200 || dig(m, "model_spec", "name") != "halfplustwo" {
		t.Errorf("model metadata = %d %s", code, b)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/v1/models/nope", "", 404},
		{"GET", "/v1/models/nope/metadata", "", 404},
		{"POST", "/v1/models/halfplustwo:predict", "not json", 400},
		{"POST", "/v1/models/halfplustwo:predict", `{"signature_name":"x"}`, 400}, // the mock's own error
		{"POST", "/v1/models/halfplustwo:explode", "{}", 404},
		{"GET", "/v1/models/halfplustwo:predict", "", 405},
		{"POST", "/v1/models/halfplustwo", "{}", 405},
		{"GET", "/v2/health/live", "", 404},
	} {
		code, b, _ := rawReq(t, tc.method, u+tc.path, tc.body)
		if code != tc.code {
			t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, code, b, tc.code)
		}
		oipError(t, tc.method+" "+tc.path, b)
	}
	// Feedback is answered with the request, as upstream's tensorflow client does.
	code, b, _ = rawReq(t, "POST", u+"/api/v1.0/feedback", `{"reward":1}`)
	if code != 200 || string(b) != `{"reward":1}` {
		t.Errorf("feedback = %d %s", code, b)
	}
}

// TestTensorflowChainREST: a model's predictions become the next model's
// instances.
func TestTensorflowChainREST(t *testing.T) {
	second := startMock(t, mockclassifier.ProtocolTensorflow, "second")
	s := serve(t, startMock(t, mockclassifier.ProtocolTensorflow, "first", second), WithProtocol("tensorflow"))
	first := mockclassifier.Predict([][]float64{{1, 2, 3, 4}}, 0)
	want := mockclassifier.Predict([][]float64{first}, 0)
	code, b, _ := rawReq(t, "POST", s.restURL+"/v1/models:predict", `{"instances":[[1,2,3,4]]}`)
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	if got := tfPredictions(t, "predictions", b); len(got) != 1 || !near(got[0], want[0]) {
		t.Errorf("chain = %v, want %v", got, want)
	}
}

func tfTensor(shape []int64, vals ...float64) *tfpb.TensorProto {
	var dims []*tfpb.TensorShapeProto_Dim
	for _, d := range shape {
		dims = append(dims, &tfpb.TensorShapeProto_Dim{Size: d})
	}
	return &tfpb.TensorProto{Dtype: tfpb.DataType_DT_DOUBLE, TensorShape: &tfpb.TensorShapeProto{Dim: dims}, DoubleVal: vals}
}

// TestTensorflowGRPC calls Predict and GetModelMetadata through the
// executor, one model and a chain of two.
func TestTensorflowGRPC(t *testing.T) {
	s := serve(t, startMock(t, mockclassifier.ProtocolTensorflow, "halfplustwo"), WithProtocol("tensorflow"))
	c := tfpb.NewPredictionServiceClient(s.grpcConn)
	ctx := context.Background()
	want := mockclassifier.Predict([][]float64{{1, 2, 3, 4}, {6, 5, 4, 3}}, 0)
	r, err := c.Predict(ctx, &tfpb.PredictRequest{ModelSpec: &tfpb.ModelSpec{Name: "halfplustwo"},
		Inputs: map[string]*tfpb.TensorProto{"x": tfTensor([]int64{2, 4}, 1, 2, 3, 4, 6, 5, 4, 3)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.GetOutputs()["proba"].GetDoubleVal(); len(got) != 2 || !near(got[0], want[0]) || !near(got[1], want[1]) ||
		r.GetModelSpec().GetName() != "halfplustwo" {
		t.Errorf("Predict = %v, want %v", r, want)
	}
	md, err := c.GetModelMetadata(ctx, &tfpb.GetModelMetadataRequest{ModelSpec: &tfpb.ModelSpec{Name: "halfplustwo"}, MetadataField: []string{"signature_def"}})
	if err != nil || md.GetModelSpec().GetName() != "halfplustwo" {
		t.Errorf("GetModelMetadata = %v, %v", md, err)
	}
	if _, err := c.GetModelMetadata(ctx, &tfpb.GetModelMetadataRequest{ModelSpec: &tfpb.ModelSpec{Name: "nope"}}); status.Code(err) != codes.NotFound {
		t.Errorf("GetModelMetadata(nope) = %v, want NotFound", err)
	}
	if _, err := c.Predict(ctx, &tfpb.PredictRequest{ModelSpec: &tfpb.ModelSpec{Name: "halfplustwo"}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Predict without inputs = %v, want the mock's InvalidArgument", err)
	}

	second := startMock(t, mockclassifier.ProtocolTensorflow, "second")
	chain := serve(t, startMock(t, mockclassifier.ProtocolTensorflow, "first", second), WithProtocol("tensorflow"))
	first := mockclassifier.Predict([][]float64{{1, 2, 3, 4}}, 0)
	wantChain := mockclassifier.Predict([][]float64{first}, 0)
	r, err = tfpb.NewPredictionServiceClient(chain.grpcConn).Predict(ctx, &tfpb.PredictRequest{
		Inputs: map[string]*tfpb.TensorProto{"x": tfTensor([]int64{1, 4}, 1, 2, 3, 4)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.GetOutputs()["proba"].GetDoubleVal(); len(got) != 1 || !near(got[0], wantChain[0]) || r.GetModelSpec().GetName() != "second" {
		t.Errorf("chain Predict = %v, want %v from second", r, wantChain)
	}
}

// TestUnknownProtocolRefused: New names the protocols it serves.
func TestUnknownProtocolRefused(t *testing.T) {
	_, err := New(v1.PredictorSpec{Name: "p", Graph: v1.PredictiveUnit{Name: "sm", Implementation: v1.SimpleModel}}, WithProtocol("grpc-web"))
	if err == nil {
		t.Fatal("New accepted protocol grpc-web")
	}
	for _, p := range []string{"seldon", "tensorflow", "v2", "kfserving"} {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not name %s", err, p)
		}
	}
}

// TestRenderedProtocolFlagIsAccepted: for every spec.protocol the validator
// accepts, the operator's executor container carries a --protocol the
// executor serves.
func TestRenderedProtocolFlagIsAccepted(t *testing.T) {
	for _, p := range []v1.Protocol{"", v1.ProtocolSeldon, v1.ProtocolTensorflow, v1.ProtocolKFServing, v1.ProtocolV2} {
		sd := validationtest.Base()
		sd.Spec.Protocol = p
		if err := validation.Validate(sd).Err(); err != nil {
			t.Fatalf("protocol %q: %v", p, err)
		}
		validation.Default(sd, predictor.DefaultOptions())
		c, err := resources.MakeExecutorContainer(sd, &sd.Spec.Predictors[0], resources.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--protocol="); ok {
				found = true
				if err := ValidProtocol(v); err != nil {
					t.Errorf("spec.protocol %q renders %s, which the executor refuses: %v", p, a, err)
				}
			}
		}
		if !found {
			t.Errorf("spec.protocol %q: no --protocol in %v", p, c.Args)
		}
	}
}

// Predict answers with the request's puid in the seldon-puid header, as
// the other protocols' Predicts do.
func TestTensorflowGRPCPuidHeader(t *testing.T) {
	s := serve(t, startMock(t, mockclassifier.ProtocolTensorflow, "m"), WithProtocol("tensorflow"))
	var hdr metadata.MD
	ctx := metadata.AppendToOutgoingContext(context.Background(), "seldon-puid", "p-7")
	_, err := tfpb.NewPredictionServiceClient(s.grpcConn).Predict(ctx, &tfpb.PredictRequest{
		ModelSpec: &tfpb.ModelSpec{Name: "m"}, Inputs: map[string]*tfpb.TensorProto{"x": tfTensor([]int64{1, 4}, 1, 2, 3, 4)}},
		grpc.Header(&hdr))
	if err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("seldon-puid"); len(got) != 1 || got[0] != "p-7" {
		t.Errorf("seldon-puid header %v, want [p-7]", got)
	}
}

// ProtocolFromFile, with several SeldonDeployments and no --sdep, names them.
func TestProtocolFromFileNamesTheDocuments(t *testing.T) {
	doc := func(name string) string {
		return "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata:\n  name: " + name +
			"\nspec:\n  predictors:\n  - name: p\n    graph:\n      name: m\n      implementation: SIMPLE_MODEL\n"
	}
	path := filepath.Join(t.TempDir(), "sd.yaml")
	if err := os.WriteFile(path, []byte(doc("one")+"---\n"+doc("two")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ProtocolFromFile(path, "")
	if err == nil || !strings.Contains(err.Error(), "have: one, two") {
		t.Errorf("ProtocolFromFile = %v, want the documents' names", err)
	}
}
