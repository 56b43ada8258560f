package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/sdep-dev/sdep/internal/executor"
	"github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

// These tests attack a real `sdep executor` process (a non-race build) in
// front of `sdep model mock-classifier`, on loopback, and measure the
// executor's resident memory from /proc.

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return p
}

func waitListening(t *testing.T, port int, cmd *exec.Cmd) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if cmd.ProcessState != nil {
			t.Fatalf("%s exited", cmd.Path)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d", port)
}

func startProcess(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(sdepBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = io.Discard
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

type attackTarget struct {
	executor, model *exec.Cmd
	restPort        int
	grpcPort        int
}

// startExecutorWithClassifier runs the mock classifier and an executor in
// front of it, both on loopback ports, with extra executor flags.
func startExecutorWithClassifier(t *testing.T, flags ...string) attackTarget {
	t.Helper()
	return startExecutorWithModelFlags(t, nil, flags...)
}

// startExecutorWithModelFlags is startExecutorWithClassifier with extra
// flags for the mock classifier too.
func startExecutorWithModelFlags(t *testing.T, modelFlags []string, flags ...string) attackTarget {
	t.Helper()
	mh, mg := freePort(t), freePort(t)
	model := startProcess(t, nil, append([]string{"model", "mock-classifier", "--host", "127.0.0.1",
		"--http-port", strconv.Itoa(mh), "--grpc-port", strconv.Itoa(mg)}, modelFlags...)...)
	waitListening(t, mh, model)
	pred, err := json.Marshal(map[string]any{
		"name": "p",
		"graph": map[string]any{"name": "classifier", "type": "MODEL",
			"endpoint": map[string]any{"service_host": "127.0.0.1", "httpPort": mh, "grpcPort": mg}},
	})
	if err != nil {
		t.Fatal(err)
	}
	eh, eg := freePort(t), freePort(t)
	args := append([]string{"executor", "--sdep", "attack", "--http-port", strconv.Itoa(eh), "--grpc-port", strconv.Itoa(eg),
		"--pod-annotations", os.DevNull}, flags...)
	ex := startProcess(t, []string{"ENGINE_PREDICTOR=" + base64.StdEncoding.EncodeToString(pred)}, args...)
	waitListening(t, eh, ex)
	return attackTarget{executor: ex, model: model, restPort: eh, grpcPort: eg}
}

// procKB reads a "VmRSS"/"VmHWM" line of /proc/<pid>/status in kB.
func procKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// predictOK sends a few ordinary requests so the idle figure includes the
// executor's warm state.
func (a attackTarget) predictOK(t *testing.T) {
	t.Helper()
	for range 5 {
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/api/v1.0/predictions", a.restPort), "application/json",
			strings.NewReader(`{"data":{"ndarray":[[1,2,5]]}}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("warm-up request: %d %s", resp.StatusCode, b)
		}
	}
}

// The goal for every memory attack: under 100 MB above idle.
const attackBudgetKB = 100 << 10

// Eight connections declare a 64 MiB body and send one byte: the executor
// must not reserve memory from Content-Length.
func TestExecutorContentLengthAttackMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	a := startExecutorWithClassifier(t)
	a.predictOK(t)
	pid := a.executor.Process.Pid
	idle := procKB(t, pid, "VmRSS")
	var conns []net.Conn
	for range 8 {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(a.restPort)))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		_, err = fmt.Fprintf(c, "POST /api/v1.0/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", 64<<20)
		if err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	peak := procKB(t, pid, "VmHWM")
	now := procKB(t, pid, "VmRSS")
	t.Logf("idle RSS %d MB; with 8 connections declaring 64 MiB: RSS %d MB, peak %d MB", idle>>10, now>>10, peak>>10)
	if peak-idle > attackBudgetKB {
		t.Errorf("peak RSS %d MB is %d MB above idle (goal < %d MB)", peak>>10, (peak-idle)>>10, attackBudgetKB>>10)
	}
}

// Four clients stream 100 MB chunked bodies at once: each is refused, and
// memory stays bounded while they are read.
func TestExecutorConcurrentOversizedBodiesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	a := startExecutorWithClassifier(t)
	a.predictOK(t)
	pid := a.executor.Process.Pid
	idle := procKB(t, pid, "VmRSS")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr, pw := io.Pipe()
			go func() {
				chunk := []byte(`{"strData":"` + strings.Repeat("x", 1<<16))
				sent := 0
				for sent < 100<<20 {
					if _, err := pw.Write(chunk); err != nil {
						return
					}
					sent += len(chunk)
				}
				_ = pw.Close()
			}()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
				fmt.Sprintf("http://127.0.0.1:%d/api/v1.0/predictions", a.restPort), pr)
			req.ContentLength = -1 // chunked
			resp, err := http.DefaultClient.Do(req)
			_ = pr.CloseWithError(io.ErrClosedPipe)
			if err != nil {
				return // the executor may close the connection while we still write
			}
			codes[i] = resp.StatusCode
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}()
	}
	wg.Wait()
	peak := procKB(t, pid, "VmHWM")
	t.Logf("idle RSS %d MB; peak under 4 concurrent chunked 100 MB bodies %d MB; answers %v", idle>>10, peak>>10, codes)
	for _, c := range codes {
		if c != 0 && c != http.StatusRequestEntityTooLarge && c != http.StatusServiceUnavailable {
			t.Errorf("oversized body answered %d, want 413 or 503", c)
		}
	}
	if peak-idle > attackBudgetKB {
		t.Errorf("peak RSS %d MB is %d MB above idle (goal < %d MB)", peak>>10, (peak-idle)>>10, attackBudgetKB>>10)
	}
}

// `sdep executor --read-timeout` drops a client that declares a body and
// does not send it, with 408.
func TestExecutorDropsSlowBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	a := startExecutorWithClassifier(t, "--read-timeout", "500ms")
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(a.restPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := fmt.Fprintf(c, "POST /api/v1.0/predictions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n{", 64<<20); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("connection still open after %v: %v", time.Since(start), err)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.1 408 ") {
		t.Errorf("answer %q, want 408", got)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("dropped after %v, want about 500ms", d)
	}
}

