package executor

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/metadata"

	v1 "github.com/sdep-dev/sdep/api/v1"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

func withLogger(u v1.PredictiveUnit, mode v1.LoggerMode, url string) v1.PredictiveUnit {
	u.Logger = &v1.Logger{Mode: mode}
	if url != "" {
		u.Logger.URL = &url
	}
	return u
}

func logEvents(t testing.TB, reg *prometheus.Registry, outcome string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != loggerEventsMetric {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return 0
}

// predictMany serves n REST predictions from 8 goroutines through the
// executor's handler (in process: the ingress costs no loopback round trip;
// the component is called over loopback as always) and fails on any answer
// but 200.
func predictMany(t *testing.T, e *Executor, n int) {
	t.Helper()
	h := e.Handler(HandlerOptions{})
	var (
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				req := httptest.NewRequest(http.MethodPost, "/api/v1.0/predictions", strings.NewReader(`{"data":{"ndarray":[[1,2]]}}`))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d predictions failed", f, n)
	}
}

// A receiver that never answers holds exactly the queue's size of events
// (those being sent count); every other event is dropped and counted, and
// every prediction completes.
func TestPayloadLogBlockedReceiverDropsBeyondQueue(t *testing.T) {
	var arrived atomic.Int64
	release := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(receiver.Close)
	t.Cleanup(func() { close(release) })

	const predictions, queue, workers = 10000, 100, 4
	m := startFake(t, &fake{name: "m"})
	reg := prometheus.NewRegistry()
	s := servePredictor(t, v1.PredictorSpec{Name: "p", Graph: withLogger(unit("m", v1.Model, m), v1.LogAll, receiver.URL),
		Annotations: map[string]string{AnnotationLoggerQueueSize: fmt.Sprint(queue), AnnotationLoggerWriteTimeout: "0"}},
		WithRegistry(reg), WithLoggerWorkers(workers))

	predictMany(t, s.e, predictions)

	offered := 2 * predictions // a request and a response event each
	if got := logEvents(t, reg, "dropped"); got != offered-queue {
		t.Errorf("dropped = %d, want %d (offered %d - queue %d)", got, offered-queue, offered, queue)
	}
	if got := s.e.plog.held.Load(); got != queue {
		t.Errorf("events held = %d, want the queue size %d", got, queue)
	}
	// Each worker holds one event at the receiver, which it never answers.
	deadline := time.Now().Add(30 * time.Second)
	for arrived.Load() < workers && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := arrived.Load(); got != workers {
		t.Errorf("receiver saw %d events, want one per worker (%d)", got, workers)
	}
	if sent, failed := logEvents(t, reg, "sent"), logEvents(t, reg, "failed"); sent != 0 || failed != 0 {
		t.Errorf("sent = %d, failed = %d; want 0 and 0 while the receiver holds every event", sent, failed)
	}
}

// ceReceiver is a CloudEvents receiver built on the sdk on loopback.
type ceReceiver struct {
	mu     sync.Mutex
	events []cloudevents.Event
	bad    []string
	url    string
	// refusalsExpected: the test sends events cut off on purpose.
	refusalsExpected bool
}

func startCEReceiver(t *testing.T) *ceReceiver {
	t.Helper()
	rc := &ceReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := cehttp.NewEventFromHTTPRequest(r)
		if err == nil {
			err = ev.Validate()
		}
		if err != nil {
			rc.mu.Lock()
			rc.bad = append(rc.bad, err.Error())
			rc.mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.events = append(rc.events, *ev)
		rc.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.bad) > 0 && !rc.refusalsExpected {
			t.Errorf("receiver refused events: %v", rc.bad)
		}
	})
	rc.url = srv.URL
	return rc
}

func (rc *ceReceiver) snapshot() []cloudevents.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]cloudevents.Event(nil), rc.events...)
}

