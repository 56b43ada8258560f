package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdep-dev/sdep/internal/load"
)

func init() { addCommand(newLoadCommand()) }

func newLoadCommand() *cobra.Command {
	var (
		o               load.Options
		payload, file   string
		headers         []string
		asJSON, noProgr bool
	)
	cmd := &cobra.Command{
		Use:   "load TARGET",
		Short: "Send prediction load to a URL (or a gRPC host:port) and report throughput and latency",
		Long: `Send load to TARGET for --duration and report throughput, p50/p90/p99/max latency
and errors by status.

TARGET is a URL (POST of --payload, by default ` + load.DefaultPayload + `),
or host:port with --grpc (seldon.protos.Seldon/Predict with --payload as its JSON).
--protocol v2 sends Open Inference Protocol requests (REST: POST to a
/v2/models/{m}/infer URL; gRPC: inference.GRPCInferenceService/ModelInfer),
--protocol tensorflow TensorFlow Serving ones (/v1/models/{m}:predict;
tensorflow.serving.PredictionService/Predict).
--rate sends that many requests per second (open loop); without it,
--concurrency workers send back to back (closed loop).`,
		Example: `  sdep load http://localhost:8000/api/v1.0/predictions --concurrency 32 --duration 10s
  sdep load localhost:5001 --grpc --concurrency 1 --duration 10s --json
  sdep load http://localhost:8000/v2/models/classifier/infer --protocol v2 --duration 10s
  sdep load localhost:5001 --grpc --protocol v2 --duration 10s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Target = args[0]
			switch {
			case file != "" && payload != "":
				return errors.New("--payload and --payload-file are mutually exclusive")
			case file != "":
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				o.Payload = b
			case cmd.Flags().Changed("payload"):
				o.Payload = []byte(payload)
			default:
				// Run picks the protocol's default request.
			}
			o.Header = http.Header{}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok {
					return fmt.Errorf("--header %q: want Name: value", h)
				}
				o.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			if !noProgr {
				o.Progress = cmd.ErrOrStderr()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			r, err := load.Run(ctx, o)
			if err != nil {
				return err
			}
			if asJSON {
				return r.WriteJSON(cmd.OutOrStdout())
			}
			return r.WriteText(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&payload, "payload", load.DefaultPayload, "request body (the default depends on --protocol and --grpc)")
	f.StringVar(&o.Protocol, "protocol", load.ProtocolSeldon, "seldon, v2 (or kfserving) or tensorflow: the default --payload and, with --grpc, the request type and method")
	f.StringVar(&file, "payload-file", "", "read the request body from this file")
	f.StringVarP(&o.Method, "method", "X", http.MethodPost, "HTTP method")
	f.StringArrayVarP(&headers, "header", "H", nil, "extra HTTP header (Name: value), repeatable")
	f.IntVar(&o.Rate, "rate", 0, "requests per second (open loop); 0 = closed loop at --concurrency")
	f.IntVarP(&o.Concurrency, "concurrency", "c", 1, "workers (closed loop) or initial workers (open loop)")
	f.DurationVarP(&o.Duration, "duration", "d", 10*time.Second, "how long to send")
	f.DurationVar(&o.Timeout, "timeout", 30*time.Second, "per-request timeout")
	f.BoolVar(&o.GRPC, "grpc", false, "TARGET is a gRPC host:port")
	f.StringVar(&o.GRPCMethod, "grpc-method", "", "unary gRPC method to call (default "+load.DefaultGRPCMethod+", with --protocol v2 "+load.DefaultV2GRPCMethod+", with --protocol tensorflow "+load.DefaultTFGRPCMethod+"; a seldon model serves /seldon.protos.Model/Predict)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&noProgr, "no-progress", false, "do not print the progress line")
	return cmd
}
