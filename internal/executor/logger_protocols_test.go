package executor

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/models/mockclassifier"
	ipb "github.com/sdep-dev/sdep/internal/proto/inferencepb"
	tfpb "github.com/sdep-dev/sdep/internal/proto/tfservingpb"
)

// evKey names one event: which request, which node, which type.
type evKey struct{ puid, node, typ string }

// indexEvents checks what every event carries whatever its protocol
// (specversion, source, fresh ids, the deployment's extensions, the
// protocol extension, a known request id) and that no event arrived twice,
// and returns them by key.
func indexEvents(t *testing.T, events []cloudevents.Event, protocol, contentType string, puids map[string]bool) map[evKey]cloudevents.Event {
	t.Helper()
	ids := map[string]bool{}
	seen := map[evKey]cloudevents.Event{}
	for _, ev := range events {
		if ev.SpecVersion() != "1.0" || ev.Source() != DefaultLoggerSource {
			t.Errorf("event %s: specversion %q source %q", ev.ID(), ev.SpecVersion(), ev.Source())
		}
		if ids[ev.ID()] {
			t.Errorf("event id %s seen twice", ev.ID())
		}
		ids[ev.ID()] = true
		if ext(ev, "inferenceservicename") != "sd" || ext(ev, "namespace") != "ns" || ext(ev, "endpoint") != "p" || ext(ev, "protocol") != protocol {
			t.Errorf("event %s: extensions %v, want protocol %q", ev.ID(), ev.Extensions(), protocol)
		}
		if ev.DataContentType() != contentType {
			t.Errorf("event %s: datacontenttype %q, want %q", ev.ID(), ev.DataContentType(), contentType)
		}
		k := evKey{ext(ev, "requestid"), ext(ev, "modelid"), ev.Type()}
		if !puids[k.puid] {
			t.Errorf("event %s: requestid %q is no logged request's puid", ev.ID(), k.puid)
		}
		if _, dup := seen[k]; dup {
			t.Errorf("two %s events for node %s of request %s", k.typ, k.node, k.puid)
		}
		seen[k] = ev
	}
	return seen
}

// eventsOf returns the request and response events of node for puid,
// failing when one is missing.
func eventsOf(t *testing.T, seen map[evKey]cloudevents.Event, puid, node string) (req, resp cloudevents.Event, ok bool) {
	t.Helper()
	req, ok1 := seen[evKey{puid, node, CETypeRequest}]
	resp, ok2 := seen[evKey{puid, node, CETypeResponse}]
	if !ok1 || !ok2 {
		t.Errorf("request %s node %s: request event %v, response event %v", puid, node, ok1, ok2)
	}
	return req, resp, ok1 && ok2
}

func jsonValue(t *testing.T, what string, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s is not JSON: %v: %s", what, err, b)
	}
	return v
}

func noLossAccounted(t *testing.T, reg *prometheus.Registry, pl *payloadLogger, want int) {
	t.Helper()
	waitAccounted(t, reg, pl, want)
	if d, f := logEvents(t, reg, "dropped"), logEvents(t, reg, "failed"); d != 0 || f != 0 {
		t.Fatalf("dropped %d, failed %d; want none", d, f)
	}
}

