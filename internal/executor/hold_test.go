package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/sdep-dev/sdep/api/v1"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

// scaledPredictor is a predictor whose graph is one model "m" in a
// componentSpec with the given hpaSpec.minReplicas, predictor annotations
// and componentSpec annotations.
func scaledPredictor(m v1.PredictiveUnit, minReplicas int32, ann, csAnn map[string]string) v1.PredictorSpec {
	return v1.PredictorSpec{Name: "p", Graph: m, Annotations: ann,
		ComponentSpecs: []v1.SeldonPodSpec{{
			Metadata: metav1.ObjectMeta{Name: "c", Annotations: csAnn},
			Spec:     corev1.PodSpec{Containers: []corev1.Container{{Name: m.Name, Image: "img:1"}}},
			HpaSpec:  &v1.SeldonHpaSpec{MinReplicas: &minReplicas, MaxReplicas: 3},
		}}}
}

func loadOf(t *testing.T, s *served, name string) NodeLoad {
	t.Helper()
	for _, n := range getLoad(t, s).Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %q in /load", name)
	return NodeLoad{}
}

type result struct {
	code int
	out  map[string]any
	err  error
	took time.Duration
}

// predictAsync sends one prediction over transport and reports it on the
// returned channel.
func (s *served) predictAsync(t *testing.T, transport string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		start := time.Now()
		if transport == "grpc" {
			out, err := s.client.Predict(context.Background(), &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}})
			r := result{err: err, took: time.Since(start)}
			if err == nil {
				r.out = map[string]any{"strData": out.GetStrData()}
			}
			ch <- r
			return
		}
		resp, err := http.Post(s.restURL+"/api/v1.0/predictions", "application/json", strings.NewReader(`{"strData":"x"}`))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		var m map[string]any
		err = jsonDecode(resp, &m)
		ch <- result{code: resp.StatusCode, out: m, err: err, took: time.Since(start)}
	}()
	return ch
}

func jsonDecode(resp *http.Response, v any) error {
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return jsonUnmarshal(b, v)
}

func (r result) ok(t *testing.T, transport string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("%s: %v", transport, r.err)
	}
	if transport != "grpc" && r.code != 200 {
		t.Fatalf("%s: %d %v", transport, r.code, r.out)
	}
	if r.out["strData"] != "m(x)" {
		t.Fatalf("%s: answer %v, want m(x)", transport, r.out)
	}
}

// A request to a component that scales to zero and has no replica waits
// until one is added, counts as in flight and as held meanwhile, and is
// then answered.
func TestHeldRequestAnsweredOnceAMemberIsAdded(t *testing.T) {
	for _, transport := range []string{"rest", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			s := servePredictor(t, scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model}, 0, nil, nil), WithEmptyEndpointSets())
			res := s.predictAsync(t, transport)
			waitFor(t, "one held request", func() bool { return loadOf(t, s, "m").Held == 1 })
			if l := loadOf(t, s, "m"); l.InFlight != 1 {
				t.Errorf("in flight while held = %d, want 1", l.InFlight)
			}
			text := scrape(t, s)
			for _, want := range []string{
				`seldon_requests_in_flight{deployment_name="sd",model_image="img",model_name="m",model_version="1",predictor_name="p",predictor_version=""} 1`,
				`seldon_requests_held{deployment_name="sd",model_image="img",model_name="m",model_version="1",predictor_name="p",predictor_version=""} 1`,
			} {
				if !strings.Contains(text, want) {
					t.Errorf("/prometheus lacks %s", want)
				}
			}
			select {
			case r := <-res:
				t.Fatalf("answered before a replica existed: %+v", r)
			case <-time.After(100 * time.Millisecond):
			}
			f := startFake(t, &fake{name: "m"})
			set, _ := s.e.EndpointSet("m")
			if err := set.Add(f.ep); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-res:
				r.ok(t, transport)
			case <-time.After(5 * time.Second):
				t.Fatal("not answered within 5 s of the replica being added")
			}
			if l := loadOf(t, s, "m"); l.Held != 0 || l.InFlight != 0 {
				t.Errorf("after the answer: %+v, want nothing held or in flight", l)
			}
		})
	}
}