// waitAccounted waits until every offered event has been sent, failed or
// dropped: then no further event can arrive.
func waitAccounted(t *testing.T, reg *prometheus.Registry, pl *payloadLogger, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if pl.held.Load() == 0 && logEvents(t, reg, "sent")+logEvents(t, reg, "failed")+logEvents(t, reg, "dropped") >= want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("events not all sent: sent %d failed %d dropped %d held %d, want %d",
		logEvents(t, reg, "sent"), logEvents(t, reg, "failed"), logEvents(t, reg, "dropped"), pl.held.Load(), want)
}

// slowMachine gives the receiver ample time on a loaded test machine, so
// no event fails by timing out.
var slowMachine = map[string]string{AnnotationLoggerWriteTimeout: "60000"}

func ext(ev cloudevents.Event, name string) string {
	v, _ := ev.Extensions()[name].(string)
	return v
}

// With a healthy receiver every event arrives once, with upstream's
// attributes, request and response events paired by request id.
func TestPayloadLogEventsArriveOnceWithCloudEventsAttributes(t *testing.T) {
	rc := startCEReceiver(t)
	tr := startFake(t, &fake{name: "t"})
	m := startFake(t, &fake{name: "m"})
	graph := withLogger(unit("t", v1.Transformer, tr, withLogger(unit("m", v1.Model, m), v1.LogAll, "")), v1.LogAll, rc.url)
	reg := prometheus.NewRegistry()
	s := servePredictor(t, v1.PredictorSpec{Name: "p", Graph: graph, Annotations: slowMachine},
		WithRegistry(reg), WithNamespace("ns"), WithLoggerDefaultEndpoint(rc.url))

	const restN, grpcN = 20, 10
	puids := map[string]string{} // puid -> transport
	for i := range restN {
		puid := fmt.Sprintf("rest-%d", i)
		code, _, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`, PuidHeader, puid)
		if code != http.StatusOK {
			t.Fatalf("prediction: HTTP %d", code)
		}
		puids[puid] = "rest"
	}
	for i := range grpcN {
		puid := fmt.Sprintf("grpc-%d", i)
		ctx := metadata.AppendToOutgoingContext(context.Background(), grpcPuidKey, puid)
		if _, err := s.client.Predict(ctx, &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}}); err != nil {
			t.Fatal(err)
		}
		puids[puid] = "grpc"
	}
	want := 4 * (restN + grpcN) // two nodes, a request and a response each
	waitAccounted(t, reg, s.e.plog, want)
	if d, f := logEvents(t, reg, "dropped"), logEvents(t, reg, "failed"); d != 0 || f != 0 {
		t.Fatalf("dropped %d, failed %d; want none", d, f)
	}

	events := rc.snapshot()
	if len(events) != want {
		t.Fatalf("receiver got %d events, want %d", len(events), want)
	}
	ids := map[string]bool{}
	type key struct{ puid, node, typ string }
	seen := map[key]cloudevents.Event{}
	for _, ev := range events {
		if ev.SpecVersion() != "1.0" || ev.Source() != DefaultLoggerSource {
			t.Errorf("event %s: specversion %q source %q", ev.ID(), ev.SpecVersion(), ev.Source())
		}
		if ids[ev.ID()] {
			t.Errorf("event id %s seen twice", ev.ID())
		}
		ids[ev.ID()] = true
		if ext(ev, "inferenceservicename") != "sd" || ext(ev, "namespace") != "ns" || ext(ev, "endpoint") != "p" || ext(ev, "protocol") != "seldon" {
			t.Errorf("event %s: extensions %v", ev.ID(), ev.Extensions())
		}
		k := key{ext(ev, "requestid"), ext(ev, "modelid"), ev.Type()}
		if _, ok := puids[k.puid]; !ok {
			t.Errorf("event %s: requestid %q is no request's puid", ev.ID(), k.puid)
		}
		if _, dup := seen[k]; dup {
			t.Errorf("two %s events for node %s of request %s", k.typ, k.node, k.puid)
		}
		seen[k] = ev
	}
	for puid, transport := range puids {
		ct, req, resp := "application/json", `"x"`, `t.in(x)`
		if transport == "grpc" {
			ct = protobufContentType
		}
		for _, node := range []string{"t", "m"} {
			rq, ok1 := seen[key{puid, node, CETypeRequest}]
			rs, ok2 := seen[key{puid, node, CETypeResponse}]
			if !ok1 || !ok2 {
				t.Errorf("request %s node %s: request event %v, response event %v", puid, node, ok1, ok2)
				continue
			}
			if rq.DataContentType() != ct || rs.DataContentType() != ct {
				t.Errorf("request %s node %s: datacontenttype %q / %q, want %q", puid, node, rq.DataContentType(), rs.DataContentType(), ct)
			}
			if transport == "rest" && node == "t" && (!strings.Contains(string(rq.Data()), req) || !strings.Contains(string(rs.Data()), resp)) {
				t.Errorf("request %s node t: logged %s -> %s", puid, rq.Data(), rs.Data())
			}
		}
		// Chaining: what the model received is what the transformer answered.
		if transport == "rest" && !strings.Contains(string(seen[key{puid, "m", CETypeRequest}].Data()), "t.in(x)") {
			t.Errorf("request %s: model's logged input %s is not the transformer's output", puid, seen[key{puid, "m", CETypeRequest}].Data())
		}
	}
}

func TestPayloadLogModesSkipSamplingAndErrorsOnly(t *testing.T) {
	cases := []struct {
		name        string
		mode        v1.LoggerMode
		annotations map[string]string
		failing     bool
		header      []string
		want        []string // event types, in any order
	}{
		{name: "request", mode: v1.LogRequest, want: []string{CETypeRequest}},
		{name: "response", mode: v1.LogResponse, want: []string{CETypeResponse}},
		{name: "unknown mode logs nothing", mode: "everything"},
		{name: "skip header", mode: v1.LogAll, header: []string{SkipLoggingHeader, "ON"}},
		{name: "sample rate 0", mode: v1.LogAll, annotations: map[string]string{AnnotationLoggerSampleRate: "0"}},
		{name: "errors only, success", mode: v1.LogAll, annotations: map[string]string{AnnotationLoggerErrorsOnly: "true"}},
		{name: "errors only, failure", mode: v1.LogAll, annotations: map[string]string{AnnotationLoggerErrorsOnly: "true"},
			failing: true, want: []string{CETypeRequest, CETypeResponse}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := startCEReceiver(t)
			f := &fake{name: "m"}
			if tc.failing {
				f.failStatus, f.failBody = http.StatusInternalServerError, `{"status":{"info":"boom"}}`
			}
			startFake(t, f)
			reg := prometheus.NewRegistry()
			annotations := map[string]string{}
			for k, v := range slowMachine {
				annotations[k] = v
			}
			for k, v := range tc.annotations {
				annotations[k] = v
			}
			s := servePredictor(t, v1.PredictorSpec{Name: "p", Graph: withLogger(unit("m", v1.Model, f), tc.mode, rc.url),
				Annotations: annotations}, WithRegistry(reg))
			const n = 3
			for range n {
				s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`, tc.header...)
			}
			if s.e.plog == nil {
				if len(tc.want) > 0 {
					t.Fatal("no payload logger")
				}
				return
			}
			waitAccounted(t, reg, s.e.plog, n*len(tc.want))
			got := map[string]int{}
			for _, ev := range rc.snapshot() {
				got[ev.Type()]++
			}
			want := map[string]int{}
			for _, typ := range tc.want {
				want[typ] += n
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("events by type = %v, want %v", got, want)
			}
		})
	}
}

