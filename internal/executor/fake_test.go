package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"

	v1 "github.com/sdep-dev/sdep/api/v1"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

// fake is a scripted graph component serving REST and gRPC on loopback.
// Its answers trace the walk in strData: predict wraps the input as
// "name(input)", transform-input as "name.in(input)", transform-output as
// "name.out(input)", aggregate as "name[a,b]", and send-feedback answers
// "fb:name". Routers answer their route field.
type fake struct {
	name  string
	route int
	// fail, when set, answers every REST call with this status and body
	// and every gRPC call with the matching code.
	failStatus int
	failBody   string
	// block, when not nil, holds every call until it is closed.
	block chan struct{}
	// fixed, when set, is the REST predict answer (JSON) instead of the trace.
	fixed string
	// fixedPB is the gRPC predict answer instead of the trace.
	fixedPB *pb.SeldonMessage

	calls sync.Map // path -> *atomic.Int64
	// active is the calls being served now; maxActive the most at once.
	active, maxActive atomic.Int64
	mu                sync.Mutex
	lastHdr           http.Header
	lastBody          []byte
	lastMD            metadata.MD

	rest *httptest.Server
	grpc *grpc.Server
	ep   Endpoint
}

func (f *fake) count(path string) int64 {
	v, ok := f.calls.Load(path)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

// serving counts a call being served until the returned func is called.
func (f *fake) serving() func() {
	n := f.active.Add(1)
	for {
		m := f.maxActive.Load()
		if n <= m || f.maxActive.CompareAndSwap(m, n) {
			break
		}
	}
	return func() { f.active.Add(-1) }
}

func (f *fake) inc(path string) {
	v, _ := f.calls.LoadOrStore(path, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func startFake(t testing.TB, f *fake) *fake {
	t.Helper()
	f.rest = httptest.NewServer(http.HandlerFunc(f.serveREST))
	t.Cleanup(f.rest.Close)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.grpc = grpc.NewServer()
	g := &fakeGRPC{f: f}
	pb.RegisterModelServer(f.grpc, g)
	pb.RegisterTransformerServer(f.grpc, fakeTransformer{fakeGRPC: g})
	pb.RegisterOutputTransformerServer(f.grpc, fakeOutputTransformer{fakeGRPC: g})
	pb.RegisterRouterServer(f.grpc, fakeRouter{fakeGRPC: g})
	pb.RegisterCombinerServer(f.grpc, fakeCombiner{fakeGRPC: g})
	go func() { _ = f.grpc.Serve(lis) }()
	t.Cleanup(f.grpc.Stop)
	f.ep = Endpoint{Host: "127.0.0.1", HTTPPort: port(t, f.rest.Listener.Addr()), GRPCPort: port(t, lis.Addr())}
	return f
}

func port(t testing.TB, a net.Addr) int32 {
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}

// wait holds a call while f.block is open; it fails when the caller gives up.
func (f *fake) wait(ctx context.Context) error {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *fake) serveREST(w http.ResponseWriter, r *http.Request) {
	defer f.serving()()
	f.inc(r.URL.Path)
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.lastHdr, f.lastBody = r.Header.Clone(), body
	f.mu.Unlock()
	if f.wait(r.Context()) != nil {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if f.failStatus != 0 {
		w.WriteHeader(f.failStatus)
		_, _ = io.WriteString(w, f.failBody)
		return
	}
	str := func(m map[string]any) string {
		s, _ := m["strData"].(string)
		return s
	}
	var reply string
	switch r.URL.Path {
	case "/predict", "/transform-input", "/transform-output":
		if f.fixed != "" && r.URL.Path == "/predict" {
			_, _ = io.WriteString(w, f.fixed)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		suffix := map[string]string{"/predict": "", "/transform-input": ".in", "/transform-output": ".out"}[r.URL.Path]
		reply = fmt.Sprintf("%s%s(%s)", f.name, suffix, str(m))
	case "/aggregate":
		var ms []map[string]any
		_ = json.Unmarshal(body, &ms)
		parts := make([]string, len(ms))
		for i, m := range ms {
			parts[i] = str(m)
		}
		reply = fmt.Sprintf("%s[%s]", f.name, strings.Join(parts, ","))
	case "/route":
		fmt.Fprintf(w, `{"data":{"ndarray":[[%d]]}}`, f.route)
		return
	case "/send-feedback":
		reply = "fb:" + f.name
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	b, _ := json.Marshal(map[string]any{"strData": reply, "meta": map[string]any{"tags": map[string]any{"from": f.name}}})
	_, _ = w.Write(b)
}

type fakeGRPC struct {
	pb.UnimplementedModelServer
	f *fake
}

func (g *fakeGRPC) trace(ctx context.Context, method, format string, in *pb.SeldonMessage) (*pb.SeldonMessage, error) {
	defer g.f.serving()()
	g.f.inc(method)
	md, _ := metadata.FromIncomingContext(ctx)
	g.f.mu.Lock()
	g.f.lastMD = md
	g.f.mu.Unlock()
	if err := g.f.wait(ctx); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	if g.f.failStatus != 0 {
		return nil, status.Error(grpcCodeOf(g.f.failStatus), g.f.failBody)
	}
	return &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: fmt.Sprintf(format, g.f.name, in.GetStrData())}}, nil
}

func (g *fakeGRPC) Predict(ctx context.Context, in *pb.SeldonMessage) (*pb.SeldonMessage, error) {
	if g.f.fixedPB != nil {
		g.f.inc("Predict")
		return g.f.fixedPB, nil
	}
	return g.trace(ctx, "Predict", "%s(%s)", in)
}

func (g *fakeGRPC) SendFeedback(ctx context.Context, _ *pb.Feedback) (*pb.SeldonMessage, error) {
	g.f.inc("SendFeedback")
	if g.f.failStatus != 0 {
		return nil, status.Error(grpcCodeOf(g.f.failStatus), g.f.failBody)
	}
	return &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "fb:" + g.f.name}}, nil
}

type fakeTransformer struct {
	pb.UnimplementedTransformerServer
	*fakeGRPC
}

func (t fakeTransformer) TransformInput(ctx context.Context, in *pb.SeldonMessage) (*pb.SeldonMessage, error) {
	return t.trace(ctx, "TransformInput", "%s.in(%s)", in)
}

type fakeOutputTransformer struct {
	pb.UnimplementedOutputTransformerServer
	*fakeGRPC
}

func (t fakeOutputTransformer) TransformOutput(ctx context.Context, in *pb.SeldonMessage) (*pb.SeldonMessage, error) {
	return t.trace(ctx, "TransformOutput", "%s.out(%s)", in)
}

type fakeRouter struct {
	pb.UnimplementedRouterServer
	*fakeGRPC
}

func (r fakeRouter) Route(ctx context.Context, in *pb.SeldonMessage) (*pb.SeldonMessage, error) {
	r.f.inc("Route")
	if r.f.failStatus != 0 {
		return nil, status.Error(codes.Internal, r.f.failBody)
	}
	return &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_Data{Data: &pb.DefaultData{
		DataOneof: &pb.DefaultData_Tensor{Tensor: &pb.Tensor{Shape: []int32{1, 1}, Values: []float64{float64(r.f.route)}}}}}}, nil
}

func (r fakeRouter) SendFeedback(ctx context.Context, fb *pb.Feedback) (*pb.SeldonMessage, error) {
	return r.fakeGRPC.SendFeedback(ctx, fb)
}

type fakeCombiner struct {
	pb.UnimplementedCombinerServer
	*fakeGRPC
}

func (c fakeCombiner) Aggregate(ctx context.Context, in *pb.SeldonMessageList) (*pb.SeldonMessage, error) {
	c.f.inc("Aggregate")
	parts := make([]string, len(in.GetSeldonMessages()))
	for i, m := range in.GetSeldonMessages() {
		parts[i] = m.GetStrData()
	}
	return &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: fmt.Sprintf("%s[%s]", c.f.name, strings.Join(parts, ","))}}, nil
}

