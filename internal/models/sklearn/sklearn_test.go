package sklearn

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pythons returns the python3 interpreters on PATH, split by whether
// they import scikit-learn.
func pythons(t *testing.T) (with, without []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, "python3")
		if _, err := os.Stat(p); err != nil || dir == "" {
			continue
		}
		real, _ := filepath.EvalSymlinks(p)
		if seen[real] {
			continue
		}
		seen[real] = true
		if exec.Command(p, "-c", "import sklearn, joblib").Run() == nil {
			with = append(with, p)
		} else {
			without = append(without, p)
		}
	}
	return with, without
}

func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Command(Config{Python: "no-such-python-here", ModelDir: dir}, t.TempDir()); err == nil ||
		!strings.Contains(err.Error(), "install python3 and python3-sklearn") {
		t.Errorf("missing python: %v", err)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	if _, err := Command(Config{Python: py, ModelDir: dir}, t.TempDir()); err == nil ||
		!strings.Contains(err.Error(), `joblib.dump(model, "model.joblib")`) {
		t.Errorf("no model.joblib: %v", err)
	}
}

// TestCommandWritesNoRunnerFile: the runner is the -c argument, so no file
// lands in the directory once used for it (a shared temporary directory).
func TestCommandWritesNoRunnerFile(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	model := t.TempDir()
	if err := os.WriteFile(filepath.Join(model, "model.joblib"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd, err := Command(Config{Python: py, ModelDir: model, Port: 9000}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("Command wrote %v into %s", left, dir)
	}
	if len(cmd.Args) < 4 || cmd.Args[2] != "-c" || cmd.Args[3] != string(Runner()) {
		t.Errorf("args %q...: want -u -c RUNNER", cmd.Args[:min(len(cmd.Args), 3)])
	}
}

// TestRunnerWithoutSklearn: a Python without scikit-learn exits with a
// message naming what to install.
func TestRunnerWithoutSklearn(t *testing.T) {
	_, without := pythons(t)
	if len(without) == 0 {
		t.Skip("every python3 on PATH has scikit-learn: this test covers a Python without it")
	}
	py := without[0]
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.joblib"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, err := Command(Config{Python: py, ModelDir: dir, Port: freePort(t)}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "python3-sklearn") {
		t.Errorf("exit %v, output %s; want a failure naming python3-sklearn", err, out)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs the runner on model dir with method and returns its URL.
func start(t *testing.T, py, dir, method string) string {
	t.Helper()
	port := freePort(t)
	cmd, err := Command(Config{Python: py, ModelDir: dir, Method: method, Host: "127.0.0.1", Port: port}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if err := <-exited; err != nil && !strings.Contains(err.Error(), "killed") {
			t.Errorf("runner: %v\n%s", err, stderr.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("runner exited: %v\n%s", err, stderr.String())
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("runner not listening within 60s\n%s", stderr.String())
	return ""
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url+"/api/v1.0/predictions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%d %s: %v", resp.StatusCode, b, err)
	}
	return resp.StatusCode, out
}

func TestRunnerServesIris(t *testing.T) {
	py, err := FindPython()
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
json.dump({"proba": m.predict_proba(X[:2]).tolist(), "decision": m.decision_function(X[:2]).tolist(),
           "predict": m.predict(X[100:102]).tolist(), "rows": X[:2].tolist(), "rows2": X[100:102].tolist()},
          open(sys.argv[1] + "/expected.json", "w"))
`
	if out, err := exec.Command(py, "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("training: %v\n%s", err, out)
	}
	var exp struct {
		Proba, Decision, Rows, Rows2 [][]float64
		Predict                      []float64
	}
	b, _ := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	rows, _ := json.Marshal(exp.Rows)
	near := func(what string, got any, want [][]float64) {
		t.Helper()
		g, _ := got.([]any)
		if len(g) != len(want) {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
		for i := range want {
			r := g[i].([]any)
			for k := range want[i] {
				if math.Abs(r[k].(float64)-want[i][k]) > 1e-9 {
					t.Errorf("%s[%d][%d] = %v, want %v", what, i, k, r[k], want[i][k])
				}
			}
		}
	}
	url := start(t, py, dir, "")
	code, out := post(t, url, `{"data":{"ndarray":`+string(rows)+`},"meta":{"puid":"p1"}}`)
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	near("predict_proba", out["data"].(map[string]any)["ndarray"], exp.Proba)
	if p := out["meta"].(map[string]any)["puid"]; p != "p1" {
		t.Errorf("puid %v", p)
	}
	flat := append(append([]float64{}, exp.Rows[0]...), exp.Rows[1]...)
	vals, _ := json.Marshal(flat)
	code, out = post(t, url, `{"data":{"tensor":{"shape":[2,4],"values":`+string(vals)+`}}}`)
	tensor := out["data"].(map[string]any)["tensor"].(map[string]any)
	if code != 200 || fmt.Sprint(tensor["shape"]) != "[2 3]" {
		t.Errorf("tensor: %d %v", code, out)
	}
	for _, bad := range []string{`{"data":{"ndarray":[["a","b"]]}}`, `{}`, `{`,
		`{"data":{"ndarray":` + string(rows) + `},"meta":[1]}`} {
		if code, out := post(t, url, bad); code != 400 {
			t.Errorf("%s: %d %v", bad, code, out)
		}
	}
	// With ?json= a body is still read, so the next request on the
	// connection is parsed from its own first line.
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	q := `{"data":{"ndarray":` + string(rows) + `}}`
	fmt.Fprintf(conn, "POST /predict?json=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nxxxx"+
		"GET /health/ping HTTP/1.1\r\nHost: x\r\n\r\n", neturl.QueryEscape(q))
	br := bufio.NewReader(conn)
	for i, want := range []int{200, 200} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d on one connection: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("answer %d on one connection: %s, want %d", i, resp.Status, want)
		}
	}
	// The model's own error (wrong feature count) is a 500 naming it.
	if code, out := post(t, url, `{"data":{"ndarray":[[1,2]]}}`); code != 500 || !strings.Contains(fmt.Sprint(out), "features") {
		t.Errorf("wrong width: %d %v", code, out)
	}

	url = start(t, py, dir, "decision_function")
	_, out = post(t, url, `{"data":{"ndarray":`+string(rows)+`}}`)
	near("decision_function", out["data"].(map[string]any)["ndarray"], exp.Decision)

	rows2, _ := json.Marshal(exp.Rows2)
	url = start(t, py, dir, "predict")
	_, out = post(t, url, `{"data":{"ndarray":`+string(rows2)+`}}`)
	if got := fmt.Sprint(out["data"].(map[string]any)["ndarray"]); got != fmt.Sprint(exp.Predict) {
		t.Errorf("predict: %s, want %v", got, exp.Predict)
	}
}
