package executor

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v1 "github.com/sdep-dev/sdep/api/v1"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int32 {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := port(t, lis.Addr())
	_ = lis.Close()
	return p
}

func TestRESTErrors(t *testing.T) {
	ok := startFake(t, &fake{name: "m"})
	failing := startFake(t, &fake{name: "m", failStatus: 400,
		failBody: `{"status":{"status":1,"info":"Incorrect shape","code":-1,"reason":"MICROSERVICE_BAD_DATA"}}`})
	crashing := startFake(t, &fake{name: "m", failStatus: 500, failBody: "Internal Server Error"})
	garbage := startFake(t, &fake{name: "m", fixed: `{"data": nope`})
	badRoute := startFake(t, &fake{name: "r", route: 5})
	blocked := startFake(t, &fake{name: "m", block: make(chan struct{})})
	t.Cleanup(func() { close(blocked.block) })
	dead := closedPort(t)

	model := func(f *fake) v1.PredictiveUnit { return unit("m", v1.Model, f) }
	for _, tc := range []struct {
		name     string
		graph    v1.PredictiveUnit
		opts     []Option
		method   string
		path     string
		body     string
		code     int
		info     string // status.info must contain this
		reason   string
		noStatus bool
	}{
		{name: "bad JSON", graph: model(ok), body: `{"data":`, code: 400,
			info: "request is not a SeldonMessage: invalid JSON", reason: "BAD_REQUEST"},
		{name: "not an object", graph: model(ok), body: `[1,2]`, code: 400,
			info: "expected a SeldonMessage JSON object, got a JSON array", reason: "BAD_REQUEST"},
		{name: "two payloads", graph: model(ok), body: `{"strData":"a","binData":"YQ=="}`, code: 400,
			info: "only one of data, binData, strData, jsonData and customData may be set", reason: "BAD_REQUEST"},
		{name: "data not an object", graph: model(ok), body: `{"data":[1]}`, code: 400,
			info: "data: expected a JSON object", reason: "BAD_REQUEST"},
		{name: "empty body", graph: model(ok), body: ``, code: 400, info: "empty body", reason: "BAD_REQUEST"},
		{name: "body over the limit", graph: model(ok), opts: []Option{WithMaxBodyBytes(16)},
			body: `{"strData":"0123456789abcdef"}`, code: 413, info: "larger than the limit of 16 bytes"},
		{name: "unknown path", graph: model(ok), path: "/api/v1.0/nope", code: 404, info: "no such path: /api/v1.0/nope", reason: "NOT_FOUND"},
		{name: "GET predictions", graph: model(ok), method: http.MethodGet, code: 405, info: "use POST"},
		{name: "component refuses connections", code: 503, reason: "COMPONENT_UNREACHABLE",
			graph: unit("m", v1.Model, &fake{ep: Endpoint{Host: "127.0.0.1", HTTPPort: dead}}),
			info:  `node "m": POST /predict failed: connection refused`},
		{name: "component times out", code: 504, reason: "COMPONENT_TIMEOUT",
			graph: model(blocked), opts: []Option{WithAnnotations(map[string]string{AnnotationRESTTimeout: "50"})},
			info: `node "m": POST /predict timed out`},
		{name: "component status passes through", graph: model(failing), code: 400, reason: "MICROSERVICE_BAD_DATA",
			info: `node "m": POST /predict returned HTTP 400: Incorrect shape`},
		{name: "component crash passes through", graph: model(crashing), code: 500, reason: "COMPONENT_ERROR",
			info: `node "m": POST /predict returned HTTP 500: Internal Server Error`},
		{name: "component answers garbage", graph: model(garbage), code: 500, reason: "INVALID_COMPONENT_RESPONSE",
			info: `node "m": POST /predict returned an invalid SeldonMessage: invalid JSON`},
		{name: "router picks a missing branch", code: 500, reason: "GRAPH_ERROR",
			graph: unit("r", v1.Router, badRoute, model(ok)),
			info:  `node "r": router chose branch 5; valid are -2 (stop), -1 (all children) and 0..0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, tc.graph, tc.opts...)
			method, path, body := tc.method, tc.path, tc.body
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/api/v1.0/predictions"
			}
			if body == "" && tc.name != "empty body" {
				body = `{"strData":"x"}`
			}
			req, _ := http.NewRequest(method, s.restURL+path, strings.NewReader(body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, raw)
			}
			var m Message
			if err := DecodeMessage(raw, &m); err != nil {
				t.Fatalf("error answer is not a SeldonMessage: %v: %s", err, raw)
			}
			var st struct {
				Code   int    `json:"code"`
				Info   string `json:"info"`
				Reason string `json:"reason"`
				Status string `json:"status"`
			}
			if err := jsonUnmarshal(m.Status, &st); err != nil {
				t.Fatal(err)
			}
			if st.Code != tc.code || st.Status != "FAILURE" || !strings.Contains(st.Info, tc.info) ||
				(tc.reason != "" && st.Reason != tc.reason) {
				t.Errorf("status = %+v, want code %d, FAILURE, reason %q, info containing %q", st, tc.code, tc.reason, tc.info)
			}
		})
	}
}

func TestGRPCErrors(t *testing.T) {
	failing := startFake(t, &fake{name: "m", failStatus: 400, failBody: "Incorrect shape"})
	blocked := startFake(t, &fake{name: "m", block: make(chan struct{})})
	t.Cleanup(func() { close(blocked.block) })
	dead := closedPort(t)
	for _, tc := range []struct {
		name  string
		graph v1.PredictiveUnit
		opts  []Option
		code  codes.Code
		msg   string
	}{
		{"component refuses connections", unit("m", v1.Model, &fake{ep: Endpoint{Host: "127.0.0.1", GRPCPort: dead}}), nil,
			codes.Unavailable, `node "m": /seldon.protos.Model/Predict failed: connection refused`},
		{"component times out", unit("m", v1.Model, blocked),
			[]Option{WithAnnotations(map[string]string{AnnotationGRPCTimeout: "50"})},
			codes.DeadlineExceeded, `node "m": /seldon.protos.Model/Predict timed out`},
		{"component error passes through", unit("m", v1.Model, failing), nil,
			codes.InvalidArgument, `node "m": /seldon.protos.Model/Predict failed: InvalidArgument: Incorrect shape`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, tc.graph, tc.opts...)
			_, err := s.client.Predict(context.Background(), &pb.SeldonMessage{})
			st, _ := status.FromError(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("error = %v, want code %s with message containing %q", err, tc.code, tc.msg)
			}
		})
	}
}

func TestNewRejectsNodesWithoutEndpoint(t *testing.T) {
	_, err := New(v1.PredictorSpec{Name: "p", Graph: v1.PredictiveUnit{Name: "m", Type: v1.Model}})
	want := `spec.graph.endpoint: node "m" calls a component but has no endpoint`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("New() error = %v, want one starting %q", err, want)
	}
}

func TestProbesAndMetrics(t *testing.T) {
	m := startFake(t, &fake{name: "m"})
	s := serve(t, unit("m", v1.Model, m))
	get := func(path string) (int, string) {
		resp, err := http.Get(s.restURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/live"); code != 200 {
		t.Errorf("/live = %d", code)
	}
	if code, body := get("/ready"); code != 200 {
		t.Errorf("/ready = %d: %s", code, body)
	}
	s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
	_, body := get("/prometheus")
	for _, want := range []string{
		`seldon_api_executor_server_requests_seconds_count{code="200",deployment_name="sd",method="POST",predictor_name="p",predictor_version="",service="predictions"} 1`,
		`seldon_api_executor_client_requests_seconds_count{code="200",deployment_name="sd",method="POST",model_image="",model_name="m",model_version="",predictor_name="p",predictor_version="",service="/predict"} 1`,
		`seldon_api_executor_server_requests_seconds_bucket{code="200",deployment_name="sd",method="POST",predictor_name="p",predictor_version="",service="predictions",le="0.005"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Not ready once the component is gone.
	m.rest.Close()
	if code, body := get("/ready"); code != 503 || !strings.Contains(body, `node \"m\"`) {
		t.Errorf("/ready with the component down = %d: %s", code, body)
	}
}
