package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/autoscale"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/load"
	"github.com/sdep-dev/sdep/internal/models/mockclassifier"
	"github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

func TestDirectPortsNeverCollideWithTheFrontGRPCAndStatusPorts(t *testing.T) {
	tests := []struct {
		name                  string
		http, grpc, status, n int
		wantREST, wantGRPC    []int
	}{
		{"defaults", 8000, 5001, 8001, 3, []int{8010, 8011, 8012}, []int{5011, 5012, 5013}},
		{"status port in the way", 8000, 5001, 8011, 2, []int{8010, 8012}, []int{5011, 5012}},
		{"gRPC port in the way", 8000, 8011, 8001, 2, []int{8010, 8012}, []int{8021, 8022}},
		{"ranges overlap", 7000, 6995, 8001, 6, []int{7010, 7011, 7012, 7013, 7014, 7015}, []int{7005, 7006, 7007, 7008, 7009, 7016}},
		{"free ports", 0, 0, 0, 2, []int{0, 0}, []int{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest, grpc, err := directPorts(tt.http, tt.grpc, tt.status, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantREST, rest); diff != "" {
				t.Errorf("REST ports (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantGRPC, grpc); diff != "" {
				t.Errorf("gRPC ports (-want +got):\n%s", diff)
			}
			seen := map[int]bool{}
			for _, p := range []int{tt.http, tt.grpc, tt.status} {
				seen[p] = p > 0
			}
			for _, p := range append(rest, grpc...) {
				if p > 0 && seen[p] {
					t.Errorf("port %d given twice", p)
				}
				seen[p] = p > 0
			}
		})
	}
	if _, _, err := directPorts(65530, 5001, 8001, 1); err == nil || !strings.Contains(err.Error(), "--http-port 65530") {
		t.Errorf("ports past 65535: err %v, want one naming --http-port", err)
	}
}

func TestTrafficSplitWeightsReadinessAndShadow(t *testing.T) {
	preds := func(traffic ...int32) []sdepv1.PredictorSpec {
		var ps []sdepv1.PredictorSpec
		for i, tr := range traffic {
			ps = append(ps, sdepv1.PredictorSpec{Name: fmt.Sprint("p", i), Traffic: tr})
		}
		return ps
	}
	withShadow := func(ps []sdepv1.PredictorSpec, traffic int32) []sdepv1.PredictorSpec {
		return append(ps, sdepv1.PredictorSpec{Name: "shadow", Shadow: true, Traffic: traffic})
	}
	tests := []struct {
		name       string
		preds      []sdepv1.PredictorSpec
		ready      []bool
		wantShares []float64
	}{
		{"sole predictor takes all whatever its traffic", preds(0), []bool{true}, []float64{100}},
		{"75/25", preds(75, 25), []bool{true, true}, []float64{75, 25}},
		{"unready canary gets nothing", preds(75, 25), []bool{true, false}, []float64{100, 0}},
		{"its share goes to the others in proportion", preds(50, 25, 25), []bool{true, false, true}, []float64{66.66666666666667, 0, 33.333333333333336}},
		{"none ready: the weights as they are", preds(75, 25), []bool{false, false}, []float64{75, 25}},
		{"traffic 0 gets nothing", preds(100, 0), []bool{true, true}, []float64{100, 0}},
		{"shadow traffic 0 mirrors all", withShadow(preds(75, 25), 0), []bool{true, true, true}, []float64{75, 25, 100}},
		{"shadow traffic 30 mirrors 30%", withShadow(preds(100), 30), []bool{true, true}, []float64{100, 30}},
		{"an unready shadow is still mirrored to", withShadow(preds(100), 0), []bool{true, false}, []float64{100, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTrafficSplit(tt.preds, tt.ready)
			var got []float64
			for i := range tt.preds {
				got = append(got, s.share(i))
			}
			if diff := cmp.Diff(tt.wantShares, got); diff != "" {
				t.Errorf("shares (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChooserFollowsTheWeightsAndReplaysWithASeed(t *testing.T) {
	s := newTrafficSplit([]sdepv1.PredictorSpec{{Name: "a", Traffic: 75}, {Name: "b", Traffic: 25},
		{Name: "s", Shadow: true, Traffic: 40}}, []bool{true, true, true})
	draw := func(seed uint64) (counts [2]int, mirrored int, seq []int) {
		c := newChooser(seed)
		for range 10000 {
			p, m := c.choose(s)
			counts[p]++
			if m {
				mirrored++
			}
			seq = append(seq, p)
		}
		return counts, mirrored, seq
	}
	counts, mirrored, seq := draw(7)
	if counts[0] < 7300 || counts[0] > 7700 {
		t.Errorf("a chosen %d times of 10000, want about 7500", counts[0])
	}
	if mirrored < 3800 || mirrored > 4200 {
		t.Errorf("%d of 10000 mirrored, want about 4000", mirrored)
	}
	_, _, again := draw(7)
	if !cmp.Equal(seq, again) {
		t.Errorf("the same seed gave another sequence of choices")
	}
}

// trafficDocument is a SeldonDeployment with one predictor per name, each
// with one replica of a model container named after its predictor (so the
// answer's meta.requestPath says which predictor served it). shadow, when
// set, names the predictor made the shadow.
func trafficDocument(t *testing.T, traffic map[string]int32, shadow string, names ...string) *sdepv1.SeldonDeployment {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata:\n  name: split\n  namespace: team\nspec:\n  predictors:\n")
	for _, n := range names {
		fmt.Fprintf(&b, `  - name: %[1]s
    traffic: %[2]d
    shadow: %[3]v
    replicas: 1
    componentSpecs:
    - spec:
        containers:
        - name: %[1]s-model
          image: example/%[1]s:1
        terminationGracePeriodSeconds: 1
    graph:
      name: %[1]s-model
      type: MODEL
      endpoint:
        type: REST
`, n, traffic[n], n == shadow)
	}
	docs, err := decode.Documents("split.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return docs[0].Object
}

// modelCommand runs this test binary as a mock classifier replica.
func modelCommand() string { return fmt.Sprintf("env %s=1 '%s'", modelEnv, os.Args[0]) }

// startTrafficRuntime runs the plan with a fixed traffic seed until the
// test ends.
func startTrafficRuntime(t *testing.T, plan *Plan, opts Options) *Runtime {
	t.Helper()
	log := &syncWriter{}
	opts.SyncPeriod, opts.Autoscale, opts.Log, opts.ChildOutput = time.Hour, autoscale.DefaultConfig(), log, io.Discard
	if opts.TrafficSeed == 0 {
		opts.TrafficSeed = 1
	}
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
	return rt
}

// waitPredictors waits until cond holds on the predictors' status. Request
// counters change without a Changed signal, so it polls.
func waitPredictors(t *testing.T, rt *Runtime, what string, cond func([]PredictorStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ps := rt.Status().Predictors
		if len(ps) > 0 && cond(ps) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within 60 s; predictors %+v", what, ps)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func allReady(ps []PredictorStatus) bool {
	for _, p := range ps {
		if !p.Ready {
			return false
		}
	}
	return true
}

// answeredBy posts one prediction and returns the model that answered.
func answeredBy(client *http.Client, url string) (string, error) {
	resp, err := client.Post(url, "application/json", strings.NewReader(`{"data":{"ndarray":[[1.0,2.0,3.0,4.0]]}}`))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var out struct {
		Meta struct {
			RequestPath map[string]string `json:"requestPath"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", err
	}
	for name := range out.Meta.RequestPath {
		return name, nil
	}
	return "", fmt.Errorf("no meta.requestPath in %s", body)
}

// sendPredictions sends n predictions from workers goroutines and counts
// the answers per model.
func sendPredictions(t *testing.T, url string, n, workers int) map[string]int {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var mu sync.Mutex
	by := map[string]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				model, err := answeredBy(client, url)
				if err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					model = "error"
				}
				mu.Lock()
				by[model]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if by["error"] > 0 {
		t.Errorf("%d of %d predictions failed; first: %v", by["error"], n, firstErr.Load())
	}
	return by
}

// countingModel is a mock classifier on loopback that counts the
// predictions it answers; block makes it hold every request until the
// test ends (a component that never answers).
type countingModel struct {
	srv      *httptest.Server
	received atomic.Int64
}

func newCountingModel(t *testing.T, block bool) *countingModel {
	m := &countingModel{}
	model := mockclassifier.New(mockclassifier.Config{ID: "shadow-model", Image: "example/shadow:1"})
	release := make(chan struct{})
	hold := func(ctx context.Context) {
		m.received.Add(1)
		if block {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
	}
	// REST and gRPC on one port, as --endpoint gives the executor one
	// port for both.
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		hold(ctx)
		return next(ctx, req)
	}))
	model.RegisterGRPC(gs)
	rest := model.Handler()
	m.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			gs.ServeHTTP(w, r)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/predict") {
			hold(r.Context())
			if block {
				return
			}
		}
		rest.ServeHTTP(w, r)
	}))
	m.srv.Config.Protocols = new(http.Protocols)
	m.srv.Config.Protocols.SetHTTP1(true)
	m.srv.Config.Protocols.SetUnencryptedHTTP2(true)
	m.srv.Start()
	// Registered before the runtime's cleanup, so they run after it.
	t.Cleanup(m.srv.Close)
	t.Cleanup(gs.Stop)
	t.Cleanup(func() { close(release) })
	return m
}

func (m *countingModel) addr() string { return strings.TrimPrefix(m.srv.URL, "http://") }

// TestFrontHasASplitBeforeItServes: a request that reaches the front
// ports before the runtime holds the front finds a split to choose from.
func TestFrontHasASplitBeforeItServes(t *testing.T) {
	plan, err := NewPlan(trafficDocument(t, map[string]int32{"main": 50, "canary": 50}, "", "main", "canary"),
		Mappings{Run: map[string]string{"main-model": modelCommand(), "canary-model": modelCommand()}})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := New(plan, Options{Log: io.Discard, ChildOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, ex := range rt.executors {
			ex.Close()
		}
	}()
	f := newFront(rt)
	defer f.stopMirror()
	if f.split.Load() == nil {
		t.Fatal("newFront: no traffic split stored")
	}
	if p, _ := f.choose(); p >= len(rt.executors) {
		t.Errorf("choose: predictor %d of %d", p, len(rt.executors))
	}
}

// TestServeStartsTwoPredictorsWithDefaultFlags: with the flags' defaults
// (front 8000/5001, status 8001) a two-predictor document starts, and each
// predictor's own ports are where the scheme puts them.
func TestServeStartsTwoPredictorsWithDefaultFlags(t *testing.T) {
	for _, p := range []int{8000, 5001, 8001, 8010, 8011, 5011, 5012} {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Skipf("port %d is taken on this machine (%v): the default ports cannot be tested here", p, err)
		}
		_ = l.Close()
	}
	plan, err := NewPlan(trafficDocument(t, map[string]int32{"main": 50, "canary": 50}, "", "main", "canary"),
		Mappings{Run: map[string]string{"main-model": modelCommand(), "canary-model": modelCommand()}})
	if err != nil {
		t.Fatal(err)
	}
	rt := startTrafficRuntime(t, plan, Options{HTTPPort: 8000, GRPCPort: 5001, StatusPort: 8001})
	waitPredictors(t, rt, "both predictors ready", allReady)
	st := rt.Status()
	got := []string{st.Front.HTTP, st.Front.GRPC, rt.StatusAddr()}
	for _, p := range st.Predictors {
		got = append(got, p.HTTP, p.GRPC)
	}
	want := []string{"127.0.0.1:8000", "127.0.0.1:5001", "127.0.0.1:8001",
		"127.0.0.1:8010", "127.0.0.1:5011", "127.0.0.1:8011", "127.0.0.1:5012"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("front, status, then each predictor's ports (-want +got):\n%s", diff)
	}
	by := sendPredictions(t, "http://127.0.0.1:8000/api/v1.0/predictions", 100, 4)
	if by["main-model"] == 0 || by["canary-model"] == 0 {
		t.Errorf("answers per model %v: want both predictors to answer", by)
	}
}

// TestServeSplitsByTrafficAndMirrorsEveryRequestToTheShadow: 75/25 and a
// shadow; over 2,000 requests the split is within 3 points of 75/25 and
// the shadow's model received every request.
func TestServeSplitsByTrafficAndMirrorsEveryRequestToTheShadow(t *testing.T) {
	shadow := newCountingModel(t, false)
	plan, err := NewPlan(trafficDocument(t, map[string]int32{"main": 75, "canary": 25}, "shadow", "main", "canary", "shadow"),
		Mappings{Run: map[string]string{"main-model": modelCommand(), "canary-model": modelCommand()},
			Endpoints: map[string]string{"shadow-model": shadow.addr()}})
	if err != nil {
		t.Fatal(err)
	}
	rt := startTrafficRuntime(t, plan, Options{StatusPort: -1})
	waitPredictors(t, rt, "predictors ready", allReady)
	// The ingress form of the path, as on a cluster.
	const n = 2000
	by := sendPredictions(t, "http://"+rt.FrontAddrs().HTTP+"/seldon/team/split/api/v1.0/predictions", n, 8)
	mainShare := float64(by["main-model"]) * 100 / n
	t.Logf("answers per model: %v (main %.1f%%)", by, mainShare)
	if mainShare < 72 || mainShare > 78 || by["main-model"]+by["canary-model"] != n {
		t.Errorf("answers %v: want main within 3 points of 75%% and canary the rest", by)
	}
	waitPredictors(t, rt, "every request mirrored", func(ps []PredictorStatus) bool { return ps[2].Mirrored >= n })
	if got := shadow.received.Load(); got != n {
		t.Errorf("the shadow's model received %d requests, want %d", got, n)
	}
	ps := rt.Status().Predictors
	if ps[2].MirrorDropped != 0 || ps[2].MirrorErrors != 0 {
		t.Errorf("shadow status %+v: want nothing dropped or failed", ps[2])
	}
	if ps[0].Requests+ps[1].Requests != n || ps[0].Requests != int64(by["main-model"]) {
		t.Errorf("front counts main %d, canary %d; the models answered %v", ps[0].Requests, ps[1].Requests, by)
	}

	// gRPC through the front port: split and mirrored too.
	before := shadow.received.Load()
	r, err := load.Run(context.Background(), load.Options{Target: rt.FrontAddrs().GRPC, GRPC: true, Concurrency: 2, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Succeeded == 0 || r.Succeeded != r.Requests {
		t.Fatalf("%d of %d gRPC predictions through the front succeeded; first error: %s", r.Succeeded, r.Requests, r.FirstError)
	}
	waitPredictors(t, rt, "every gRPC call mirrored", func(ps []PredictorStatus) bool { return ps[2].Mirrored >= n+int64(r.Requests) })
	if got := shadow.received.Load() - before; got != int64(r.Requests) {
		t.Errorf("the shadow's model received %d of %d gRPC calls", got, r.Requests)
	}

	// A body over the mirror's limit is served but not mirrored: counted
	// as dropped. (A valid prediction, padded with spaces.)
	big := `{"data":{"ndarray":[[1.0,2.0,3.0,4.0]]}` + strings.Repeat(" ", mirrorMaxBody) + "}"
	before = shadow.received.Load()
	resp, err := http.Post("http://"+rt.FrontAddrs().HTTP+"/api/v1.0/predictions", "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a %d-byte prediction through the front: status %d", len(big), resp.StatusCode)
	}
	if sh := rt.Status().Predictors[2]; sh.MirrorDropped != 1 || shadow.received.Load() != before {
		t.Errorf("after a body over the mirror limit: %d dropped, the shadow's model received %d more; want 1 and 0",
			sh.MirrorDropped, shadow.received.Load()-before)
	}

	// A chunked body (no Content-Length) is mirrored like any other.
	mirrored := rt.Status().Predictors[2].Mirrored
	req, err := http.NewRequest(http.MethodPost, "http://"+rt.FrontAddrs().HTTP+"/api/v1.0/predictions",
		io.MultiReader(strings.NewReader(`{"data":{"ndarray":[[1.0,2.0,3.0,4.0]]}}`)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a chunked prediction through the front: status %d", resp.StatusCode)
	}
	waitPredictors(t, rt, "the chunked request mirrored", func(ps []PredictorStatus) bool {
		return ps[2].Mirrored > mirrored || ps[2].MirrorDropped > 1
	})
	if sh := rt.Status().Predictors[2]; sh.MirrorDropped != 1 || shadow.received.Load() != before+1 {
		t.Errorf("after a chunked body: %d dropped, the shadow's model received %d more; want 1 and 1",
			sh.MirrorDropped, shadow.received.Load()-before)
	}
}

// TestServeAnswersEveryRequestWhenTheShadowNeverAnswers: the shadow's
// model holds every request forever; every client request still
// completes, because mirroring only queues (a bounded queue, then drops).
func TestServeAnswersEveryRequestWhenTheShadowNeverAnswers(t *testing.T) {
	shadow := newCountingModel(t, true)
	plan, err := NewPlan(trafficDocument(t, map[string]int32{"main": 100}, "shadow", "main", "shadow"),
		Mappings{Run: map[string]string{"main-model": modelCommand()}, Endpoints: map[string]string{"shadow-model": shadow.addr()}})
	if err != nil {
		t.Fatal(err)
	}
	rt := startTrafficRuntime(t, plan, Options{StatusPort: -1})
	waitPredictors(t, rt, "predictors ready", allReady)
	// More than the queue and the workers hold, so drops must happen.
	n := mirrorQueueLen + mirrorWorkers + 500
	by := sendPredictions(t, "http://"+rt.FrontAddrs().HTTP+"/api/v1.0/predictions", n, 8)
	if by["main-model"] != n {
		t.Fatalf("answers %v: want all %d from main", by, n)
	}
	sh := rt.Status().Predictors[1]
	t.Logf("shadow: %d held by its model, %d dropped, %d answered", shadow.received.Load(), sh.MirrorDropped, sh.Mirrored)
	if sh.Mirrored != 0 {
		t.Errorf("%d mirrored requests answered by a shadow that never answers", sh.Mirrored)
	}
	if min := int64(n - mirrorQueueLen - mirrorWorkers); sh.MirrorDropped < min {
		t.Errorf("%d mirrors dropped, want at least %d (the queue holds %d, the workers %d)", sh.MirrorDropped, min, mirrorQueueLen, mirrorWorkers)
	}
	if got := shadow.received.Load(); got > mirrorWorkers {
		t.Errorf("the shadow's model holds %d requests, more than the %d mirror workers", got, mirrorWorkers)
	}
}

// TestServeSendsNothingToAPredictorWithoutReadyReplicas: the canary's
// replica does not listen until the test lets it; until then every request
// goes to main, then the canary takes its share.
func TestServeSendsNothingToAPredictorWithoutReadyReplicas(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "start")
	canary := fmt.Sprintf("sh -c 'while [ ! -e \"%s\" ]; do sleep 0.05; done; exec env %s=1 \"%s\"'", gate, modelEnv, os.Args[0])
	plan, err := NewPlan(trafficDocument(t, map[string]int32{"main": 50, "canary": 50}, "", "main", "canary"),
		Mappings{Run: map[string]string{"main-model": modelCommand(), "canary-model": canary}})
	if err != nil {
		t.Fatal(err)
	}
	rt := startTrafficRuntime(t, plan, Options{StatusPort: -1})
	waitPredictors(t, rt, "main ready", func(ps []PredictorStatus) bool { return ps[0].Ready })
	if ps := rt.Status().Predictors; ps[1].Ready || ps[1].Share != 0 || ps[0].Share != 100 {
		t.Fatalf("predictors %+v: want the canary not ready with no share", ps)
	}
	url := "http://" + rt.FrontAddrs().HTTP + "/api/v1.0/predictions"
	if by := sendPredictions(t, url, 200, 4); by["main-model"] != 200 {
		t.Errorf("answers %v with the canary not ready: want all 200 from main", by)
	}
	if got := rt.Status().Predictors[1].Requests; got != 0 {
		t.Errorf("the unready canary was sent %d requests", got)
	}

	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitPredictors(t, rt, "canary ready", func(ps []PredictorStatus) bool { return ps[1].Ready && ps[1].Share == 50 })
	if by := sendPredictions(t, url, 200, 4); by["canary-model"] == 0 {
		t.Errorf("answers %v once the canary is ready: want some from it", by)
	}
}

func TestFrontRefusesAnotherSeldonDeploymentsPrefix(t *testing.T) {
	f := &front{name: "split", ns: "team", prefix: "/seldon/team/split"}
	for path, want := range map[string]string{
		"/api/v1.0/predictions":                    "/api/v1.0/predictions",
		"/seldon/team/split/api/v1.0/predictions":  "/api/v1.0/predictions",
		"/seldon/team/split":                       "/",
		"/seldon/team/splitx/api/v1.0/predictions": "",
		"/seldon/other/split/api/v1.0/predictions": "",
	} {
		got, ok := f.stripPrefix(path)
		if ok != (want != "") || got != want {
			t.Errorf("stripPrefix(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
}

func TestTableHasARowPerPredictor(t *testing.T) {
	st := Status{Front: FrontAddrs{HTTP: "127.0.0.1:8000", GRPC: "127.0.0.1:5001"}, Predictors: []PredictorStatus{
		{PredictorAddrs: PredictorAddrs{Predictor: "main", HTTP: "127.0.0.1:8010", GRPC: "127.0.0.1:5011"}, Traffic: 75, Ready: true, Share: 100, Requests: 40},
		{PredictorAddrs: PredictorAddrs{Predictor: "canary", HTTP: "127.0.0.1:8011", GRPC: "127.0.0.1:5012"}, Traffic: 25},
		{PredictorAddrs: PredictorAddrs{Predictor: "shadow", HTTP: "127.0.0.1:8012", GRPC: "127.0.0.1:5013"}, Shadow: true, Ready: true,
			Share: 100, Mirrored: 38, MirrorErrors: 1, MirrorDropped: 2},
	}}
	var b strings.Builder
	if err := WriteTable(&b, st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"PREDICTOR  TRAFFIC",
		"main       100%",
		"canary     0% (of 25: not ready)  no",
		"shadow     shadow, 100% mirrored  yes    38 mirrored, 1 errors, 2 dropped  127.0.0.1:8012, gRPC 127.0.0.1:5013",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table has no %q:\n%s", want, b.String())
		}
	}
}

// TestFrontGRPCMetadataSelectsTheSeldonDeployment: gRPC metadata seldon
// and namespace, as upstream's ingress matches them, are accepted when
// they name this SeldonDeployment and refused when they name another.
func TestFrontGRPCMetadataSelectsTheSeldonDeployment(t *testing.T) {
	plan, err := NewPlan(trafficDocument(t, map[string]int32{"main": 100}, "", "main"),
		Mappings{Run: map[string]string{"main-model": modelCommand()}})
	if err != nil {
		t.Fatal(err)
	}
	rt := startTrafficRuntime(t, plan, Options{StatusPort: -1})
	waitPredictors(t, rt, "main ready", allReady)
	conn, err := grpc.NewClient(rt.FrontAddrs().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := seldonpb.NewSeldonClient(conn)
	msg := &seldonpb.SeldonMessage{DataOneof: &seldonpb.SeldonMessage_Data{Data: &seldonpb.DefaultData{
		DataOneof: &seldonpb.DefaultData_Ndarray{Ndarray: mustList(t, []any{[]any{1.0, 2.0, 3.0, 4.0}})}}}}
	for _, tt := range []struct {
		md   []string
		want codes.Code
	}{
		{nil, codes.OK},
		{[]string{"seldon", "split", "namespace", "team"}, codes.OK},
		{[]string{"seldon", "other", "namespace", "team"}, codes.NotFound},
		{[]string{"seldon", "split", "namespace", "prod"}, codes.NotFound},
	} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), tt.md...)
		_, err := client.Predict(ctx, msg)
		if got := status.Code(err); got != tt.want {
			t.Errorf("metadata %v: code %v (%v), want %v", tt.md, got, err, tt.want)
		}
	}
}

func mustList(t *testing.T, v []any) *structpb.ListValue {
	t.Helper()
	l, err := structpb.NewList(v)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestTableShowsRequestsPerComponent(t *testing.T) {
	inFlight, rps := int64(3), 12.5
	st := Status{Components: []ComponentStatus{
		{Component: "my-dep", Deployment: "seldon-model-example-0-my-dep", Replicas: 2, Ready: 2, Desired: 2,
			InFlight: &inFlight, RequestsPerSecond: &rps},
		{Component: "other", Deployment: "seldon-model-example-1-other", Replicas: 1, Ready: 1, Desired: 1},
	}}
	var b strings.Builder
	if err := WriteTable(&b, st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"COMPONENT  DEPLOYMENT                     READY/REPLICAS  IN FLIGHT  REQ/S",
		"my-dep     seldon-model-example-0-my-dep  2/2             3          12.5",
		"other      seldon-model-example-1-other   1/1             -          -",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table has no %q:\n%s", want, b.String())
		}
	}
}
