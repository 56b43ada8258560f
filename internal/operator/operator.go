// Package operator wires the SeldonDeployment reconciler and validating
// webhook into a controller-runtime manager: caches (optionally for one
// namespace), leader election, metrics, health probes and the webhook
// server. `sdep operator` and the control-plane tests both start it here.
package operator

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/controller"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/validation"
	sdepwebhook "github.com/sdep-dev/sdep/internal/webhook"
)

// LeaderElectionID names the Lease replicas of the operator compete for.
const LeaderElectionID = "sdep-operator.sdep.dev"

// EventsReportingController is the reportingController of the operator's
// events (their reportingInstance adds the host name).
const EventsReportingController = "sdep-operator"

// Options configure the operator. The zero value of each field means its default.
type Options struct {
	// Resources are the builders' settings (executor image, ports).
	Resources resources.Options
	// WatchNamespace limits the operator to one namespace; empty watches all.
	WatchNamespace string
	// LeaderElection makes replicas of the operator take turns.
	LeaderElection          bool
	LeaderElectionNamespace string
	// MetricsAddr serves Prometheus metrics ("0" disables); HealthAddr
	// serves /healthz and /readyz ("0" disables).
	MetricsAddr, HealthAddr string
	// PprofAddr serves net/http/pprof's /debug/pprof/ when set (empty or
	// "0": off), for profiling the operator (make bench-operator -heap-profile).
	PprofAddr string
	// Namespace is the operator's own namespace (where the self mode keeps
	// its certificate Secret); empty takes $POD_NAMESPACE.
	Namespace string
	// Webhook serves the validating webhook when true, on WebhookHost:WebhookPort
	// with the certificate tls.crt/tls.key in WebhookCertDir.
	Webhook        bool
	WebhookHost    string
	WebhookPort    int
	WebhookCertDir string
	// WebhookCertMode is CertModeFiles (the default: someone else writes
	// the files) or CertModeSelf (the operator issues, rotates and writes
	// them and fills the caBundle of WebhookConfigName). The self mode
	// names its Secret WebhookSecretName, certifies
	// WebhookServiceName.<Namespace>.svc (plus WebhookExtraDNSNames) and
	// defaults the names to DefaultWebhook*Name.
	WebhookCertMode      string
	WebhookSecretName    string
	WebhookServiceName   string
	WebhookConfigName    string
	WebhookExtraDNSNames []string
	// ExecutorResources are the executor container's default resources,
	// used when Resources.ExecutorResources is nil (empty fields: the
	// EXECUTOR_*_RESOURCES_* environment, else the built-in defaults).
	ExecutorResources ExecutorResourceSettings
	// Policy is what the reconciler and the webhook refuse beyond the
	// validator's rules (--refuse-privileged).
	Policy validation.Policy
	// Routes name the Gateway of the Gateway API routes (--gateway) and
	// the Istio settings (ISTIO_*); the zero value builds no routes.
	Routes resources.RouteOptions
	// Controller are the controller's options (for example
	// SkipNameValidation when a test starts a second manager in one process).
	Controller crcontroller.Options
	// KeepStartPages leaves the binary's pages resident once the caches
	// have synced; by default the operator gives them back (startpages).
	KeepStartPages bool
}

// Scheme holds every type the operator reads or writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(sdepv1.AddToScheme(s))
	utilruntime.Must(gatewayv1.Install(s))
	return s
}

