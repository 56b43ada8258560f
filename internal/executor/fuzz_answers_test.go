package executor

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	v1 "github.com/sdep-dev/sdep/api/v1"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

// scriptedComponent answers every component call in process: the call to
// the path `target` gets the fuzzed status and body, every other call a
// valid default.
type scriptedComponent struct {
	target string
	status int
	body   []byte
}

func (s *scriptedComponent) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	code, body := http.StatusOK, []byte(`{"data":{"ndarray":[[1,2]]}}`)
	if r.URL.Path == "/route" {
		body = []byte(`[0]`)
	}
	if r.URL.Path == s.target {
		code, body = s.status, s.body
	}
	h := http.Header{"Content-Type": jsonContentType}
	if code >= 300 && code <= 399 {
		h.Set("Location", "http://127.0.0.1:1/elsewhere")
	}
	return &http.Response{StatusCode: code, Status: strconv.Itoa(code), Header: h, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
}

// scripted builds an executor whose components all answer through sc.
func scripted(f *testing.F, graph v1.PredictiveUnit, sc *scriptedComponent) http.Handler {
	e, err := New(v1.PredictorSpec{Name: "p", Graph: graph}, WithMaxBodyBytes(1<<16))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(e.Close)
	for _, n := range e.nodes {
		if n.endpoints == nil {
			continue
		}
		for _, m := range *n.endpoints.members.Load() {
			m.http.Transport = sc
		}
	}
	return e.Handler(HandlerOptions{})
}

// FuzzComponentAnswers feeds arbitrary component answers (status and body)
// to the executor's reading of them: error bodies, router answers (branch
// arrays and messages), combiner and transformer answers, and the inputs of
// the built-in average combiner. Whatever a component says, the client gets
// a SeldonMessage: 200 only when every component succeeded, and no 1xx–3xx.
func FuzzComponentAnswers(f *testing.F) {
	ep := &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: 9, GRPCPort: 9}
	comp := func(name string, typ v1.PredictiveUnitType, children ...v1.PredictiveUnit) v1.PredictiveUnit {
		return v1.PredictiveUnit{Name: name, Type: typ, Endpoint: ep, Children: children}
	}
	// combiner(router(a, b), transformer -> m)
	walk := comp("c", v1.Combiner, comp("r", v1.Router, comp("a", v1.Model), comp("b", v1.Model)),
		comp("t", v1.Transformer, comp("m", v1.Model)))
	avg := v1.PredictiveUnit{Name: "avg", Implementation: v1.AverageCombiner,
		Children: []v1.PredictiveUnit{comp("x", v1.Model), comp("y", v1.Model)}}
	var sc scriptedComponent
	handlers := []http.Handler{scripted(f, walk, &sc), scripted(f, avg, &sc)}
	targets := []string{"/route", "/predict", "/aggregate", "/transform-input"}

	for _, s := range []struct {
		sel    uint8
		status int
		body   string
	}{
		{0, 200, `[1]`}, {0, 200, `[]`}, {0, 200, `[1e400]`}, {0, 200, `[-2]`}, {0, 200, `[99999999999999999999]`},
		{0, 200, `{"data":{"ndarray":[[1]]}}`}, {0, 200, `{"data":{"tensor":{"values":[0.5]}}}`}, {0, 200, `{"data":{"ndarray":[]}}`},
		{1, 500, `{"status":{"info":"boom","reason":"X"}}`}, {1, 400, "plain text"}, {1, 307, ""}, {1, 200, `{"data":`},
		{2, 200, `{"strData":"x"}`}, {2, 200, `[]`}, {3, 200, `null`},
		{5, 200, `{"data":{"ndarray":[[1,2],[3]]}}`}, {5, 200, `{"data":{"tensor":{"shape":[2,2],"values":[1]}}}`},
		{5, 200, `{"data":{"ndarray":[["a"]]}}`}, {5, 200, `{"strData":"s"}`},
	} {
		f.Add(s.sel, s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, sel uint8, code int, body []byte) {
		if code < 100 || code > 599 {
			code = 200 + (code%400+400)%400
		}
		sc = scriptedComponent{target: targets[int(sel)%len(targets)], status: code, body: body}
		hi := int(sel/4) % len(handlers)
		h := handlers[hi]
		called := hi == 0 || sc.target == "/predict" // the average graph has models only
		req := httptest.NewRequest(http.MethodPost, "http://x/api/v1.0/predictions", bytes.NewReader([]byte(`{"data":{"ndarray":[[1,2]]}}`)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 200 || rec.Code >= 300 && rec.Code < 400 {
			t.Fatalf("component %d %q: client got %d", code, body, rec.Code)
		}
		if rec.Code == 200 && (code < 200 || code > 299) && called {
			t.Fatalf("component failed with %d %q but the client got 200: %s", code, body, rec.Body)
		}
		var m Message
		if err := DecodeMessage(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("component %d %q: answer is not a SeldonMessage: %v: %s", code, body, err, rec.Body)
		}
	})
}

// FuzzGRPCHandlers drives the gRPC handlers with arbitrary wire bytes as
// Predict and SendFeedback requests (built-in graph, no network), and reads
// the same bytes as a router's gRPC answer. Handlers never panic and fail
// only with a proper status code.
func FuzzGRPCHandlers(f *testing.F) {
	graph := v1.PredictiveUnit{Name: "ab", Implementation: v1.RandomABTest,
		Parameters: []v1.Parameter{{Name: "ratioA", Value: "0.5", Type: v1.ParameterFloat}},
		Children: []v1.PredictiveUnit{
			{Name: "avg", Implementation: v1.AverageCombiner, Children: []v1.PredictiveUnit{
				{Name: "a", Implementation: v1.SimpleModel}, {Name: "b", Implementation: v1.SimpleModel}}},
			{Name: "c", Implementation: v1.SimpleModel},
		}}
	e, err := New(v1.PredictorSpec{Name: "p", Graph: graph})
	if err != nil {
		f.Fatal(err)
	}
	srv := &grpcServer{e: e}
	router := e.byName["ab"]
	for _, m := range []proto.Message{
		&pb.SeldonMessage{},
		ndarrayMessage([][]float64{{1, 2}, {3, 4}}),
		tensorMessage([]int32{1, 1}, []float64{1}),
		&pb.SeldonMessage{Meta: &pb.Meta{Puid: "p", Routing: map[string]int32{"ab": 7}}, DataOneof: &pb.SeldonMessage_StrData{StrData: "s"}},
		&pb.Feedback{Response: &pb.SeldonMessage{Meta: &pb.Meta{Routing: map[string]int32{"ab": 1}}}, Reward: 1},
		&pb.Feedback{Response: &pb.SeldonMessage{Meta: &pb.Meta{Routing: map[string]int32{"ab": 9}}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	okCode := func(t *testing.T, what string, err error) {
		if err == nil {
			return
		}
		st, ok := status.FromError(err)
		if !ok || st.Code() == codes.Unknown || st.Code() == codes.OK {
			t.Fatalf("%s: error without a proper status: %v", what, err)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var in pb.SeldonMessage
		if proto.Unmarshal(b, &in) == nil {
			out, err := srv.Predict(context.Background(), &in)
			okCode(t, "Predict", err)
			if err == nil && out.GetMeta().GetPuid() == "" {
				t.Fatal("Predict answered without a puid")
			}
			_, _ = grpcCodec{e}.branch(router, &in)
		}
		var fb pb.Feedback
		if proto.Unmarshal(b, &fb) == nil {
			_, err := srv.SendFeedback(context.Background(), &fb)
			okCode(t, "SendFeedback", err)
		}
	})
}