const wantTimeout = `node "m": no replica became ready within 200ms (seldon.io/activation-timeout); the component has no ready replica`

// When no replica comes within seldon.io/activation-timeout the request is
// answered 503 / Unavailable with a message naming the annotation, in each
// protocol's own error shape.
func TestActivationTimeout(t *testing.T) {
	ann := map[string]string{AnnotationActivationTimeout: "200ms"}
	s := servePredictor(t, scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model}, 0, ann, nil), WithEmptyEndpointSets())
	start := time.Now()
	code, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
	took := time.Since(start)
	if code != 503 || dig(out, "status", "info") != wantTimeout || dig(out, "status", "reason") != reasonActivationTimeout {
		t.Errorf("REST: %d %v, want 503 %q", code, out, wantTimeout)
	}
	if took < 200*time.Millisecond || took > 2*time.Second {
		t.Errorf("REST answered after %v, want about 200ms", took)
	}
	_, err := s.client.Predict(context.Background(), &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}})
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable || st.Message() != wantTimeout {
		t.Errorf("gRPC: %v, want Unavailable %q", err, wantTimeout)
	}

	v2 := servePredictor(t, scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model}, 0, ann, nil),
		WithEmptyEndpointSets(), WithProtocol("v2"))
	code, out, _ = v2.post(t, "/v2/models/m/infer", `{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]}]}`)
	if code != 503 || out["error"] != wantTimeout {
		t.Errorf("v2 REST: %d %v, want 503 {\"error\": %q}", code, out, wantTimeout)
	}
	if l := loadOf(t, s, "m"); l.Held != 0 || l.InFlight != 0 {
		t.Errorf("after the timeouts: %+v", l)
	}
}

// Beyond seldon.io/activation-queue held requests, more are refused at once.
func TestActivationQueueBound(t *testing.T) {
	ann := map[string]string{AnnotationActivationQueue: "2"}
	s := servePredictor(t, scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model}, 0, ann, nil), WithEmptyEndpointSets())
	held := []<-chan result{s.predictAsync(t, "rest"), s.predictAsync(t, "grpc")}
	waitFor(t, "two held requests", func() bool { return loadOf(t, s, "m").Held == 2 })
	start := time.Now()
	code, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
	want := `node "m": 2 requests are already waiting for a replica, the limit (seldon.io/activation-queue); retry later or raise the annotation`
	if code != 503 || dig(out, "status", "info") != want || dig(out, "status", "reason") != reasonActivationQueueFull {
		t.Errorf("third request: %d %v, want 503 %q", code, out, want)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("queue-full answer took %v, want at once", took)
	}
	f := startFake(t, &fake{name: "m"})
	set, _ := s.e.EndpointSet("m")
	if err := set.Add(f.ep); err != nil {
		t.Fatal(err)
	}
	(<-held[0]).ok(t, "rest")
	(<-held[1]).ok(t, "grpc")
}

// Held requests do not count against seldon.io/executor-max-inflight: with
// a cap of 1, three requests wait at once and all are served, and the cap
// still turns away a request beyond it once they are served.
func TestHeldRequestsAreOutsideTheInFlightCap(t *testing.T) {
	ann := map[string]string{AnnotationMaxInFlight: "1"}
	s := servePredictor(t, scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model}, 0, ann, nil), WithEmptyEndpointSets())
	var held []<-chan result
	for i := range 3 {
		held = append(held, s.predictAsync(t, []string{"rest", "grpc"}[i%2]))
		waitFor(t, fmt.Sprintf("%d held requests", i+1), func() bool { return loadOf(t, s, "m").Held == int64(i+1) })
	}
	if n := s.e.admit.inflight.Load(); n != 0 {
		t.Errorf("admitted in flight while all are held = %d, want 0", n)
	}
	// A slow replica: the served requests hold their slots again.
	f := startFake(t, &fake{name: "m", block: make(chan struct{})})
	set, _ := s.e.EndpointSet("m")
	if err := set.Add(f.ep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 calls at the replica", func() bool { return f.count("/predict")+f.count("Predict") == 3 })
	if n := s.e.admit.inflight.Load(); n != 3 {
		t.Errorf("admitted in flight once served = %d, want 3", n)
	}
	code, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
	if code != 503 || dig(out, "status", "reason") != reasonBusy {
		t.Errorf("request over the cap: %d %v, want 503 %s", code, out, reasonBusy)
	}
	close(f.block)
	for i, r := range held {
		(<-r).ok(t, []string{"rest", "grpc"}[i%2])
	}
	if n := s.e.admit.inflight.Load(); n != 0 {
		t.Errorf("admitted in flight at the end = %d, want 0", n)
	}
}