// A v2 chain of two models over REST: each component call logs its
// request (the bytes sent, after chaining) and its response once, as JSON,
// with protocol v2; a request with Seldon-Skip-Logging logs nothing.
func TestPayloadLogV2ChainREST(t *testing.T) {
	rc := startCEReceiver(t)
	second := withLogger(startMock(t, mockclassifier.ProtocolV2, "second"), v1.LogAll, "")
	first := withLogger(startMock(t, mockclassifier.ProtocolV2, "first", second), v1.LogAll, rc.url)
	reg := prometheus.NewRegistry()
	s := servePredictor(t, v1.PredictorSpec{Name: "p", Graph: first, Annotations: slowMachine},
		WithRegistry(reg), WithNamespace("ns"), WithProtocol("v2"), WithLoggerDefaultEndpoint(rc.url))

	body := func(i int) string {
		return fmt.Sprintf(`{"id":"r%d","inputs":[{"name":"input","shape":[1,4],"datatype":"FP64","data":[[1,2,3,%d]]}]}`, i, i)
	}
	if code, b, _ := rawReq(t, "POST", s.restURL+"/v2/models/infer", body(0), PuidHeader, "skipped", SkipLoggingHeader, "true"); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	const n = 6
	puids := map[string]bool{}
	answers := map[string][]byte{}
	for i := range n {
		puid := fmt.Sprintf("v2-rest-%d", i)
		code, b, _ := rawReq(t, "POST", s.restURL+"/v2/models/infer", body(i), PuidHeader, puid)
		if code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		puids[puid], answers[puid] = true, b
	}
	want := 4 * n // two nodes, a request and a response each
	noLossAccounted(t, reg, s.e.plog, want)
	events := rc.snapshot()
	if len(events) != want {
		t.Fatalf("receiver got %d events, want %d", len(events), want)
	}
	seen := indexEvents(t, events, "v2", "application/json", puids)
	for i := range n {
		puid := fmt.Sprintf("v2-rest-%d", i)
		fq, fr, ok1 := eventsOf(t, seen, puid, "first")
		sq, sr, ok2 := eventsOf(t, seen, puid, "second")
		if !ok1 || !ok2 {
			continue
		}
		if string(fq.Data()) != body(i) {
			t.Errorf("%s: first's request event %s, want the request as sent %s", puid, fq.Data(), body(i))
		}
		// Chaining: the second model's input is the first one's outputs.
		firstOut := jsonValue(t, "first's response", fr.Data()).(map[string]any)
		secondIn := jsonValue(t, "second's request", sq.Data()).(map[string]any)
		if secondIn["inputs"] == nil || !reflect.DeepEqual(secondIn["inputs"], firstOut["outputs"]) {
			t.Errorf("%s: second's logged request %s does not carry first's outputs %s", puid, sq.Data(), fr.Data())
		}
		if firstOut["model_name"] != "first" {
			t.Errorf("%s: first's response event %s", puid, fr.Data())
		}
		if !bytes.Equal(sr.Data(), answers[puid]) {
			t.Errorf("%s: second's response event %s, want the graph's answer %s", puid, sr.Data(), answers[puid])
		}
	}
}

// The same chain over gRPC: the events carry the protobuf binary of the
// ModelInferRequest and ModelInferResponse each component got and gave,
// and the protocol extension is the flag's value (kfserving here).
func TestPayloadLogV2ChainGRPC(t *testing.T) {
	rc := startCEReceiver(t)
	second := withLogger(startMock(t, mockclassifier.ProtocolV2, "second"), v1.LogAll, rc.url)
	first := withLogger(startMock(t, mockclassifier.ProtocolV2, "first", second), v1.LogAll, rc.url)
	reg := prometheus.NewRegistry()
	s := servePredictor(t, v1.PredictorSpec{Name: "p", Graph: first, Annotations: slowMachine},
		WithRegistry(reg), WithNamespace("ns"), WithProtocol("kfserving"))
	c := v2Client(t, s)
	request := func(i int) *ipb.ModelInferRequest {
		return &ipb.ModelInferRequest{Id: fmt.Sprint("g", i), Inputs: []*ipb.ModelInferRequest_InferInputTensor{{
			Name: "input", Datatype: "FP64", Shape: []int64{1, 4},
			Contents: &ipb.InferTensorContents{Fp64Contents: []float64{1, 2, 3, float64(i)}}}}}
	}
	skip := metadata.AppendToOutgoingContext(context.Background(), grpcPuidKey, "skipped", "seldon-skip-logging", "1")
	if _, err := c.ModelInfer(skip, request(0)); err != nil {
		t.Fatal(err)
	}
	const n = 6
	puids := map[string]bool{}
	answers := map[string]*ipb.ModelInferResponse{}
	for i := range n {
		puid := fmt.Sprintf("v2-grpc-%d", i)
		ctx := metadata.AppendToOutgoingContext(context.Background(), grpcPuidKey, puid)
		r, err := c.ModelInfer(ctx, request(i))
		if err != nil {
			t.Fatal(err)
		}
		puids[puid], answers[puid] = true, r
	}
	want := 4 * n
	noLossAccounted(t, reg, s.e.plog, want)
	events := rc.snapshot()
	if len(events) != want {
		t.Fatalf("receiver got %d events, want %d", len(events), want)
	}
	seen := indexEvents(t, events, "kfserving", protobufContentType, puids)
	for i := range n {
		puid := fmt.Sprintf("v2-grpc-%d", i)
		fq, fr, ok1 := eventsOf(t, seen, puid, "first")
		sq, sr, ok2 := eventsOf(t, seen, puid, "second")
		if !ok1 || !ok2 {
			continue
		}
		var fReq, sReq ipb.ModelInferRequest
		var fResp, sResp ipb.ModelInferResponse
		for _, x := range []struct {
			ev cloudevents.Event
			m  proto.Message
		}{{fq, &fReq}, {fr, &fResp}, {sq, &sReq}, {sr, &sResp}} {
			if err := proto.Unmarshal(x.ev.Data(), x.m); err != nil {
				t.Fatalf("%s: event %s of %s is not protobuf: %v", puid, x.ev.Type(), ext(x.ev, "modelid"), err)
			}
		}
		sent := request(i)
		if fReq.GetModelName() != "first" || fReq.GetId() != sent.GetId() ||
			!proto.Equal(fReq.GetInputs()[0].GetContents(), sent.GetInputs()[0].GetContents()) {
			t.Errorf("%s: first's logged request %v, want %v for model first", puid, &fReq, sent)
		}
		if sReq.GetModelName() != "second" || len(sReq.GetInputs()) != 1 ||
			!proto.Equal(sReq.GetInputs()[0].GetContents(), fResp.GetOutputs()[0].GetContents()) {
			t.Errorf("%s: second's logged request %v does not carry first's outputs %v", puid, &sReq, &fResp)
		}
		if !proto.Equal(&sResp, answers[puid]) {
			t.Errorf("%s: second's logged response %v, want the graph's answer %v", puid, &sResp, answers[puid])
		}
	}
}

