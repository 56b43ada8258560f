// Package metricsapi serves sdep's custom metrics API
// (custom.metrics.k8s.io): the executors' request figures as Object metrics
// on each component's Deployment, for HorizontalPodAutoscalers that scale
// on requests. See docs/request-autoscaling.md.
package metricsapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	cmapi "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// Adapter is the aggregated API server: the library's delegated
// authentication and authorisation, serving flags and discovery, with
// Provider behind it.
type Adapter struct {
	base cmapi.AdapterBase
	// ExecutorAddress is Provider.ExecutorAddress.
	ExecutorAddress string
}

// NewAdapter installs the server's flags (the API server library's
// --secure-port, --cert-dir, --tls-*, --authentication-kubeconfig,
// --authorization-kubeconfig, ..., --lister-kubeconfig for the reads, and
// --executor-address) on fs.
func NewAdapter(fs *pflag.FlagSet) *Adapter {
	a := &Adapter{}
	a.base.Name = "sdep-metrics-api"
	a.base.FlagSet = fs
	a.base.InstallFlags()
	fs.StringVar(&a.ExecutorAddress, "executor-address", "",
		"poll only this executor (host:port) for every predictor instead of its pods (for tests and executors outside the cluster)")
	return a
}

// Run serves until ctx ends.
func (a *Adapter) Run(ctx context.Context) error {
	cfg, err := a.base.ClientConfig()
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), sdepv1.AddToScheme(scheme)); err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("API client: %w", err)
	}
	a.base.WithCustomMetrics(&Provider{Client: c, ExecutorAddress: a.ExecutorAddress})
	return a.base.Run(ctx)
}
