// Package metricsapi serves sdep's custom metrics API
// (custom.metrics.k8s.io): the executors' request figures as Object metrics
// on each component's Deployment, for HorizontalPodAutoscalers that scale
// on requests. See docs/request-autoscaling.md.
package metricsapi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	cmapi "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
)

// Adapter is the aggregated API server: the library's delegated
// authentication and authorisation, serving flags and discovery, with
// Provider behind it.
type Adapter struct {
	base cmapi.AdapterBase
	// ExecutorAddress is Provider.ExecutorAddress.
	ExecutorAddress string
	// Custom, when set, answers instead of a Provider (tests that choose
	// the values).
	Custom provider.CustomMetricsProvider
	// Certs, when Certs.Secret is set, issues the serving certificate
	// (--cert-secret; see SelfCerts).
	Certs SelfCerts
	// ScaleToZero runs the Scaler beside the server (--scale-to-zero),
	// with ScaleToZeroIdle and ScaleToZeroPoll as its Idle and Poll.
	ScaleToZero                      bool
	ScaleToZeroIdle, ScaleToZeroPoll time.Duration
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
	fs.StringVar(&a.Certs.Secret, "cert-secret", "",
		"issue the serving certificate and keep it in this Secret of --namespace, and put its CA into the --apiservices' caBundle (empty: serve --tls-cert-file, or a self-signed certificate the aggregator cannot verify)")
	fs.StringVar(&a.Certs.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of --cert-secret and of the Service (default $POD_NAMESPACE)")
	fs.StringVar(&a.Certs.Service, "service-name", "sdep-metrics-api", "the Service in front of this server: the certificate is for <service>.<namespace>.svc")
	fs.StringVar(&a.Certs.ClusterDomain, "cluster-domain", "cluster.local", "also certify <service>.<namespace>.svc.<cluster-domain> (empty: not)")
	fs.StringSliceVar(&a.Certs.APIServices, "apiservices", []string{"v1beta2.custom.metrics.k8s.io", "v1beta1.custom.metrics.k8s.io"},
		"APIServices whose caBundle --cert-secret fills")
	fs.BoolVar(&a.ScaleToZero, "scale-to-zero", true,
		"move the Deployments of components with hpaSpec.minReplicas 0 from 0 to 1 replica when requests wait for them, and from 1 to 0 after --scale-to-zero-idle without requests (the HPA, minReplicas 1, does the rest)")
	fs.DurationVar(&a.ScaleToZeroIdle, "scale-to-zero-idle", DefaultScaleToZeroIdle,
		"how long a component at 1 replica must have had no request in flight and none per second before it goes to 0")
	fs.DurationVar(&a.ScaleToZeroPoll, "scale-to-zero-poll", DefaultScaleToZeroPoll,
		"how often the scaler polls the executors of components with minReplicas 0")
	return a
}

// Run serves until ctx ends.
func (a *Adapter) Run(ctx context.Context) error {
	if a.ScaleToZero {
		if err := CheckScalerFlags(a.ScaleToZeroIdle, a.ScaleToZeroPoll); err != nil {
			return err
		}
	}
	libCfg, err := a.base.ClientConfig()
	if err != nil {
		return err
	}
	// A copy of our own: the library sets fields of its config again each
	// time it is asked for it (QPS, burst), from its own goroutines once it
	// runs, while the scaler's clients read theirs.
	cfg := rest.CopyConfig(libCfg)
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), sdepv1.AddToScheme(scheme)); err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("API client: %w", err)
	}
	if a.Certs.Secret != "" {
		if a.Certs.Namespace == "" {
			return errors.New("--cert-secret needs the namespace it lives in: set --namespace or POD_NAMESPACE (the downward API's metadata.namespace)")
		}
		serving := &a.base.SecureServing.ServerCert
		dir := serving.CertDirectory
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "sdep-metrics-api")
		}
		certFile, keyFile, err := a.Certs.Ensure(ctx, c, dir, time.Now())
		if err != nil {
			return err
		}
		serving.CertKey.CertFile, serving.CertKey.KeyFile = certFile, keyFile
		// Renewals while running: the library watches the two files.
		go a.Certs.Keep(ctx, c, dir, certCheckPeriod, time.Now, func(err error) {
			if err != nil {
				klog.ErrorS(err, "checking the serving certificate (retried in a day)")
			}
		})
	}
	p := &Provider{Client: c, ExecutorAddress: a.ExecutorAddress}
	if a.Custom != nil {
		a.base.WithCustomMetrics(a.Custom)
	} else {
		a.base.WithCustomMetrics(p)
	}
	if a.ScaleToZero {
		stop, err := a.startScaler(ctx, cfg, scheme, c, p)
		if err != nil {
			return err
		}
		defer stop()
	}
	return a.base.Run(ctx)
}

