package executor

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	v1 "github.com/sdep-dev/sdep/api/v1"
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
