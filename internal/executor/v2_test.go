package executor

import (
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/models/mockclassifier"
	ipb "github.com/sdep-dev/sdep/internal/proto/inferencepb"
)

// startMock runs the built-in mock classifier speaking protocol on
// loopback ports and returns a graph node of that name pointing at it.
func startMock(t testing.TB, protocol, name string, children ...v1.PredictiveUnit) v1.PredictiveUnit {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	type addrs struct{ h, g net.Addr }
	ready := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- mockclassifier.New(mockclassifier.Config{Protocol: protocol}).Serve(ctx, "127.0.0.1",
			mockclassifier.Ports{}, 0, time.Second, func(h, g net.Addr) { ready <- addrs{h, g} })
	}()
	var a addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("mock classifier: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("mock classifier: %v", err)
		}
	})
	return v1.PredictiveUnit{Name: name, Type: v1.Model, Children: children, Endpoint: &v1.Endpoint{
		ServiceHost: "127.0.0.1", HTTPPort: port(t, a.h), GRPCPort: port(t, a.g)}}
}

// rawReq sends a request and returns the status, the body and the headers.
func rawReq(t testing.TB, method, url, body string, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

func decodeJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

// oipError checks the Open Inference Protocol's error shape: an object
// whose only key is "error", a non-empty string.
func oipError(t testing.TB, what string, b []byte) string {
	t.Helper()
	m := decodeJSON(t, b)
	msg, ok := m["error"].(string)
	if !ok || msg == "" || len(m) != 1 {
		t.Errorf("%s: body %s is not {\"error\": \"...\"}", what, b)
	}
	return msg
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// v2Proba reads outputs[0].data of an OIP JSON response.
func v2Proba(t testing.TB, b []byte) []float64 {
	t.Helper()
	var r struct {
		ModelName string `json:"model_name"`
		Outputs   []struct {
			Name  string    `json:"name"`
			Shape []int64   `json:"shape"`
			Data  []float64 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r.Outputs) != 1 || r.Outputs[0].Name != "proba" {
		t.Fatalf("not an OIP response with one output proba: %v: %s", err, b)
	}
	return r.Outputs[0].Data
}

// TestV2ConformanceREST runs every REST route of the Open Inference Protocol
// through the executor to the v2 mock classifier.
func TestV2ConformanceREST(t *testing.T) {
	s := serve(t, startMock(t, mockclassifier.ProtocolV2, "classifier"), WithProtocol("v2"))
	u := s.restURL
	want := mockclassifier.Predict([][]float64{{1, 2, 3, 4}, {6, 5, 4, 3}}, 0)
	body := `{"id":"r1","inputs":[{"name":"input","shape":[2,4],"datatype":"FP64","data":[1,2,3,4,6,5,4,3]}]}`

	for _, tc := range []struct{ method, path, body, key string }{
		{"GET", "/v2/health/live", "", "live"},
		{"GET", "/v2/health/ready", "", "ready"},
		{"GET", "/v2/models/classifier/ready", "", "ready"},
		{"GET", "/v2/models/classifier/versions/7/ready", "", "ready"},
	} {
		code, b, _ := rawReq(t, tc.method, u+tc.path, tc.body)
		if code != 200 || decodeJSON(t, b)[tc.key] != true {
			t.Errorf("%s %s = %d %s, want 200 with %s true", tc.method, tc.path, code, b, tc.key)
		}
	}
	code, b, _ := rawReq(t, "GET", u+"/v2", "")
	if m := decodeJSON(t, b); code != 200 || m["name"] != v2ServerName || m["version"] == nil || m["extensions"] == nil {
		t.Errorf("GET /v2 = %d %s", code, b)
	}
	code, b, _ = rawReq(t, "GET", u+"/v2/models/classifier", "")
	if m := decodeJSON(t, b); code != 200 || m["name"] != "classifier" || m["platform"] == "" || m["inputs"] == nil {
		t.Errorf("GET /v2/models/classifier = %d %s", code, b)
	}
	code, b, _ = rawReq(t, "GET", u+"/v2/models/classifier/versions/7", "")
	if m := decodeJSON(t, b); code != 200 || dig(m, "versions") == nil || m["versions"].([]any)[0] != "7" {
		t.Errorf("GET /v2/models/classifier/versions/7 = %d %s", code, b)
	}
	for _, path := range []string{"/v2/models/classifier/infer", "/v2/models/classifier/versions/7/infer", "/v2/models/infer"} {
		code, b, hdr := rawReq(t, "POST", u+path, body)
		if code != 200 {
			t.Fatalf("POST %s = %d %s", path, code, b)
		}
		got := v2Proba(t, b)
		if len(got) != 2 || !near(got[0], want[0]) || !near(got[1], want[1]) {
			t.Errorf("POST %s: proba %v, want %v", path, got, want)
		}
		m := decodeJSON(t, b)
		if m["model_name"] != "classifier" || m["id"] != "r1" {
			t.Errorf("POST %s: model_name %v id %v", path, m["model_name"], m["id"])
		}
		if strings.Contains(path, "versions") && m["model_version"] != "7" {
			t.Errorf("POST %s: model_version %v, want 7 (the versioned path reaches the component)", path, m["model_version"])
		}
		if hdr.Get(PuidHeader) == "" {
			t.Errorf("POST %s: no %s header", path, PuidHeader)
		}
	}
	// The {model} of the path is the model name every node is called with.
	code, b, _ = rawReq(t, "POST", u+"/v2/models/other/infer", body)
	if code != 200 || decodeJSON(t, b)["model_name"] != "other" {
		t.Errorf("POST /v2/models/other/infer = %d %s, want the mock to answer as model other", code, b)
	}
}

// TestV2ErrorsREST: every failure is {"error": "..."} with the right status.
func TestV2ErrorsREST(t *testing.T) {
	s := serve(t, startMock(t, mockclassifier.ProtocolV2, "classifier"), WithProtocol("kfserving"))
	u := s.restURL
	for _, tc := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/v2/models/nope", "", 404},                           // not a node
		{"GET", "/v2/models/nope/ready", "", 404},                     // not a node
		{"POST", "/v2/models/classifier/infer", "{", 400},             // not JSON
		{"POST", "/v2/models/classifier/infer", `{"inputs":[]}`, 400}, // the mock's own 400
		{"GET", "/v2/models/classifier/infer", "", 405},
		{"POST", "/v2/health/live", "{}", 405},
		{"GET", "/v2/nothing", "", 404},
		{"POST", "/api/v1.0/predictions", "{}", 404}, // not served under v2
	} {
		code, b, _ := rawReq(t, tc.method, u+tc.path, tc.body)
		if code != tc.code {
			t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, code, b, tc.code)
		}
		oipError(t, tc.method+" "+tc.path, b)
	}
	// An unreachable component: 503 in the same shape.
	dead := serve(t, v1.PredictiveUnit{Name: "m", Type: v1.Model, Endpoint: &v1.Endpoint{
		ServiceHost: "127.0.0.1", HTTPPort: closedPort(t), GRPCPort: closedPort(t)}}, WithProtocol("v2"))
	code, b, _ := rawReq(t, "POST", dead.restURL+"/v2/models/m/infer", `{"inputs":[]}`)
	if code != 503 {
		t.Errorf("unreachable component: %d %s, want 503", code, b)
	}
	oipError(t, "unreachable component", b)
	code, b, _ = rawReq(t, "GET", dead.restURL+"/v2/health/ready", "")
	if code != 503 {
		t.Errorf("/v2/health/ready with the component down = %d %s, want 503", code, b)
	}
	oipError(t, "/v2/health/ready", b)
}

// recorder is a component that records what reaches it and answers with a
// fixed OIP response.
type recorder struct {
	mu     sync.Mutex
	bodies []string
	paths  []string
	hdrs   []http.Header
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies, r.paths, r.hdrs = append(r.bodies, string(b)), append(r.paths, req.URL.Path), append(r.hdrs, req.Header.Clone())
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"model_name":"rec", "outputs":[{"name":"o","shape":[1],"datatype":"FP64","data":[0.5]}],  "z":1}`)
}

// TestV2RESTForwardsBytesAndRoutingHeaders: the request body reaches the
// component byte for byte, the answer comes back byte for byte, and the
// seldon-model and namespace headers reach the component.
func TestV2RESTForwardsBytesAndRoutingHeaders(t *testing.T) {
	rec := &recorder{}
	hs := httptest.NewServer(rec)
	t.Cleanup(hs.Close)
	s := serve(t, v1.PredictiveUnit{Name: "rec", Type: v1.Model, Endpoint: &v1.Endpoint{
		ServiceHost: "127.0.0.1", HTTPPort: port(t, hs.Listener.Addr())}}, WithProtocol("v2"))
	body := "{ \"zz\": 1,\n \"inputs\": [{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1.50]}] }"
	code, b, _ := rawReq(t, "POST", s.restURL+"/v2/models/rec/infer", body, "Seldon-Model", "rec", "Namespace", "ns1")
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	if string(b) != `{"model_name":"rec", "outputs":[{"name":"o","shape":[1],"datatype":"FP64","data":[0.5]}],  "z":1}` {
		t.Errorf("answer re-encoded: %s", b)
	}
	if len(rec.bodies) != 1 || rec.bodies[0] != body || rec.paths[0] != "/v2/models/rec/infer" {
		t.Fatalf("component got %q at %v, want the request's bytes at /v2/models/rec/infer", rec.bodies, rec.paths)
	}
	if rec.hdrs[0].Get("Seldon-Model") != "rec" || rec.hdrs[0].Get("Namespace") != "ns1" || rec.hdrs[0].Get(PuidHeader) == "" {
		t.Errorf("component headers %v: want Seldon-Model, Namespace and Seldon-Puid", rec.hdrs[0])
	}
}

// TestV2ChainREST: a model with a child model: the first one's outputs
// become the second one's inputs.
func TestV2ChainREST(t *testing.T) {
	second := startMock(t, mockclassifier.ProtocolV2, "second")
	s := serve(t, startMock(t, mockclassifier.ProtocolV2, "first", second), WithProtocol("v2"))
	first := mockclassifier.Predict([][]float64{{1, 2, 3, 4}}, 0)
	want := mockclassifier.Predict([][]float64{first}, 0)
	code, b, _ := rawReq(t, "POST", s.restURL+"/v2/models/infer",
		`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP64","data":[[1,2,3,4]]}]}`)
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	if got := v2Proba(t, b); len(got) != 1 || !near(got[0], want[0]) {
		t.Errorf("chain answered %v, want %v (second model of the first's %v)", got, want, first)
	}
	if m := decodeJSON(t, b); m["model_name"] != "second" {
		t.Errorf("the answer is the last model's: model_name %v, want second", m["model_name"])
	}
}

