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
	"github.com/sdep-dev/sdep/internal/models/sklearn"
	"github.com/sdep-dev/sdep/internal/models/xgboost"
)

// modelDirFromEnv is the model directory of a prepackaged server: the
// model_uri parameter the operator appends to PREDICTIVE_UNIT_PARAMETERS,
// else /mnt/models.
func modelDirFromEnv() (string, string, error) {
	method, uri, err := sklearn.MethodFromParameters(os.Getenv("PREDICTIVE_UNIT_PARAMETERS"))
	if uri == "" {
		uri = "/mnt/models"
	}
	return uri, method, err
}

func newXGBoostCommand() *cobra.Command {
	var (
		modelDir, host string
		httpPort       int
		grpcPort       int
		grace          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "xgboost",
		Short: "Serve an XGBoost model (XGBOOST_SERVER) natively from model.json or model.ubj",
		Long: `Serve an XGBoost model saved with booster.save_model("model.json") (or
"model.ubj") over the Seldon protocol's REST routes, evaluated by sdep itself
(no Python). Answers are Booster.predict's: one probability per row for
binary:logistic, one per class (t:0..t:k-1) for multi:softprob.

The legacy binary model.bst is not read: load it with XGBoost and save it as
model.json. The model directory defaults to the model_uri parameter of
PREDICTIVE_UNIT_PARAMETERS, else /mnt/models; the port to
PREDICTIVE_UNIT_HTTP_SERVICE_PORT (else 9000) and
PREDICTIVE_UNIT_GRPC_SERVICE_PORT (else 5000; 0 for none) for the Seldon
Model service over gRPC.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, _, err := modelDirFromEnv()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("model-dir") {
				dir = modelDir
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
			m, err := xgboost.LoadDir(dir)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			log := dataPlaneLogger(cmd).WithName("xgboost")
			return xgboost.NewServer(m).Serve(ctx, host, ports.HTTP, ports.GRPC, grace, func(a net.Addr) {
				log.Info("serving", "rest", a.String(), "model", dir, "objective", m.Objective, "features", m.NumFeature)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model-dir", "/mnt/models", "directory holding model.json or model.ubj (default from PREDICTIVE_UNIT_PARAMETERS model_uri)")
	f.IntVar(&httpPort, "http-port", 9000, "REST port (default from PREDICTIVE_UNIT_HTTP_SERVICE_PORT, else 9000)")
	f.IntVar(&grpcPort, "grpc-port", 5000, "gRPC port (default from PREDICTIVE_UNIT_GRPC_SERVICE_PORT, else 5000; 0 for none)")
	f.StringVar(&host, "host", "", "address to listen on (default all)")
	f.DurationVar(&grace, "grace-period", 5*time.Second, "how long in-flight requests may finish after SIGTERM")
	return cmd
}

func newSklearnCommand() *cobra.Command {
	var (
		modelDir, host, python, method string
		httpPort                       int
	)
	cmd := &cobra.Command{
		Use:   "sklearn",
		Short: "Serve a scikit-learn model.joblib (SKLEARN_SERVER) with your Python",
		Long: `Serve a scikit-learn model saved with joblib.dump(model, "model.joblib")
over the Seldon protocol's REST routes, through a small runner sdep writes and
starts with your Python (the first python3 on PATH that imports scikit-learn,
or --python), which must have
scikit-learn (Debian: python3-sklearn). The answer is predict_proba's, or
the method parameter's: decision_function, or predict for any other value.

The model directory defaults to the model_uri parameter of
PREDICTIVE_UNIT_PARAMETERS, else /mnt/models; the method to its method
parameter; the port to PREDICTIVE_UNIT_HTTP_SERVICE_PORT, else 9000.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, m, err := modelDirFromEnv()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("model-dir") {
				dir = modelDir
			}
			if cmd.Flags().Changed("method") || m == "" {
				m = method
			}
			ports, err := mockclassifier.PortsFromEnv(os.Getenv)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("http-port") {
				ports.HTTP = httpPort
			}
			c, err := sklearn.Command(sklearn.Config{Python: python, ModelDir: dir, Method: m, Host: host, Port: ports.HTTP}, "")
			if err != nil {
				return err
			}
			// Become the Python process: its pid is the replica's, so
			// signals and CPU accounting reach the model itself.
			if err := syscall.Exec(c.Path, c.Args, c.Env); err != nil {
				return fmt.Errorf("starting %s: %w", c.Path, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model-dir", "/mnt/models", "directory holding model.joblib (default from PREDICTIVE_UNIT_PARAMETERS model_uri)")
	f.StringVar(&python, "python", "", "Python interpreter with scikit-learn (default: the first python3 on PATH that imports it)")
	f.StringVar(&method, "method", "predict_proba", "predict_proba, decision_function or predict")
	f.IntVar(&httpPort, "http-port", 9000, "REST port (default from PREDICTIVE_UNIT_HTTP_SERVICE_PORT, else 9000)")
	f.StringVar(&host, "host", "", "address to listen on (default all)")
	return cmd
}
