package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --config FILE makes render and validate use that server table.
func TestConfigFlagServerTable(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "seldon-config.yaml")
	if err := os.WriteFile(config, []byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: seldon-config}
data:
  predictor_servers: '{"LIGHTGBM_SERVER": {"protocols": {"seldon": {"image": "example/lightgbm", "defaultImageVersion": "7"}}}}'
`), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: gbm}\nspec:\n  predictors:\n" +
		"  - name: p\n    graph: {name: booster, implementation: LIGHTGBM_SERVER, modelUri: 's3://bucket/m'}\n"

	_, errOut, code := run(t, doc, "validate", "-f", "-")
	if code != 1 || !strings.Contains(errOut, "No entry in predictors map for LIGHTGBM_SERVER") {
		t.Errorf("without --config: exit %d, stderr %q", code, errOut)
	}
	out, errOut, code := run(t, doc, "validate", "-f", "-", "--config", config)
	if code != 0 {
		t.Errorf("validate --config: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, doc, "render", "-f", "-", "--config", config)
	if code != 0 || !strings.Contains(out, "image: example/lightgbm:7") || !strings.Contains(out, "name: booster-model-initializer") {
		t.Errorf("render --config: exit %d\n%s%s", code, out, errOut)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("data:\n  predictor_servers: '{'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = run(t, doc, "render", "-f", "-", "--config", bad)
	if code == 0 || !strings.Contains(errOut, "predictor_servers: not a JSON object") {
		t.Errorf("a bad --config: exit %d, stderr %q", code, errOut)
	}
}
