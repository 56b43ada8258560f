package load

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunCountsEveryRequest checks that the report accounts for exactly the
// requests the server saw, splits errors by status, and sends the payload.
func TestRunCountsEveryRequest(t *testing.T) {
	var served, failed atomic.Int64
	var badBody atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) != DefaultPayload || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			badBody.Store(true)
		}
		if served.Add(1)%4 == 0 {
			failed.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	var progress bytes.Buffer
	r, err := Run(context.Background(), Options{Target: srv.URL, Concurrency: 4, Duration: 1200 * time.Millisecond, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if badBody.Load() {
		t.Error("the server got a request without the default payload")
	}
	if int64(r.Requests) != served.Load() {
		t.Errorf("report counts %d requests, server saw %d", r.Requests, served.Load())
	}
	if int64(r.Errors["503"]) != failed.Load() || int64(r.Succeeded) != served.Load()-failed.Load() {
		t.Errorf("report: %d succeeded, errors %v; server: %d served, %d failed", r.Succeeded, r.Errors, served.Load(), failed.Load())
	}
	if r.P50 <= 0 || r.P50 > r.P90 || r.P90 > r.P99 || r.P99 > r.Max {
		t.Errorf("percentiles out of order: p50 %v p90 %v p99 %v max %v", r.P50, r.P90, r.P99, r.Max)
	}
	if !strings.Contains(progress.String(), "requests") {
		t.Errorf("no progress line was written: %q", progress.String())
	}
	var text, js bytes.Buffer
	if err := r.WriteText(&text); err != nil || !strings.Contains(text.String(), "503: ") {
		t.Errorf("text report lacks errors by status: %s", text.String())
	}
	var back Report
	if err := r.WriteJSON(&js); err != nil || json.Unmarshal(js.Bytes(), &back) != nil || back.Requests != r.Requests {
		t.Errorf("JSON report does not round-trip: %s", js.String())
	}
}

func TestRunAtRate(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }))
	defer srv.Close()
	r, err := Run(context.Background(), Options{Target: srv.URL, Rate: 50, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// An open loop at 50/s for 1s sends 50 requests (vegeta paces by count).
	if r.Requests != 50 || served.Load() != 50 {
		t.Errorf("sent %d, served %d, want 50", r.Requests, served.Load())
	}
}

func TestQuantileIsNearestRank(t *testing.T) {
	lat := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for q, want := range map[float64]time.Duration{0.5: 5, 0.9: 9, 0.99: 10, 0.1: 1} {
		if got := quantile(lat, q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
}
