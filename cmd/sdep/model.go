package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdep-dev/sdep/internal/models/mockclassifier"
)

func init() { addCommand(newModelCommand()) }

func newModelCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Run a built-in model server",
	}
	cmd.AddCommand(newMockClassifierCommand())
	cmd.AddCommand(newXGBoostCommand(), newSklearnCommand())
	return cmd
}

func newMockClassifierCommand() *cobra.Command {
	var (
		httpPort, grpcPort int
		host               string
		grace, drain       time.Duration
		protocol           string
	)
	cmd := &cobra.Command{
		Use:   "mock-classifier",
		Short: "Serve Seldon's mock classifier (REST and gRPC component API)",
		Long: `Serve Seldon's mock classifier: for each row, 1/(1+exp(-(mean(row) - 35/12 - intValue))).

--protocol v2 serves the same formula as the Open Inference Protocol (REST
/v2/... and inference.GRPCInferenceService), --protocol tensorflow as
TensorFlow Serving (REST /v1/models/... and tensorflow.serving.PredictionService).

Parameters come from PREDICTIVE_UNIT_PARAMETERS (intValue, delaySecs), ports from
PREDICTIVE_UNIT_HTTP_SERVICE_PORT and PREDICTIVE_UNIT_GRPC_SERVICE_PORT unless
the flags are given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := mockclassifier.ConfigFromEnv(os.Getenv)
			if err != nil {
				return err
			}
			if cfg.Protocol, err = mockclassifier.CheckProtocol(protocol); err != nil {
				return fmt.Errorf("--protocol: %w", err)
			}
			ports, err := mockclassifier.PortsFromEnv(os.Getenv)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("http-port") {
				ports.HTTP = httpPort
			}
			if cmd.Flags().Changed("grpc-port") {
				ports.GRPC = grpcPort
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			log := dataPlaneLogger(cmd).WithName("mock-classifier")
			return mockclassifier.New(cfg).Serve(ctx, host, ports, drain, grace, func(h, g net.Addr) {
				log.Info("serving", "protocol", cfg.Protocol, "rest", h.String(), "grpc", g.String(),
					"intValue", cfg.IntValue, "delay", cfg.Delay.String())
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&httpPort, "http-port", 9000, "REST port (default from PREDICTIVE_UNIT_HTTP_SERVICE_PORT, else 9000)")
	f.IntVar(&grpcPort, "grpc-port", 5000, "gRPC port (default from PREDICTIVE_UNIT_GRPC_SERVICE_PORT, else 5000)")
	f.StringVar(&protocol, "protocol", mockclassifier.ProtocolSeldon, "API to serve: seldon (the Python wrapper's), v2 (Open Inference Protocol) or tensorflow (TensorFlow Serving's)")
	f.StringVar(&host, "host", "", "address to listen on (default all)")
	f.DurationVar(&drain, "drain-period", 10*time.Second, "after SIGTERM, how long to keep serving: longer than the executor's drain (5s by default), which still calls it meanwhile; 0 to stop at once")
	f.DurationVar(&grace, "grace-period", 5*time.Second, "how long in-flight requests may finish after the drain period")
	return cmd
}
