package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdep-dev/sdep/internal/autoscale"
	"github.com/sdep-dev/sdep/internal/document"
	"github.com/sdep-dev/sdep/internal/local"
)

// serveFlags are sdep serve's flags.
type serveFlags struct {
	file                   string
	httpPort, grpcPort     int
	statusPort             int
	trafficSeed            uint64
	syncPeriod             time.Duration
	downscaleStabilization time.Duration
	scaleToZeroIdle        time.Duration
	runs, endpoints        []string
	reportDir              string
	table                  string
}

func init() {
	f := serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve -f FILE",
		Short: "Run a SeldonDeployment on this machine, autoscaled as Kubernetes would",
		Long: `Serve runs the SeldonDeployment in FILE on this machine: one executor per
predictor inside this process, each componentSpec's replicas as local
processes, and each hpaSpec as a HorizontalPodAutoscaler that samples its
replicas' CPU every --sync-period and scales them up and down.

The front ports (REST on --http-port, gRPC on --grpc-port) belong to the
SeldonDeployment, as its ingress route does on a cluster: each request goes to
one predictor, chosen at random by the predictors' traffic, and is mirrored to
the shadow predictor (fire and forget; mirrored answers are discarded). A
predictor without a Ready replica gets no share until it has one. Paths under
/seldon/<namespace>/<name>/ are accepted too. Each predictor also serves
direct calls on ports of its own: predictor i on --http-port+10+i (REST) and
--grpc-port+10+i (gRPC), skipping the front, gRPC and status ports (8010 and
5011 for the first with the defaults).

The document is validated and turned into Deployments and HPAs by the same code
the operator uses; a replica gets the env vars and ports its pod would get (its
own free ports on 127.0.0.1). Images built into sdep (seldonio/mock_classifier,
sdep's own image with "model ..." args) run as "sdep model ...". Any other
container needs --run NAME='command args' (started per replica) or
--endpoint NAME=HOST:PORT (a server already running; not autoscaled).

Edits to FILE are applied while serving, as kubectl apply would: new autoscaling
bounds at the next sync, a new pod template by replacing replicas one by one
(each new one ready before an old one drains). Graph changes need a restart.

GET /status on --status-port gives the state as JSON. On exit (Ctrl-C) the
decisions (CSV and JSON) and a plot of replicas and CPU over time (SVG) are
written to --report-dir.

Object metrics seldon_requests_in_flight and seldon_requests_per_second on a
component's Deployment (describedObject named as the componentSpec or its
Deployment) are read from the executor, as sdep's metrics API serves them on
a cluster. An hpaSpec with minReplicas 0 (and such a metric) starts the
component with no replica: the first request is held by the executor and
starts one at once, the HPA scales from 1 to N, and after
--scale-to-zero-idle with nothing in flight, no request per second and the
HPA at its minimum, the last replica is stopped.

Locally the executor is shared by all replicas: unlike in a pod, its CPU and
its request do not count in the replicas' utilisation.

Replica CPU is read from /proc, on Linux only: elsewhere (macOS) sdep serve
runs and serves the document, but the CPU metric is unavailable, so hpaSpecs
on CPU keep their replica count.`,
		Example: `  sdep serve -f examples/seed-hpaspecs.json
  curl -s -H 'Content-Type: application/json' -d '{"data":{"ndarray":[[1,2,3,4]]}}' \
    http://127.0.0.1:8000/api/v1.0/predictions
  sdep serve -f my.yaml --run classifier='python -m my_model' --sync-period 5s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// SIGHUP too: a closed terminal must stop the replicas, which
			// are in their own process groups and do not get it.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			// Where the kernel does not kill replicas with sdep (not
			// Linux), kill any left if serving ends in a panic.
			defer local.KillReplicas()
			return runServe(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), cmd.InOrStdin(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "filename", "f", "", "file with one SeldonDeployment (JSON or YAML; - for stdin)")
	fl.IntVar(&f.httpPort, "http-port", 8000, "front REST port, split across predictors by traffic (predictor i also serves on this+10+i); 0 picks free ports")
	fl.IntVar(&f.grpcPort, "grpc-port", 5001, "front gRPC port, split across predictors by traffic (predictor i also serves on this+10+i); 0 picks free ports")
	fl.Uint64Var(&f.trafficSeed, "traffic-seed", 0, "seed of the traffic split's random choice, to replay the same choices (0: random)")
	fl.IntVar(&f.statusPort, "status-port", 8001, "port of the JSON status (GET /status); -1 disables it")
	fl.DurationVar(&f.syncPeriod, "sync-period", 15*time.Second, "how often the autoscalers decide (kube-controller-manager's --horizontal-pod-autoscaler-sync-period)")
	fl.DurationVar(&f.downscaleStabilization, "downscale-stabilization", 5*time.Minute, "scale-down stabilization window of HPAs without behavior (--horizontal-pod-autoscaler-downscale-stabilization)")
	fl.DurationVar(&f.scaleToZeroIdle, "scale-to-zero-idle", local.DefaultScaleToZeroIdle, "for an hpaSpec with minReplicas 0: how long a component stays idle (nothing in flight, 0 req/s, the HPA at its minimum) before its last replica is stopped")
	fl.StringArrayVar(&f.runs, "run", nil, "CONTAINER='command args': start this command per replica for the container; repeatable")
	fl.StringArrayVar(&f.endpoints, "endpoint", nil, "CONTAINER=HOST:PORT: send the container's calls (REST, and gRPC on the same port) to a server already running; not autoscaled; repeatable")
	fl.StringVar(&f.reportDir, "report-dir", "sdep-report", "where to write decisions and the plot on exit (empty: nowhere)")
	fl.Var(&configFlag{}, "config", configFlagUsage)
	fl.StringVar(&f.table, "table", "auto", "print the component table when it changes: auto (on a terminal), always or never")
	_ = cmd.MarkFlagRequired("filename")
	addCommand(cmd)
}

// newRuntime reads, validates and plans FILE and prepares its runtime, as
// sdep serve and sdep demo share it. Problems with the document are printed
// as sdep validate prints them.
func newRuntime(ctx context.Context, stderr io.Writer, stdin io.Reader, f serveFlags, childOutput io.Writer) (*local.Runtime, local.Mappings, error) {
	docs, err := document.Load(stderr, stdin, f.file)
	if err != nil {
		return nil, local.Mappings{}, errSilent
	}
	d, err := document.One(f.file, docs, "sdep serve")
	if err != nil {
		return nil, local.Mappings{}, err
	}
	m, err := mappings(f.runs, f.endpoints)
	if err != nil {
		return nil, m, err
	}
	// Ctrl-C stops a model fetch of the first plan too.
	m.Context = ctx
	plan, err := local.NewPlan(d.Object, m)
	if err != nil {
		return nil, m, err
	}
	cfg := autoscale.DefaultConfig()
	cfg.DownscaleStabilizationWindow = f.downscaleStabilization
	rt, err := local.New(plan, local.Options{
		HTTPPort: f.httpPort, GRPCPort: f.grpcPort, StatusPort: f.statusPort, TrafficSeed: f.trafficSeed,
		SyncPeriod: f.syncPeriod, Autoscale: cfg, Log: stderr, ChildOutput: childOutput,
		ScaleToZeroIdle: f.scaleToZeroIdle,
	})
	return rt, m, err
}

func runServe(ctx context.Context, stdout, stderr io.Writer, stdin io.Reader, f serveFlags) error {
	if f.table != "auto" && f.table != "always" && f.table != "never" {
		return fmt.Errorf("--table %q: want auto, always or never", f.table)
	}
	if f.scaleToZeroIdle <= 0 {
		return fmt.Errorf("--scale-to-zero-idle %s: want a positive duration, e.g. 5m (the default) or 30s", f.scaleToZeroIdle)
	}
	// What is served, read first so that the watcher applies any later edit.
	var served []byte
	if f.file != "-" {
		served, _ = os.ReadFile(f.file)
	}
	rt, m, err := newRuntime(ctx, stderr, stdin, f, stderr)
	if err != nil {
		return err
	}
	showTable := f.table == "always" || (f.table == "auto" && isTerminal(stdout))
	tableDone := make(chan struct{})
	go func() {
		defer close(tableDone)
		if showTable {
			local.PrintTableOnChange(ctx, stdout, rt)
		}
	}()
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if f.file != "-" {
			rt.WatchFile(ctx, stderr, f.file, served, m)
		}
	}()
	runErr := rt.Run(ctx)
	<-tableDone
	<-watchDone
	if f.reportDir != "" {
		files, err := rt.WriteReport(f.reportDir)
		if err != nil {
			return errors.Join(runErr, err)
		}
		fmt.Fprintf(stderr, "report: %s\n", strings.Join(files, ", "))
	}
	return runErr
}

// mappings parses --run and --endpoint.
func mappings(runs, endpoints []string) (local.Mappings, error) {
	self, err := os.Executable()
	if err != nil {
		return local.Mappings{}, fmt.Errorf("finding the sdep executable for built-in models: %w", err)
	}
	m := local.Mappings{Self: self, Run: map[string]string{}, Endpoints: map[string]string{}}
	for _, flag := range []struct {
		name, form string
		values     []string
		into       map[string]string
	}{{"--run", "CONTAINER='command args'", runs, m.Run}, {"--endpoint", "CONTAINER=HOST:PORT", endpoints, m.Endpoints}} {
		for _, v := range flag.values {
			name, value, ok := strings.Cut(v, "=")
			if !ok || name == "" || value == "" {
				return m, fmt.Errorf("%s %q: want %s", flag.name, v, flag.form)
			}
			if _, dup := flag.into[name]; dup {
				return m, fmt.Errorf("%s %s: given twice", flag.name, name)
			}
			flag.into[name] = value
		}
	}
	return m, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
