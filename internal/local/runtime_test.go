package local

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/sdep-dev/sdep/internal/autoscale"
	"github.com/sdep-dev/sdep/internal/load"
	"github.com/sdep-dev/sdep/internal/models/mockclassifier"
)

// modelEnv makes the test binary act as a mock classifier replica: the
// runtime tests start it with --run, so they need no other binary.
const modelEnv = "SDEP_LOCAL_TEST_MODEL"

func TestMain(m *testing.M) {
	if os.Getenv(modelEnv) != "" {
		serveMockClassifier()
		return
	}
	os.Exit(m.Run())
}

// serveMockClassifier serves the built-in classifier on the ports the
// operator's env vars name, until SIGTERM.
func serveMockClassifier() {
	hl, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PREDICTIVE_UNIT_HTTP_SERVICE_PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PREDICTIVE_UNIT_GRPC_SERVICE_PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg := mockclassifier.Config{ID: os.Getenv("PREDICTIVE_UNIT_ID"), Image: os.Getenv("PREDICTIVE_UNIT_IMAGE")}
	if err := mockclassifier.ParseParameters(os.Getenv("PREDICTIVE_UNIT_PARAMETERS"), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := mockclassifier.New(cfg)
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	gs := grpc.NewServer()
	s.RegisterGRPC(gs)
	go func() { _ = hs.Serve(hl) }()
	go func() { _ = gs.Serve(gl) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	_ = hs.Shutdown(context.Background())
	gs.GracefulStop()
}

// seedPlan is the seed document with its classifier run by this test
// binary.
func seedPlan(t *testing.T) *Plan {
	t.Helper()
	plan, err := NewPlan(seedDocument(t, ""), Mappings{
		Run: map[string]string{"classifier": fmt.Sprintf("env %s=1 '%s'", modelEnv, os.Args[0])},
	})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// syncWriter is a goroutine-safe log buffer.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// startRuntime runs the plan until the test ends.
func startRuntime(t *testing.T, plan *Plan, sync, stabilization time.Duration) (*Runtime, *syncWriter) {
	t.Helper()
	cfg := autoscale.DefaultConfig()
	cfg.DownscaleStabilizationWindow = stabilization
	return startRuntimeWith(t, plan, Options{SyncPeriod: sync, Autoscale: cfg})
}

// startRuntimeWith runs the plan with opts (its log and the replicas'
// output are the test's) until the test ends.
func startRuntimeWith(t *testing.T, plan *Plan, opts Options) (*Runtime, *syncWriter) {
	t.Helper()
	log := &syncWriter{}
	opts.Log, opts.ChildOutput = log, io.Discard
	rt, err := New(plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		t.Logf("runtime log:\n%s", log.String())
	})
	return rt, log
}

// waitFor waits until cond holds on the runtime's status, checking it at
// every change the runtime signals.
func waitFor(t *testing.T, rt *Runtime, timeout time.Duration, what string, cond func(ComponentStatus) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		changed := rt.Changed() // before Status, so no change is missed
		if st := rt.Status(); len(st.Components) > 0 && cond(st.Components[0]) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s: not reached within %s; status: %+v", what, timeout, rt.Status().Components)
		}
	}
}

// loadGen is a closed-loop client: each worker sends a prediction, waits
// for the answer, then pauses.
type loadGen struct {
	url      string
	client   *http.Client
	ok, fail atomic.Int64
	firstErr atomic.Value
}

func newLoadGen(addr string) *loadGen {
	return &loadGen{url: "http://" + addr + "/api/v1.0/predictions",
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// run sends requests from workers goroutines, each pausing between
// requests, until ctx ends.
func (g *loadGen) run(ctx context.Context, workers int, pause time.Duration) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				g.once()
				if pause > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(pause):
					}
				}
			}
		}()
	}
	return &wg
}

func (g *loadGen) once() {
	resp, err := g.client.Post(g.url, "application/json", strings.NewReader(`{"data":{"ndarray":[[1.0,2.0,3.0,4.0]]}}`))
	if err != nil {
		g.failed(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		g.failed(fmt.Errorf("status %d: %s", resp.StatusCode, body))
		return
	}
	g.ok.Add(1)
}

func (g *loadGen) failed(err error) {
	g.fail.Add(1)
	g.firstErr.CompareAndSwap(nil, err.Error())
}

// TestServeRestartsAKilledReplica kills a replica's process under load: it
// is restarted and serves again; failed requests are counted, not hidden.
func TestServeRestartsAKilledReplica(t *testing.T) {
	rt, log := startRuntime(t, seedPlan(t), time.Hour, time.Hour)
	waitFor(t, rt, 60*time.Second, "first replica ready", func(c ComponentStatus) bool { return c.Ready == 1 })
	pid := rt.Status().Components[0].ReplicaList[0].Processes[0].PID
	g := newLoadGen(rt.Addrs()[0].HTTP)
	ctx, stop := context.WithCancel(context.Background())
	wg := g.run(ctx, 2, 10*time.Millisecond)
	defer func() { stop(); wg.Wait() }()

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, 60*time.Second, "replica restarted and ready", func(c ComponentStatus) bool {
		p := c.ReplicaList[0].Processes[0]
		return c.Restarts == 1 && c.Ready == 1 && p.PID != 0 && p.PID != pid
	})
	before := g.ok.Load()
	waitForRequests(t, g, before+20)
	t.Logf("after the restart: %d requests succeeded, %d failed", g.ok.Load(), g.fail.Load())
	if !strings.Contains(log.String(), "restart 1 in") {
		t.Errorf("no restart event in the log")
	}
}

