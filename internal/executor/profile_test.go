package executor

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestProfilingServesOnLoopbackOnly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "nonsense"} {
		if _, err := ServeProfiling(ctx, addr); err == nil || !strings.Contains(err.Error(), "--pprof-addr") {
			t.Errorf("ServeProfiling(%q) = %v, want an error naming --pprof-addr", addr, err)
		}
	}
	addr, err := ServeProfiling(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine profile:") {
		t.Fatalf("goroutine profile: %d %.200s", resp.StatusCode, body)
	}
}