// A combiner's two children wait at once for one request: the request
// gives back one admission slot, not two, and takes back one.
func TestHeldFanOutGivesBackOneSlot(t *testing.T) {
	pred := v1.PredictorSpec{Name: "p", Annotations: map[string]string{AnnotationActivationTimeout: "10s"},
		Graph: v1.PredictiveUnit{Name: "avg", Implementation: v1.AverageCombiner, Children: []v1.PredictiveUnit{
			{Name: "a", Type: v1.Model}, {Name: "b", Type: v1.Model}}}}
	s := servePredictor(t, pred, WithEmptyEndpointSets())
	res := s.predictAsync(t, "rest")
	waitFor(t, "both children held", func() bool { return loadOf(t, s, "a").Held == 1 && loadOf(t, s, "b").Held == 1 })
	if n := s.e.admit.inflight.Load(); n != 0 {
		t.Errorf("admitted in flight while held = %d, want 0", n)
	}
	fa, fb := startFake(t, &fake{name: "a", fixed: `{"data":{"ndarray":[[1]]}}`}), startFake(t, &fake{name: "b", fixed: `{"data":{"ndarray":[[3]]}}`})
	sa, _ := s.e.EndpointSet("a")
	if err := sa.Add(fa.ep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a answered", func() bool { return loadOf(t, s, "a").InFlight == 0 })
	if n := s.e.admit.inflight.Load(); n != 0 {
		t.Errorf("admitted in flight while b is still held = %d, want 0", n)
	}
	sb, _ := s.e.EndpointSet("b")
	if err := sb.Add(fb.ep); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil || r.code != 200 {
		t.Fatalf("%+v", r)
	}
	if n := s.e.admit.inflight.Load(); n != 0 {
		t.Errorf("admitted in flight at the end = %d, want 0", n)
	}
}

// Nodes that do not hold keep failing at once: minReplicas 1, or no
// componentSpec at all.
func TestNonHoldingNodesFailFast(t *testing.T) {
	for name, pred := range map[string]v1.PredictorSpec{
		"minReplicas 1":    scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model}, 1, nil, nil),
		"no componentSpec": {Name: "p", Graph: v1.PredictiveUnit{Name: "m", Type: v1.Model}},
	} {
		t.Run(name, func(t *testing.T) {
			s := servePredictor(t, pred, WithEmptyEndpointSets())
			start := time.Now()
			code, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
			if code != 503 || dig(out, "status", "info") != `node "m": no endpoint available` {
				t.Errorf("%d %v", code, out)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %v, want at once", took)
			}
		})
	}
	// A refused connection also fails at once for a node that does not hold.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := port(t, lis.Addr())
	_ = lis.Close()
	s := servePredictor(t, scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model,
		Endpoint: &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: p}}, 1, nil, nil))
	start := time.Now()
	code, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
	if code != 503 || dig(out, "status", "info") != `node "m": POST /predict failed: connection refused` {
		t.Errorf("refused: %d %v", code, out)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("refused: took %v, want at once", took)
	}
}

// closedPorts returns two loopback ports nothing listens on.
func closedPorts(t *testing.T) (httpPort, grpcPort int32) {
	var ls [2]net.Listener
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls[i] = l
	}
	httpPort, grpcPort = port(t, ls[0].Addr()), port(t, ls[1].Addr())
	for _, l := range ls {
		_ = l.Close()
	}
	return httpPort, grpcPort
}

