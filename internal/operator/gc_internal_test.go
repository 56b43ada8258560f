package operator

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	// The process's own settings, put back after each case.
	gcBefore := debug.SetGCPercent(100)
	debug.SetGCPercent(gcBefore)
	limitBefore := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(gcBefore)
		debug.SetMemoryLimit(limitBefore)
	})
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v2Limit := file("v2", "268435456\n")
	v2None := file("v2-none", "max\n")
	v1None := file("v1-none", "9223372036854771712\n")
	v1Limit := file("v1", "134217728\n")
	missing := filepath.Join(dir, "missing")
	noEnv := func(string) (string, bool) { return "", false }

	for _, c := range []struct {
		name        string
		env         map[string]string
		files       []string
		wantGC      int
		wantLimit   int64
		wantRuntime int64 // debug.SetMemoryLimit(-1) afterwards
	}{
		{"a v2 container limit", nil, []string{v2Limit, v1Limit}, DefaultGCPercent, 201326592, 201326592},
		{"no v2 limit file: v1's", nil, []string{missing, v1Limit}, DefaultGCPercent, 100663296, 100663296},
		{"no limit at all", nil, []string{v2None, v1None}, DefaultGCPercent, -1, math.MaxInt64},
		{"GOGC and GOMEMLIMIT set: the runtime's", map[string]string{"GOGC": "80", "GOMEMLIMIT": "64MiB"}, []string{v2Limit}, -1, math.MaxInt64, math.MaxInt64},
	} {
		t.Run(c.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			env := noEnv
			if c.env != nil {
				env = func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
			}
			gc, limit := tuneGC(env, c.files)
			if gc != c.wantGC || limit != c.wantLimit {
				t.Errorf("tuneGC = %d, %d; want %d, %d", gc, limit, c.wantGC, c.wantLimit)
			}
			wantPercent := c.wantGC
			if wantPercent == -1 {
				wantPercent = 100 // left as it was
			}
			if got := debug.SetGCPercent(100); got != wantPercent {
				t.Errorf("GOGC in force: %d, want %d", got, wantPercent)
			}
			if got := debug.SetMemoryLimit(-1); got != c.wantRuntime {
				t.Errorf("memory limit in force: %d, want %d", got, c.wantRuntime)
			}
		})
	}
}