// startScaler runs the Scaler until ctx ends: SeldonDeployments, and
// sdep's own Deployments, HPAs and pods (those with the
// seldon-deployment-id label), come from one informer cache (list and
// watch; see scalerCacheOptions), writes go through c, Events to
// events.k8s.io. stop waits for it to end.
func (a *Adapter) startScaler(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, c client.Client, p *Provider) (stop func(), err error) {
	objs, err := cache.New(cfg, scalerCacheOptions(scheme))
	if err != nil {
		return nil, fmt.Errorf("scaler cache: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("events client: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	broadcaster.StartRecordingToSink(ctx.Done())
	s := &Scaler{
		// The metrics API's Provider reads the API server; the scaler's
		// finds the executor pods in the cache.
		Provider:          &Provider{Client: objs, ExecutorAddress: p.ExecutorAddress, HTTP: p.HTTP, Now: p.Now},
		SeldonDeployments: objs, Reader: objs, Client: c,
		Events: broadcaster.NewRecorder(scheme, ScalerFieldManager),
		Idle:   a.ScaleToZeroIdle, Poll: a.ScaleToZeroPoll,
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := objs.Start(ctx); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "scale to zero: the informers stopped")
		}
	})
	wg.Go(func() {
		// The informers, started before the first poll (the cache
		// starts no other: ReaderFailOnMissingInformer).
		for _, kind := range scalerCached() {
			for {
				_, err := objs.GetInformer(ctx, kind.obj, cache.BlockUntilSynced(false))
				if err == nil {
					break
				}
				klog.ErrorS(err, "scale to zero: watching "+kind.plural+" (retried in 10s)")
				select {
				case <-ctx.Done():
					return
				case <-time.After(10 * time.Second):
				}
			}
		}
		if !objs.WaitForCacheSync(ctx) {
			return
		}
		_ = s.Run(ctx)
	})
	return func() { cancel(); wg.Wait(); broadcaster.Shutdown() }, nil
}

// cachedKind is a kind the scaler reads from its cache.
type cachedKind struct {
	obj    client.Object
	plural string // for the logs
}

// scalerCached are the kinds the scaler reads, all from its cache.
func scalerCached() []cachedKind {
	return []cachedKind{
		{&sdepv1.SeldonDeployment{}, "SeldonDeployments"},
		{&appsv1.Deployment{}, "Deployments"},
		{&autoscalingv2.HorizontalPodAutoscaler{}, "HorizontalPodAutoscalers"},
		{&corev1.Pod{}, "Pods"},
	}
}

// scalerCacheOptions keep the scaler's cache small: of the Deployments,
// HPAs and pods, only sdep's own (the seldon-deployment-id label, which
// every component Deployment and HPA and every executor pod carries), and
// no managedFields on any object.
func scalerCacheOptions(scheme *runtime.Scheme) cache.Options {
	owned := labels.NewSelector().Add(ownedRequirement())
	return cache.Options{
		Scheme:                      scheme,
		ReaderFailOnMissingInformer: true,
		DefaultTransform:            stripManagedFields,
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}:                     {Label: owned},
			&autoscalingv2.HorizontalPodAutoscaler{}: {Label: owned},
			&corev1.Pod{}:                            {Label: owned},
		},
	}
}

func ownedRequirement() labels.Requirement {
	req, err := labels.NewRequirement(naming.LabelSeldonID, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant key: cannot fail
	}
	return *req
}

// stripManagedFields drops an object's managedFields as it enters the
// cache: the scaler never reads them, and they can be most of an object.
func stripManagedFields(in any) (any, error) {
	if obj, err := meta.Accessor(in); err == nil && obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	return in, nil
}
