package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/sdep-dev/sdep/internal/operator"
	"github.com/sdep-dev/sdep/internal/resources"
)

func init() {
	opts := operator.Options{Resources: resources.DefaultOptions()}
	var kubeconfig string
	var apiQPS float32
	var apiBurst int
	var development bool
	var gateway, grpcGateway string
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Run the SeldonDeployment operator against a Kubernetes cluster",
		Long: `Operator reconciles SeldonDeployments into Deployments, Services,
HorizontalPodAutoscalers, PodDisruptionBudgets and (when KEDA is installed)
ScaledObjects, with --gateway Gateway API HTTPRoutes and GRPCRoutes, with
ISTIO_ENABLED=true Istio VirtualServices and DestinationRules, and serves the
validating webhook. An autoscaled Deployment's
replicas belong to its autoscaler: the operator never writes them.

It uses --kubeconfig, else $KUBECONFIG, else the in-cluster config.

Its garbage collector runs at GOGC 25 unless $GOGC is set and, in a
container with a memory limit, with a soft memory limit of 3/4 of it
unless $GOMEMLIMIT is set.`,
		Example: "  sdep operator --kubeconfig ~/.kube/config --webhook=false\n" +
			"  sdep operator --watch-namespace models --leader-elect\n" +
			"  sdep operator --namespace sdep-system --webhook-cert-mode=self --webhook-cert-dir /certs",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseDevMode(development)))
			if err := routeOptions(cmd, &opts.Routes, gateway, grpcGateway); err != nil {
				return err
			}
			cfg, err := restConfig(kubeconfig)
			if err != nil {
				return err
			}
			cfg.QPS, cfg.Burst = apiQPS, apiBurst
			// Empty: $RELATED_IMAGE_EXECUTOR, the operator's own pod's image, then this build's.
			if !cmd.Flags().Changed("executor-image") {
				opts.Resources.ExecutorImage = ""
			}
			// nil: from the --executor-{request,limit}-* flags, the EXECUTOR_* env, the defaults.
			opts.Resources.ExecutorResources = nil
			return operator.Run(ctrl.SetupSignalHandler(), cfg, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then in-cluster)")
	// client-go's default (5/10) and controller-runtime's in-cluster one (20/30)
	// make 1,000 SeldonDeployments take minutes to converge; the API server's
	// priority and fairness still protects it at these rates.
	f.Float32Var(&apiQPS, "kube-api-qps", 100, "requests per second to the API server (client-side limit)")
	f.IntVar(&apiBurst, "kube-api-burst", 200, "burst of requests to the API server above --kube-api-qps")
	f.IntVar(&opts.Controller.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "SeldonDeployments reconciled in parallel")
	f.StringVar(&opts.Resources.ExecutorImage, "executor-image", opts.Resources.ExecutorImage,
		"image of the executor container injected into predictor pods (default: $RELATED_IMAGE_EXECUTOR, else the image of the operator's own pod ($POD_NAME, $POD_NAMESPACE), else this build's)")
	f.StringVar(&opts.ExecutorResources.RequestCPU, "executor-request-cpu", "", "cpu request of the executor container when svcOrchSpec sets no resources (default: $EXECUTOR_REQUEST_RESOURCES_CPU, else 500m)")
	f.StringVar(&opts.ExecutorResources.RequestMemory, "executor-request-memory", "", "memory request of the executor container when svcOrchSpec sets no resources (default: $EXECUTOR_REQUEST_RESOURCES_MEMORY, else 512Mi)")
	f.StringVar(&opts.ExecutorResources.LimitCPU, "executor-limit-cpu", "", "cpu limit of the executor container when svcOrchSpec sets no resources (default: $EXECUTOR_LIMIT_RESOURCES_CPU, else none)")
	f.StringVar(&opts.ExecutorResources.LimitMemory, "executor-limit-memory", "", "memory limit of the executor container when svcOrchSpec sets no resources (default: $EXECUTOR_LIMIT_RESOURCES_MEMORY, else 512Mi)")
	f.StringVar(&opts.Resources.LoggerDefaultEndpoint, "executor-request-logger-default-endpoint", loggerEndpointDefault(),
		"where executors send payload-log CloudEvents of graph nodes whose logger has no url (default: $EXECUTOR_REQUEST_LOGGER_DEFAULT_ENDPOINT, else "+resources.DefaultLoggerEndpoint+")")
	f.StringVar(&opts.Namespace, "namespace", "", "the operator's own namespace, where it reads the seldon-config ConfigMap (the prepackaged-server table) and --webhook-cert-mode=self keeps its Secret (default: $POD_NAMESPACE)")
	f.StringVar(&opts.WatchNamespace, "watch-namespace", "", "reconcile SeldonDeployments in this namespace only (default: all)")
	f.BoolVar(&opts.LeaderElection, "leader-elect", false, "elect a leader among operator replicas")
	f.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election Lease (default: the pod's)")
	f.StringVar(&opts.MetricsAddr, "metrics-bind-address", ":8080", `address of /metrics ("0" disables)`)
	f.StringVar(&opts.PprofAddr, "pprof-bind-address", "", `address of /debug/pprof/ for profiling (default: off)`)
	f.StringVar(&opts.HealthAddr, "health-probe-bind-address", ":8081", `address of /healthz and /readyz ("0" disables)`)
	f.BoolVar(&opts.Policy.RefusePrivileged, "refuse-privileged", false,
		"refuse SeldonDeployments whose pods get access to their node (privileged containers, hostPID, hostIPC, hostNetwork, hostPath volumes) instead of warning")
	f.BoolVar(&opts.Webhook, "webhook", true, "serve the validating webhook")
	f.IntVar(&opts.WebhookPort, "webhook-port", 9443, "port of the webhook server")
	f.StringVar(&opts.WebhookCertDir, "webhook-cert-dir", "", "folder with tls.crt and tls.key for the webhook; written by the operator in self mode (default: the system temp folder's k8s-webhook-server/serving-certs)")
	f.StringVar(&opts.WebhookCertMode, "webhook-cert-mode", operator.CertModeFiles,
		`"self": the operator issues and rotates its own serving certificate, keeps it in --webhook-secret-name, writes it to --webhook-cert-dir and fills the caBundle of --webhook-config-name; "files": tls.crt/tls.key are supplied in --webhook-cert-dir (e.g. by cert-manager)`)
	f.StringVar(&opts.WebhookSecretName, "webhook-secret-name", operator.DefaultWebhookSecretName, "Secret in the operator's namespace holding the self-issued CA and certificate")
	f.StringVar(&opts.WebhookServiceName, "webhook-service-name", operator.DefaultWebhookServiceName, "Service in front of the webhook; the self-issued certificate names <service>.<namespace>.svc")
	f.StringVar(&opts.WebhookConfigName, "webhook-config-name", operator.DefaultWebhookConfigName, "ValidatingWebhookConfiguration whose caBundle the self mode fills")
	f.BoolVar(&development, "dev-logs", false, "human-readable logs instead of JSON")
	f.BoolVar(&opts.KeepStartPages, "keep-start-pages", false,
		"keep the sdep binary's pages that starting touched resident; by default the operator gives them back once its caches have synced (Linux; about 40 MiB)")
	f.StringVar(&gateway, "gateway", "", "Gateway (<namespace>/<name>[/<listener>]) each SeldonDeployment gets an HTTPRoute and a GRPCRoute on; needs the Gateway API CRDs (default: $"+envGateway+", else no routes)")
	f.StringVar(&grpcGateway, "gateway-grpc", "", `Gateway (<namespace>/<name>[/<listener>]) of the GRPCRoutes when it must differ from --gateway (an HTTPRoute and a GRPCRoute cannot share a listener's hostnames); "none": no GRPCRoutes (default: $`+envGatewayGRPC+`, else --gateway)`)
	f.StringVar(&opts.Routes.ExternalURL, "gateway-url", "", "scheme and host clients outside the cluster reach the Gateway at, for status.externalAddress, e.g. https://models.example.com (default: $"+envGatewayURL+", else the seldon.io/istio-host annotation, else the Gateway's status address)")
	addCommand(cmd)
}