func v2Client(t testing.TB, s *served) ipb.GRPCInferenceServiceClient {
	return ipb.NewGRPCInferenceServiceClient(s.grpcConn)
}

func fp64Raw(vs ...float64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return b
}

// TestV2ConformanceGRPC calls every method of inference.GRPCInferenceService
// through the executor to the v2 mock classifier.
func TestV2ConformanceGRPC(t *testing.T) {
	s := serve(t, startMock(t, mockclassifier.ProtocolV2, "classifier"), WithProtocol("v2"))
	c := v2Client(t, s)
	ctx := context.Background()
	if r, err := c.ServerLive(ctx, &ipb.ServerLiveRequest{}); err != nil || !r.GetLive() {
		t.Errorf("ServerLive = %v, %v", r, err)
	}
	if r, err := c.ServerReady(ctx, &ipb.ServerReadyRequest{}); err != nil || !r.GetReady() {
		t.Errorf("ServerReady = %v, %v", r, err)
	}
	if r, err := c.ServerMetadata(ctx, &ipb.ServerMetadataRequest{}); err != nil || r.GetName() != v2ServerName {
		t.Errorf("ServerMetadata = %v, %v", r, err)
	}
	if r, err := c.ModelReady(ctx, &ipb.ModelReadyRequest{Name: "classifier"}); err != nil || !r.GetReady() {
		t.Errorf("ModelReady = %v, %v", r, err)
	}
	if r, err := c.ModelMetadata(ctx, &ipb.ModelMetadataRequest{Name: "classifier", Version: "3"}); err != nil ||
		r.GetName() != "classifier" || len(r.GetInputs()) != 1 || len(r.GetVersions()) != 1 {
		t.Errorf("ModelMetadata = %v, %v", r, err)
	}
	for _, name := range []string{"nope", ""} {
		if _, err := c.ModelReady(ctx, &ipb.ModelReadyRequest{Name: name}); status.Code(err) != codes.NotFound {
			t.Errorf("ModelReady(%q) = %v, want NotFound", name, err)
		}
		if _, err := c.ModelMetadata(ctx, &ipb.ModelMetadataRequest{Name: name}); status.Code(err) != codes.NotFound {
			t.Errorf("ModelMetadata(%q) = %v, want NotFound", name, err)
		}
	}
	want := mockclassifier.Predict([][]float64{{1, 2, 3, 4}, {6, 5, 4, 3}}, 0)
	var hdr metadata.MD
	r, err := c.ModelInfer(ctx, &ipb.ModelInferRequest{ModelName: "classifier", Id: "g1", Inputs: []*ipb.ModelInferRequest_InferInputTensor{{
		Name: "input", Datatype: "FP64", Shape: []int64{2, 4},
		Contents: &ipb.InferTensorContents{Fp64Contents: []float64{1, 2, 3, 4, 6, 5, 4, 3}}}}}, grpc.Header(&hdr))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.GetOutputs()[0].GetContents().GetFp64Contents(); len(got) != 2 || !near(got[0], want[0]) || !near(got[1], want[1]) ||
		r.GetModelName() != "classifier" || r.GetId() != "g1" {
		t.Errorf("ModelInfer = %v, want proba %v", r, want)
	}
	if len(hdr.Get(grpcPuidKey)) != 1 {
		t.Errorf("no %s response header: %v", grpcPuidKey, hdr)
	}
	// Raw contents pass through as bytes, and come back raw.
	r, err = c.ModelInfer(ctx, &ipb.ModelInferRequest{ModelName: "classifier", Inputs: []*ipb.ModelInferRequest_InferInputTensor{{
		Name: "input", Datatype: "FP64", Shape: []int64{2, 4}}}, RawInputContents: [][]byte{fp64Raw(1, 2, 3, 4, 6, 5, 4, 3)}})
	if err != nil {
		t.Fatal(err)
	}
	if raw := r.GetRawOutputContents(); len(raw) != 1 || string(raw[0]) != string(fp64Raw(want...)) {
		t.Errorf("raw ModelInfer = %v, want raw %v", r, want)
	}
	if _, err := c.ModelInfer(ctx, &ipb.ModelInferRequest{ModelName: "classifier"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ModelInfer without inputs = %v, want the mock's InvalidArgument", err)
	}
}

// TestV2ChainGRPC: two v2 models in a chain over gRPC, typed and raw.
func TestV2ChainGRPC(t *testing.T) {
	second := startMock(t, mockclassifier.ProtocolV2, "second")
	s := serve(t, startMock(t, mockclassifier.ProtocolV2, "first", second), WithProtocol("v2"))
	c := v2Client(t, s)
	first := mockclassifier.Predict([][]float64{{1, 2, 3, 4}}, 0)
	want := mockclassifier.Predict([][]float64{first}, 0)
	r, err := c.ModelInfer(context.Background(), &ipb.ModelInferRequest{Inputs: []*ipb.ModelInferRequest_InferInputTensor{{
		Name: "input", Datatype: "FP64", Shape: []int64{1, 4}, Contents: &ipb.InferTensorContents{Fp64Contents: []float64{1, 2, 3, 4}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.GetOutputs()[0].GetContents().GetFp64Contents(); len(got) != 1 || !near(got[0], want[0]) || r.GetModelName() != "second" {
		t.Errorf("chain = %v, want %v from model second", r, want)
	}
	r, err = c.ModelInfer(context.Background(), &ipb.ModelInferRequest{Inputs: []*ipb.ModelInferRequest_InferInputTensor{{
		Name: "input", Datatype: "FP64", Shape: []int64{1, 4}}}, RawInputContents: [][]byte{fp64Raw(1, 2, 3, 4)}})
	if err != nil {
		t.Fatal(err)
	}
	if raw := r.GetRawOutputContents(); len(raw) != 1 || string(raw[0]) != string(fp64Raw(want...)) {
		t.Errorf("raw chain = %v, want raw %v (raw outputs become the next raw inputs)", r, want)
	}
}

// TestV2LimitsAnswerInTheOIPShape: the executor's own limits (body size,
// in-flight cap) answer v2 and tensorflow clients with {"error": "..."} too.
func TestV2LimitsAnswerInTheOIPShape(t *testing.T) {
	for _, p := range []string{"v2", "tensorflow"} {
		s := serve(t, startMock(t, p, "m"), WithProtocol(p), WithMaxBodyBytes(64))
		path := "/v2/models/m/infer"
		if p == "tensorflow" {
			path = "/v1/models/m:predict"
		}
		code, b, _ := rawReq(t, "POST", s.restURL+path, `{"inputs":[`+strings.Repeat("1,", 64)+`1]}`)
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: oversized body = %d %s, want 413", p, code, b)
		}
		if msg := oipError(t, p+" oversized body", b); !strings.Contains(msg, "64 bytes") {
			t.Errorf("%s: %q does not name the limit", p, msg)
		}
	}
}

// TestV2ClientMetricsNameTheComponentPath: the client metrics' service label
// is the path the executor calls, as upstream labels it.
func TestV2ClientMetricsNameTheComponentPath(t *testing.T) {
	s := serve(t, startMock(t, "v2", "classifier"), WithProtocol("v2"))
	if code, b, _ := rawReq(t, "POST", s.restURL+"/v2/models/infer",
		`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}`); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	_, b, _ := rawReq(t, "GET", s.restURL+"/prometheus", "")
	if !strings.Contains(string(b), `service="/v2/models/classifier/infer"`) {
		t.Errorf("no client metric with service=/v2/models/classifier/infer:\n%s", b)
	}
}

// TestV2RouterAndCombinerREST: a ROUTER component is asked at
// /v2/models/M/route and its [branch] followed; a COMBINER gets the
// children's answers as a JSON array at /v2/models/M/aggregate.
func TestV2RouterAndCombinerREST(t *testing.T) {
	var mu sync.Mutex
	var aggregated []byte
	comp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/v2/models/router/route":
			_, _ = io.WriteString(w, `[1]`)
		case "/v2/models/combiner/aggregate":
			mu.Lock()
			aggregated = b
			mu.Unlock()
			_, _ = io.WriteString(w, `{"model_name":"combiner","outputs":[{"name":"n","shape":[1],"datatype":"INT64","data":[2]}]}`)
		default:
			http.Error(w, `{"error":"unexpected path `+r.URL.Path+`"}`, http.StatusNotFound)
		}
	}))
	t.Cleanup(comp.Close)
	ep := &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: port(t, comp.Listener.Addr())}
	body := `{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}`
	want := mockclassifier.Predict([][]float64{{1, 2, 3, 4}}, 0)

	router := serve(t, v1.PredictiveUnit{Name: "router", Type: v1.Router, Endpoint: ep, Children: []v1.PredictiveUnit{
		startMock(t, "v2", "a"), startMock(t, "v2", "b")}}, WithProtocol("v2"))
	code, b, _ := rawReq(t, "POST", router.restURL+"/v2/models/infer", body)
	if code != 200 || decodeJSON(t, b)["model_name"] != "b" {
		t.Errorf("router chose branch 1: got %d %s, want model b's answer", code, b)
	}

	combiner := serve(t, v1.PredictiveUnit{Name: "combiner", Type: v1.Combiner, Endpoint: ep, Children: []v1.PredictiveUnit{
		startMock(t, "v2", "a"), startMock(t, "v2", "b")}}, WithProtocol("v2"))
	code, b, _ = rawReq(t, "POST", combiner.restURL+"/v2/models/infer", body)
	if code != 200 || decodeJSON(t, b)["model_name"] != "combiner" {
		t.Fatalf("combiner: %d %s", code, b)
	}
	mu.Lock()
	defer mu.Unlock()
	var parts []json.RawMessage
	if err := json.Unmarshal(aggregated, &parts); err != nil || len(parts) != 2 {
		t.Fatalf("the combiner got %s, want a JSON array of two answers", aggregated)
	}
	for i, name := range []string{"a", "b"} {
		if m := decodeJSON(t, parts[i]); m["model_name"] != name {
			t.Errorf("answer %d is from %v, want %s", i, m["model_name"], name)
		}
		if got := v2Proba(t, parts[i]); len(got) != 1 || !near(got[0], want[0]) {
			t.Errorf("answer %d: %v, want %v", i, got, want)
		}
	}
}

