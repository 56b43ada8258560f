package executor

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/models/mockclassifier"
)

// TestGrpcurlThroughReflection runs grpcurl (built by `make grpcurl-check`,
// which sets SDEP_GRPCURL) against the executor: it finds the Seldon service
// by reflection alone and calls Predict with JSON.
func TestGrpcurlThroughReflection(t *testing.T) {
	bin := os.Getenv("SDEP_GRPCURL")
	if bin == "" {
		t.Skip("SDEP_GRPCURL is not set; run make grpcurl-check")
	}
	s := serve(t, v1.PredictiveUnit{Name: "sm", Implementation: v1.SimpleModel})
	target := s.grpcConn.Target()[len("passthrough:///"):]
	list, err := exec.Command(bin, "-plaintext", target, "list").CombinedOutput()
	if err != nil {
		t.Fatalf("grpcurl list: %v: %s", err, list)
	}
	out, err := exec.Command(bin, "-plaintext", "-d", `{"strData":"hello","meta":{"puid":"p-1"}}`,
		target, "seldon.protos.Seldon/Predict").CombinedOutput()
	if err != nil {
		t.Fatalf("grpcurl Predict: %v: %s", err, out)
	}
	var got struct {
		Meta struct {
			Puid    string           `json:"puid"`
			Routing map[string]int32 `json:"routing"`
		} `json:"meta"`
		StrData string `json:"strData"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("grpcurl output is not JSON: %v: %s", err, out)
	}
	if got.StrData != "hello" || got.Meta.Puid != "p-1" || got.Meta.Routing["sm"] != -1 {
		t.Errorf("Predict through grpcurl = %s", out)
	}
}

// TestGrpcurlV2ThroughReflection: grpcurl finds inference.GRPCInferenceService
// by reflection and calls each of its methods through the executor to the
// v2 mock classifier.
func TestGrpcurlV2ThroughReflection(t *testing.T) {
	bin := os.Getenv("SDEP_GRPCURL")
	if bin == "" {
		t.Skip("SDEP_GRPCURL is not set; run make grpcurl-check")
	}
	s := serve(t, startMock(t, mockclassifier.ProtocolV2, "classifier"), WithProtocol("v2"))
	target := s.grpcConn.Target()[len("passthrough:///"):]
	list, err := exec.Command(bin, "-plaintext", target, "list", "inference.GRPCInferenceService").CombinedOutput()
	if err != nil {
		t.Fatalf("grpcurl list: %v: %s", err, list)
	}
	for _, m := range []string{"ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer"} {
		if !strings.Contains(string(list), "inference.GRPCInferenceService."+m) {
			t.Errorf("reflection does not list %s: %s", m, list)
		}
	}
	want := mockclassifier.Predict([][]float64{{1, 2, 3, 4}}, 0)
	for _, tc := range []struct{ method, body, check string }{
		{"ServerLive", `{}`, `"live": true`},
		{"ServerReady", `{}`, `"ready": true`},
		{"ServerMetadata", `{}`, `"name": "` + v2ServerName + `"`},
		{"ModelReady", `{"name":"classifier"}`, `"ready": true`},
		{"ModelMetadata", `{"name":"classifier"}`, `"platform"`},
		{"ModelInfer", `{"model_name":"classifier","inputs":[{"name":"input","datatype":"FP64","shape":[1,4],"contents":{"fp64_contents":[1,2,3,4]}}]}`, `"fp64Contents"`},
	} {
		out, err := exec.Command(bin, "-plaintext", "-d", tc.body, target, "inference.GRPCInferenceService/"+tc.method).CombinedOutput()
		if err != nil {
			t.Errorf("grpcurl %s: %v: %s", tc.method, err, out)
			continue
		}
		if !strings.Contains(string(out), tc.check) {
			t.Errorf("grpcurl %s = %s, want %s in it", tc.method, out, tc.check)
		}
		if tc.method == "ModelInfer" {
			var r struct {
				Outputs []struct {
					Contents struct {
						Fp64Contents []float64 `json:"fp64Contents"`
					} `json:"contents"`
				} `json:"outputs"`
			}
			if err := json.Unmarshal(out, &r); err != nil || len(r.Outputs) != 1 || len(r.Outputs[0].Contents.Fp64Contents) != 1 ||
				!near(r.Outputs[0].Contents.Fp64Contents[0], want[0]) {
				t.Errorf("grpcurl ModelInfer = %s, want proba %v", out, want)
			}
		}
	}
}