// A tensorflow model over REST and gRPC: JSON events for REST, protobuf
// PredictRequest/PredictResponse for gRPC, protocol tensorflow.
func TestPayloadLogTensorflow(t *testing.T) {
	rc := startCEReceiver(t)
	m := withLogger(startMock(t, mockclassifier.ProtocolTensorflow, "m"), v1.LogAll, rc.url)
	reg := prometheus.NewRegistry()
	s := servePredictor(t, v1.PredictorSpec{Name: "p", Graph: m, Annotations: slowMachine},
		WithRegistry(reg), WithNamespace("ns"), WithProtocol("tensorflow"))
	const n = 4
	restPuids, grpcPuids := map[string]bool{}, map[string]bool{}
	restBody := func(i int) string { return fmt.Sprintf(`{"instances":[[1,2,3,%d]]}`, i) }
	restAnswers := map[string][]byte{}
	grpcAnswers := map[string]*tfpb.PredictResponse{}
	c := tfpb.NewPredictionServiceClient(s.grpcConn)
	for i := range n {
		puid := fmt.Sprintf("tf-rest-%d", i)
		code, b, _ := rawReq(t, "POST", s.restURL+"/v1/models/m:predict", restBody(i), PuidHeader, puid)
		if code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		restPuids[puid], restAnswers[puid] = true, b

		puid = fmt.Sprintf("tf-grpc-%d", i)
		ctx := metadata.AppendToOutgoingContext(context.Background(), grpcPuidKey, puid)
		r, err := c.Predict(ctx, &tfpb.PredictRequest{ModelSpec: &tfpb.ModelSpec{Name: "m"},
			Inputs: map[string]*tfpb.TensorProto{"x": tfTensor([]int64{1, 4}, 1, 2, 3, float64(i))}})
		if err != nil {
			t.Fatal(err)
		}
		grpcPuids[puid], grpcAnswers[puid] = true, r
	}
	want := 2 * 2 * n
	noLossAccounted(t, reg, s.e.plog, want)
	var restEvents, grpcEvents []cloudevents.Event
	for _, ev := range rc.snapshot() {
		if strings.HasPrefix(ext(ev, "requestid"), "tf-rest-") {
			restEvents = append(restEvents, ev)
		} else {
			grpcEvents = append(grpcEvents, ev)
		}
	}
	if len(restEvents) != 2*n || len(grpcEvents) != 2*n {
		t.Fatalf("receiver got %d REST and %d gRPC events, want %d each", len(restEvents), len(grpcEvents), 2*n)
	}
	seen := indexEvents(t, restEvents, "tensorflow", "application/json", restPuids)
	for i := range n {
		puid := fmt.Sprintf("tf-rest-%d", i)
		if rq, rs, ok := eventsOf(t, seen, puid, "m"); ok {
			if string(rq.Data()) != restBody(i) || !bytes.Equal(rs.Data(), restAnswers[puid]) {
				t.Errorf("%s: logged %s -> %s, want %s -> %s", puid, rq.Data(), rs.Data(), restBody(i), restAnswers[puid])
			}
		}
	}
	seen = indexEvents(t, grpcEvents, "tensorflow", protobufContentType, grpcPuids)
	for i := range n {
		puid := fmt.Sprintf("tf-grpc-%d", i)
		rq, rs, ok := eventsOf(t, seen, puid, "m")
		if !ok {
			continue
		}
		var req tfpb.PredictRequest
		var resp tfpb.PredictResponse
		if err := proto.Unmarshal(rq.Data(), &req); err != nil {
			t.Fatalf("%s: request event is not a PredictRequest: %v", puid, err)
		}
		if err := proto.Unmarshal(rs.Data(), &resp); err != nil {
			t.Fatalf("%s: response event is not a PredictResponse: %v", puid, err)
		}
		if req.GetModelSpec().GetName() != "m" || !proto.Equal(req.GetInputs()["x"], tfTensor([]int64{1, 4}, 1, 2, 3, float64(i))) {
			t.Errorf("%s: logged request %v", puid, &req)
		}
		if !proto.Equal(&resp, grpcAnswers[puid]) {
			t.Errorf("%s: logged response %v, want the answer %v", puid, &resp, grpcAnswers[puid])
		}
	}
}

