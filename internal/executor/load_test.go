package executor

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	v1 "github.com/sdep-dev/sdep/api/v1"
	ipb "github.com/sdep-dev/sdep/internal/proto/inferencepb"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
	tfpb "github.com/sdep-dev/sdep/internal/proto/tfservingpb"
)

func getLoad(t *testing.T, s *served) Load {
	t.Helper()
	resp, err := http.Get(s.restURL + LoadPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var l Load
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l
}

func scrape(t *testing.T, s *served) string {
	t.Helper()
	resp, err := http.Get(s.restURL + "/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Requests held by a component count as in flight at that node only, over
// REST and gRPC, and are gone once answered.
func TestRequestsInFlightPerNode(t *testing.T) {
	slow := startFake(t, &fake{name: "slow", block: make(chan struct{})})
	fast := startFake(t, &fake{name: "fast"})
	s := serve(t, unit("fast", v1.Transformer, fast, unit("slow", v1.Model, slow)))

	const restN, grpcN = 3, 2
	var wg sync.WaitGroup
	for range restN {
		wg.Go(func() {
			resp, err := http.Post(s.restURL+"/api/v1.0/predictions", "application/json", strings.NewReader(`{"strData":"x"}`))
			if err == nil {
				_ = resp.Body.Close()
			}
		})
	}
	for range grpcN {
		wg.Go(func() {
			_, _ = s.client.Predict(context.Background(), &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}})
		})
	}
	byName := func(l Load) map[string]NodeLoad {
		m := map[string]NodeLoad{}
		for _, n := range l.Nodes {
			m[n.Name] = n
		}
		return m
	}
	waitFor(t, "5 requests in flight at slow", func() bool { return byName(getLoad(t, s))["slow"].InFlight == restN+grpcN })
	l := getLoad(t, s)
	if l.Deployment != "sd" || l.Predictor != "p" || len(l.Nodes) != 2 {
		t.Fatalf("load = %+v", l)
	}
	if got := byName(l)["fast"].InFlight; got != 0 {
		t.Errorf("fast in flight = %d, want 0 (its calls are answered)", got)
	}
	text := scrape(t, s)
	for _, want := range []string{
		`seldon_requests_in_flight{deployment_name="sd",model_image="",model_name="slow",model_version="",predictor_name="p",predictor_version=""} 5`,
		`seldon_requests_in_flight{deployment_name="sd",model_image="",model_name="fast",model_version="",predictor_name="p",predictor_version=""} 0`,
		`# TYPE seldon_requests_per_second gauge`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/prometheus lacks %s", want)
		}
	}
	close(slow.block)
	wg.Wait()
	waitFor(t, "no request in flight", func() bool { return byName(getLoad(t, s))["slow"].InFlight == 0 })
}

// The rate counts the requests started in the whole seconds of the window,
// on a clock the test moves.
func TestRequestsPerSecondWindow(t *testing.T) {
	clock := time.Unix(1_000_000, 0)
	l := newNodeLoad(func() time.Time { return clock })
	if r := l.rate(); r != 0 {
		t.Fatalf("rate at start = %v", r)
	}
	// 5 requests in each of 4 seconds.
	for range 4 {
		for range 5 {
			l.begin()
			l.end()
		}
		clock = clock.Add(time.Second)
	}
	// 4 whole seconds have passed: the window is those 4 s.
	if r := l.rate(); r != 5 {
		t.Fatalf("rate after 4 s of 5/s = %v, want 5", r)
	}
	// 20 s later and idle: the old seconds have left the window.
	for range 20 {
		clock = clock.Add(time.Second)
		if l.rate() < 0 {
			t.Fatal("negative rate")
		}
	}
	if r := l.rate(); r != 0 {
		t.Fatalf("rate after 20 idle seconds = %v, want 0", r)
	}
	// 30 requests in one second, read in the next: averaged over 10 s.
	for range 30 {
		l.begin()
		l.end()
	}
	if r := l.rate(); r != 0 {
		t.Fatalf("rate counts the current second: %v", r)
	}
	clock = clock.Add(time.Second)
	if r := l.rate(); r != 3 {
		t.Fatalf("rate = %v, want 30/10", r)
	}
	if l.inFlight.Load() != 0 {
		t.Fatalf("in flight = %d", l.inFlight.Load())
	}
}

