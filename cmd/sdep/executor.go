package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/executor"
	"github.com/sdep-dev/sdep/internal/resources"
)

func init() { addCommand(newExecutorCommand()) }

func newExecutorCommand() *cobra.Command {
	var (
		sdep, namespace, predictor, file string
		httpPort, grpcPort               int
		metricsPath, protocol, transport string
		podInfo                          string
		maxBody, maxInFlightBody         int64
		maxInFlight                      int
		grace, readTimeout, callTimeout  time.Duration
		drain                            time.Duration
		pprofAddr, cpuProfile            string
		loggerEndpoint                   string
		loggerWorkers                    int
	)
	cmd := &cobra.Command{
		Use:   "executor",
		Short: "Serve one predictor's inference graph over the seldon, v2 or tensorflow protocol (REST and gRPC)",
		Long: `Serve one predictor's inference graph: REST on --http-port, gRPC on --grpc-port.

The predictor comes from ENGINE_PREDICTOR (base64 JSON, as the operator injects
it) or from --file (a SeldonDeployment, validated and defaulted) with --predictor.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file != "" && !cmd.Flags().Changed("protocol") {
				// The document says which protocol its components speak.
				p, err := executor.ProtocolFromFile(file, sdep)
				if err != nil {
					return err
				}
				protocol = p
			}
			if err := executor.ValidProtocol(protocol); err != nil {
				return fmt.Errorf("--protocol: %w", err)
			}
			if transport != string(v1.TransportRest) && transport != string(v1.TransportGrpc) {
				return fmt.Errorf("--transport %q: must be rest or grpc", transport)
			}
			var pred v1.PredictorSpec
			switch env := os.Getenv(resources.EnvEnginePredictor); {
			case file != "":
				p, name, err := executor.PredictorFromFile(file, sdep, predictor)
				if err != nil {
					return err
				}
				pred = p
				if sdep == "" {
					sdep = name
				}
			case env != "":
				p, err := executor.PredictorFromEnv(env)
				if err != nil {
					return err
				}
				pred = p
			default:
				return errors.New("no predictor: set ENGINE_PREDICTOR or pass --file (and --predictor)")
			}
			annotations, err := executor.ReadPodAnnotations(podInfo)
			if err != nil {
				return fmt.Errorf("--pod-annotations %s: %w", podInfo, err)
			}
			log := dataPlaneLogger(cmd).WithName("executor")
			if gcPercent, memLimit := executor.TuneGC(); gcPercent > 0 || memLimit > 0 {
				log.Info("garbage collector tuned (GOGC / GOMEMLIMIT override)", "gcPercent", gcPercent, "memoryLimitBytes", memLimit)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			opts := []executor.Option{
				executor.WithDeploymentName(sdep), executor.WithNamespace(namespace),
				executor.WithAnnotations(annotations), executor.WithRegistry(reg), executor.WithLogger(log),
				executor.WithProtocol(protocol),
			}
			if maxBody > 0 {
				opts = append(opts, executor.WithMaxBodyBytes(maxBody))
			}
			if maxInFlight > 0 {
				opts = append(opts, executor.WithMaxInFlight(maxInFlight))
			}
			if maxInFlightBody > 0 {
				opts = append(opts, executor.WithMaxInFlightBodyBytes(maxInFlightBody))
			}
			opts = append(opts, executor.WithReadTimeout(readTimeout), executor.WithComponentTimeout(callTimeout),
				executor.WithLoggerDefaultEndpoint(loggerEndpoint), executor.WithLoggerWorkers(loggerWorkers))
			if host, err := os.Hostname(); err == nil {
				// The CloudEvents source of logged payloads: this executor's URL.
				opts = append(opts, executor.WithLoggerSource("http://"+net.JoinHostPort(host, strconv.Itoa(httpPort))+"/"))
			}
			e, err := executor.New(pred, opts...)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			if pprofAddr != "" {
				addr, err := executor.ServeProfiling(ctx, pprofAddr)
				if err != nil {
					return err
				}
				log.Info("serving profiles", "pprof", "http://"+addr.String()+"/debug/pprof/")
			}
			if cpuProfile != "" {
				stopProfiles, err := executor.StartProfiles(cpuProfile)
				if err != nil {
					return err
				}
				defer func() {
					if err := stopProfiles(); err != nil {
						log.Error(err, "writing profiles")
					}
				}()
			}
			return e.Serve(ctx, executor.ServeOptions{
				HTTPAddr:    net.JoinHostPort("", strconv.Itoa(httpPort)),
				GRPCAddr:    net.JoinHostPort("", strconv.Itoa(grpcPort)),
				MetricsPath: metricsPath,
				DrainPeriod: drain,
				GracePeriod: grace,
				Log:         log,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&sdep, "sdep", "", "SeldonDeployment name (metric labels; selects the document with --file)")
	f.StringVar(&namespace, "namespace", "", "namespace of the SeldonDeployment")
	f.StringVar(&predictor, "predictor", "", "predictor to serve from --file")
	f.StringVar(&file, "file", "", "SeldonDeployment file (JSON or YAML) to read the predictor from instead of ENGINE_PREDICTOR")
	f.IntVar(&httpPort, "http-port", 8000, "REST port")
	f.IntVar(&grpcPort, "grpc-port", 5001, "gRPC port")
	f.StringVar(&metricsPath, "metrics-path", resources.MetricsPath, "path of the Prometheus metrics on the REST port")
	f.StringVar(&protocol, "protocol", "seldon", "prediction protocol: seldon, v2 (or kfserving: the Open Inference Protocol) or tensorflow (TensorFlow Serving's API); with --file, the document's spec.protocol unless given")
	f.StringVar(&transport, "transport", "rest", "rest or grpc; accepted for compatibility: the inbound transport picks the outbound one")
	f.StringVar(&podInfo, "pod-annotations", "/etc/podinfo/annotations", "downward API annotations file (overrides predictor annotations)")
	f.Int64Var(&maxBody, "max-body-bytes", 0, fmt.Sprintf("largest request or component response body (default %d, or annotation %s)", executor.DefaultMaxBodyBytes, executor.AnnotationMaxBody))
	f.IntVar(&maxInFlight, "max-inflight", 0, fmt.Sprintf("requests served at once, REST and gRPC together; more are answered 503 with Retry-After (default %d, or annotation %s)", executor.DefaultMaxInFlight, executor.AnnotationMaxInFlight))
	f.Int64Var(&maxInFlightBody, "max-inflight-body-bytes", 0, fmt.Sprintf("request body bytes all requests (REST and gRPC) may hold at once; beyond it 503 (default the larger of the body and gRPC message limits + 4 MiB, or annotation %s)", executor.AnnotationMaxInFlightBody))
	f.DurationVar(&readTimeout, "read-timeout", executor.DefaultReadTimeout, "how long a client may take to send a request body (headers: at most 10s); 0 for no limit")
	f.DurationVar(&callTimeout, "component-timeout", executor.DefaultComponentTimeout, fmt.Sprintf("per-call timeout for components unless annotations %s / %s set one; 0 for none", executor.AnnotationRESTTimeout, executor.AnnotationGRPCTimeout))
	f.DurationVar(&drain, "drain-period", 5*time.Second, "after SIGTERM, how long to keep serving while reporting not ready and closing keep-alive connections, so the Service stops routing here first; 0 to stop at once")
	f.DurationVar(&grace, "grace-period", 20*time.Second, "how long in-flight requests may finish after the drain period")
	f.StringVar(&loggerEndpoint, "request-logger-default-endpoint", os.Getenv(executor.EnvLoggerDefaultEndpoint),
		"where nodes whose graph.logger has no url send payload CloudEvents (default: $"+executor.EnvLoggerDefaultEndpoint+"; empty: they log nothing)")
	f.IntVar(&loggerWorkers, "logger-workers", executor.DefaultLoggerWorkers, "payload-log events sent at once")
	f.StringVar(&pprofAddr, "pprof-addr", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060); off when empty")
	f.StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run to this file, and its allocation profile to FILE.allocs, at exit; off when empty")
	// Upstream's flags the operator may pass; accepted and unused.
	f.String("server_type", "rpc", "accepted for compatibility (only rpc)")
	f.Int("log_work_buffer_size", 10000, "accepted for compatibility (payload logging is not implemented)")
	f.Int("log_write_timeout_ms", 2000, "accepted for compatibility (payload logging is not implemented)")
	f.Bool("full_health_checks", false, "accepted for compatibility (readiness checks TCP reachability)")
	for _, n := range []string{"server_type", "log_work_buffer_size", "log_write_timeout_ms", "full_health_checks"} {
		_ = f.MarkHidden(n)
	}
	// Upstream spells flags with underscores (--http_port); accept both.
	f.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		switch name {
		case "http_port":
			name = "http-port"
		case "grpc_port":
			name = "grpc-port"
		case "prometheus_path", "prometheus-path":
			name = "metrics-path"
		}
		return pflag.NormalizedName(name)
	})
	return cmd
}

// dataPlaneLogger logs structured lines to the command's stderr.
func dataPlaneLogger(cmd *cobra.Command) logr.Logger {
	return logr.FromSlogHandler(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
}