// drainResult is one trickle request's outcome.
type drainResult struct {
	at        time.Duration // since SIGTERM (negative: before)
	code      int
	closeConn bool
	err       error
}

// A pod being scaled down: SIGTERM reaches the executor and the mock
// classifier at once. The executor must flip /ready and gRPC health at
// once, keep serving REST and gRPC for its drain period, answer with
// Connection: close and close idle keep-alive connections, finish a request
// in flight, and exit within the drain period plus a small slack.
func TestExecutorDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const drain = 2 * time.Second
	a := startExecutorWithModelFlags(t, []string{"--drain-period", "3s"}, "--drain-period", drain.String(), "--grace-period", "5s")
	a.predictOK(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", a.restPort)
	body := `{"data":{"ndarray":[[1,2,5]]}}`

	// An idle keep-alive connection: one request answered, then silence.
	idle, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(a.restPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = idle.Close() }()
	idleReader := bufio.NewReader(idle)
	fmt.Fprintf(idle, "POST /api/v1.0/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	resp, err := http.ReadResponse(idleReader, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.Close {
		t.Fatal("before SIGTERM the executor already closes keep-alive connections")
	}

	// A request in flight: headers and half its body sent before SIGTERM,
	// the rest during the drain.
	inflight, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(a.restPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = inflight.Close() }()
	fmt.Fprintf(inflight, "POST /api/v1.0/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])

	// A gRPC connection made before SIGTERM.
	gc, err := grpc.NewClient(net.JoinHostPort("127.0.0.1", strconv.Itoa(a.grpcPort)), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = gc.Close() }()
	gpredict := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := seldonpb.NewSeldonClient(gc).Predict(ctx, &seldonpb.SeldonMessage{DataOneof: &seldonpb.SeldonMessage_Data{
			Data: &seldonpb.DefaultData{DataOneof: &seldonpb.DefaultData_Tensor{Tensor: &seldonpb.Tensor{Shape: []int32{1, 3}, Values: []float64{1, 2, 5}}}}}})
		return err
	}
	if err := gpredict(); err != nil {
		t.Fatal(err)
	}

	// The trickle: one request every 25 ms through a keep-alive client.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 5 * time.Second}
	var sigterm atomic.Int64 // unix nanos of SIGTERM, 0 before
	since := func() time.Duration {
		if s := sigterm.Load(); s != 0 {
			return time.Since(time.Unix(0, s))
		}
		return -1
	}
	stopTrickle := make(chan struct{})
	trickleDone := make(chan []drainResult)
	go func() {
		var out []drainResult
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopTrickle:
				trickleDone <- out
				return
			case <-tick.C:
			}
			r := drainResult{at: since()}
			resp, err := client.Post(base+"/api/v1.0/predictions", "application/json", strings.NewReader(body))
			if err != nil {
				r.err = err
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				r.code, r.closeConn = resp.StatusCode, resp.Close
			}
			out = append(out, r)
		}
	}()
	time.Sleep(300 * time.Millisecond)

	exited := func(c *exec.Cmd) chan time.Duration {
		ch := make(chan time.Duration, 1)
		go func() {
			_ = c.Wait()
			ch <- since()
		}()
		return ch
	}
	sigterm.Store(time.Now().UnixNano())
	if err := a.model.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := a.executor.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	executorExit, modelExit := exited(a.executor), exited(a.model)

	// Readiness flips at once.
	notReadyAfter := time.Duration(-1)
	for d := time.Now().Add(time.Second); time.Now().Before(d); time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(base + "/ready")
		if err != nil {
			t.Fatalf("readiness during the drain: %v (the listener must stay open)", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			notReadyAfter = since()
			break
		}
	}
	if notReadyAfter < 0 {
		t.Fatal("/ready still succeeds 1s after SIGTERM")
	}
	hctx, hcancel := context.WithTimeout(context.Background(), time.Second)
	h, err := healthpb.NewHealthClient(gc).Check(hctx, &healthpb.HealthCheckRequest{})
	hcancel()
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("gRPC health during the drain: %v %v, want NOT_SERVING", h.GetStatus(), err)
	}

	// The idle keep-alive connection is closed by the executor.
	_ = idle.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := idleReader.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle keep-alive connection after SIGTERM: read %d bytes, %v; want it closed (EOF)", n, err)
	}

	// The request in flight completes, with Connection: close.
	time.Sleep(200 * time.Millisecond)
	if _, err := io.WriteString(inflight, body[10:]); err != nil {
		t.Fatalf("finishing the request in flight: %v", err)
	}
	_ = inflight.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(inflight), nil)
	if err != nil {
		t.Fatalf("request in flight at SIGTERM: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("request in flight at SIGTERM: %d, Connection: close %v; want 200 and close", resp.StatusCode, resp.Close)
	}
	// gRPC still serves on the connection made before SIGTERM.
	if err := gpredict(); err != nil {
		t.Errorf("gRPC Predict during the drain: %v", err)
	}

	// The trickle runs until shortly before the drain ends.
	time.Sleep(drain - 400*time.Millisecond - since())
	close(stopTrickle)
	results := <-trickleDone
	// A request sent after the signal but before the executor handled it
	// (readiness had not flipped yet) may be answered either way; every
	// one sent once /ready said 503 must carry Connection: close.
	var before, during, failed, closed, drained int
	for _, r := range results {
		switch {
		case r.err != nil || r.code != 200:
			failed++
			t.Errorf("request at %v after SIGTERM: %d %v", r.at, r.code, r.err)
		case r.at < 0:
			before++
		default:
			during++
			if r.at >= notReadyAfter {
				drained++
				if r.closeConn {
					closed++
				}
			}
		}
	}
	if drained == 0 || closed != drained {
		t.Errorf("%d requests sent after /ready turned 503, %d of them answered with Connection: close; want all", drained, closed)
	}

	var exitAt time.Duration
	select {
	case exitAt = <-executorExit:
	case <-time.After(drain + 3*time.Second):
		t.Fatalf("executor still running %v after SIGTERM (drain period %v)", since(), drain)
	}
	if exitAt < drain {
		t.Errorf("executor exited %v after SIGTERM, before its drain period %v", exitAt, drain)
	}
	if exitAt > drain+time.Second {
		t.Errorf("executor exited %v after SIGTERM, want within drain period %v + 1s", exitAt, drain)
	}
	var modelAt time.Duration
	select {
	case modelAt = <-modelExit:
	case <-time.After(6 * time.Second):
		t.Fatal("mock classifier still running 6s after SIGTERM (drain period 3s)")
	}
	t.Logf("trickle: %d requests before SIGTERM, %d during the drain (%d sent after /ready turned 503, all with Connection: close), %d failed; /ready 503 after %v; executor exited after %v (drain %v), mock classifier after %v (drain 3s)",
		before, during, drained, failed, notReadyAfter.Round(time.Millisecond), exitAt.Round(time.Millisecond), drain, modelAt.Round(time.Millisecond))
}

