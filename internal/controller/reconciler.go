// Package controller holds the SeldonDeployment reconciler. It reads a
// SeldonDeployment, asks internal/validation whether it is usable and
// internal/resources what it should produce, and then makes the cluster
// match: one sub-reconciler per owned kind (Deployments, Services,
// HorizontalPodAutoscalers, PodDisruptionBudgets, KEDA ScaledObjects), then
// status. It builds no object itself.
//
// Three promises shape it. It never fights an autoscaler: an autoscaled
// Deployment is created without spec.replicas and no write carries it
// afterwards (replicasToWrite is the one place that decides replicas). A
// child changed or deleted by someone else is put back: every field the
// operator sets, zero values included, is compared with the value the API
// server stores for it (see storedForms). And a converged SeldonDeployment
// costs no request that writes, dry-runs included: that comparison is local,
// and status and events are written only when they change.
//
// It also never deletes a Deployment to change it: the live selector is
// kept, whoever chose it, and children Seldon Core 1.x made for the same
// SeldonDeployment are adopted in place (adopt.go, docs/takeover.md).
package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/source"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/validation"
)

// conflictRetry is how soon a reconcile that lost a write race runs again.
const conflictRetry = 100 * time.Millisecond

// Name is the controller's name in logs, metrics and events.
const Name = "seldondeployment"

// Reconciler reconciles SeldonDeployments.
type Reconciler struct {
	Client client.Client
	// APIReader reads from the API server, past Client's cache. The
	// operator's cache holds only children carrying sdep's label; when a
	// create finds the name taken, the object is read here (nil: the name
	// is known taken only by what Client reads).
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Options are passed to the builders.
	Options resources.Options
	// Policy is what this installation refuses beyond the validator's
	// rules; a document it refuses gets the InvalidSpec failure.
	Policy validation.Policy
	// ScaledObjectsServed is true when the KEDA ScaledObject CRD is
	// installed; without it a kedaSpec yields a KedaReady=False condition.
	ScaledObjectsServed bool
	// Resync, when set, carries SeldonDeployments to reconcile again
	// although nothing of theirs changed: the operator sends every one
	// when the prepackaged-server table (seldon-config) changes.
	Resync <-chan event.TypedGenericEvent[*sdepv1.SeldonDeployment]
	// Routes configure the Gateway API and Istio objects in front of the
	// predictors (routes.go); the zero value builds none.
	Routes resources.RouteOptions

	// stored is how the API server stores what the reconciler writes.
	stored storedForms
	// indexed is true once SetupWithManager indexed the typed children by
	// their seldon-deployment-id label (see indexSeldonID).
	indexed bool
}

// indexSeldonID indexes cached children by their seldon-deployment-id label,
// so listing one SeldonDeployment's children costs its children, not a scan
// of every child in the namespace (and a slice of them) per kind per reconcile.
const indexSeldonID = "sdep.dev/seldon-deployment-id"

func seldonIDOf(obj client.Object) []string {
	if v, ok := obj.GetLabels()[naming.LabelSeldonID]; ok {
		return []string{v}
	}
	return nil
}

// +kubebuilder:rbac:groups=machinelearning.seldon.io,resources=seldondeployments,verbs=get;list;watch
// +kubebuilder:rbac:groups=machinelearning.seldon.io,resources=seldondeployments/status,verbs=get;update;patch
// Children carry an owner reference with blockOwnerDeletion: true; with the
// OwnerReferencesPermissionEnforcement admission plugin that needs update on
// the owner's finalizers subresource.
// +kubebuilder:rbac:groups=machinelearning.seldon.io,resources=seldondeployments/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=keda.sh,resources=scaledobjects,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller: it watches SeldonDeployments
// and every kind they own, HPAs included, so a child changed or deleted by
// someone else is put back.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	// Not ScaledObjects: the manager's client reads unstructured objects
	// from the API server, not from the cache.
	for _, k := range append([]ownedKind{deploymentKind, serviceKind, hpaKind, pdbKind}, r.routeKinds()...) {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), k.newObject(), indexSeldonID, seldonIDOf); err != nil {
			return fmt.Errorf("indexing %ss: %w", k.kind, err)
		}
	}
	r.indexed = true
	b := ctrl.NewControllerManagedBy(mgr).
		For(&sdepv1.SeldonDeployment{}).
		Named(Name).
		WithOptions(opts).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Owns(&policyv1.PodDisruptionBudget{})
	if r.ScaledObjectsServed {
		b = b.Owns(scaledObjectKind.newObject())
	}
	if r.Resync != nil {
		b = b.WatchesRawSource(source.Channel(r.Resync, &handler.TypedEnqueueRequestForObject[*sdepv1.SeldonDeployment]{}))
	}
	return r.ownRoutes(b).Complete(r)
}

