package operator

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/servers"
)

// EnvDefaultEnvSecretRefName names the secret storage initializers take
// their environment from when a node names none (as upstream's operator).
const EnvDefaultEnvSecretRefName = "PREDICTIVE_UNIT_DEFAULT_ENV_SECRET_REF_NAME"

// The operator's Role in its own namespace (config/rbac/self_role.yaml,
// the chart's self-role) allows get, list and watch on this one ConfigMap.

// serverTable keeps the prepackaged-server table of the operator's
// namespace's seldon-config ConfigMap in a servers.Source that the
// builders and the validator read, and asks the reconciler to render every
// SeldonDeployment again when it changes. Its informer holds that one
// ConfigMap (a field selector on its name), nothing else.
type serverTable struct {
	src       *servers.Source
	namespace string
	clientset kubernetes.Interface
	reader    client.Reader // the manager's cached client, to list SeldonDeployments
	getenv    func(string) string
	resync    chan event.TypedGenericEvent[*sdepv1.SeldonDeployment]
	// wanted coalesces resync requests: one goroutine at most lists and
	// sends, however often the ConfigMap changes (on a replica that is not
	// the leader nothing reads resync, and that goroutine waits alone).
	wanted    chan struct{}
	resyncing sync.Once
	log       logr.Logger
	// applied is the ConfigMap data last applied (nil: none found).
	applied map[string]string
	seen    bool
}

// setupServerTable makes the table the builders and the validator use:
// opts.Resources.Servers and opts.Policy.Servers (one Source), filled from
// the ConfigMap now and kept up to date by a runnable added to mgr. It
// returns the channel the reconciler takes as its Resync. Without a
// namespace (an operator run outside a pod without --namespace) the
// compiled-in table with the RELATED_IMAGE_* environment is used, unwatched.
func setupServerTable(ctx context.Context, cfg *rest.Config, mgr manager.Manager, opts *Options) (<-chan event.TypedGenericEvent[*sdepv1.SeldonDeployment], error) {
	if opts.Resources.DefaultEnvSecretRefName == "" {
		opts.Resources.DefaultEnvSecretRefName = os.Getenv(EnvDefaultEnvSecretRefName)
	}
	src := opts.Resources.Servers
	if src == nil {
		src = opts.Policy.Servers
	}
	if src == nil {
		src = servers.NewSource(servers.Defaults().WithRelatedImages(os.Getenv))
	}
	opts.Resources.Servers, opts.Policy.Servers = src, src
	if opts.Namespace == "" {
		mgr.GetLogger().Info("no operator namespace: the prepackaged-server table is the compiled-in one (set --namespace or $POD_NAMESPACE to read " + servers.ConfigMapName + ")")
		return nil, nil
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	t := &serverTable{
		src: src, namespace: opts.Namespace, clientset: cs, reader: mgr.GetClient(), getenv: os.Getenv,
		resync: make(chan event.TypedGenericEvent[*sdepv1.SeldonDeployment], 64),
		wanted: make(chan struct{}, 1),
		log:    mgr.GetLogger().WithName("server-table"),
	}
	// Read once now, so the first reconciles already use the ConfigMap.
	cm, err := cs.CoreV1().ConfigMaps(t.namespace).Get(ctx, servers.ConfigMapName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		t.apply(ctx, nil, false)
	case apierrors.IsForbidden(err):
		// An installation whose Role predates the rule: run on the
		// compiled-in table rather than not at all.
		t.log.Error(err, "cannot read the "+servers.ConfigMapName+" ConfigMap: the compiled-in prepackaged-server table is used and not watched; grant get, list and watch on it in the operator's namespace")
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading the %s ConfigMap in %s: %w", servers.ConfigMapName, t.namespace, err)
	default:
		t.apply(ctx, cm.Data, false)
	}
	if err := mgr.Add(t); err != nil {
		return nil, err
	}
	return t.resync, nil
}

// NeedLeaderElection is false: every replica's webhook validates with the table.
func (t *serverTable) NeedLeaderElection() bool { return false }

// Start watches the ConfigMap until ctx is done.
func (t *serverTable) Start(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(t.clientset, 10*time.Hour,
		informers.WithNamespace(t.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", servers.ConfigMapName).String()
		}))
	inf := factory.Core().V1().ConfigMaps().Informer()
	data := func(obj any) map[string]string {
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			return cm.Data
		}
		return nil
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { t.apply(ctx, data(obj), true) },
		UpdateFunc: func(_, obj any) { t.apply(ctx, data(obj), true) },
		DeleteFunc: func(any) { t.apply(ctx, nil, true) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	return nil
}

// apply makes data (nil: no ConfigMap) the table. Data that does not
// parse keeps the table in use and is logged: upstream's operator panics
// on it. When the table changes and resync is set, every
// SeldonDeployment is reconciled again. The informer calls apply from one
// goroutine; the first call happens before the informer starts.
func (t *serverTable) apply(ctx context.Context, data map[string]string, resync bool) {
	if t.seen && reflect.DeepEqual(data, t.applied) {
		return
	}
	t.seen, t.applied = true, data
	c := servers.Defaults()
	if data != nil {
		parsed, err := servers.Parse(data)
		if err != nil {
			t.log.Error(err, "the "+servers.ConfigMapName+" ConfigMap is not usable: the prepackaged-server table in use is kept", "namespace", t.namespace)
			return
		}
		c = parsed
		for _, w := range c.Warnings() {
			t.log.Info(w)
		}
	}
	c = c.WithRelatedImages(t.getenv)
	if reflect.DeepEqual(c, t.src.Current()) {
		return
	}
	t.src.Set(c)
	t.log.Info("prepackaged-server table loaded", "configMap", data != nil, "servers", c.Names())
	if resync {
		t.requestResync(ctx)
	}
}

// requestResync asks for every SeldonDeployment to be rendered again; a
// request made while one is pending joins it.
func (t *serverTable) requestResync(ctx context.Context) {
	t.resyncing.Do(func() {
		go func() {
			for {
				select {
				case <-t.wanted:
					t.resyncAll(ctx)
				case <-ctx.Done():
					return
				}
			}
		}()
	})
	select {
	case t.wanted <- struct{}{}:
	default:
	}
}

// resyncAll asks the reconciler to render every SeldonDeployment again.
func (t *serverTable) resyncAll(ctx context.Context) {
	var list sdepv1.SeldonDeploymentList
	if err := t.reader.List(ctx, &list); err != nil {
		t.log.Error(err, "listing SeldonDeployments to render them with the new server table")
		return
	}
	for i := range list.Items {
		select {
		case t.resync <- event.TypedGenericEvent[*sdepv1.SeldonDeployment]{Object: &list.Items[i]}:
		case <-ctx.Done():
			return
		}
	}
}
