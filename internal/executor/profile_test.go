package executor

import (
	"context"
	"io"
	"net/http"
	"os"
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

func TestContainerMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		content string
		want    int64
		ok      bool
	}{{"536870912\n", 536870912, true}, {"max\n", 0, false}, {"", 0, false},
		// cgroup v1 without a limit
		{"9223372036854771712\n", 0, false}} {
		p := dir + "/memory.max"
		if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, ok := containerMemoryLimit(p); got != tc.want || ok != tc.ok {
			t.Errorf("memory.max %q: got %d, %v; want %d, %v", tc.content, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := containerMemoryLimit(dir + "/missing"); ok {
		t.Error("a missing memory.max reads as a limit")
	}
}
