package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"
)

// TestWrkPostsThePayload runs the real wrk with the generated script against
// a loopback server and checks what arrived: method, content type and the
// exact body (with characters the Lua quoting has to escape).
func TestWrkPostsThePayload(t *testing.T) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not installed (apt-get install wrk)")
	}
	payload := `{"data":{"ndarray":[[1,2,5]]},"strData":"a \\ \"quoted\"\nline é"}`
	var good, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/json" && string(b) == payload {
			good.Add(1)
		} else {
			bad.Add(1)
			t.Logf("unexpected request: %s %q %q", r.Method, r.Header.Get("Content-Type"), b)
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	script, err := writeWrkScript(t.TempDir(), payload)
	if err != nil {
		t.Fatal(err)
	}
	r, err := runWrk(wrk, script, srv.URL, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if bad.Load() != 0 || good.Load() == 0 {
		t.Fatalf("server saw %d requests with the payload and %d without", good.Load(), bad.Load())
	}
	// wrk counts only completed requests; the server may have seen a few
	// more that were cut at the end.
	if r.Requests == 0 || r.Requests > good.Load() {
		t.Errorf("wrk reported %d requests, the server saw %d", r.Requests, good.Load())
	}
	if r.ClientCPU <= 0 {
		t.Errorf("wrk's CPU time is %v, want > 0", r.ClientCPU)
	}
}