// TestV2ChainDecompressesGzipAnswers: a gzip answer is decompressed before
// its outputs become the next node's inputs; the last answer keeps its
// Content-Encoding.
func TestV2ChainDecompressesGzipAnswers(t *testing.T) {
	gz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		_, _ = io.WriteString(zw, `{"model_name":"gz","id":"x","outputs":[{"name":"o","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}`)
		_ = zw.Close()
	}))
	t.Cleanup(gz.Close)
	rec := &recorder{}
	last := httptest.NewServer(rec)
	t.Cleanup(last.Close)
	s := serve(t, v1.PredictiveUnit{Name: "gz", Type: v1.Model,
		Endpoint: &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: port(t, gz.Listener.Addr())},
		Children: []v1.PredictiveUnit{{Name: "rec", Type: v1.Model,
			Endpoint: &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: port(t, last.Listener.Addr())}}}}, WithProtocol("v2"))
	code, b, _ := rawReq(t, "POST", s.restURL+"/v2/models/infer", `{"inputs":[]}`)
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	if len(rec.bodies) != 1 {
		t.Fatalf("the second node got %d requests", len(rec.bodies))
	}
	got := decodeJSON(t, []byte(rec.bodies[0]))
	if got["inputs"] == nil || got["outputs"] != nil || got["id"] != "x" || rec.hdrs[0].Get("Content-Encoding") != "" {
		t.Errorf("second node got %s (Content-Encoding %q), want the first's outputs as inputs, plain", rec.bodies[0], rec.hdrs[0].Get("Content-Encoding"))
	}

	// A gzip answer that is the graph's answer is passed on compressed.
	only := serve(t, v1.PredictiveUnit{Name: "gz", Type: v1.Model,
		Endpoint: &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: port(t, gz.Listener.Addr())}}, WithProtocol("v2"))
	req, _ := http.NewRequest("POST", only.restURL+"/v2/models/gz/infer", strings.NewReader(`{"inputs":[]}`))
	req.Header.Set("Accept-Encoding", "gzip") // read it raw
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("Content-Encoding %q, want gzip passed through", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatalf("the answer is not gzip: %v", err)
	}
	plain, _ := io.ReadAll(zr)
	if !strings.Contains(string(plain), `"model_name":"gz"`) {
		t.Errorf("decompressed answer %s", plain)
	}
}

