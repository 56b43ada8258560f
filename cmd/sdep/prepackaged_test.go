package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sdep-dev/sdep/internal/autoscale"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/local"
	"github.com/sdep-dev/sdep/internal/models/sklearn"
	"github.com/sdep-dev/sdep/internal/models/xgboost"
	"github.com/sdep-dev/sdep/internal/storage/storagetest"
)

// asSdepEnv makes this test binary act as sdep itself (main), so the
// replicas sdep serve starts as "SELF model xgboost ..." run the real
// subcommands without building the binary.
const asSdepEnv = "SDEP_TEST_ACT_AS_SDEP"

func TestMain(m *testing.M) {
	if os.Getenv(asSdepEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// xgbModel is a two-tree binary:logistic model on two features.
const xgbModel = `{"learner":{"attributes":{},"feature_names":[],"feature_types":[],
 "gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"2"},
  "tree_info":[0,0],"trees":[
   {"id":0,"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[0,0,0],
    "split_conditions":[0.5,-0.4,0.3],"default_left":[0,0,0],"split_type":[0,0,0]},
   {"id":1,"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[1,0,0],
    "split_conditions":[-1,0.25,-0.125],"default_left":[1,0,0],"split_type":[0,0,0]}]},
  "name":"gbtree"},
 "learner_model_param":{"base_score":"5E-1","num_class":"0","num_feature":"2","num_target":"1"},
 "objective":{"name":"binary:logistic"}},"version":[1,7,6]}`

// prepackagedDoc is a SeldonDeployment whose one node is impl, loading
// modelUri, autoscaled on CPU between 1 and 3 replicas.
func prepackagedDoc(impl, modelURI, params string) string {
	return fmt.Sprintf(`apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: prepack
spec:
  predictors:
  - name: default
    replicas: 1
    graph:
      name: classifier
      implementation: %s
      modelUri: %s
      parameters: %s
    componentSpecs:
    - metadata:
        name: model
      spec:
        terminationGracePeriodSeconds: 1
        containers:
        - name: classifier
          resources:
            requests:
              cpu: 10m
      hpaSpec:
        minReplicas: 1
        maxReplicas: 3
        metrics:
        - type: Resource
          resource:
            name: cpu
            targetAverageUtilization: 10
`, impl, modelURI, params)
}

// serveDoc plans and runs doc with this binary as sdep, the model cache in
// a temporary directory and the S3 credentials of the test's server.
func serveDoc(t *testing.T, doc string, s3URL string) *local.Runtime {
	t.Helper()
	t.Setenv(asSdepEnv, "1")
	t.Setenv("AWS_ACCESS_KEY_ID", storagetest.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", storagetest.SecretKey)
	t.Setenv("AWS_ENDPOINT_URL", s3URL)
	t.Setenv("AWS_REGION", "us-east-1")
	docs, err := decode.Documents("doc.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := local.NewPlan(docs[0].Object, local.Mappings{Self: self, ModelCache: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := autoscale.DefaultConfig()
	cfg.DownscaleStabilizationWindow = time.Hour
	var logs syncBuf
	rt, err := local.New(plan, local.Options{StatusPort: -1, SyncPeriod: 500 * time.Millisecond, Autoscale: cfg, Log: &logs, ChildOutput: &logs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Logf("sdep serve log:\n%s", logs.String())
		}
	})
	return rt
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// predict posts rows to the executor until it answers 200 or the
// deadline passes (the replica loads its model first).
func predict(t *testing.T, rt *local.Runtime, body string, within time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		if addrs := rt.Addrs(); len(addrs) > 0 {
			resp, err := http.Post("http://"+addrs[0].HTTP+"/api/v1.0/predictions", "application/json", strings.NewReader(body))
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					var out map[string]any
					if err := json.Unmarshal(b, &out); err != nil {
						t.Fatalf("answer %s: %v", b, err)
					}
					return out
				}
				last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			} else {
				last = err.Error()
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no prediction within %s; last: %s", within, last)
	return nil
}

// loadUntilScaled sends requests from a few workers until the component
// has more than one replica.
func loadUntilScaled(t *testing.T, rt *local.Runtime, body string, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var ok atomic.Int64
	var wg sync.WaitGroup
	url := "http://" + rt.Addrs()[0].HTTP + "/api/v1.0/predictions"
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok.Add(1)
					}
				}
			}
		}()
	}
	defer wg.Wait()
	for {
		changed := rt.Changed()
		if st := rt.Status(); len(st.Components) > 0 && st.Components[0].Replicas > 1 {
			t.Logf("scaled to %d replicas after %d requests", st.Components[0].Replicas, ok.Load())
			cancel()
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("no second replica within %s under load (%d requests answered); status %+v", within, ok.Load(), rt.Status().Components)
		}
	}
}