// startFakeOn serves f on the given loopback ports.
func startFakeOn(t *testing.T, f *fake, httpPort, grpcPort int32) {
	t.Helper()
	hl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", grpcPort))
	if err != nil {
		t.Fatal(err)
	}
	f.rest = httptest.NewUnstartedServer(http.HandlerFunc(f.serveREST))
	_ = f.rest.Listener.Close()
	f.rest.Listener = hl
	f.rest.Start()
	t.Cleanup(f.rest.Close)
	f.grpc = grpc.NewServer()
	pb.RegisterModelServer(f.grpc, &fakeGRPC{f: f})
	go func() { _ = f.grpc.Serve(gl) }()
	t.Cleanup(f.grpc.Stop)
}

// In a cluster the member is the component's Service, and with no ready pod
// its connections are refused: a holding node retries (REST) or waits for
// the connection (gRPC) until a server listens there.
func TestRefusedDialRetriedForHoldingNode(t *testing.T) {
	for _, transport := range []string{"rest", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			hp, gp := closedPorts(t)
			s := servePredictor(t, scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model,
				Endpoint: &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: hp, GRPCPort: gp}}, 0, nil, nil))
			res := s.predictAsync(t, transport)
			waitFor(t, "the request held while refused", func() bool { return loadOf(t, s, "m").Held == 1 })
			select {
			case r := <-res:
				t.Fatalf("answered while nothing listens: %+v", r)
			case <-time.After(300 * time.Millisecond):
			}
			startFakeOn(t, &fake{name: "m"}, hp, gp)
			select {
			case r := <-res:
				r.ok(t, transport)
			case <-time.After(5 * time.Second):
				t.Fatal("not answered within 5 s of the server listening")
			}
			if l := loadOf(t, s, "m"); l.Held != 0 || l.InFlight != 0 {
				t.Errorf("after the answer: %+v", l)
			}
		})
	}
}

// A refused dial of a holding node ends with the activation timeout.
func TestRefusedDialEndsWithActivationTimeout(t *testing.T) {
	hp, gp := closedPorts(t)
	s := servePredictor(t, scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model,
		Endpoint: &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: hp, GRPCPort: gp}}, 0,
		map[string]string{AnnotationActivationTimeout: "200ms"}, nil))
	code, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
	if code != 503 || dig(out, "status", "info") != wantTimeout {
		t.Errorf("REST: %d %v, want 503 %q", code, out, wantTimeout)
	}
	_, err := s.client.Predict(context.Background(), &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}})
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable || st.Message() != wantTimeout {
		t.Errorf("gRPC: %v, want Unavailable %q", err, wantTimeout)
	}
}

// seldon.io/container-concurrency 1: one slow replica gets one request at a
// time, the others wait (in flight and held) and all succeed.
func TestContainerConcurrencyLimit(t *testing.T) {
	for _, transport := range []string{"rest", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			f := startFake(t, &fake{name: "m", block: make(chan struct{})})
			s := servePredictor(t, scaledPredictor(unit("m", v1.Model, f), 1, nil,
				map[string]string{AnnotationContainerConcurrency: "1"}))
			const n = 5
			var res []<-chan result
			for range n {
				res = append(res, s.predictAsync(t, transport))
			}
			waitFor(t, "4 held, 1 at the replica", func() bool {
				l := loadOf(t, s, "m")
				return l.Held == n-1 && l.InFlight == n && f.active.Load() == 1
			})
			time.Sleep(50 * time.Millisecond) // time for a wrongly admitted call to arrive
			if got := f.active.Load(); got != 1 {
				t.Errorf("calls at the replica = %d, want 1", got)
			}
			close(f.block)
			for _, r := range res {
				(<-r).ok(t, transport)
			}
			if got := f.maxActive.Load(); got != 1 {
				t.Errorf("most calls at the replica at once = %d, want 1", got)
			}
			if got := f.count("/predict") + f.count("Predict"); got != n {
				t.Errorf("replica served %d, want %d", got, n)
			}
		})
	}
}

