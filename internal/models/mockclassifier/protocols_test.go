package mockclassifier

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ipb "github.com/sdep-dev/sdep/internal/proto/inferencepb"
	tfpb "github.com/sdep-dev/sdep/internal/proto/tfservingpb"
)

// Bad requests get 400 and {"error": "..."} naming what is wrong; none
// panics or allocates by the shape it claims.
func TestProtocolMocksRefuseBadInput(t *testing.T) {
	v2 := httptest.NewServer(New(Config{Protocol: ProtocolV2}).Handler())
	defer v2.Close()
	tf := httptest.NewServer(New(Config{Protocol: ProtocolTensorflow}).Handler())
	defer tf.Close()
	for _, tc := range []struct{ url, body, want string }{
		{v2.URL + "/v2/models/m/infer", `{}`, "no inputs"},
		{v2.URL + "/v2/models/m/infer", `{"inputs":[{"name":"x","shape":[4294967296,4294967296],"datatype":"FP64","data":[]}]}`, "shape"},
		{v2.URL + "/v2/models/m/infer", `{"inputs":[{"name":"x","shape":[2,3],"datatype":"FP64","data":[1,2,3]}]}`, "shape"},
		{v2.URL + "/v2/models/m/infer", `{"inputs":[{"name":"x","shape":[1,1],"datatype":"BYTES","data":["a"]}]}`, "not a number"},
		{v2.URL + "/v2/models/m/infer", `nope`, "JSON"},
		{tf.URL + "/v1/models/m:predict", `{"instances":[[]]}`, "empty"},
		{tf.URL + "/v1/models/m:predict", `{"instances":"x"}`, "rows"},
		{tf.URL + "/v1/models/m:regress", `{"examples":[{"a":"x"}]}`, "not a number"},
	} {
		resp, err := http.Post(tc.url, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		var m map[string]string
		if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(b, &m) != nil || !strings.Contains(m["error"], tc.want) {
			t.Errorf("POST %s %s = %d %s, want 400 with an error about %q", tc.url, tc.body, resp.StatusCode, b, tc.want)
		}
	}

	g := &v2GRPC{s: New(Config{})}
	for _, in := range []*ipb.ModelInferRequest{
		{},
		{Inputs: []*ipb.ModelInferRequest_InferInputTensor{{Datatype: "FP16", Shape: []int64{1, 1}}}, RawInputContents: [][]byte{{0, 0}}},
		{Inputs: []*ipb.ModelInferRequest_InferInputTensor{{Datatype: "FP64", Shape: []int64{1, 2}}}, RawInputContents: [][]byte{{1, 2, 3}}},
		{Inputs: []*ipb.ModelInferRequest_InferInputTensor{{Datatype: "FP64", Shape: []int64{1 << 40, 1 << 40},
			Contents: &ipb.InferTensorContents{}}}},
	} {
		if _, err := g.ModelInfer(context.Background(), in); status.Code(err) != codes.InvalidArgument {
			t.Errorf("ModelInfer(%v) = %v, want InvalidArgument", in, err)
		}
	}
	tg := &tfGRPC{s: New(Config{})}
	if _, err := tg.Predict(context.Background(), &tfpb.PredictRequest{Inputs: map[string]*tfpb.TensorProto{
		"x": {Dtype: tfpb.DataType_DT_STRING, TensorContent: []byte("abc")}}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Predict of a string tensor_content = %v, want InvalidArgument", err)
	}
}

func TestCheckProtocol(t *testing.T) {
	for in, want := range map[string]string{"": "seldon", "seldon": "seldon", "v2": "v2", "kfserving": "v2", "tensorflow": "tensorflow"} {
		if got, err := CheckProtocol(in); err != nil || got != want {
			t.Errorf("CheckProtocol(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := CheckProtocol("tfserving"); err == nil || !strings.Contains(err.Error(), "tensorflow") {
		t.Errorf("CheckProtocol(tfserving) = %v, want an error naming the protocols", err)
	}
}
