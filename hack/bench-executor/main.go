// Command bench-executor measures what the executor adds on loopback: the
// mock classifier alone against the same behind `sdep executor`, at
// concurrency 1 and 32, over REST (loaded by wrk) and gRPC (loaded by ghz).
// Paths are measured in alternating rounds and the medians printed as
// markdown tables: req/s, p50, p99, the share of the direct throughput, the
// added p50, and the CPU-seconds per 1,000 requests the executor, the model
// (both from /proc/<pid>/stat) and the load client spent, with the machine's load
// average before and after.
//
// With -baseline, a second executor from another sdep binary runs in front
// of the same model and takes its turn in every round, so one run gives
// before and after figures and their ratio. With -go-client the same
// rounds are also driven by sdep's own Go load client (internal/load), which
// costs more CPU than what it measures on a small machine.
//
//	go run ./hack/bench-executor -sdep bin/sdep -ghz bin/ghz/<pins>/ghz -duration 5s
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/load"
)

type config struct {
	sdep, baseline  string
	wrk, ghz, proto string
	payload         string
	grpcPayload     string
	protocol        string
	duration        time.Duration
	warmup          time.Duration
	rounds          int
	concurrency     []int
	transports      []string
	grpcConns       int
	goClient        bool
}

func main() {
	var cfg config
	var conc, transports string
	flag.StringVar(&cfg.sdep, "sdep", "bin/sdep", "sdep binary for the model and the executor under test")
	flag.StringVar(&cfg.baseline, "baseline", "", "another sdep binary whose executor alternates with the one under test (before/after figures)")
	flag.StringVar(&cfg.wrk, "wrk", "wrk", "wrk binary (REST load)")
	flag.StringVar(&cfg.ghz, "ghz", "bin/ghz", "ghz binary (gRPC load; make bench-executor builds bin/ghz-<version>-<pins hash>)")
	flag.StringVar(&cfg.protocol, "protocol", load.ProtocolSeldon, "seldon or v2: the API the model and the executor serve and the load speaks")
	flag.StringVar(&cfg.proto, "proto", "", "the .proto ghz reads (default: internal/proto/seldonpb/prediction.proto, with -protocol v2 internal/proto/inferencepb/inference.proto)")
	flag.StringVar(&cfg.payload, "payload", "", "request body (REST; and the SeldonMessage JSON for gRPC under -protocol seldon); default: the protocol's one-row request")
	flag.StringVar(&cfg.grpcPayload, "grpc-payload", "", "gRPC request as JSON (default: -payload under seldon, else the protocol's one-row request)")
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "length of each measured round (whole seconds, wrk's unit)")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured run of each path before its rounds (0: none)")
	flag.IntVar(&cfg.rounds, "rounds", 3, "alternating measured rounds per path; the tables show medians")
	flag.StringVar(&conc, "concurrency", "1,32", "comma-separated concurrencies (wrk connections, ghz workers)")
	flag.StringVar(&transports, "transports", "rest,grpc", "comma-separated: rest, grpc")
	flag.IntVar(&cfg.grpcConns, "grpc-connections", 1, "gRPC connections ghz spreads its workers over (0: one per worker)")
	flag.BoolVar(&cfg.goClient, "go-client", false, "also drive the same rounds with sdep's Go load client (internal/load), in a table labelled \"Go client\"")
	flag.Parse()

	err := parseConfig(&cfg, conc, transports)
	if err == nil {
		err = run(cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-executor:", err)
		os.Exit(1)
	}
}

func parseConfig(cfg *config, conc, transports string) error {
	switch cfg.protocol {
	case load.ProtocolSeldon, load.ProtocolV2:
	default:
		return fmt.Errorf("-protocol %q: use seldon or v2", cfg.protocol)
	}
	if cfg.payload == "" {
		cfg.payload = load.DefaultPayloadFor(cfg.protocol, false)
	}
	if cfg.grpcPayload == "" {
		cfg.grpcPayload = cfg.payload
		if cfg.protocol != load.ProtocolSeldon {
			cfg.grpcPayload = load.DefaultPayloadFor(cfg.protocol, true)
		}
	}
	if cfg.proto == "" {
		cfg.proto = "internal/proto/seldonpb/prediction.proto"
		if cfg.protocol == load.ProtocolV2 {
			cfg.proto = "internal/proto/inferencepb/inference.proto"
		}
	}
	for f := range strings.SplitSeq(conc, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			return fmt.Errorf("-concurrency: %q is not a positive integer (e.g. -concurrency 1,32)", f)
		}
		cfg.concurrency = append(cfg.concurrency, c)
	}
	for f := range strings.SplitSeq(transports, ",") {
		t := strings.TrimSpace(f)
		if t != "rest" && t != "grpc" {
			return fmt.Errorf("-transports: %q is neither rest nor grpc (e.g. -transports rest,grpc)", f)
		}
		cfg.transports = append(cfg.transports, t)
	}
	if cfg.rounds < 1 {
		return fmt.Errorf("-rounds: %d; want at least 1", cfg.rounds)
	}
	if cfg.duration < time.Second || cfg.duration%time.Second != 0 {
		return fmt.Errorf("-duration: %s; want whole seconds, at least 1s (wrk's unit)", cfg.duration)
	}
	if cfg.warmup < 0 || cfg.warmup%time.Second != 0 {
		return fmt.Errorf("-warmup: %s; want whole seconds or 0", cfg.warmup)
	}
	if cfg.grpcConns < 0 {
		return fmt.Errorf("-grpc-connections: %d; want 0 (one per worker) or more", cfg.grpcConns)
	}
	return nil
}

