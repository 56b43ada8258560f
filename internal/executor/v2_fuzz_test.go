package executor

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	v1 "github.com/sdep-dev/sdep/api/v1"
)

// FuzzOIPHandlers drives the v2 and tensorflow REST handlers (built-in
// graph, no network) with any method, path and body: every answer is 200
// or a client error, and every error is {"error": "..."}.
func FuzzOIPHandlers(f *testing.F) {
	for _, s := range []struct {
		method, path, body string
	}{
		{"POST", "/v2/models/sm/infer", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}]}`},
		{"POST", "/v2/models/infer", `{"inputs":[]}`},
		{"GET", "/v2/models/sm/versions/1/ready", ``},
		{"GET", "/v2", ``},
		{"POST", "/v1/models/sm:predict", `{"instances":[[1]]}`},
		{"POST", "/v1/models/sm/versions/2:regress", `{"examples":[]}`},
		{"GET", "/v1/models/sm/labels/x/metadata", ``},
		{"POST", "/v1/models/%zz:predict", `{}`},
		{"DELETE", "/v2/models/a/versions//infer", `[`},
	} {
		f.Add(false, s.method, s.path, []byte(s.body))
		f.Add(true, s.method, s.path, []byte(s.body))
	}
	graph := v1.PredictiveUnit{Name: "sm", Implementation: v1.SimpleModel}
	handlers := map[bool]http.Handler{}
	for tf, p := range map[bool]string{false: "v2", true: "tensorflow"} {
		e, err := New(v1.PredictorSpec{Name: "p", Graph: graph}, WithProtocol(p), WithMaxBodyBytes(4096))
		if err != nil {
			f.Fatal(err)
		}
		handlers[tf] = e.Handler(HandlerOptions{})
	}
	f.Fuzz(func(t *testing.T, tf bool, method, path string, body []byte) {
		if len(path) == 0 || path[0] != '/' || method == "" || method == http.MethodOptions {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "http://x/", bytes.NewReader(body))
		req.Method = method
		req.URL.Path = path
		rec := httptest.NewRecorder()
		handlers[tf].ServeHTTP(rec, req)
		if rec.Code != 200 && (rec.Code < 400 || rec.Code > 499) {
			t.Fatalf("%s %s %q: status %d: %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code == 200 {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || len(m) != 1 {
			t.Fatalf("%s %s %q: error answer is not {\"error\": ...}: %s", method, path, body, rec.Body)
		}
		if s, ok := m["error"].(string); !ok || s == "" {
			t.Fatalf("%s %s %q: error answer is not {\"error\": ...}: %s", method, path, body, rec.Body)
		}
	})
}
