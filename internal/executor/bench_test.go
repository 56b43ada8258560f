package executor

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/models/mockclassifier"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
)

var benchRequest = []byte(`{"meta":{"puid":"abc"},"data":{"names":["a","b","c"],"ndarray":[[1,2,5]]}}`)

func BenchmarkDecodeMessage(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var m Message
		if err := DecodeMessage(benchRequest, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMessageWithPath(b *testing.B) {
	e, err := New(v1.PredictorSpec{Name: "p", Graph: v1.PredictiveUnit{Name: "m", Implementation: v1.SimpleModel}})
	if err != nil {
		b.Fatal(err)
	}
	var m Message
	if err := DecodeMessage(benchRequest, &m); err != nil {
		b.Fatal(err)
	}
	st := e.getState("abc")
	st.path.routes[0] = -1
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = m.appendJSON(buf[:0], "abc", &st.path)
	}
}

// BenchmarkHandlerBuiltinGraph is the executor's whole REST request path
// without the network: read, decode, walk a built-in graph, encode.
func BenchmarkHandlerBuiltinGraph(b *testing.B) {
	e, err := New(v1.PredictorSpec{Name: "p", Graph: v1.PredictiveUnit{Name: "m", Implementation: v1.SimpleModel}})
	if err != nil {
		b.Fatal(err)
	}
	h := e.Handler(HandlerOptions{})
	rd := bytes.NewReader(benchRequest)
	req := httptest.NewRequest(http.MethodPost, "/api/v1.0/predictions", rd)
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(benchRequest)
		req.Body = readCloser{rd}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// BenchmarkRESTThroughExecutor is one request through a real executor to the
// mock classifier, both on loopback (client and servers share the CPUs).
func BenchmarkRESTThroughExecutor(b *testing.B) {
	model := httptest.NewServer(mockclassifier.New(mockclassifier.Config{}).Handler())
	defer model.Close()
	s := serve(b, v1.PredictiveUnit{Name: "m", Type: v1.Model, Endpoint: &v1.Endpoint{
		ServiceHost: "127.0.0.1", HTTPPort: port(b, model.Listener.Addr())}})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := s.restURL + "/api/v1.0/predictions"
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(url, "application/json", bytes.NewReader(benchRequest))
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(string(body))
		}
	}
}

// BenchmarkGRPCThroughExecutor is the same over gRPC.
func BenchmarkGRPCThroughExecutor(b *testing.B) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gs := grpc.NewServer()
	mockclassifier.New(mockclassifier.Config{}).RegisterGRPC(gs)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	s := serve(b, v1.PredictiveUnit{Name: "m", Type: v1.Model, Endpoint: &v1.Endpoint{
		ServiceHost: "127.0.0.1", GRPCPort: port(b, lis.Addr())}})
	nd, _ := structpb.NewList([]any{[]any{1, 2, 5}})
	req := &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_Data{Data: &pb.DefaultData{DataOneof: &pb.DefaultData_Ndarray{Ndarray: nd}}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.client.Predict(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