// Concurrent counting loses no request.
func TestRequestsPerSecondConcurrent(t *testing.T) {
	var mu sync.Mutex
	clock := time.Unix(2_000_000, 0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	l := newNodeLoad(now)
	mu.Lock()
	clock = clock.Add(10 * time.Second)
	mu.Unlock()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				l.begin()
				l.end()
			}
		})
	}
	wg.Wait()
	mu.Lock()
	clock = clock.Add(time.Second)
	mu.Unlock()
	if r := l.rate(); r != 800 {
		t.Fatalf("rate = %v, want 8000/10", r)
	}
}

// blockingV2TF is a component for the v2 and tensorflow protocols that
// holds every call, REST and gRPC, until release is closed.
type blockingV2TF struct {
	ipb.UnimplementedGRPCInferenceServiceServer
	release chan struct{}
}

func (b *blockingV2TF) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	<-b.release
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"outputs":[]}`)
}

func (b *blockingV2TF) ModelInfer(context.Context, *ipb.ModelInferRequest) (*ipb.ModelInferResponse, error) {
	<-b.release
	return &ipb.ModelInferResponse{}, nil
}

type blockingTF struct {
	tfpb.UnimplementedPredictionServiceServer
	b *blockingV2TF
}

func (t blockingTF) Predict(context.Context, *tfpb.PredictRequest) (*tfpb.PredictResponse, error) {
	<-t.b.release
	return &tfpb.PredictResponse{}, nil
}

// Under v2 and tensorflow, the calls to a component, over REST and gRPC,
// count as in flight at its node, and /load answers under those protocols.
func TestRequestsInFlightV2AndTensorflow(t *testing.T) {
	for _, proto := range []string{"v2", "tensorflow"} {
		t.Run(proto, func(t *testing.T) {
			b := &blockingV2TF{release: make(chan struct{})}
			hs := httptest.NewServer(b)
			t.Cleanup(hs.Close)
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			gs := grpc.NewServer()
			ipb.RegisterGRPCInferenceServiceServer(gs, b)
			tfpb.RegisterPredictionServiceServer(gs, blockingTF{b: b})
			go func() { _ = gs.Serve(lis) }()
			t.Cleanup(gs.Stop)
			var once sync.Once
			release := func() { once.Do(func() { close(b.release) }) }
			s := serve(t, v1.PredictiveUnit{Name: "m", Type: v1.Model, Endpoint: &v1.Endpoint{ServiceHost: "127.0.0.1",
				HTTPPort: port(t, hs.Listener.Addr()), GRPCPort: port(t, lis.Addr())}}, WithProtocol(proto))
			t.Cleanup(release) // runs before the servers stop, on a failure too
			restPath, restBody := "/v2/models/m/infer", `{"inputs":[]}`
			if proto == "tensorflow" {
				restPath, restBody = "/v1/models/m:predict", `{"instances":[]}`
			}
			const restN, grpcN = 2, 3
			var wg sync.WaitGroup
			for range restN {
				wg.Go(func() {
					resp, err := http.Post(s.restURL+restPath, "application/json", strings.NewReader(restBody))
					if err == nil {
						_ = resp.Body.Close()
					}
				})
			}
			for range grpcN {
				wg.Go(func() {
					if proto == "v2" {
						_, _ = ipb.NewGRPCInferenceServiceClient(s.grpcConn).ModelInfer(context.Background(),
							&ipb.ModelInferRequest{ModelName: "m"})
					} else {
						_, _ = tfpb.NewPredictionServiceClient(s.grpcConn).Predict(context.Background(),
							&tfpb.PredictRequest{ModelSpec: &tfpb.ModelSpec{Name: "m"}})
					}
				})
			}
			inFlight := func() int64 {
				l := getLoad(t, s)
				if len(l.Nodes) != 1 || l.Nodes[0].Name != "m" {
					t.Fatalf("load = %+v", l)
				}
				return l.Nodes[0].InFlight
			}
			waitFor(t, "5 requests in flight at m", func() bool { return inFlight() == restN+grpcN })
			release()
			wg.Wait()
			waitFor(t, "no request in flight", func() bool { return inFlight() == 0 })
		})
	}
}