func waitForRequests(t *testing.T, g *loadGen, n int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for g.ok.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d successful requests, want %d (failed %d, first: %v)", g.ok.Load(), n, g.fail.Load(), g.firstErr.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNextBackoffDoublesToACapAndResetsAfterALongRun(t *testing.T) {
	var got []time.Duration
	b := time.Duration(0)
	for range 7 {
		b = nextBackoff(b, time.Second)
		got = append(got, b)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("backoffs %v, want %v seconds", got, want)
		}
	}
	if b := nextBackoff(30*time.Second, backoffReset); b != backoffInitial {
		t.Errorf("after a run of %s the backoff is %s, want %s", backoffReset, b, backoffInitial)
	}
}

// TestServeSendsAnEndpointContainersCallsToItsServer: a container given
// with --endpoint is not started; its node's calls go to that server.
func TestServeSendsAnEndpointContainersCallsToItsServer(t *testing.T) {
	model := httptest.NewServer(mockclassifier.New(mockclassifier.Config{}).Handler())
	defer model.Close()
	plan, err := NewPlan(seedDocument(t, "myorg/model:2"), Mappings{
		Endpoints: map[string]string{"classifier": strings.TrimPrefix(model.URL, "http://")},
	})
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := startRuntime(t, plan, time.Hour, time.Hour)
	waitFor(t, rt, 30*time.Second, "executor listening", func(ComponentStatus) bool { return len(rt.Addrs()) == 1 })
	g := newLoadGen(rt.Addrs()[0].HTTP)
	g.once()
	if g.ok.Load() != 1 {
		t.Fatalf("prediction through the executor failed: %v", g.firstErr.Load())
	}
	c := rt.Status().Components[0]
	if c.Replicas != 0 || c.External["classifier"] == "" {
		t.Errorf("status %+v, want no replicas and the external classifier", c)
	}
}

// TestServeAnswersOverGRPC: a gRPC request to the executor is passed on
// over gRPC to a replica's own gRPC port (PREDICTIVE_UNIT_GRPC_SERVICE_PORT,
// rewritten per replica).
func TestServeAnswersOverGRPC(t *testing.T) {
	rt, _ := startRuntime(t, seedPlan(t), time.Hour, time.Hour)
	waitFor(t, rt, 60*time.Second, "first replica ready", func(c ComponentStatus) bool { return c.Ready == 1 })
	r, err := load.Run(context.Background(), load.Options{Target: rt.Addrs()[0].GRPC, GRPC: true,
		Concurrency: 1, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Succeeded == 0 || r.Succeeded != r.Requests {
		t.Errorf("%d of %d gRPC predictions succeeded; errors %v, first: %s", r.Succeeded, r.Requests, r.Errors, r.FirstError)
	}
}

// The status and the live table carry the executor's request figures for
// each component: requests per second after a load, and nothing in flight
// once it has ended.
func TestStatusShowsRequestsPerComponent(t *testing.T) {
	rt, _ := startRuntime(t, seedPlan(t), time.Hour, time.Hour)
	waitFor(t, rt, 60*time.Second, "first replica ready", func(c ComponentStatus) bool { return c.Ready == 1 })
	before := rt.Status().Components[0]
	if before.InFlight == nil || *before.InFlight != 0 || before.RequestsPerSecond == nil || *before.RequestsPerSecond != 0 {
		t.Fatalf("before any request: in flight %v, per second %v; want 0 and 0", before.InFlight, before.RequestsPerSecond)
	}
	r, err := load.Run(context.Background(), load.Options{Target: "http://" + rt.Addrs()[0].HTTP + "/api/v1.0/predictions", Concurrency: 2, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Succeeded == 0 {
		t.Fatalf("no prediction succeeded: %v", r.Errors)
	}
	c := rt.Status().Components[0]
	if c.InFlight == nil || *c.InFlight != 0 {
		t.Errorf("in flight after the load ended: %v, want 0", c.InFlight)
	}
	if c.RequestsPerSecond == nil || *c.RequestsPerSecond <= 0 {
		t.Errorf("requests per second after %d requests: %v, want more than 0", r.Succeeded, c.RequestsPerSecond)
	}
}
