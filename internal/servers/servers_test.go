package servers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultsAreUpstreams(t *testing.T) {
	c := Defaults()
	for _, tt := range []struct{ impl, protocol, want string }{
		{"SKLEARN_SERVER", "", "seldonio/sklearnserver:1.18.2"},
		{"SKLEARN_SERVER", "v2", "seldonio/mlserver:1.3.5-sklearn"},
		{"SKLEARN_SERVER", "kfserving", "seldonio/mlserver:1.3.5-sklearn"}, // v2 stands in
		{"XGBOOST_SERVER", "seldon", "seldonio/xgboostserver:1.18.2"},
		{"MLFLOW_SERVER", "v2", "seldonio/mlserver:1.3.5-mlflow"},
		{"TENSORFLOW_SERVER", "seldon", "seldonio/tfserving-proxy:1.18.2"},
		{"TENSORFLOW_SERVER", "tensorflow", "tensorflow/serving:2.1.0"},
		{"TENSORFLOW_SERVER", "v2", ""},
		{"TRITON_SERVER", "kfserving", "nvcr.io/nvidia/tritonserver:21.08-py3"},
		{"TRITON_SERVER", "seldon", ""},
		{"HUGGINGFACE_SERVER", "v2", "seldonio/mlserver:1.3.5-huggingface"},
		{"TEMPO_SERVER", "v2", "seldonio/mlserver:1.3.5-slim"},
		{"LIGHTGBM_SERVER", "v2", ""},
	} {
		if got := c.Image(tt.impl, tt.protocol); got != tt.want {
			t.Errorf("Image(%s, %q) = %q, want %q", tt.impl, tt.protocol, got, tt.want)
		}
	}
	if c.StorageInitializer.Image != "seldonio/rclone-storage-initializer:1.18.2" || c.StorageInitializer.CPURequest != "100m" {
		t.Errorf("storage initializer %+v", c.StorageInitializer)
	}
}

func TestParseConfigMapFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seldon-config.yaml")
	doc := `apiVersion: v1
kind: ConfigMap
metadata:
  name: seldon-config
data:
  predictor_servers: |-
    {"LIGHTGBM_SERVER": {"protocols": {"kfserving": {"image": "example/lgbm", "defaultImageVersion": "1"}}},
     "OLD_SERVER": {"rest": {"image": "old", "defaultImageVersion": "1"}}}
  storageInitializer: '{"image": "example/init:2"}'
  credentials: '{"s3": {}}'
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Image("LIGHTGBM_SERVER", "v2"); got != "example/lgbm:1" {
		t.Errorf("LIGHTGBM_SERVER v2 = %q", got)
	}
	if _, ok := c.Lookup("SKLEARN_SERVER"); ok {
		t.Error("predictor_servers replaces the default table, as upstream's ConfigMap does")
	}
	if c.StorageInitializer.Image != "example/init:2" || c.StorageInitializer.MemoryLimit != "1Gi" {
		t.Errorf("storage initializer %+v: want the image set and the rest defaulted", c.StorageInitializer)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "OLD_SERVER") {
		t.Errorf("warnings %v: want one about OLD_SERVER's legacy shape", w)
	}
}

func TestParseRefusesBadInput(t *testing.T) {
	for _, tt := range []struct {
		name string
		data map[string]string
		want string
	}{
		{"bad json", map[string]string{KeyPredictorServers: "{"}, "predictor_servers: not a JSON object"},
		{"wrong shape", map[string]string{KeyPredictorServers: `{"X": []}`}, "predictor_servers"},
		{"bad quantity", map[string]string{KeyStorageInitializer: `{"cpuRequest": "lots"}`}, `storageInitializer.cpuRequest: "lots" is not a quantity`},
		{"bad kind", map[string]string{KeyStorageInitializer: `{"kind": "ftp"}`}, `storageInitializer.kind: "ftp"`},
		{"bad explainer", map[string]string{KeyExplainer: `[]`}, "explainer: not a JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse: %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := ParseDocument([]byte("foo: bar\n")); err == nil || !strings.Contains(err.Error(), "none of predictor_servers") {
		t.Errorf("a document without the keys: %v", err)
	}
}

func TestRelatedImages(t *testing.T) {
	env := map[string]string{
		"RELATED_IMAGE_XGBOOSTSERVER_V2":    "mirror/xgb@sha256:1",
		"RELATED_IMAGE_TFPROXY":             "mirror/proxy:2",
		"RELATED_IMAGE_STORAGE_INITIALIZER": "mirror/init:3",
		"RELATED_IMAGE_EXPLAINER_V2":        "mirror/explain:4",
	}
	base := Defaults()
	c := base.WithRelatedImages(func(k string) string { return env[k] })
	for _, tt := range []struct{ impl, protocol, want string }{
		{"XGBOOST_SERVER", "v2", "mirror/xgb@sha256:1"},
		{"XGBOOST_SERVER", "seldon", "seldonio/xgboostserver:1.18.2"},
		{"TENSORFLOW_SERVER", "seldon", "mirror/proxy:2"},
	} {
		if got := c.Image(tt.impl, tt.protocol); got != tt.want {
			t.Errorf("Image(%s, %s) = %q, want %q", tt.impl, tt.protocol, got, tt.want)
		}
	}
	if c.StorageInitializer.Image != "mirror/init:3" || c.Explainer.ImageV2 != "mirror/explain:4" {
		t.Errorf("initializer %q explainer %q", c.StorageInitializer.Image, c.Explainer.ImageV2)
	}
	if base.Image("XGBOOST_SERVER", "v2") != "seldonio/mlserver:1.3.5-xgboost" {
		t.Error("WithRelatedImages changed the table it copied")
	}
}

func TestSource(t *testing.T) {
	var nilSource *Source
	if nilSource.Current().Image("SKLEARN_SERVER", "") == "" {
		t.Fatal("a nil Source gives the default table")
	}
	c, err := Parse(map[string]string{KeyPredictorServers: `{"ONLY": {"protocols": {"seldon": {"image": "x"}}}}`})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSource(nil)
	s.Set(c)
	if got := s.Current().Names(); len(got) != 1 || got[0] != "ONLY" {
		t.Errorf("Names = %v", got)
	}
}