// Feedback is logged, as upstream, at every node on the feedback walk that
// logs responses, whether or not it takes feedback itself.
func TestPayloadLogFeedbackEvent(t *testing.T) {
	rc := startCEReceiver(t)
	tr := startFake(t, &fake{name: "t"})
	m := startFake(t, &fake{name: "m"})
	m2 := startFake(t, &fake{name: "m2"})
	graph := withLogger(unit("t", v1.Transformer, tr,
		withLogger(unit("m", v1.Model, m, withLogger(unit("m2", v1.Model, m2), v1.LogRequest, rc.url)), v1.LogResponse, rc.url)), v1.LogAll, rc.url)
	reg := prometheus.NewRegistry()
	s := servePredictor(t, v1.PredictorSpec{Name: "p", Graph: graph, Annotations: slowMachine}, WithRegistry(reg))
	code, _, _ := s.post(t, "/api/v1.0/feedback", `{"request":{"strData":"x"},"reward":1}`, PuidHeader, "fb-1")
	if code != http.StatusOK {
		t.Fatalf("feedback: HTTP %d", code)
	}
	waitAccounted(t, reg, s.e.plog, 2)
	nodes := map[string]bool{}
	for _, ev := range rc.snapshot() {
		if ev.Type() != CETypeFeedback || ext(ev, "requestid") != "fb-1" || !strings.Contains(string(ev.Data()), `"reward":1`) {
			t.Errorf("event %s %s %s", ev.Type(), ext(ev, "requestid"), ev.Data())
		}
		nodes[ext(ev, "modelid")] = true
	}
	if len(nodes) != 2 || !nodes["t"] || !nodes["m"] {
		t.Errorf("feedback events from %v, want t and m (m2 logs requests only)", nodes)
	}

	ctx := metadata.AppendToOutgoingContext(context.Background(), grpcPuidKey, "fb-2")
	if _, err := s.client.SendFeedback(ctx, &pb.Feedback{Request: &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}}, Reward: 1}); err != nil {
		t.Fatal(err)
	}
	waitAccounted(t, reg, s.e.plog, 4)
	n := 0
	for _, ev := range rc.snapshot() {
		if ext(ev, "requestid") == "fb-2" && ev.DataContentType() == protobufContentType {
			n++
		}
	}
	if n != 2 {
		t.Errorf("gRPC feedback: %d protobuf events, want 2", n)
	}
}