// Reconcile makes one SeldonDeployment's children and status match its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sd := &sdepv1.SeldonDeployment{}
	if err := r.Client.Get(ctx, req.NamespacedName, sd); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !sd.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // children go with it through their owner references
	}
	before := sd.Status.DeepCopy()
	status := sd.Status.DeepCopy()

	res := validation.ValidateWith(sd, r.Policy)
	setWarnings(status, sd.Generation, res.Warnings)
	if len(res.Errors) > 0 {
		fail(status, sd.Generation, "InvalidSpec", "invalid SeldonDeployment:\n"+res.Errors.Error())
		return ctrl.Result{}, r.writeStatus(ctx, sd, before, status)
	}
	want, err := buildDesired(sd, r.Options)
	if err != nil {
		fail(status, sd.Generation, "BuildFailed", err.Error())
		return ctrl.Result{}, r.writeStatus(ctx, sd, before, status)
	}

	live := r.reconcileChildren(ctx, sd, want)
	err = live.err()
	retryRoutes, routeErr := live.routeErr()
	if apierrors.IsConflict(err) || apierrors.IsConflict(routeErr) {
		// Someone (often the HPA) wrote a child since we read it: retry with fresh data.
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	r.observe(sd, want, live, status)
	r.observeRoutes(ctx, sd, live, status)
	if err != nil {
		fail(status, sd.Generation, "ReconcileFailed", err.Error())
		if serr := r.writeStatus(ctx, sd, before, status); serr != nil {
			return ctrl.Result{}, errors.Join(err, serr)
		}
		return ctrl.Result{}, err
	}
	if serr := r.writeStatus(ctx, sd, before, status); serr != nil {
		return ctrl.Result{}, serr
	}
	if retryRoutes {
		return ctrl.Result{}, routeErr
	}
	return ctrl.Result{}, nil
}

// liveChildren are the live objects after the sub-reconcilers ran, by kind
// and name, and each sub-reconciler's failures.
type liveChildren struct {
	deployments, services, hpas, pdbs, scaledObjects childResult
	// The route kinds' (routes.go), and the routes as built.
	httpRoutes, grpcRoutes, virtualServices, destinationRules childResult
	routes                                                    *resources.Routes
	// errs are the failures by kind; a kind without failures has no entry.
	errs map[string]error
}