// target is one path the load goes through.
type target struct {
	label      string
	restURL    string
	grpcAddr   string
	grpcMethod string
	// pid is the executor's process, 0 for the model direct.
	pid int
}

// scenario is one table row group: a load client, a transport and a
// concurrency.
type scenario struct {
	client    string // "cheap" (wrk / ghz) or "go"
	transport string
	c         int
}

// sample is one measured round of one target.
type sample struct {
	result
	execCPU  float64 // executor CPU-seconds over the round; 0 for the model direct
	modelCPU float64 // the mock classifier's CPU-seconds over the round
}

type row struct {
	scenario
	target  *target
	samples []sample
}

func run(cfg config) error {
	if _, err := exec.LookPath(cfg.wrk); err != nil && slices.Contains(cfg.transports, "rest") {
		return fmt.Errorf("-wrk %s: %w (install the wrk package, or run make bench-executor which does)", cfg.wrk, err)
	}
	if _, err := os.Stat(cfg.ghz); err != nil && slices.Contains(cfg.transports, "grpc") {
		return fmt.Errorf("-ghz %s: %w (make bench-executor builds it from hack/tools/ghz)", cfg.ghz, err)
	}
	if _, err := os.Stat(cfg.proto); err != nil && slices.Contains(cfg.transports, "grpc") {
		return fmt.Errorf("-proto %s: %w (run from the repository root)", cfg.proto, err)
	}
	tmp, err := os.MkdirTemp("", "bench-executor-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	script, err := writeWrkScript(tmp, cfg.payload)
	if err != nil {
		return err
	}

	ports, err := freePorts(6)
	if err != nil {
		return err
	}
	modelHTTP, modelGRPC := ports[0], ports[1]
	model, err := startModel(cfg.sdep, cfg.protocol, modelHTTP, modelGRPC)
	if err != nil {
		return err
	}
	defer stop(model)
	engine, err := enginePredictor(modelHTTP, modelGRPC)
	if err != nil {
		return err
	}
	// The paths of the protocol: the model's own and the executor's.
	modelPath, modelMethod := "/predict", "seldon.protos.Model/Predict"
	execPath, execMethod := "/api/v1.0/predictions", "seldon.protos.Seldon/Predict"
	if cfg.protocol == load.ProtocolV2 {
		modelPath, modelMethod = "/v2/models/classifier/infer", "inference.GRPCInferenceService/ModelInfer"
		execPath, execMethod = modelPath, modelMethod
	}
	targets := []*target{{
		label:      "model direct",
		restURL:    fmt.Sprintf("http://127.0.0.1:%d%s", modelHTTP, modelPath),
		grpcAddr:   fmt.Sprintf("127.0.0.1:%d", modelGRPC),
		grpcMethod: modelMethod,
	}}
	executors := []struct{ label, bin string }{{"sdep executor", cfg.sdep}}
	if cfg.baseline != "" {
		executors = append([]struct{ label, bin string }{{"baseline executor", cfg.baseline}}, executors...)
	}
	for i, e := range executors {
		httpPort, grpcPort := ports[2+2*i], ports[3+2*i]
		cmd, err := startExecutor(e.bin, cfg.protocol, engine, httpPort, grpcPort)
		if err != nil {
			return err
		}
		defer stop(cmd)
		targets = append(targets, &target{
			label:      e.label,
			restURL:    fmt.Sprintf("http://127.0.0.1:%d%s", httpPort, execPath),
			grpcAddr:   fmt.Sprintf("127.0.0.1:%d", grpcPort),
			grpcMethod: execMethod,
			pid:        cmd.Process.Pid,
		})
	}
	for _, p := range ports[:2+2*len(executors)] {
		if err := waitListening(p); err != nil {
			return err
		}
	}

	clients := []string{"cheap"}
	if cfg.goClient {
		clients = append(clients, "go")
	}
	loadBefore := loadavg()
	var rows []*row
	for _, client := range clients {
		for _, transport := range cfg.transports {
			for _, c := range cfg.concurrency {
				sc := scenario{client: client, transport: transport, c: c}
				rs, err := measureScenario(cfg, script, sc, targets, model.Process.Pid)
				if err != nil {
					return err
				}
				rows = append(rows, rs...)
			}
		}
	}
	loadAfter := loadavg()

	fmt.Print(report(cfg, rows, loadBefore, loadAfter))
	return nil
}

// measureScenario warms every target up, then measures them in cfg.rounds
// alternating rounds, starting each round with the next target so no path
// always runs first.
func measureScenario(cfg config, script string, sc scenario, targets []*target, modelPid int) ([]*row, error) {
	rows := make([]*row, len(targets))
	for i, t := range targets {
		rows[i] = &row{scenario: sc, target: t}
		if cfg.warmup > 0 {
			if _, err := loadOnce(cfg, script, sc, t, cfg.warmup); err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	for round := range cfg.rounds {
		for k := range targets {
			i := (round + k) % len(targets)
			t := targets[i]
			model0, err := cpuSeconds(modelPid)
			if err != nil {
				return nil, fmt.Errorf("model: %w", err)
			}
			var exec0, exec1 float64
			if t.pid != 0 {
				if exec0, err = cpuSeconds(t.pid); err != nil {
					return nil, fmt.Errorf("%s: %w", t.label, err)
				}
			}
			res, err := loadOnce(cfg, script, sc, t, cfg.duration)
			if err != nil {
				return nil, err
			}
			if t.pid != 0 {
				if exec1, err = cpuSeconds(t.pid); err != nil {
					return nil, fmt.Errorf("%s: %w", t.label, err)
				}
			}
			model1, err := cpuSeconds(modelPid)
			if err != nil {
				return nil, fmt.Errorf("model: %w", err)
			}
			rows[i].samples = append(rows[i].samples, sample{result: res, execCPU: exec1 - exec0, modelCPU: model1 - model0})
			fmt.Fprintf(os.Stderr, "%s %s c=%d round %d/%d %s: %.0f req/s p50 %s p99 %s\n",
				clientLabel(sc.client, sc.transport), sc.transport, sc.c, round+1, cfg.rounds, t.label,
				res.RPS, formatLatency(res.P50), formatLatency(res.P99))
		}
	}
	return rows, nil
}

func loadOnce(cfg config, script string, sc scenario, t *target, d time.Duration) (result, error) {
	switch {
	case sc.client == "go":
		payload := cfg.payload
		if sc.transport == "grpc" {
			payload = cfg.grpcPayload
		}
		return goClientRun(cfg.protocol, payload, sc.transport, t, sc.c, d)
	case sc.transport == "rest":
		return runWrk(cfg.wrk, script, t.restURL, sc.c, d)
	default:
		conns := cfg.grpcConns
		if conns == 0 || conns > sc.c {
			conns = sc.c
		}
		return runGhz(cfg.ghz, ghzArgs(cfg.proto, t.grpcMethod, cfg.grpcPayload, t.grpcAddr, sc.c, conns, d))
	}
}

// goClientRun drives one round with internal/load, in this process; its
// CPU is this process's CPU over the round.
func goClientRun(protocol, payload, transport string, t *target, c int, d time.Duration) (result, error) {
	self := os.Getpid()
	cpu0, err := cpuSeconds(self)
	if err != nil {
		return result{}, err
	}
	opts := load.Options{Target: t.restURL, Concurrency: c, Duration: d, Payload: []byte(payload), Protocol: protocol}
	if transport == "grpc" {
		opts.Target, opts.GRPC, opts.GRPCMethod = t.grpcAddr, true, "/"+t.grpcMethod
	}
	rep, err := load.Run(context.Background(), opts)
	if err != nil {
		return result{}, err
	}
	if rep.Succeeded != rep.Requests {
		return result{}, fmt.Errorf("%s: %d of %d requests failed: %s", opts.Target, rep.Requests-rep.Succeeded, rep.Requests, rep.FirstError)
	}
	cpu1, err := cpuSeconds(self)
	if err != nil {
		return result{}, err
	}
	return result{Requests: int64(rep.Requests), RPS: rep.Throughput, P50: rep.P50, P99: rep.P99, ClientCPU: cpu1 - cpu0}, nil
}

// enginePredictor is the base64 ENGINE_PREDICTOR of a one-model graph
// pointing at the mock classifier.
func enginePredictor(modelHTTP, modelGRPC int) (string, error) {
	pred := v1.PredictorSpec{Name: "bench", Graph: v1.PredictiveUnit{
		Name: "classifier", Type: v1.Model,
		Endpoint: &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: int32(modelHTTP), GRPCPort: int32(modelGRPC), Type: v1.EndpointREST},
	}}
	raw, err := json.Marshal(pred)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}