func TestPayloadLogAnnotationsAreChecked(t *testing.T) {
	for key, bad := range map[string]string{
		AnnotationLoggerQueueSize:    "-1",
		AnnotationLoggerQueueBytes:   "0",
		AnnotationLoggerWriteTimeout: "soon",
		AnnotationLoggerSampleRate:   "1.5",
		AnnotationLoggerErrorsOnly:   "maybe",
	} {
		_, err := New(v1.PredictorSpec{Name: "p", Annotations: map[string]string{key: bad},
			Graph: withLogger(v1.PredictiveUnit{Name: "s", Implementation: v1.SimpleModel}, v1.LogAll, "http://127.0.0.1:1")})
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: error %v, want one naming the annotation", key, bad, err)
		}
	}
	// A queue size above the cap is refused before anything is allocated.
	_, err := New(v1.PredictorSpec{Name: "p", Annotations: map[string]string{AnnotationLoggerQueueSize: fmt.Sprint(MaxLoggerQueueSize + 1)},
		Graph: withLogger(v1.PredictiveUnit{Name: "s", Implementation: v1.SimpleModel}, v1.LogAll, "http://127.0.0.1:1")})
	if err == nil || !strings.Contains(err.Error(), AnnotationLoggerQueueSize) || !strings.Contains(err.Error(), fmt.Sprint(MaxLoggerQueueSize)) {
		t.Errorf("queue size above the cap: error %v, want one naming the annotation and the cap", err)
	}
	_, err = New(v1.PredictorSpec{Name: "p",
		Graph: withLogger(v1.PredictiveUnit{Name: "s", Implementation: v1.SimpleModel}, v1.LogAll, "http://127.0.0.1:1")})
	if err != nil {
		t.Errorf("default logger settings refused: %v", err)
	}
	_, err = New(v1.PredictorSpec{Name: "p",
		Graph: withLogger(v1.PredictiveUnit{Name: "s", Implementation: v1.SimpleModel}, v1.LogAll, "ftp://x")})
	if err == nil || !strings.Contains(err.Error(), "logger.url") {
		t.Errorf("bad logger.url: error %v", err)
	}
}