// Errors-only under the tensorflow protocol: a good request logs nothing,
// one the model refuses logs its request and the model's error answer.
func TestPayloadLogTensorflowErrorsOnly(t *testing.T) {
	rc := startCEReceiver(t)
	m := withLogger(startMock(t, mockclassifier.ProtocolTensorflow, "m"), v1.LogAll, rc.url)
	reg := prometheus.NewRegistry()
	s := servePredictor(t, v1.PredictorSpec{Name: "p", Graph: m,
		Annotations: map[string]string{AnnotationLoggerWriteTimeout: "60000", AnnotationLoggerErrorsOnly: "true"}},
		WithRegistry(reg), WithNamespace("ns"), WithProtocol("tensorflow"))
	if code, b, _ := rawReq(t, "POST", s.restURL+"/v1/models/m:predict", `{"instances":[[1,2,3,4]]}`, PuidHeader, "good"); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	code, answer, _ := rawReq(t, "POST", s.restURL+"/v1/models/m:predict", `{"nothing":1}`, PuidHeader, "bad")
	if code != http.StatusBadRequest {
		t.Fatalf("bad request: HTTP %d %s, want the model's 400", code, answer)
	}
	noLossAccounted(t, reg, s.e.plog, 2)
	seen := indexEvents(t, rc.snapshot(), "tensorflow", "application/json", map[string]bool{"bad": true})
	if len(seen) != 2 {
		t.Errorf("%d events, want the failed call's request and response", len(seen))
	}
	if rq, rs, ok := eventsOf(t, seen, "bad", "m"); ok && (string(rq.Data()) != `{"nothing":1}` || !bytes.Equal(rs.Data(), answer)) {
		t.Errorf("logged %s -> %s, want the request and the model's error %s", rq.Data(), rs.Data(), answer)
	}
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gzip payloads pass through the graph compressed but are logged plain,
// as upstream; one that inflates beyond the body limit is not sent whole:
// its event fails and the prediction is unaffected.
func TestPayloadLogV2GzipIsLoggedPlain(t *testing.T) {
	const answer = `{"model_name":"gz","outputs":[{"name":"o","shape":[1],"datatype":"FP64","data":[1]}]}`
	big := `{"model_name":"gz","outputs":[],"pad":"` + strings.Repeat("0", 64<<10) + `"}`
	gz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		body := answer
		if r.Header.Get(PuidHeader) == "gz-2" {
			body = big
		}
		_, _ = w.Write(gzipped(t, body))
	}))
	t.Cleanup(gz.Close)
	rc := startCEReceiver(t)
	reg := prometheus.NewRegistry()
	s := servePredictor(t, v1.PredictorSpec{Name: "p", Annotations: slowMachine,
		Graph: withLogger(v1.PredictiveUnit{Name: "gz", Type: v1.Model,
			Endpoint: &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: port(t, gz.Listener.Addr())}}, v1.LogAll, rc.url)},
		WithRegistry(reg), WithNamespace("ns"), WithProtocol("v2"), WithMaxBodyBytes(16<<10))

	const request = `{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[7]}]}`
	post := func(puid string) {
		req, _ := http.NewRequest("POST", s.restURL+"/v2/models/gz/infer", bytes.NewReader(gzipped(t, request)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Accept-Encoding", "gzip") // read the answer raw
		req.Header.Set(PuidHeader, puid)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("HTTP %d, Content-Encoding %q; want 200 and the answer passed on compressed", resp.StatusCode, resp.Header.Get("Content-Encoding"))
		}
	}
	post("gz-1")
	noLossAccounted(t, reg, s.e.plog, 2)
	seen := indexEvents(t, rc.snapshot(), "v2", "application/json", map[string]bool{"gz-1": true})
	if rq, rs, ok := eventsOf(t, seen, "gz-1", "gz"); ok && (string(rq.Data()) != request || string(rs.Data()) != answer) {
		t.Errorf("logged %q -> %q, want the plain payloads %q -> %q", rq.Data(), rs.Data(), request, answer)
	}

	// The compressed answer fits the limit; inflated it does not. The
	// receiver may see the torn stream and refuse it, as it should.
	rc.mu.Lock()
	rc.refusalsExpected = true
	rc.mu.Unlock()
	post("gz-2")
	waitAccounted(t, reg, s.e.plog, 4)
	if got := logEvents(t, reg, "failed"); got != 1 {
		t.Errorf("failed events = %d, want 1 (the response that inflates beyond the limit)", got)
	}
	if got := logEvents(t, reg, "sent"); got != 3 {
		t.Errorf("sent events = %d, want 3", got)
	}
	// The receiver never took a cut-off payload.
	for _, ev := range rc.snapshot() {
		if ext(ev, "requestid") == "gz-2" && ev.Type() == CETypeResponse {
			t.Errorf("the receiver accepted a truncated response event of %d bytes", len(ev.Data()))
		}
	}
}