// With a limit of 2 and two replicas, four requests run at once (two on
// each), a fifth waits.
func TestContainerConcurrencyPerMember(t *testing.T) {
	block := make(chan struct{})
	a, b := startFake(t, &fake{name: "m", block: block}), startFake(t, &fake{name: "m", block: block})
	s := servePredictor(t, scaledPredictor(unit("m", v1.Model, a), 1, nil,
		map[string]string{AnnotationContainerConcurrency: "2"}))
	set, _ := s.e.EndpointSet("m")
	if err := set.Add(b.ep); err != nil {
		t.Fatal(err)
	}
	var res []<-chan result
	for range 5 {
		res = append(res, s.predictAsync(t, "rest"))
	}
	waitFor(t, "2 at each replica and 1 held", func() bool {
		return a.active.Load() == 2 && b.active.Load() == 2 && loadOf(t, s, "m").Held == 1
	})
	close(block)
	for _, r := range res {
		(<-r).ok(t, "rest")
	}
	if a.maxActive.Load() > 2 || b.maxActive.Load() > 2 {
		t.Errorf("most at once: %d and %d, want at most 2", a.maxActive.Load(), b.maxActive.Load())
	}
}

// A request waiting for a slot gives up after the activation timeout with a
// message naming the limit.
func TestContainerConcurrencyTimeout(t *testing.T) {
	f := startFake(t, &fake{name: "m", block: make(chan struct{})})
	defer close(f.block)
	s := servePredictor(t, scaledPredictor(unit("m", v1.Model, f), 1,
		map[string]string{AnnotationActivationTimeout: "200ms"},
		map[string]string{AnnotationContainerConcurrency: "1"}))
	first := s.predictAsync(t, "rest")
	waitFor(t, "one call at the replica", func() bool { return f.active.Load() == 1 })
	code, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
	want := `node "m": no replica could take the request within 200ms (seldon.io/activation-timeout): every replica has 1 requests in flight, its limit (seldon.io/container-concurrency)`
	if code != 503 || dig(out, "status", "info") != want {
		t.Errorf("%d %v, want 503 %q", code, out, want)
	}
	_ = first
}

// Removing the last member of a limited set that does not hold fails its
// waiters at once rather than at the timeout.
func TestLimitedWaitersFailWhenTheSetEmpties(t *testing.T) {
	s := newHoldingEndpointSet("m", transportConfig{maxIdleConnsPerHost: 1}, holdConfig{limit: 1, timeout: time.Minute, queue: 10})
	a := Endpoint{"a", 1, 2}
	if err := s.Add(a); err != nil {
		t.Fatal(err)
	}
	m, err := s.pick(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.pick(context.Background(), nil)
		errc <- err
	}()
	waitFor(t, "a waiter", func() bool { return s.Held() == 1 })
	if _, err := s.Remove(a); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrNoEndpoint) {
			t.Errorf("waiter got %v, want ErrNoEndpoint", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter still waiting after the set emptied")
	}
	m.release()
}

// Many waiters and one slot: every request gets through exactly once, and
// never more than the limit at once (no lost wake-up, no over-grant).
func TestPickUnderContention(t *testing.T) {
	s := newHoldingEndpointSet("m", transportConfig{maxIdleConnsPerHost: 1}, holdConfig{limit: 2, timeout: time.Minute, queue: 1000})
	for _, h := range []string{"a", "b"} {
		if err := s.Add(Endpoint{h, 1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		active   = map[*member]int{}
		over     bool
		failures int
	)
	for range 200 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			m, err := s.pick(ctx, nil)
			if err != nil {
				mu.Lock()
				failures++
				mu.Unlock()
				return
			}
			mu.Lock()
			active[m]++
			if active[m] > 2 {
				over = true
			}
			mu.Unlock()
			time.Sleep(100 * time.Microsecond)
			mu.Lock()
			active[m]--
			mu.Unlock()
			m.release()
		})
	}
	wg.Wait()
	if failures != 0 || over {
		t.Errorf("failures %d, over the limit %v", failures, over)
	}
	if s.Held() != 0 || len(s.waitq) != 0 {
		t.Errorf("left behind: held %d, queue %d", s.Held(), len(s.waitq))
	}
}