// A component's gzip error body reaches the client readable: decompressed,
// with no Content-Encoding, under v2 and tensorflow.
func TestRawErrorBodyIsDecompressed(t *testing.T) {
	gz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusBadRequest)
		zw := gzip.NewWriter(w)
		_, _ = io.WriteString(zw, `{"error":"bad input"}`)
		_ = zw.Close()
	}))
	t.Cleanup(gz.Close)
	for proto, path := range map[string]string{"v2": "/v2/models/gz/infer", "tensorflow": "/v1/models/gz:predict"} {
		s := serve(t, v1.PredictiveUnit{Name: "gz", Type: v1.Model,
			Endpoint: &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: port(t, gz.Listener.Addr())}}, WithProtocol(proto))
		req, _ := http.NewRequest("POST", s.restURL+path, strings.NewReader(`{"inputs":[]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept-Encoding", "gzip") // read the answer raw
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Encoding") != "" || string(b) != `{"error":"bad input"}` {
			t.Errorf("%s: %d, Content-Encoding %q, body %q; want 400 and the plain error body",
				proto, resp.StatusCode, resp.Header.Get("Content-Encoding"), b)
		}
	}
}

// Under v2, a CloudEvents request without Seldon-Puid gets one puid: its
// Ce-Id is the answer's Seldon-Puid and the one the component gets.
func TestV2CloudEventIDIsThePuid(t *testing.T) {
	rec := &recorder{}
	hs := httptest.NewServer(rec)
	t.Cleanup(hs.Close)
	s := serve(t, v1.PredictiveUnit{Name: "rec", Type: v1.Model, Endpoint: &v1.Endpoint{
		ServiceHost: "127.0.0.1", HTTPPort: port(t, hs.Listener.Addr())}}, WithProtocol("v2"))
	code, b, h := rawReq(t, "POST", s.restURL+"/v2/models/rec/infer", `{"inputs":[]}`, "Ce-Specversion", "1.0")
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	id, puid := h.Get("Ce-Id"), h.Get(PuidHeader)
	if id == "" || id != puid || len(rec.hdrs) != 1 || rec.hdrs[0].Get(PuidHeader) != puid {
		t.Errorf("Ce-Id %q, Seldon-Puid %q, component's %v: want one puid", id, puid, rec.hdrs)
	}
}
