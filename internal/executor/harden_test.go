package executor

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v1 "github.com/sdep-dev/sdep/api/v1"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

// A component that answers 307 to the executor's own predictions URL must
// cost one component call, not a loop, and the answer names the node.
func TestRedirectingComponentIsCalledOnce(t *testing.T) {
	var calls atomic.Int64
	var executorURL atomic.Value
	comp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Location", executorURL.Load().(string)+"/api/v1.0/predictions")
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	t.Cleanup(comp.Close)
	f := &fake{ep: Endpoint{Host: "127.0.0.1", HTTPPort: port(t, comp.Listener.Addr())}}
	s := serve(t, unit("m", v1.Model, f))
	executorURL.Store(s.restURL)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.restURL+"/api/v1.0/predictions", strings.NewReader(`{"strData":"x"}`))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		raw, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode < 500 || !strings.Contains(string(raw), `node \"m\"`) || !strings.Contains(string(raw), "redirect") {
			t.Errorf("answer %d %s, want a 5xx that names node m and the redirect", resp.StatusCode, raw)
		}
	}
	time.Sleep(100 * time.Millisecond) // let a loop, if any, show
	if n := calls.Load(); n != 1 {
		t.Errorf("one client request made %d component calls, want 1", n)
	}
}

// Only the documented headers reach components; credentials only when the
// annotation asks for them.
func TestOnlyAllowListedHeadersReachComponents(t *testing.T) {
	hdr := []string{"Authorization", "Bearer secret", "Cookie", "session=1", "X-Internal", "1",
		"Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "Tracestate", "a=b",
		"B3", "1-2-1", "X-B3-Traceid", "abc", "Ce-Id", "42", "Seldon-Model", "m", "Namespace", "ns"}
	f := startFake(t, &fake{name: "m"})
	s := serve(t, unit("m", v1.Model, f))
	if code, body, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`, hdr...); code != 200 {
		t.Fatalf("status %d: %v", code, body)
	}
	f.mu.Lock()
	got := f.lastHdr
	f.mu.Unlock()
	for _, k := range []string{"Traceparent", "Tracestate", "B3", "X-B3-Traceid", "Ce-Id", "Seldon-Model", "Namespace", "Seldon-Puid", "Content-Type"} {
		if got.Get(k) == "" {
			t.Errorf("%s did not reach the component", k)
		}
	}
	for _, k := range []string{"Authorization", "Cookie", "X-Internal"} {
		if v := got.Get(k); v != "" {
			t.Errorf("%s reached the component: %q", k, v)
		}
	}

	f2 := startFake(t, &fake{name: "m"})
	s2 := serve(t, unit("m", v1.Model, f2), WithAnnotations(map[string]string{"seldon.io/executor-forward-headers": "Authorization, X-Internal"}))
	if code, body, _ := s2.post(t, "/api/v1.0/predictions", `{"strData":"x"}`, hdr...); code != 200 {
		t.Fatalf("status %d: %v", code, body)
	}
	f2.mu.Lock()
	got = f2.lastHdr
	f2.mu.Unlock()
	if got.Get("Authorization") != "Bearer secret" || got.Get("X-Internal") != "1" {
		t.Errorf("annotation asked for Authorization and X-Internal; the component got %v", got)
	}
	if got.Get("Cookie") != "" {
		t.Errorf("Cookie reached the component although not asked for")
	}
}

// Error answers name the node and the call, never the component's address.
func TestErrorsDoNotNameInternalAddresses(t *testing.T) {
	dead := closedPort(t)
	blocked := startFake(t, &fake{name: "m", block: make(chan struct{})})
	t.Cleanup(func() { close(blocked.block) })
	deadUnit := unit("m", v1.Model, &fake{ep: Endpoint{Host: "127.0.0.1", HTTPPort: dead, GRPCPort: dead}})
	timeout := WithAnnotations(map[string]string{AnnotationRESTTimeout: "50", AnnotationGRPCTimeout: "50"})
	for _, tc := range []struct {
		name  string
		graph v1.PredictiveUnit
		opts  []Option
		port  int32
	}{
		{"refused", deadUnit, nil, dead},
		{"timeout", unit("m", v1.Model, blocked), []Option{timeout}, blocked.ep.HTTPPort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, tc.graph, tc.opts...)
			_, body, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
			info, _ := dig(body, "status", "info").(string)
			if !strings.Contains(info, `node "m"`) {
				t.Errorf("REST info %q does not name the node", info)
			}
			for _, leak := range []string{"127.0.0.1", "localhost", "http://", ":" + strconv.Itoa(int(tc.port))} {
				if strings.Contains(info, leak) {
					t.Errorf("REST info %q contains %q", info, leak)
				}
			}
			_, err := s.client.Predict(context.Background(), &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}})
			msg := status.Convert(err).Message()
			if !strings.Contains(msg, `node "m"`) {
				t.Errorf("gRPC message %q does not name the node", msg)
			}
			for _, leak := range []string{"127.0.0.1", "localhost"} {
				if strings.Contains(msg, leak) {
					t.Errorf("gRPC message %q contains %q", msg, leak)
				}
			}
		})
	}
}

// Without seldon.io/grpc-max-message-size the gRPC server takes no more
// than DefaultGRPCMaxReceive, nor more than the REST body limit; the
// annotation raises or lowers it.
func TestGRPCServerLimitDefaultsToBodyLimit(t *testing.T) {
	big := &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: strings.Repeat("x", 2<<20)}}
	simple := v1.PredictiveUnit{Name: "s", Implementation: v1.SimpleModel}
	call := func(s *served) error {
		_, err := s.client.Predict(context.Background(), big, grpc.MaxCallSendMsgSize(8<<20), grpc.MaxCallRecvMsgSize(8<<20))
		return err
	}
	s := serve(t, simple, WithMaxBodyBytes(1<<20))
	if err := call(s); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("2 MiB message with a 1 MiB body limit: %v, want ResourceExhausted", err)
	}
	s = serve(t, simple, WithMaxBodyBytes(1<<20), WithAnnotations(map[string]string{AnnotationGRPCMaxMessage: strconv.Itoa(4 << 20)}))
	if err := call(s); err != nil {
		t.Errorf("2 MiB message with %s of 4 MiB: %v", AnnotationGRPCMaxMessage, err)
	}
	over := &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: strings.Repeat("x", DefaultGRPCMaxReceive+1)}}
	s = serve(t, simple)
	if _, err := s.client.Predict(context.Background(), over, grpc.MaxCallSendMsgSize(8<<20)); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("message over DefaultGRPCMaxReceive with the default 64 MiB body limit: %v, want ResourceExhausted", err)
	}
	s = serve(t, simple, WithAnnotations(map[string]string{AnnotationGRPCMaxMessage: strconv.Itoa(8 << 20)}))
	if _, err := s.client.Predict(context.Background(), over, grpc.MaxCallSendMsgSize(8<<20), grpc.MaxCallRecvMsgSize(8<<20)); err != nil {
		t.Errorf("message over DefaultGRPCMaxReceive with %s of 8 MiB: %v", AnnotationGRPCMaxMessage, err)
	}
	s = serve(t, simple, WithAnnotations(map[string]string{AnnotationGRPCMaxMessage: strconv.Itoa(1 << 20)}))
	if err := call(s); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("2 MiB message with %s of 1 MiB: %v, want ResourceExhausted", AnnotationGRPCMaxMessage, err)
	}
}

// Every component call has a deadline, even without the timeout annotations.
func TestComponentCallsHaveADefaultTimeout(t *testing.T) {
	f := startFake(t, &fake{name: "m"})
	e, err := New(v1.PredictorSpec{Name: "p", Graph: unit("m", v1.Model, f)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	n := e.byName["m"]
	if n.restTimeout <= 0 || n.grpcTimeout <= 0 {
		t.Errorf("no default timeout: rest %v, grpc %v", n.restTimeout, n.grpcTimeout)
	}
	e2, err := New(v1.PredictorSpec{Name: "p", Graph: unit("m", v1.Model, f)},
		WithAnnotations(map[string]string{AnnotationRESTTimeout: "1500", AnnotationGRPCTimeout: "2500"}))
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if n := e2.byName["m"]; n.restTimeout != 1500*time.Millisecond || n.grpcTimeout != 2500*time.Millisecond {
		t.Errorf("annotations did not override: rest %v, grpc %v", n.restTimeout, n.grpcTimeout)
	}
}

// After a component's gRPC server has been away long enough for reconnect
// backoff to grow, calls through the executor succeed again within a second
// of it coming back.
func TestGRPCRecoversWithinASecondOfTheComponentReturning(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a component outage")
	}
	f := startFake(t, &fake{name: "m"})
	s := serve(t, unit("m", v1.Model, f))
	in := &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}}
	predict := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := s.client.Predict(ctx, in)
		return err
	}
	if err := predict(); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(f.ep.Host, strconv.Itoa(int(f.ep.GRPCPort)))
	f.grpc.Stop()
	// Long enough that upstream-default backoff (1 s, x1.6, 20% jitter) has
	// certainly passed its 4th attempt and waits at least 5 s for its 5th.
	outage := time.Now().Add(11500 * time.Millisecond)
	for time.Now().Before(outage) {
		if err := predict(); err == nil {
			t.Fatal("call succeeded while the component was down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port taken meanwhile: %v", err)
	}
	gs := grpc.NewServer()
	pb.RegisterModelServer(gs, &fakeGRPC{f: f})
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	back := time.Now()
	for {
		err := predict()
		if err == nil {
			break
		}
		if time.Since(back) > 8*time.Second {
			t.Fatalf("still failing %v after the component came back: %v", time.Since(back), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(back)
	t.Logf("gRPC through the executor failed for %v after the component came back", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("failures for %v after the component came back, want < 1s", took)
	}
}

// Beyond the in-flight cap requests are answered 503 with Retry-After (REST)
// or Unavailable (gRPC), and counted.
func TestInFlightCapTurnsRequestsAway(t *testing.T) {
	f := startFake(t, &fake{name: "m", block: make(chan struct{})})
	s := serve(t, unit("m", v1.Model, f), WithMaxInFlight(2))
	done := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := http.Post(s.restURL+"/api/v1.0/predictions", "application/json", strings.NewReader(`{"strData":"x"}`))
			if err != nil {
				done <- 0
				return
			}
			_ = resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.count("/predict") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the two first requests did not reach the component")
		}
		time.Sleep(5 * time.Millisecond)
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Post(s.restURL+"/api/v1.0/predictions", "application/json", strings.NewReader(`{"strData":"x"}`))
	if err != nil {
		t.Fatalf("third request was not turned away: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(raw), reasonBusy) {
		t.Errorf("third request: %d, Retry-After %q, %s; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), raw)
	}
	gctx, gcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer gcancel()
	_, err = s.client.Predict(gctx, &pb.SeldonMessage{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("gRPC beyond the cap: %v, want Unavailable", err)
	}
	resp, err = http.Get(s.restURL + "/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, want := range []string{rejectedMetric + `{reason="inflight",transport="rest"} 1`, rejectedMetric + `{reason="inflight",transport="grpc"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	close(f.block)
	for range 2 {
		if c := <-done; c != 200 {
			t.Errorf("admitted request answered %d", c)
		}
	}
	if code, body, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`); code != 200 {
		t.Errorf("after the burst: %d %v", code, body)
	}
}

// Serve drops clients that do not send their headers or body in time.
func TestServeReadTimeouts(t *testing.T) {
	e, err := New(v1.PredictorSpec{Name: "p", Graph: v1.PredictiveUnit{Name: "s", Implementation: v1.SimpleModel}},
		WithReadTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- e.Serve(ctx, ServeOptions{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", GracePeriod: time.Second,
			Ready: func(h, _ net.Addr) { ready <- h }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	addr := (<-ready).String()
	for _, tc := range []struct{ name, send, want string }{
		{"headers", "POST /api/v1.0/predictions HTTP/1.1\r\nHost: x\r\n", ""},
		{"body", "POST /api/v1.0/predictions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", "408"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_ = c.SetReadDeadline(start.Add(5 * time.Second))
			got, err := io.ReadAll(c)
			if isTimeout(err) {
				t.Fatalf("connection still open after %v", time.Since(start))
			}
			if tc.want != "" && !strings.Contains(string(got), " "+tc.want+" ") {
				t.Errorf("answer %q, want status %s", got, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("closed after %v, want about 300ms", d)
			}
		})
	}
}

// readBody holds what arrived, not what Content-Length announced, and
// refuses one byte over the limit with or without Content-Length.
func TestReadBodyLimits(t *testing.T) {
	const limit = 3*chunkSize + 7
	for _, tc := range []struct {
		size    int
		tooBig  bool
		knownCL bool
	}{
		{0, false, true}, {0, false, false}, {10, false, true}, {10, false, false},
		{limit, false, true}, {limit, false, false}, {limit + 1, true, true}, {limit + 1, true, false},
		{chunkSize, false, false}, {2 * chunkSize, false, true},
	} {
		data := strings.Repeat("x", tc.size)
		cl := int64(-1)
		if tc.knownCL {
			cl = int64(tc.size)
		}
		var held int64
		body, reserved, err := readBody(strings.NewReader(data), cl, limit, func(n int64) bool { held += n; return true })
		if tc.tooBig {
			if !errors.Is(err, errTooLarge) {
				t.Errorf("size %d (CL known %v): err %v, want too large", tc.size, tc.knownCL, err)
			}
			continue
		}
		if err != nil || string(body) != data {
			t.Errorf("size %d (CL known %v): err %v, got %d bytes", tc.size, tc.knownCL, err, len(body))
		}
		if reserved != held || reserved < int64(len(body)) || reserved > int64(len(body))+chunkSize {
			t.Errorf("size %d: reserved %d (granted %d)", tc.size, reserved, held)
		}
	}
	// A declared 64 MiB with one byte sent reserves one small read, not 64 MiB.
	var held int64
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte("{"))
		time.Sleep(50 * time.Millisecond)
		_ = pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	_, _, _ = readBody(pr, 64<<20, 64<<20, func(n int64) bool { held += n; return true })
	if held > chunkSize {
		t.Errorf("reserved %d bytes for one byte received", held)
	}
	// A truncated body is an error, not a shorter body.
	for _, cl := range []int64{-1, 10, 5 * chunkSize} {
		r := io.MultiReader(strings.NewReader("{\"a\":1"), iotest{io.ErrUnexpectedEOF})
		if _, _, err := readBody(r, cl, limit*4, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("truncated body (CL %d): %v, want unexpected EOF", cl, err)
		}
	}
	// A spent budget stops the read.
	_, _, err := readBody(strings.NewReader(strings.Repeat("x", 4*chunkSize)), -1, limit, func(n int64) bool { return false })
	if !errors.Is(err, errBusy) {
		t.Errorf("spent budget: %v, want errBusy", err)
	}
}

// iotest is a reader that fails with err.
type iotest struct{ err error }

func (r iotest) Read([]byte) (int, error) { return 0, r.err }

// gRPC requests hold their size against the body budget while they are
// served: one that does not fit is turned away with Unavailable.
func TestGRPCRequestsHoldTheBodyBudget(t *testing.T) {
	f := startFake(t, &fake{name: "m", block: make(chan struct{})})
	s := serve(t, unit("m", v1.Model, f), WithMaxInFlightBodyBytes(1<<20))
	big := &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: strings.Repeat("x", 600<<10)}}
	first := make(chan error, 1)
	go func() {
		_, err := s.client.Predict(context.Background(), big)
		first <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for f.count("Predict") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the first request did not reach the component")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := s.client.Predict(ctx, big); status.Code(err) != codes.Unavailable {
		t.Errorf("second 600 KiB request with a 1 MiB budget: %v, want Unavailable", err)
	}
	// A small one still fits (and waits on the blocked component).
	sctx, scancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer scancel()
	if _, err := s.client.Predict(sctx, &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "small"}}); status.Code(err) == codes.Unavailable {
		t.Errorf("a small request did not fit beside the large one: %v", err)
	}
	close(f.block)
	if err := <-first; err != nil {
		t.Errorf("admitted request: %v", err)
	}
}

// A gRPC limit raised over the body limit raises the default body budget
// with it, so a message the limit allows is not turned away for memory.
func TestRaisedGRPCLimitFitsTheBudget(t *testing.T) {
	s := serve(t, v1.PredictiveUnit{Name: "s", Implementation: v1.SimpleModel}, WithMaxBodyBytes(1<<20),
		WithAnnotations(map[string]string{AnnotationGRPCMaxMessage: strconv.Itoa(16 << 20)}))
	big := &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: strings.Repeat("x", 10<<20)}}
	if _, err := s.client.Predict(context.Background(), big, grpc.MaxCallSendMsgSize(32<<20), grpc.MaxCallRecvMsgSize(32<<20)); err != nil {
		t.Errorf("10 MiB message under a 16 MiB gRPC limit: %v", err)
	}
}