// Bad annotation values are refused by New, naming the field and the fix.
func TestHoldAnnotationsRefused(t *testing.T) {
	for _, tc := range []struct {
		ann, csAnn map[string]string
		want       string
	}{
		{ann: map[string]string{AnnotationActivationTimeout: "30"}, want: `annotation seldon.io/activation-timeout: "30" is not a positive duration; write it like "30s"`},
		{ann: map[string]string{AnnotationActivationTimeout: "0s"}, want: `annotation seldon.io/activation-timeout: "0s" is not a positive duration`},
		{ann: map[string]string{AnnotationActivationTimeout: "-1s"}, want: `annotation seldon.io/activation-timeout: "-1s"`},
		{ann: map[string]string{AnnotationActivationQueue: "0"}, want: `annotation seldon.io/activation-queue: "0" is not a positive number of requests`},
		{ann: map[string]string{AnnotationActivationQueue: "many"}, want: `annotation seldon.io/activation-queue: "many"`},
		{csAnn: map[string]string{AnnotationContainerConcurrency: "-1"}, want: `componentSpecs[0].metadata.annotations[seldon.io/container-concurrency]: "-1" is not a number of requests ≥ 0`},
		{csAnn: map[string]string{AnnotationContainerConcurrency: "1.5"}, want: `componentSpecs[0].metadata.annotations[seldon.io/container-concurrency]: "1.5"`},
	} {
		_, err := New(scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model}, 0, tc.ann, tc.csAnn), WithEmptyEndpointSets())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: %v, want %q", tc.ann, tc.csAnn, err, tc.want)
		}
	}
	// Good values are accepted and applied.
	e, err := New(scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model}, 1,
		map[string]string{AnnotationActivationTimeout: "2m", AnnotationActivationQueue: "7"},
		map[string]string{AnnotationContainerConcurrency: "3"}), WithEmptyEndpointSets())
	if err != nil {
		t.Fatal(err)
	}
	set, _ := e.EndpointSet("m")
	if want := (holdConfig{hold: true, limit: 3, timeout: 2 * time.Minute, queue: 7}); set.hold != want {
		t.Errorf("hold config %+v, want %+v", set.hold, want)
	}
	e.Close()
}

// FuzzHoldRules: parsing the holding annotations never panics, and what it
// accepts is usable (a positive timeout and queue, a limit ≥ 0).
func FuzzHoldRules(f *testing.F) {
	f.Add("30s", "1000", "4")
	f.Add("", "", "")
	f.Add("1h2m3.5s", "1", "0")
	f.Add("-1s", "0", "-1")
	f.Add("9223372036854775807ns", "9223372036854775807", "2147483648")
	f.Fuzz(func(t *testing.T, timeout, queue, limit string) {
		ann := map[string]string{}
		if timeout != "" {
			ann[AnnotationActivationTimeout] = timeout
		}
		if queue != "" {
			ann[AnnotationActivationQueue] = queue
		}
		csAnn := map[string]string{}
		if limit != "" {
			csAnn[AnnotationContainerConcurrency] = limit
		}
		pred := scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model}, 0, ann, csAnn)
		r, err := parseHoldRules(&pred, pred.Annotations)
		if err != nil {
			if !strings.Contains(err.Error(), "seldon.io/") {
				t.Fatalf("error names no annotation: %v", err)
			}
			return
		}
		h := r.forNode("m")
		if !h.hold || h.timeout <= 0 || h.queue <= 0 || h.limit < 0 {
			t.Fatalf("accepted %q %q %q as %+v", timeout, queue, limit, h)
		}
	})
}

// The executor is ready while a holding node has no replica (it must take
// the requests that wake it), and not ready while another node has none.
func TestReadyLeavesOutHoldingNodes(t *testing.T) {
	hp, _ := closedPorts(t)
	for _, tc := range []struct {
		min  int32
		want int
	}{{0, 200}, {1, 503}} {
		s := servePredictor(t, scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model,
			Endpoint: &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: hp}}, tc.min, nil, nil))
		resp, err := http.Get(s.restURL + "/ready")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("minReplicas %d, refused endpoint: /ready %d, want %d", tc.min, resp.StatusCode, tc.want)
		}
		e := s.e
		set, _ := e.EndpointSet("m")
		_, _ = set.Remove(set.Endpoints()[0])
		if err := e.Ready(context.Background()); (err == nil) != (tc.want == 200) {
			t.Errorf("minReplicas %d, empty set: Ready() = %v", tc.min, err)
		}
	}
}

