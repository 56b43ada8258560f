package executor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
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

// BenchmarkExecutorOnlyREST is one request through the executor's REST
// server to a one-model graph, with a client and a model that allocate
// nothing per request (raw keep-alive HTTP/1.1 on loopback, the model
// replaying the mock classifier's answer), so allocs/op and B/op are the
// executor's own. Serial: one request at a time, as at concurrency 1.
func BenchmarkExecutorOnlyREST(b *testing.B) {
	url := executorInFrontOfRawModel(b)
	c := dialRaw(b, url)
	b.ReportAllocs()
	for b.Loop() {
		c.predict(b)
	}
}

// BenchmarkExecutorOnlyRESTParallel is the same with requests from several
// connections at once (GOMAXPROCS × 16 goroutines, like wrk -c32 on 2 CPUs).
func BenchmarkExecutorOnlyRESTParallel(b *testing.B) {
	url := executorInFrontOfRawModel(b)
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := dialRaw(b, url)
		for pb.Next() {
			c.predict(b)
		}
	})
}

// executorInFrontOfRawModel starts the raw model and an executor (its real
// REST server) in front of it, and returns the executor's host:port.
func executorInFrontOfRawModel(b *testing.B) string {
	// The answer the raw model replays is the mock classifier's own.
	mock := httptest.NewServer(mockclassifier.New(mockclassifier.Config{}).Handler())
	resp, err := http.Post(mock.URL+"/predict", "application/json", bytes.NewReader(benchRequest))
	if err != nil {
		b.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	mock.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("mock classifier: %d %s", resp.StatusCode, answer)
	}
	canned := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(answer), answer))

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = lis.Close() })
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = conn.Close() }()
				rd := bufio.NewReader(conn)
				for {
					if _, err := readRawMessage(rd); err != nil {
						return
					}
					if _, err := conn.Write(canned); err != nil {
						return
					}
				}
			}()
		}
	}()
	e, err := New(v1.PredictorSpec{Name: "p", Graph: v1.PredictiveUnit{Name: "m", Type: v1.Model,
		Endpoint: &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: port(b, lis.Addr())}}})
	if err != nil {
		b.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := e.newHTTPServer(e.Handler(HandlerOptions{}))
	go func() { _ = hs.Serve(hl) }()
	b.Cleanup(func() { _ = hs.Close(); e.Close() })
	return hl.Addr().String()
}

// readRawMessage reads one HTTP/1.1 message with a Content-Length body
// from rd without allocating, and returns the body (valid until the next
// read).
func readRawMessage(rd *bufio.Reader) ([]byte, error) {
	n := -1
	first := true
	for {
		line, err := rd.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if first {
			first = false
			if bytes.HasPrefix(line, []byte("HTTP/1.1 ")) && !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
				return nil, fmt.Errorf("status %q", line)
			}
			continue
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			n = 0
			for _, c := range bytes.TrimSpace(v) {
				n = n*10 + int(c-'0')
			}
		}
	}
	if n < 0 {
		return nil, errors.New("no Content-Length")
	}
	body, err := rd.Peek(n)
	if err != nil {
		return nil, err
	}
	_, _ = rd.Discard(n)
	return body, nil
}

type rawClient struct {
	conn net.Conn
	rd   *bufio.Reader
	req  []byte
}

func dialRaw(b *testing.B, addr string) *rawClient {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	req := fmt.Appendf(nil, "POST /api/v1.0/predictions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		addr, len(benchRequest), benchRequest)
	return &rawClient{conn: conn, rd: bufio.NewReaderSize(conn, 16<<10), req: req}
}

func (c *rawClient) predict(b *testing.B) {
	if _, err := c.conn.Write(c.req); err != nil {
		b.Fatal(err)
	}
	body, err := readRawMessage(c.rd)
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Contains(body, []byte(`"requestPath":{"m":`)) {
		b.Fatalf("answer without the walk's meta: %s", body)
	}
}
