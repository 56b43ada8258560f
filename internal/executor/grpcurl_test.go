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

// TestCurlV2Routes calls every v2 REST route with curl (SDEP_CURL, set by
// make grpcurl-check) through the executor to the v2 mock classifier, and
// an error route for the OIP error shape.
func TestCurlV2Routes(t *testing.T) {
	bin := os.Getenv("SDEP_CURL")
	if bin == "" {
		t.Skip("SDEP_CURL is not set; run make grpcurl-check")
	}
	s := serve(t, startMock(t, mockclassifier.ProtocolV2, "classifier"), WithProtocol("v2"))
	infer := `{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}`
	for _, tc := range []struct{ path, body, code, check string }{
		{"/v2/health/live", "", "200", `"live":true`},
		{"/v2/health/ready", "", "200", `"ready":true`},
		{"/v2", "", "200", `"name":"` + v2ServerName + `"`},
		{"/v2/models/classifier", "", "200", `"platform"`},
		{"/v2/models/classifier/versions/1", "", "200", `"versions":["1"]`},
		{"/v2/models/classifier/ready", "", "200", `"ready":true`},
		{"/v2/models/classifier/versions/1/ready", "", "200", `"ready":true`},
		{"/v2/models/classifier/infer", infer, "200", `"name":"proba"`},
		{"/v2/models/classifier/versions/1/infer", infer, "200", `"model_version":"1"`},
		{"/v2/models/infer", infer, "200", `"name":"proba"`},
		{"/v2/models/nope", "", "404", `{"error":`},
		{"/v2/models/classifier/infer", "{", "400", `{"error":`},
	} {
		// The executor is on loopback: no proxy from the environment.
		args := []string{"-sS", "--noproxy", "*", "-o", "-", "-w", "\n%{http_code}", s.restURL + tc.path}
		if tc.body != "" {
			args = append(args, "-H", "Content-Type: application/json", "-d", tc.body)
		}
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("curl %s: %v: %s", tc.path, err, out)
			continue
		}
		// -w puts the status on a line of its own after the body.
		i := strings.LastIndexByte(string(out), '\n')
		if i < 0 {
			t.Errorf("curl %s: no status line: %s", tc.path, out)
			continue
		}
		body, code := string(out[:i]), string(out[i+1:])
		if code != tc.code || !strings.Contains(body, tc.check) {
			t.Errorf("curl %s = %s %s, want %s with %s", tc.path, code, body, tc.code, tc.check)
		}
	}
}
