package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/sdep-dev/sdep/internal/executor"
)

// A real `sdep executor` process sends the payloads of a node whose logger
// has no url to REQUEST_LOGGER_DEFAULT_ENDPOINT, where a CloudEvents SDK
// receiver reads them.
func TestExecutorLogsToDefaultEndpoint(t *testing.T) {
	var (
		mu     sync.Mutex
		events []cloudevents.Event
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		events = append(events, *ev)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(receiver.Close)

	mh, mg := freePort(t), freePort(t)
	model := startProcess(t, nil, "model", "mock-classifier", "--host", "127.0.0.1",
		"--http-port", strconv.Itoa(mh), "--grpc-port", strconv.Itoa(mg))
	waitListening(t, mh, model)
	pred, err := json.Marshal(map[string]any{
		"name": "p",
		"graph": map[string]any{"name": "classifier", "type": "MODEL", "logger": map[string]any{"mode": "all"},
			"endpoint": map[string]any{"service_host": "127.0.0.1", "httpPort": mh, "grpcPort": mg}},
	})
	if err != nil {
		t.Fatal(err)
	}
	eh, eg := freePort(t), freePort(t)
	ex := startProcess(t, []string{"ENGINE_PREDICTOR=" + base64.StdEncoding.EncodeToString(pred),
		executor.EnvLoggerDefaultEndpoint + "=" + receiver.URL},
		"executor", "--sdep", "logged", "--namespace", "ns", "--http-port", strconv.Itoa(eh), "--grpc-port", strconv.Itoa(eg),
		"--pod-annotations", os.DevNull)
	waitListening(t, eh, ex)

	const n = 3
	for i := range n {
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/api/v1.0/predictions", eh),
			strings.NewReader(`{"data":{"ndarray":[[1,2,5]]}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(executor.PuidHeader, fmt.Sprintf("req-%d", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("prediction: HTTP %d", resp.StatusCode)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := len(events)
		mu.Unlock()
		if got >= 2*n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2*n {
		t.Fatalf("receiver got %d events, want %d", len(events), 2*n)
	}
	host, _ := os.Hostname()
	pairs := map[string]int{}
	for _, ev := range events {
		if ev.Source() != "http://"+host+":"+strconv.Itoa(eh)+"/" || ev.Extensions()["inferenceservicename"] != "logged" ||
			ev.Extensions()["namespace"] != "ns" || ev.Extensions()["modelid"] != "classifier" {
			t.Errorf("event %s: source %q extensions %v", ev.ID(), ev.Source(), ev.Extensions())
		}
		id, _ := ev.Extensions()["requestid"].(string)
		switch ev.Type() {
		case executor.CETypeRequest:
			pairs[id]++
		case executor.CETypeResponse:
			pairs[id] += 10
			if !strings.Contains(string(ev.Data()), "proba") {
				t.Errorf("response event data %s", ev.Data())
			}
		}
	}
	for i := range n {
		if id := fmt.Sprintf("req-%d", i); pairs[id] != 11 {
			t.Errorf("request %s: events %d, want one request and one response", id, pairs[id])
		}
	}
}