func TestServeXGBoostServerFromS3(t *testing.T) {
	s3 := storagetest.StartS3(t, map[string]map[string][]byte{"models": {"xgb/model.json": []byte(xgbModel)}})
	rt := serveDoc(t, prepackagedDoc("XGBOOST_SERVER", "s3://models/xgb", "[]"), s3.URL)
	rows := [][]float32{{0, 0}, {1, -2}, {0.7, 0.1}}
	out := predict(t, rt, `{"data":{"ndarray":[[0,0],[1,-2],[0.7,0.1]]}}`, 60*time.Second)
	m, err := xgboost.Parse([]byte(xgbModel), false)
	if err != nil {
		t.Fatal(err)
	}
	want := m.Predict(rows)
	got, _ := out["data"].(map[string]any)["ndarray"].([]any)
	if len(got) != len(rows) {
		t.Fatalf("answer %v, want %d predictions", out, len(rows))
	}
	for i := range rows {
		if g, _ := got[i].(float64); math.Abs(g-want[i][0]) > 1e-6 {
			t.Errorf("row %d: %v, want %v", i, got[i], want[i][0])
		}
	}
	if s3.Gets() != 1 {
		t.Errorf("%d model downloads, want 1", s3.Gets())
	}
	loadUntilScaled(t, rt, `{"data":{"ndarray":[[0,0],[1,-2],[0.7,0.1]]}}`, 90*time.Second)
}

// trainIris saves a LogisticRegression on iris with the machine's
// scikit-learn and returns model.joblib's bytes and predict_proba of the
// first rows, or skips.
func trainIris(t *testing.T) ([]byte, [][]float64) {
	t.Helper()
	py, err := sklearn.FindPython()
	if err != nil {
		t.Skipf("no Python with scikit-learn (CI installs Debian's python3-sklearn): %v", err)
	}
	dir := t.TempDir()
	script := `
import json, sys, joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
m = LogisticRegression(max_iter=500).fit(X, y)
joblib.dump(m, sys.argv[1] + "/model.joblib")
json.dump(m.predict_proba(X[:3]).tolist(), open(sys.argv[1] + "/expected.json", "w"))
`
	if out, err := exec.Command(py, "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("training: %v\n%s", err, out)
	}
	model, err := os.ReadFile(filepath.Join(dir, "model.joblib"))
	if err != nil {
		t.Fatal(err)
	}
	var want [][]float64
	b, _ := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	return model, want
}

const irisRows = `{"data":{"ndarray":[[5.1,3.5,1.4,0.2],[4.9,3.0,1.4,0.2],[4.7,3.2,1.3,0.2]]}}`

func TestServeSklearnServerFromS3(t *testing.T) {
	model, want := trainIris(t)
	s3 := storagetest.StartS3(t, map[string]map[string][]byte{"models": {"sklearn/iris/model.joblib": model}})
	rt := serveDoc(t, prepackagedDoc("SKLEARN_SERVER", "s3://models/sklearn/iris", "[]"), s3.URL)
	out := predict(t, rt, irisRows, 60*time.Second)
	data := out["data"].(map[string]any)
	if names := fmt.Sprint(data["names"]); names != "[t:0 t:1 t:2]" {
		t.Errorf("names %s, want t:0..t:2 as upstream's wrapper answers", names)
	}
	got, _ := data["ndarray"].([]any)
	if len(got) != len(want) {
		t.Fatalf("answer %v", out)
	}
	for i := range want {
		row := got[i].([]any)
		for k := range want[i] {
			if math.Abs(row[k].(float64)-want[i][k]) > 1e-9 {
				t.Errorf("row %d class %d: %v, want %v", i, k, row[k], want[i][k])
			}
		}
	}
	loadUntilScaled(t, rt, irisRows, 90*time.Second)
}

func TestServeSklearnServerMethodParameter(t *testing.T) {
	model, _ := trainIris(t)
	s3 := storagetest.StartS3(t, map[string]map[string][]byte{"models": {"iris/model.joblib": model}})
	rt := serveDoc(t, prepackagedDoc("SKLEARN_SERVER", "s3://models/iris",
		`[{name: method, value: predict, type: STRING}]`), s3.URL)
	out := predict(t, rt, irisRows, 60*time.Second)
	if got := fmt.Sprint(out["data"].(map[string]any)["ndarray"]); got != "[0 0 0]" {
		t.Errorf("method=predict answered %s, want the classes [0 0 0]", got)
	}
}

func TestServePrepackagedErrors(t *testing.T) {
	s3 := storagetest.StartS3(t, map[string]map[string][]byte{"models": {"xgb/model.bst": []byte("legacy")}})
	t.Setenv("AWS_ACCESS_KEY_ID", storagetest.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", storagetest.SecretKey)
	t.Setenv("AWS_ENDPOINT_URL", s3.URL)
	t.Setenv("PATH", t.TempDir()) // no mlserver, no python3
	for _, c := range []struct{ doc, want string }{
		{prepackagedDoc("XGBOOST_SERVER", "s3://models/absent", "[]"), "no objects under models/absent"},
		{prepackagedDoc("XGBOOST_SERVER", "s3://models/xgb", "[]"), `booster.save_model("model.json")`},
		{prepackagedDoc("SKLEARN_SERVER", "s3://models/xgb", "[]"), "install python3 and python3-sklearn"},
		{strings.Replace(prepackagedDoc("MLFLOW_SERVER", "s3://models/xgb", "[]"), "  predictors:", "  protocol: v2\n  predictors:", 1), "mlserver"},
		{prepackagedDoc("MLFLOW_SERVER", "s3://models/xgb", "[]"), "MLFLOW_SERVER"},
	} {
		docs, err := decode.Documents("doc.yaml", []byte(c.doc))
		if err != nil {
			t.Fatal(err)
		}
		_, err = local.NewPlan(docs[0].Object, local.Mappings{Self: "sdep", ModelCache: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
	}
}