// err joins every kind's failures.
func (l *liveChildren) err() error {
	var errs []error
	for _, k := range []string{serviceKind.kind, hpaKind.kind, scaledObjectKind.kind, pdbKind.kind, deploymentKind.kind} {
		if err := l.errs[k]; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// routeErr joins the route kinds' errors. They are reported in
// RoutesReady only: the predictors serve in the cluster whatever happens to
// their routes, so a route never makes the SeldonDeployment Failed. A write
// that failed is retried (the error is returned); a route that cannot be
// built (a bad annotation) waits for the next change of the document.
func (l *liveChildren) routeErr() (retry bool, err error) {
	var errs []error
	for _, k := range routeKindsInErrOrder {
		if e := l.errs[k]; e != nil {
			errs = append(errs, e)
			var ce *childError
			if !errors.As(e, &ce) || ce.op != "Build" {
				retry = true
			}
		}
	}
	return retry, errors.Join(errs...)
}

// reconcileChildren runs one sub-reconciler per kind. Each runs even when
// another failed, so every kind's condition says how that kind fares.
func (r *Reconciler) reconcileChildren(ctx context.Context, sd *sdepv1.SeldonDeployment, want *desiredState) *liveChildren {
	objs := want.objs
	live := &liveChildren{errs: map[string]error{}}
	run := func(k ownedKind, desired []client.Object, prepare func(want, live client.Object)) childResult {
		got, err := r.reconcileKind(ctx, sd, k, desired, prepare)
		if err != nil {
			live.errs[k.kind] = err
		}
		return got
	}
	// Services first so the executor's peers resolve as soon as pods start;
	// autoscalers before Deployments so a new Deployment is scaled at once.
	live.services = run(serviceKind, asObjects(objs.Services), nil)
	live.hpas = run(hpaKind, asObjects(objs.HPAs), nil)
	if r.ScaledObjectsServed {
		live.scaledObjects = run(scaledObjectKind, asObjects(objs.ScaledObjects), nil)
	}
	live.pdbs = run(pdbKind, asObjects(objs.PDBs), nil)
	live.deployments = run(deploymentKind, asObjects(objs.Deployments), func(w, l client.Object) {
		d, _ := l.(*appsv1.Deployment)
		want.prepareDeployment(w.(*appsv1.Deployment), d)
	})
	r.reconcileRoutes(want, live, run)
	return live
}

func asObjects[T client.Object](in []T) []client.Object {
	out := make([]client.Object, len(in))
	for i, o := range in {
		out[i] = o
	}
	return out
}

// writeStatus writes status only when it changed, and records an event
// for each change worth telling a user about.
func (r *Reconciler) writeStatus(ctx context.Context, sd *sdepv1.SeldonDeployment, before, after *sdepv1.SeldonDeploymentStatus) error {
	after.ObservedGeneration = sd.Generation
	if statusEqual(before, after) {
		return nil
	}
	if debug := r.log(ctx).V(1); debug.Enabled() {
		debug.Info("status changed", "diff", cmp.Diff(normalize(before), normalize(after)))
	}
	patched := sd.DeepCopy()
	patched.Status = *after
	if err := r.Client.Status().Patch(ctx, patched, client.MergeFromWithOptions(sd, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return nil // a newer generation or status is coming; its reconcile writes
		}
		return fmt.Errorf("writing status: %w", err)
	}
	// Only after the write: a reconcile that read a stale SeldonDeployment
	// from the cache loses the optimistic lock above and must not announce
	// a change that was already announced.
	r.statusEvents(sd, before, after)
	return nil
}

func (r *Reconciler) statusEvents(sd *sdepv1.SeldonDeployment, before, after *sdepv1.SeldonDeploymentStatus) {
	if after.State == sdepv1.StateFailed && (before.State != after.State || before.Description != after.Description) {
		r.event(sd, nil, corev1.EventTypeWarning, "Failed", "Reconcile", "%s", after.Description)
	}
	if after.State == sdepv1.StateAvailable && before.State != after.State {
		r.event(sd, nil, corev1.EventTypeNormal, "Available", "Reconcile", "SeldonDeployment %q is available", sd.Name)
	}
	for _, t := range []string{sdepv1.ConditionSpecWarnings, sdepv1.ConditionHpasReady, sdepv1.ConditionPdbsReady, sdepv1.ConditionKedaReady, sdepv1.ConditionRoutesReady} {
		b, a := meta.FindStatusCondition(before.Conditions, t), meta.FindStatusCondition(after.Conditions, t)
		if a == nil || (b != nil && b.Status == a.Status && b.Message == a.Message) {
			continue
		}
		bad := (t == sdepv1.ConditionSpecWarnings) == (a.Status == "True")
		// A failed read or write has its own event already, and makes the
		// SeldonDeployment Failed, which has one too.
		if bad && !isChildFailure(a.Reason) {
			r.event(sd, nil, corev1.EventTypeWarning, a.Reason, "Reconcile", "%s: %s", t, a.Message)
		}
	}
}

func (r *Reconciler) event(sd *sdepv1.SeldonDeployment, related runtime.Object, eventType, reason, action, note string, args ...any) {
	if r.Recorder == nil {
		return
	}
	// The events API caps a note at 1 kB.
	msg := fmt.Sprintf(note, args...)
	if len(msg) > 1000 {
		msg = msg[:997] + "..."
	}
	r.Recorder.Eventf(sd, related, eventType, reason, action, "%s", strings.TrimSpace(msg))
}

func (r *Reconciler) log(ctx context.Context) logr.Logger { return log.FromContext(ctx) }
