package executor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `sdep executor --file` runs a graph whose nodes say where they are served
// (upstream's local executor samples: no componentSpecs, explicit
// endpoint.service_host and service_port) as written; without the
// endpoint such a node is still refused.
func TestPredictorFromFileRunsExplicitEndpoints(t *testing.T) {
	m := startFake(t, &fake{name: "m"})
	doc := fmt.Sprintf(`apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: local}
spec:
  predictors:
  - name: p
    graph:
      name: m
      type: MODEL
      endpoint: {service_host: 127.0.0.1, service_port: %d, type: REST}
`, m.ep.HTTPPort)
	path := filepath.Join(t.TempDir(), "local.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	pred, _, err := PredictorFromFile(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	s := servePredictor(t, pred)
	if code, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`); code != 200 || out["strData"] != "m(x)" {
		t.Fatalf("got %d %v, want the node at its explicit endpoint to answer", code, out)
	}

	noEndpoint := strings.Replace(doc, fmt.Sprintf("      endpoint: {service_host: 127.0.0.1, service_port: %d, type: REST}\n", m.ep.HTTPPort), "", 1)
	if err := os.WriteFile(path, []byte(noEndpoint), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := PredictorFromFile(path, "", ""); err == nil || !strings.Contains(err.Error(), "Can't find container") {
		t.Fatalf("without an endpoint: %v, want the missing container refused", err)
	}
}