// Environment the operator reads for its routes, besides Istio's ISTIO_*.
const (
	envGateway     = "SDEP_GATEWAY"
	envGatewayGRPC = "SDEP_GATEWAY_GRPC"
	envGatewayURL  = "SDEP_GATEWAY_URL"
)

// routeOptions fills ro from the --gateway* flags (their environment when
// unset) and ISTIO_ENABLED, ISTIO_GATEWAY and ISTIO_TLS_MODE.
func routeOptions(cmd *cobra.Command, ro *resources.RouteOptions, gateway, grpcGateway string) error {
	fromEnv := func(flag, env, v string) string {
		if cmd.Flags().Changed(flag) {
			return v
		}
		return os.Getenv(env)
	}
	var err error
	if ro.Gateway, err = resources.ParseParentRef(fromEnv("gateway", envGateway, gateway)); err != nil {
		return fmt.Errorf("--gateway: %w", err)
	}
	switch g := fromEnv("gateway-grpc", envGatewayGRPC, grpcGateway); g {
	case "none":
		ro.NoGRPCRoute = true
	default:
		if ro.GRPCGateway, err = resources.ParseParentRef(g); err != nil {
			return fmt.Errorf("--gateway-grpc: %w", err)
		}
	}
	ro.ExternalURL = fromEnv("gateway-url", envGatewayURL, ro.ExternalURL)
	if ro.Istio, err = resources.IstioOptionsFromEnv(os.Getenv); err != nil {
		return err
	}
	if !ro.GatewayEnabled() && (ro.GRPCGateway.Name != "" || ro.NoGRPCRoute) {
		return errors.New("--gateway-grpc needs --gateway")
	}
	return ro.Validate()
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return ctrl.GetConfig()
}

// loggerEndpointDefault is $EXECUTOR_REQUEST_LOGGER_DEFAULT_ENDPOINT, as
// upstream's operator reads it, else upstream's default.
func loggerEndpointDefault() string {
	if v := os.Getenv("EXECUTOR_REQUEST_LOGGER_DEFAULT_ENDPOINT"); v != "" {
		return v
	}
	return resources.DefaultLoggerEndpoint
}