// unit builds a graph node served by f (nil f: no endpoint).
func unit(name string, typ v1.PredictiveUnitType, f *fake, children ...v1.PredictiveUnit) v1.PredictiveUnit {
	u := v1.PredictiveUnit{Name: name, Type: typ, Children: children}
	if f != nil {
		u.Endpoint = &v1.Endpoint{ServiceHost: f.ep.Host, HTTPPort: f.ep.HTTPPort, GRPCPort: f.ep.GRPCPort}
	}
	return u
}

// served starts an executor for the graph with REST and gRPC servers.
type served struct {
	e        *Executor
	restURL  string
	grpcConn *grpc.ClientConn
	client   pb.SeldonClient
}

func serve(t testing.TB, graph v1.PredictiveUnit, opts ...Option) *served {
	t.Helper()
	pred := v1.PredictorSpec{Name: "p", Graph: graph}
	return servePredictor(t, pred, opts...)
}

func servePredictor(t testing.TB, pred v1.PredictorSpec, opts ...Option) *served {
	t.Helper()
	e, err := New(pred, append([]Option{WithDeploymentName("sd")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(e.Handler(HandlerOptions{MetricsPath: "/prometheus"}))
	t.Cleanup(hs.Close)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := e.NewGRPCServer()
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpcInsecure())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	t.Cleanup(e.Close)
	return &served{e: e, restURL: hs.URL, grpcConn: conn, client: pb.NewSeldonClient(conn)}
}

// post sends body to path and returns the status, decoded body and headers.
func (s *served) post(t testing.TB, path, body string, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.restURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, raw)
	}
	return resp.StatusCode, m, resp.Header
}

// dig walks a decoded JSON value by keys.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func containerNamed(name, image string) corev1.Container {
	return corev1.Container{Name: name, Image: image}
}

func protojsonUnmarshal(b []byte, m proto.Message) error { return protojson.Unmarshal(b, m) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
