package executor

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// The per-event cost of sending with net/http (what the executor does)
// against sending the same event with the CloudEvents SDK's client. Run:
//
//	go test -run '^$' -bench PayloadLogSend -benchmem -benchtime 2000x ./internal/executor/
//
// allocs/op and B/op are what to compare; ns/op needs a quiet machine.

func benchReceiver(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

var benchPayload = []byte(`{"data":{"names":["proba"],"ndarray":[[0.43782349911420193]]},"meta":{"puid":"b"}}`)

func BenchmarkPayloadLogSendNetHTTP(b *testing.B) {
	url := benchReceiver(b)
	cfg := config{annotations: map[string]string{}, random: func() float64 { return 0 }, loggerWorkers: 1,
		deployment: "sd", namespace: "ns"}
	pl, err := newPayloadLogger(&cfg, "p", prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pl.close)
	nl := &nodeLogger{url: url, request: true, modelID: "m", ceModelID: []string{"m"}, ceProto: []string{"seldon"}}
	ev := &logEvent{nl: nl, ceType: CETypeRequest, puid: "b", contentType: "application/json", body: benchPayload}
	b.ResetTimer()
	for range b.N {
		if err := pl.send(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPayloadLogSendSDK(b *testing.B) {
	url := benchReceiver(b)
	c, err := cloudevents.NewClientHTTP(cloudevents.WithTarget(url))
	if err != nil {
		b.Fatal(err)
	}
	ctx := cloudevents.ContextWithTarget(context.Background(), url)
	b.ResetTimer()
	for range b.N {
		ev := cloudevents.NewEvent()
		ev.SetID(newPuid())
		ev.SetType(CETypeRequest)
		ev.SetSource(DefaultLoggerSource)
		ev.SetTime(time.Now())
		for k, v := range map[string]string{"modelid": "m", "requestid": "b", "inferenceservicename": "sd",
			"namespace": "ns", "endpoint": "p", "protocol": "seldon"} {
			ev.SetExtension(k, v)
		}
		if err := ev.SetData("application/json", benchPayload); err != nil {
			b.Fatal(err)
		}
		if res := c.Send(ctx, ev); !cloudevents.IsACK(res) {
			b.Fatal(res)
		}
	}
}

// The cost a v2 or tensorflow REST call pays on its own goroutine to log
// its request and response: two events offered, no body copied. Run:
//
//	go test -run '^$' -bench PayloadLogRawCallHook -benchmem -benchtime 20000x ./internal/executor/
func BenchmarkPayloadLogRawCallHook(b *testing.B) {
	url := benchReceiver(b)
	cfg := config{annotations: map[string]string{AnnotationLoggerQueueSize: "1000000"}, random: func() float64 { return 0 },
		loggerWorkers: 1, deployment: "sd", namespace: "ns", maxBody: DefaultMaxBodyBytes}
	pl, err := newPayloadLogger(&cfg, "p", prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pl.close)
	e := &Executor{plog: pl}
	n := &node{name: "m", logger: &nodeLogger{pl: pl, url: url, request: true, response: true, modelID: "m",
		ceModelID: []string{"m"}, ceProto: []string{"v2"}}}
	st := &walkState{puid: "b", logged: true}
	in := &rawMsg{body: benchPayload, contentType: "application/json"}
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		e.logRawCall(st, n, opPredict, in, resp.Header, benchPayload, 200)
	}
}
