// Command bench-executor measures what the executor adds on loopback: the
// mock classifier alone against the same behind `sdep executor`, at
// concurrency 1 and 32, over REST and gRPC. It prints req/s, p50, p99, the
// added p50 and the executor's CPU-seconds per 1000 requests (from
// /proc/<pid>/stat), with the machine's load average before and after.
//
//	go run ./hack/bench-executor -sdep bin/sdep -duration 10s
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/load"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat
// (100 on every Linux architecture Go supports in practice).
const clockTicks = 100

func main() {
	sdep := flag.String("sdep", "bin/sdep", "sdep binary")
	duration := flag.Duration("duration", 10*time.Second, "length of each measured run")
	warmup := flag.Duration("warmup", 2*time.Second, "unmeasured run before each measured one")
	flag.Parse()
	if err := run(*sdep, *duration, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "bench-executor:", err)
		os.Exit(1)
	}
}

type row struct {
	transport   string
	concurrency int
	direct      load.Report
	executor    load.Report
	cpuPer1000  float64
}

func run(sdep string, duration, warmup time.Duration) error {
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	modelHTTP, modelGRPC, execHTTP, execGRPC := ports[0], ports[1], ports[2], ports[3]

	model := exec.Command(sdep, "model", "mock-classifier", "--host", "127.0.0.1",
		"--http-port", strconv.Itoa(modelHTTP), "--grpc-port", strconv.Itoa(modelGRPC))
	model.Stderr = os.Stderr
	if err := model.Start(); err != nil {
		return err
	}
	defer stop(model)

	pred := v1.PredictorSpec{Name: "bench", Graph: v1.PredictiveUnit{
		Name: "classifier", Type: v1.Model,
		Endpoint: &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: int32(modelHTTP), GRPCPort: int32(modelGRPC), Type: v1.EndpointREST},
	}}
	raw, err := json.Marshal(pred)
	if err != nil {
		return err
	}
	executor := exec.Command(sdep, "executor", "--sdep", "bench", "--namespace", "default",
		"--http-port", strconv.Itoa(execHTTP), "--grpc-port", strconv.Itoa(execGRPC),
		"--pod-annotations", "/nonexistent")
	executor.Env = append(os.Environ(), "ENGINE_PREDICTOR="+base64.StdEncoding.EncodeToString(raw))
	executor.Stderr = os.Stderr
	if err := executor.Start(); err != nil {
		return err
	}
	defer stop(executor)
	for _, p := range ports {
		if err := waitListening(p); err != nil {
			return err
		}
	}

	loadBefore := loadavg()
	var rows []row
	for _, transport := range []string{"rest", "grpc"} {
		for _, c := range []int{1, 32} {
			r := row{transport: transport, concurrency: c}
			directTarget, execTarget := fmt.Sprintf("http://127.0.0.1:%d/predict", modelHTTP),
				fmt.Sprintf("http://127.0.0.1:%d/api/v1.0/predictions", execHTTP)
			if transport == "grpc" {
				directTarget, execTarget = fmt.Sprintf("127.0.0.1:%d", modelGRPC), fmt.Sprintf("127.0.0.1:%d", execGRPC)
			}
			if r.direct, err = measure(directTarget, transport, c, duration, warmup, "/seldon.protos.Model/Predict"); err != nil {
				return err
			}
			cpu0, err := cpuSeconds(executor.Process.Pid)
			if err != nil {
				return err
			}
			// The CPU reading spans the warm-up too, so count its requests.
			warm, err := measureOnce(execTarget, transport, c, warmup, "")
			if err != nil {
				return err
			}
			if r.executor, err = measure(execTarget, transport, c, duration, 0, ""); err != nil {
				return err
			}
			cpu1, err := cpuSeconds(executor.Process.Pid)
			if err != nil {
				return err
			}
			r.cpuPer1000 = (cpu1 - cpu0) / float64(r.executor.Requests+warm.Requests) * 1000
			rows = append(rows, r)
			fmt.Fprintf(os.Stderr, "%s c=%d: direct %.0f req/s, via executor %.0f req/s\n",
				transport, c, r.direct.Throughput, r.executor.Throughput)
		}
	}
	loadAfter := loadavg()

	fmt.Printf("Executor benchmark: mock classifier direct vs behind the executor, loopback, %s per run (%d CPUs).\n", duration, numCPU())
	fmt.Printf("Load average before: %s; after: %s\n\n", loadBefore, loadAfter)
	fmt.Println("| transport | conc. | direct req/s | direct p50 | direct p99 | executor req/s | executor p50 | executor p99 | % of direct | added p50 | executor CPU-s / 1000 req |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %d | %.0f | %s | %s | %.0f | %s | %s | %.0f%% | %s | %.3f |\n",
			r.transport, r.concurrency, r.direct.Throughput, us(r.direct.P50), us(r.direct.P99),
			r.executor.Throughput, us(r.executor.P50), us(r.executor.P99),
			100*r.executor.Throughput/r.direct.Throughput, us(r.executor.P50-r.direct.P50), r.cpuPer1000)
	}
	return nil
}

func measure(target, transport string, c int, duration, warmup time.Duration, grpcMethod string) (load.Report, error) {
	if warmup > 0 {
		if _, err := measureOnce(target, transport, c, warmup, grpcMethod); err != nil {
			return load.Report{}, err
		}
	}
	return measureOnce(target, transport, c, duration, grpcMethod)
}

func measureOnce(target, transport string, c int, d time.Duration, grpcMethod string) (load.Report, error) {
	r, err := load.Run(context.Background(), load.Options{
		Target: target, GRPC: transport == "grpc", GRPCMethod: grpcMethod, Concurrency: c, Duration: d,
	})
	if err != nil {
		return r, err
	}
	if r.Succeeded != r.Requests {
		return r, fmt.Errorf("%s: %d of %d requests failed: %s", target, r.Requests-r.Succeeded, r.Requests, r.FirstError)
	}
	return r, nil
}

func us(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

// cpuSeconds is a process's user+system CPU time.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may contain spaces) start at
	// field 3; utime and stime are fields 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (utime + stime) / clockTicks, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\nprocessor") + 1
}

func freePorts(n int) ([]int, error) {
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func waitListening(port int) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on port %d after 10s", port)
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
	}
}