// The default timeout reads as the annotation would be written.
func TestActivationMessages(t *testing.T) {
	n := &node{name: "classifier", endpoints: newHoldingEndpointSet("classifier", transportConfig{},
		holdConfig{hold: true, timeout: DefaultActivationTimeout, queue: DefaultActivationQueue})}
	e := pickFailed(n, errHoldTimeout)
	want := `node "classifier": no replica became ready within 60s (seldon.io/activation-timeout); the component has no ready replica`
	if e.Message != want || e.HTTPStatus != 503 || e.GRPCCode != codes.Unavailable {
		t.Errorf("got %d %v %q, want 503 Unavailable %q", e.HTTPStatus, e.GRPCCode, e.Message, want)
	}
	for d, want := range map[time.Duration]string{90 * time.Second: "90s", 1500 * time.Millisecond: "1.5s", 200 * time.Millisecond: "200ms"} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%v) = %q, want %q", d, got, want)
		}
	}
}

// A legacy hpaSpecs entry with minReplicas 0 makes its componentSpec's
// nodes hold, as an hpaSpec does; a kedaSpec does not.
func TestLegacyHpaSpecsAtZeroHold(t *testing.T) {
	zero := int32(0)
	pred := scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model}, 1, nil, nil)
	pred.ComponentSpecs[0].HpaSpec = nil
	pred.HpaSpecs = []v1.LegacyHpaSpec{{ScaleTargetRef: v1.CrossVersionObjectReference{Kind: "Deployment", Name: "c"}, MinReplicas: &zero, MaxReplicas: 3}}
	r, err := parseHoldRules(&pred, pred.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	if !r.forNode("m").hold {
		t.Error("a legacy hpaSpecs entry with minReplicas 0: node does not hold")
	}
	pred.HpaSpecs[0].ScaleTargetRef.Name = "other"
	if r, err = parseHoldRules(&pred, pred.Annotations); err != nil || r.forNode("m").hold {
		t.Errorf("an entry for another componentSpec: hold %v, err %v", r.forNode("m").hold, err)
	}
}

// In a cluster a node's one endpoint is the component's Service unless the
// executor shares the component's pod (a loopback host): the per-replica
// limit is kept for loopback hosts only. Nothing is sent: New dials no
// member (connections are made on a member's first call, and this test
// makes none), and the one non-loopback address is TEST-NET-1's
// (RFC 5737).
func TestContainerConcurrencyOnlyForReplicas(t *testing.T) {
	for _, tc := range []struct {
		host  string
		limit int64
	}{{"127.0.0.1", 3}, {"localhost", 3}, {"::1", 3}, {"c-m.default.svc.cluster.local.", 0}, {"192.0.2.7", 0}} {
		pred := scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model,
			Endpoint: &v1.Endpoint{ServiceHost: tc.host, HTTPPort: 9000, GRPCPort: 9500}}, 1, nil,
			map[string]string{AnnotationContainerConcurrency: "3"})
		e, err := New(pred)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.byName["m"].endpoints.hold.limit; got != tc.limit {
			t.Errorf("host %q: limit %d, want %d", tc.host, got, tc.limit)
		}
		e.Close()
	}
	// sdep serve's sets (one member per replica) keep it whatever the host.
	pred := scaledPredictor(v1.PredictiveUnit{Name: "m", Type: v1.Model,
		Endpoint: &v1.Endpoint{ServiceHost: "c-m.default.svc.cluster.local.", HTTPPort: 9000}}, 1, nil,
		map[string]string{AnnotationContainerConcurrency: "3"})
	e, err := New(pred, WithEmptyEndpointSets())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := e.byName["m"].endpoints.hold.limit; got != 3 {
		t.Errorf("empty endpoint sets: limit %d, want 3", got)
	}
}
