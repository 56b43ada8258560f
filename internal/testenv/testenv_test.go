package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingTB records a failure instead of ending the test, so that the
// tests below can check what WaitFor reports. Fatal and Fatalf end the
// calling goroutine as testing.T's do.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	failed string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatal(args ...any) { r.fail(fmt.Sprint(args...)) }

func (r *recordingTB) Fatalf(format string, args ...any) { r.fail(fmt.Sprintf(format, args...)) }

func (r *recordingTB) fail(msg string) {
	r.mu.Lock()
	r.failed = msg
	r.mu.Unlock()
	runtime.Goexit()
}

// run calls f with r in a goroutine of its own (Fatal ends it) and returns
// the failure message, empty when f returned.
func (r *recordingTB) run(f func(testing.TB)) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func TestWaitForReturnsOnceCheckPasses(t *testing.T) {
	calls := 0
	start := time.Now()
	msg := (&recordingTB{TB: t}).run(func(tb testing.TB) {
		WaitFor(tb, 10*time.Second, "the third call", func() error {
			if calls++; calls < 3 {
				return fmt.Errorf("call %d", calls)
			}
			return nil
		})
	})
	if msg != "" {
		t.Fatalf("WaitFor failed: %s", msg)
	}
	if calls != 3 {
		t.Errorf("check called %d times, want 3", calls)
	}
	// Two sleeps of PollInterval: far less than a second.
	if took := time.Since(start); took < 2*PollInterval || took > 2*time.Second {
		t.Errorf("took %s for two polls of %s", took, PollInterval)
	}
}

func TestWaitForFailsWithWhatAndTheLastError(t *testing.T) {
	calls := 0
	msg := (&recordingTB{TB: t}).run(func(tb testing.TB) {
		WaitFor(tb, 200*time.Millisecond, "the answer", func() error {
			calls++
			return fmt.Errorf("attempt %d", calls)
		})
		t.Error("WaitFor returned after a timeout")
	})
	want := fmt.Sprintf("timed out after 200ms waiting for the answer: attempt %d", calls)
	if msg != want {
		t.Errorf("failure %q, want %q", msg, want)
	}
	if calls < 2 {
		t.Errorf("check called %d times in 200ms", calls)
	}
}

func TestWaitForExplainedAddsTheExplanation(t *testing.T) {
	never := func() error { return errors.New("not yet") }
	msg := (&recordingTB{TB: t}).run(func(tb testing.TB) {
		WaitForExplained(tb, 0, "x", never, func() string { return "etcd exited" })
	})
	if want := "timed out after 0s waiting for x: not yet\netcd exited"; msg != want {
		t.Errorf("failure %q, want %q", msg, want)
	}
	msg = (&recordingTB{TB: t}).run(func(tb testing.TB) {
		WaitForExplained(tb, 0, "x", never, func() string { return "" })
	})
	if want := "timed out after 0s waiting for x: not yet"; msg != want {
		t.Errorf("with nothing to explain: failure %q, want %q", msg, want)
	}
}

func TestPollKeepsTheLastErrorAndStopsWithItsContext(t *testing.T) {
	last := errors.New("last")
	err := Poll(context.Background(), 0, "y", func() error { return last })
	if !errors.Is(err, last) || !strings.Contains(err.Error(), "waiting for y") {
		t.Errorf("Poll = %v, want it to wrap %v and name what it waited for", err, last)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Poll(ctx, time.Hour, "y", func() error { return last }); !errors.Is(err, context.Canceled) {
		t.Errorf("Poll with a cancelled context = %v, want %v", err, context.Canceled)
	}
}

func TestBinDirPrefersKubebuilderAssetsThenLooksUp(t *testing.T) {
	t.Setenv("KUBEBUILDER_ASSETS", "/somewhere/assets")
	if dir, err := BinDir(); err != nil || dir != "/somewhere/assets" {
		t.Errorf("BinDir() = %q, %v; want KUBEBUILDER_ASSETS", dir, err)
	}

	t.Setenv("KUBEBUILDER_ASSETS", "")
	root := t.TempDir()
	bins := filepath.Join(root, "bin", "control-plane", "current")
	deep := filepath.Join(root, "test", "suite")
	for _, d := range []string{bins, deep} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(deep)
	dir, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resolved(t, dir), resolved(t, bins); got != want {
		t.Errorf("BinDir() from %s = %s, want %s", deep, got, want)
	}
	if _, err := KubectlPath(); err == nil || !strings.Contains(err.Error(), "kubectl is missing") {
		t.Errorf("KubectlPath() without kubectl: %v", err)
	}

	t.Chdir(t.TempDir())
	if _, err := BinDir(); err == nil || !strings.Contains(err.Error(), "hack/control-plane.sh") {
		t.Errorf("BinDir() with no binaries anywhere: %v, want an error that says how to build them", err)
	}
}

func resolved(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKubectlRunsTheBinaryWithTheKubeconfig(t *testing.T) {
	dir := t.TempDir()
	// A stand-in kubectl that prints its arguments, and fails on "fail".
	script := "#!/bin/sh\nfor a; do [ \"$a\" = fail ] && { echo broken; exit 3; }; done\necho \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "kubectl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBEBUILDER_ASSETS", dir)
	if out := Kubectl(t, "/k/config", "get", "pods"); out != "--kubeconfig=/k/config get pods\n" {
		t.Errorf("Kubectl output %q", out)
	}
	msg := (&recordingTB{TB: t}).run(func(tb testing.TB) { Kubectl(tb, "/k/config", "fail") })
	if !strings.HasPrefix(msg, "kubectl fail: exit status 3") || !strings.Contains(msg, "broken") {
		t.Errorf("failure %q, want the command, its exit status and its output", msg)
	}
}

func TestProcessReportsItsExitAndStops(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	dir := t.TempDir()
	quick, err := StartProcess(sh, []string{"-c", "echo bye; exit 4"}, filepath.Join(dir, "quick.log"))
	if err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 10*time.Second, "the quick process to exit", func() error {
		if quick.Exited() == nil {
			return errors.New("still running")
		}
		return nil
	})
	if err := quick.Exited(); !strings.Contains(err.Error(), "quick.log") || !strings.Contains(err.Error(), "exit status 4") {
		t.Errorf("Exited() = %v, want the log's name and the exit status", err)
	}
	if err := quick.Stop(); err != nil {
		t.Errorf("Stop after exit: %v", err)
	}
	if log, _ := os.ReadFile(filepath.Join(dir, "quick.log")); string(log) != "bye\n" {
		t.Errorf("log %q", log)
	}

	long, err := StartProcess(sh, []string{"-c", "exec sleep 60"}, filepath.Join(dir, "long.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := long.Exited(); err != nil {
		t.Fatalf("a running process reports %v", err)
	}
	if long.Name() != "sh" {
		t.Errorf("Name() = %q", long.Name())
	}
	start := time.Now()
	if err := long.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("SIGTERM took %s to stop sleep", took)
	}
}