// Sampling decides per request: with rate 0.5 and draws alternating below
// and above it, every other request logs both of its events.
func TestPayloadLogSamplingKeepsRequestsWhole(t *testing.T) {
	rc := startCEReceiver(t)
	m := startFake(t, &fake{name: "m"})
	reg := prometheus.NewRegistry()
	var draws atomic.Int64
	alternate := func() float64 {
		if draws.Add(1)%2 == 1 {
			return 0.25
		}
		return 0.75
	}
	s := servePredictor(t, v1.PredictorSpec{Name: "p", Graph: withLogger(unit("m", v1.Model, m), v1.LogAll, rc.url),
		Annotations: map[string]string{AnnotationLoggerSampleRate: "0.5", AnnotationLoggerWriteTimeout: "60000"}},
		WithRegistry(reg), WithRandom(alternate))
	const n = 10
	for i := range n {
		s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`, PuidHeader, fmt.Sprintf("s-%d", i))
	}
	waitAccounted(t, reg, s.e.plog, n)
	perRequest := map[string]int{}
	for _, ev := range rc.snapshot() {
		perRequest[ext(ev, "requestid")]++
	}
	if len(perRequest) != n/2 {
		t.Errorf("%d requests logged, want %d: %v", len(perRequest), n/2, perRequest)
	}
	for id, c := range perRequest {
		if c != 2 {
			t.Errorf("request %s: %d events, want its request and response", id, c)
		}
	}
}

// The queue holds at most maxBytes of payloads: an event that would go
// beyond is dropped and counted, and what a sent event held is given back.
func TestPayloadLogQueueBytesBound(t *testing.T) {
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "d"})
	pl := &payloadLogger{queue: make(chan *logEvent, 10), size: 10, maxBytes: 100, dropped: dropped}
	ev := func(n int) *logEvent { return &logEvent{body: make([]byte, n)} }
	pl.offer(ev(40))
	pl.offer(ev(40))
	pl.offer(ev(40)) // 120 > 100: dropped
	pl.offer(ev(20)) // exactly 100: queued
	if got := testutil.ToFloat64(dropped); got != 1 {
		t.Fatalf("dropped = %v, want 1", got)
	}
	if h, b := pl.held.Load(), pl.heldBytes.Load(); h != 3 || b != 100 || len(pl.queue) != 3 {
		t.Fatalf("held %d events, %d bytes, %d queued; want 3, 100, 3", h, b, len(pl.queue))
	}
	pl.release(<-pl.queue) // a worker sent the first event
	pl.offer(ev(40))
	pl.offer(ev(1))
	if got := testutil.ToFloat64(dropped); got != 2 {
		t.Fatalf("dropped = %v, want 2", got)
	}
	if h, b := pl.held.Load(), pl.heldBytes.Load(); h != 3 || b != 100 {
		t.Fatalf("held %d events, %d bytes; want 3, 100", h, b)
	}
	// The event count bound still holds with room in bytes.
	small := &payloadLogger{queue: make(chan *logEvent, 1), size: 1, maxBytes: 100, dropped: dropped}
	small.offer(ev(1))
	small.offer(ev(1))
	if got := testutil.ToFloat64(dropped); got != 3 || small.heldBytes.Load() != 1 {
		t.Fatalf("dropped = %v, held bytes %d; want 3, 1", got, small.heldBytes.Load())
	}
}

// New stops the logger's workers when a later step fails.
func TestPayloadLogWorkersStopWhenNewFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	// Same name, other help: registering the load collector fails.
	reg.MustRegister(prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: inFlightMetric, Help: "taken"}, loadLabels))
	before := runtime.NumGoroutine()
	const workers = 50
	_, err := New(v1.PredictorSpec{Name: "p", Graph: withLogger(v1.PredictiveUnit{Name: "s", Implementation: v1.SimpleModel},
		v1.LogAll, "http://127.0.0.1:1")}, WithRegistry(reg), WithLoggerWorkers(workers))
	if err == nil || !strings.Contains(err.Error(), "registering metrics") {
		t.Fatalf("New = %v, want the metrics registration error", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() >= before+workers/2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after New failed, %d before: the logger's workers run on", runtime.NumGoroutine(), before)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