// Tensorflow feedback reaches no component, but, as upstream, it is logged
// at every node that logs responses, and only there.
func TestPayloadLogTensorflowFeedback(t *testing.T) {
	rc := startCEReceiver(t)
	second := withLogger(startMock(t, mockclassifier.ProtocolTensorflow, "second"), v1.LogResponse, rc.url)
	first := withLogger(startMock(t, mockclassifier.ProtocolTensorflow, "first", second), v1.LogRequest, rc.url)
	reg := prometheus.NewRegistry()
	s := servePredictor(t, v1.PredictorSpec{Name: "p", Graph: first, Annotations: slowMachine},
		WithRegistry(reg), WithNamespace("ns"), WithProtocol("tensorflow"))
	const fb = `{"request":{"instances":[[1,2,3,4]]},"reward":1}`
	if code, b, _ := rawReq(t, "POST", s.restURL+"/api/v1.0/feedback", fb, PuidHeader, "skipped", SkipLoggingHeader, "1"); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	if code, b, _ := rawReq(t, "POST", s.restURL+"/api/v1.0/feedback", fb, PuidHeader, "fb-tf"); code != 200 || string(b) != fb {
		t.Fatalf("feedback: HTTP %d %s, want the request back", code, b)
	}
	noLossAccounted(t, reg, s.e.plog, 1)
	seen := indexEvents(t, rc.snapshot(), "tensorflow", "application/json", map[string]bool{"fb-tf": true})
	ev, ok := seen[evKey{"fb-tf", "second", CETypeFeedback}]
	if len(seen) != 1 || !ok || string(ev.Data()) != fb {
		t.Errorf("events %v, want one feedback event from second carrying %s", seen, fb)
	}
}
