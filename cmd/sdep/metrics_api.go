package main

import (
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/sdep-dev/sdep/internal/metricsapi"
)

func init() {
	cmd := &cobra.Command{
		Use:   "metrics-api",
		Short: "Serve the executors' request metrics as custom.metrics.k8s.io for the HPA",
		Long: `Metrics-api is an aggregated API server for custom.metrics.k8s.io (v1beta1 and
v1beta2). It serves seldon_requests_in_flight and seldon_requests_per_second
as Object metrics on each component's Deployment: the figures of the
component's graph nodes, polled from GET /load of the predictor's executor
pods and summed over them. An HPA scales on them with an Object metric whose
describedObject is the Deployment (docs/request-autoscaling.md).

With --scale-to-zero (the default) it also moves the Deployment of each
component whose hpaSpec has minReplicas 0 from 0 to 1 replica as soon as
its executors hold a request for it, and from 1 to 0 once its HPA wants 1
and it has had no request for --scale-to-zero-idle (default 5m); the HPA
does 1..N. It polls those components every --scale-to-zero-poll (500ms).

Authentication and authorisation are delegated to the API server
(system:auth-delegator and the extension-apiserver-authentication reader);
reads use --lister-kubeconfig, else the in-cluster config.`,
		Example: "  sdep metrics-api --secure-port 6443 --cert-dir /certs --cert-secret sdep-metrics-api-cert --namespace sdep-system\n" +
			"  sdep metrics-api --lister-kubeconfig k --authentication-kubeconfig k --authorization-kubeconfig k",
		Args: cobra.NoArgs,
	}
	a := metricsapi.NewAdapter(cmd.Flags())
	cmd.RunE = func(*cobra.Command, []string) error { return a.Run(ctrl.SetupSignalHandler()) }
	addCommand(cmd)
}