// NewManager builds a manager with the reconciler and (if asked) the webhook registered.
// An empty Resources.ExecutorImage is resolved by ResolveExecutorImage
// (which may read the operator's own pod), a nil Resources.ExecutorResources
// from ExecutorResources and the environment.
func NewManager(cfg *rest.Config, opts Options) (manager.Manager, error) {
	if opts.Namespace == "" {
		opts.Namespace = os.Getenv(EnvPodNamespace)
	}
	if err := validateCertOptions(&opts); err != nil {
		return nil, err
	}
	if opts.LeaderElection && opts.LeaderElectionNamespace == "" {
		// In a pod controller-runtime reads the service account's
		// namespace; elsewhere the operator's own namespace is the place.
		opts.LeaderElectionNamespace = opts.Namespace
		if opts.LeaderElectionNamespace == "" && !inCluster() {
			return nil, fmt.Errorf("--leader-elect outside a pod needs a namespace for its Lease: set --leader-election-namespace (or --namespace, or $%s)", EnvPodNamespace)
		}
	}
	if opts.Resources.ExecutorResources == nil {
		req, err := opts.ExecutorResources.Requirements(nil)
		if err != nil {
			return nil, err
		}
		opts.Resources.ExecutorResources = &req
	}
	mgrOpts := ctrl.Options{
		Scheme:                  Scheme(),
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		// Step down at once on shutdown so a new replica takes over quickly.
		LeaderElectionReleaseOnCancel: true,
		Metrics:                       metricsserver.Options{BindAddress: orDefault(opts.MetricsAddr, ":8080")},
		HealthProbeBindAddress:        orDefault(opts.HealthAddr, ":8081"),
		PprofBindAddress:              opts.PprofAddr,
	}
	// The cache needs to know before it is made whether ScaledObjects are
	// served; the manager reuses this mapper.
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the HTTP client: %w", err)
	}
	dynamicMapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating the REST mapper: %w", err)
	}
	mapper := newMemoMapper(dynamicMapper)
	kedaServed, err := served(mapper, controller.ScaledObjectGVK)
	if err != nil {
		return nil, err
	}
	if err := checkRoutesServed(mapper, opts.Routes); err != nil {
		return nil, err
	}
	mgrOpts.MapperProvider = func(*rest.Config, *http.Client) (meta.RESTMapper, error) { return mapper, nil }
	mgrOpts.Cache = cacheOptions(opts.WatchNamespace, kedaServed)
	addRouteCache(&mgrOpts.Cache, opts.Routes)
	var certsWritten *atomic.Bool
	if opts.Webhook {
		srv := webhook.NewServer(webhook.Options{
			Host: opts.WebhookHost, Port: opts.WebhookPort, CertDir: opts.WebhookCertDir,
		})
		if opts.WebhookCertMode == CertModeSelf {
			certsWritten = new(atomic.Bool)
			srv = &waitingServer{Server: srv, ready: certsWritten.Load}
		}
		mgrOpts.WebhookServer = srv
	}
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	log := mgr.GetLogger()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if opts.Resources.ExecutorImage == "" {
		img, from, err := ResolveExecutorImage(ctx, mgr.GetAPIReader(), "", nil)
		if err != nil {
			return nil, err
		}
		log.Info("executor image", "image", img, "from", from)
		opts.Resources.ExecutorImage = img
	}
	var certs *selfCerts
	if certsWritten != nil {
		if certs, err = addSelfCerts(ctx, mgr, opts, certsWritten); err != nil {
			return nil, err
		}
	}

	resync, err := setupServerTable(ctx, cfg, mgr, &opts)
	if err != nil {
		return nil, err
	}
	if !kedaServed {
		log.Info("the KEDA ScaledObject CRD is not installed: kedaSpecs will be reported in KedaReady and not acted on")
	}
	// The operator's own recorder, not the manager's: the same events for
	// much less memory (events.go).
	eventsClient, err := eventsv1client.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating the events client: %w", err)
	}
	recorder := newEventRecorder(eventsClient, mgr.GetScheme(), EventsReportingController, log.WithName("events"))
	if err := mgr.Add(recorder); err != nil {
		return nil, err
	}
	r := &controller.Reconciler{
		Client:              mgr.GetClient(),
		APIReader:           mgr.GetAPIReader(),
		Recorder:            recorder,
		Options:             opts.Resources,
		Policy:              opts.Policy,
		ScaledObjectsServed: kedaServed,
		Resync:              resync,
		Routes:              opts.Routes,
	}
	if err := r.SetupWithManager(mgr, opts.Controller); err != nil {
		return nil, fmt.Errorf("setting up the controller: %w", err)
	}
	if opts.Webhook {
		v := &sdepwebhook.Validator{Policy: opts.Policy}
		if err := v.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("setting up the webhook: %w", err)
		}
	}
	if !opts.KeepStartPages {
		if err := mgr.Add(&startPagesRelease{cache: mgr.GetCache(), log: log.WithName("memory")}); err != nil {
			return nil, err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	ready := healthz.Ping
	if opts.Webhook {
		ready = func(req *http.Request) error {
			if certs != nil {
				if err := certs.ready(); err != nil {
					return err
				}
			}
			return mgr.GetWebhookServer().StartedChecker()(req)
		}
	}
	if err := mgr.AddReadyzCheck("readyz", ready); err != nil {
		return nil, err
	}
	return mgr, nil
}

// Run starts the operator and blocks until ctx is done.
// Unless $GOGC says otherwise, it runs the garbage collector at
// DefaultGCPercent; unless $GOMEMLIMIT does, with a soft memory limit of
// MemoryLimitShare of its container's memory limit (see tuneGC).
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	gcPercent, memLimit := tuneGC(os.LookupEnv, cgroupMemoryFiles)
	mgr, err := NewManager(cfg, opts)
	if err != nil {
		return err
	}
	mgr.GetLogger().Info("garbage collector", "gcPercent", gcPercent, "softMemoryLimitBytes", memLimit)
	return mgr.Start(ctx)
}

// DefaultGCPercent is the operator's GOGC: the heap may grow this many
// percent over what the last collection kept before the next one runs.
//
// A last resort, after the cache was cut to what the reconciler reads: Go's
// default (100) lets the heap reach twice the live data, and the live data
// is mostly the cache, which grows with the SeldonDeployments. At 1,000 of
// them (make bench-operator, one quiet hour): 50 gave a converging peak of
// 134.6 MiB in 24.9 s, 25 gave 123.4 MiB in 23.6 s. The collector then
// runs about four times as often as at 100; the operator is idle once
// converged, so that CPU is spent while it converges, where it did not slow
// convergence. A percentage, unlike a fixed GOMEMLIMIT, scales with the
// installation: there is no limit to outgrow.
const DefaultGCPercent = 25

// served reports whether the API server serves gvk.
func served(mapper meta.RESTMapper, gvk schema.GroupVersionKind) (bool, error) {
	_, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		return false, nil
	}
	return err == nil, err
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// inCluster reports whether the operator runs in a pod with a service
// account, where controller-runtime finds the Lease's namespace itself.
func inCluster() bool {
	_, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	return err == nil
}