// Four clients send 60 MiB gRPC messages at once: each is refused with
// ResourceExhausted naming the limit, and memory stays bounded.
func TestExecutorConcurrentOversizedGRPCMessagesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	a := startExecutorWithClassifier(t)
	a.predictOK(t)
	pid := a.executor.Process.Pid
	idle := procKB(t, pid, "VmRSS")
	msg := &seldonpb.SeldonMessage{DataOneof: &seldonpb.SeldonMessage_StrData{StrData: strings.Repeat("x", 60<<20)}}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One connection per client, as an attacker would.
			gc, err := grpc.NewClient(net.JoinHostPort("127.0.0.1", strconv.Itoa(a.grpcPort)), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				errs[i] = err
				return
			}
			defer func() { _ = gc.Close() }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, errs[i] = seldonpb.NewSeldonClient(gc).Predict(ctx, msg, grpc.MaxCallSendMsgSize(100<<20))
		}()
	}
	wg.Wait()
	peak := procKB(t, pid, "VmHWM")
	t.Logf("idle RSS %d MB; peak under 4 concurrent 60 MiB gRPC messages %d MB (+%d MB); answers %v", idle>>10, peak>>10, (peak-idle)>>10, errs)
	for _, err := range errs {
		// gRPC answers for itself, from the length prefix: "received
		// message larger than max (<size> vs. <limit>)".
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), strconv.Itoa(executor.DefaultGRPCMaxReceive)) {
			t.Errorf("oversized gRPC message answered %v, want ResourceExhausted naming the limit %d", err, executor.DefaultGRPCMaxReceive)
		}
	}
	if peak-idle > attackBudgetKB {
		t.Errorf("peak RSS %d MB is %d MB above idle (goal < %d MB)", peak>>10, (peak-idle)>>10, attackBudgetKB>>10)
	}
}
