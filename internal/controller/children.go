package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/resources"
)

// ScaledObjectGVK is KEDA's ScaledObject, reconciled only when its CRD is served.
var ScaledObjectGVK = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: resources.KindScaledObject}

// ownedKind is one kind of child object: how to make empty ones and how to
// carry what a desired object sets onto a copy of the live one. One
// sub-reconciler per kind runs the same read, diff, write cycle.
type ownedKind struct {
	kind      string
	newObject func() client.Object
	newList   func() client.ObjectList
	// mergeSpec copies the fields sdep owns from desired into obj, a copy
	// of the live object, leaving fields others own (replicas set by an
	// autoscaler, an allocated clusterIP) alone.
	mergeSpec func(desired, obj client.Object)
	// recreate reports a change the API server refuses as an update.
	recreate func(desired, live client.Object) bool
}

var (
	deploymentKind = ownedKind{
		kind:      "Deployment",
		newObject: func() client.Object { return &appsv1.Deployment{} },
		newList:   func() client.ObjectList { return &appsv1.DeploymentList{} },
		mergeSpec: func(desired, obj client.Object) {
			d, o := desired.(*appsv1.Deployment), obj.(*appsv1.Deployment)
			liveReplicas, selector := o.Spec.Replicas, o.Spec.Selector
			o.Spec = *d.Spec.DeepCopy()
			o.Spec.Selector = selector // immutable: never in a patch
			if d.Spec.Replicas == nil {
				// An autoscaler owns the count: the patch leaves it out.
				o.Spec.Replicas = liveReplicas
			}
		},
		// No recreate: spec.selector is the one immutable field, and the
		// live one is kept (keepLiveSelector), so a Deployment is never
		// deleted to be made again.
	}
	serviceKind = ownedKind{
		kind:      "Service",
		newObject: func() client.Object { return &corev1.Service{} },
		newList:   func() client.ObjectList { return &corev1.ServiceList{} },
		mergeSpec: func(desired, obj client.Object) {
			d, o := desired.(*corev1.Service), obj.(*corev1.Service)
			o.Spec.Ports = d.Spec.Ports
			o.Spec.Selector = d.Spec.Selector
			if d.Spec.Type != "" {
				o.Spec.Type = d.Spec.Type
			}
			o.Spec.PublishNotReadyAddresses = d.Spec.PublishNotReadyAddresses
		},
		recreate: func(desired, live client.Object) bool {
			// Headless or not is fixed at creation.
			return (desired.(*corev1.Service).Spec.ClusterIP == corev1.ClusterIPNone) !=
				(live.(*corev1.Service).Spec.ClusterIP == corev1.ClusterIPNone)
		},
	}
	hpaKind = ownedKind{
		kind:      "HorizontalPodAutoscaler",
		newObject: func() client.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
		newList:   func() client.ObjectList { return &autoscalingv2.HorizontalPodAutoscalerList{} },
		mergeSpec: func(desired, obj client.Object) {
			obj.(*autoscalingv2.HorizontalPodAutoscaler).Spec = *desired.(*autoscalingv2.HorizontalPodAutoscaler).Spec.DeepCopy()
		},
	}
	pdbKind = ownedKind{
		kind:      "PodDisruptionBudget",
		newObject: func() client.Object { return &policyv1.PodDisruptionBudget{} },
		newList:   func() client.ObjectList { return &policyv1.PodDisruptionBudgetList{} },
		mergeSpec: func(desired, obj client.Object) {
			obj.(*policyv1.PodDisruptionBudget).Spec = *desired.(*policyv1.PodDisruptionBudget).Spec.DeepCopy()
		},
	}
	scaledObjectKind = ownedKind{
		kind: resources.KindScaledObject,
		newObject: func() client.Object {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(ScaledObjectGVK)
			return u
		},
		newList: func() client.ObjectList {
			u := &unstructured.UnstructuredList{}
			u.SetGroupVersionKind(ScaledObjectGVK.GroupVersion().WithKind(ScaledObjectGVK.Kind + "List"))
			return u
		},
		mergeSpec: func(desired, obj client.Object) {
			spec := desired.(*unstructured.Unstructured).Object["spec"]
			obj.(*unstructured.Unstructured).Object["spec"] = spec
		},
	}
)

// childResult is what one sub-reconciler saw: the live object for each
// desired name after its writes.
type childResult map[string]client.Object

// childError is a failed read or write of one child; its op names the
// reason of the kind's condition ("CreateFailed", "NotControlled", ...).
type childError struct {
	kind, name, op string
	err            error
}

func (e *childError) Error() string {
	if e.op == opNotControlled {
		return e.err.Error()
	}
	if e.name == "" {
		return fmt.Sprintf("%s %ss: %v", strings.ToLower(e.op), e.kind, e.err)
	}
	return fmt.Sprintf("%s %s %q: %v", strings.ToLower(e.op), e.kind, e.name, e.err)
}

func (e *childError) Unwrap() error { return e.err }

// Operations of a childError.
const (
	opList          = "List"
	opGet           = "Get"
	opCreate        = "Create"
	opUpdate        = "Update"
	opDelete        = "Delete"
	opCompare       = "Compare"
	opNotControlled = "NotControlled"
)

// isChildFailure reports whether a condition reason is a childError's.
func isChildFailure(reason string) bool {
	switch reason {
	case "NotControlled", opList + "Failed", opGet + "Failed", opCreate + "Failed", opUpdate + "Failed", opDelete + "Failed", opCompare + "Failed":
		return true
	}
	return false
}

// reason is the condition reason for a failed operation.
func (e *childError) reason() string {
	if e.op == opNotControlled {
		return "NotControlled"
	}
	return e.op + "Failed"
}

// reconcileKind makes the live objects of one kind match desired: creates
// the missing, patches those that differ, deletes those sd controls but no
// longer asks for. It records one event per write and none otherwise. A
// failure with one child does not stop the others; the failures are
// returned joined, each a *childError. prepare, if set, completes a
// desired object for the live one (nil when there is none) after hashing.
func (r *Reconciler) reconcileKind(ctx context.Context, sd *sdepv1.SeldonDeployment, k ownedKind, desired []client.Object,
	prepare func(want, live client.Object)) (childResult, error) {
	owned, err := r.ownedObjects(ctx, sd, k)
	if err != nil {
		return childResult{}, &childError{kind: k.kind, op: opList, err: err}
	}
	live := childResult{}
	var errs []error
	for _, want := range desired {
		got, err := r.reconcileChild(ctx, sd, k, want, owned, prepare)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		live[want.GetName()] = got
	}
	for _, stale := range owned {
		if madeElsewhere(stale) {
			// Another operator's (Seldon Core's) object that sdep does
			// not make: left as it is, for its maker or the garbage
			// collector (it goes with the SeldonDeployment).
			continue
		}
		if err := r.delete(ctx, sd, k, stale, "the SeldonDeployment no longer asks for it"); err != nil {
			errs = append(errs, err)
		}
	}
	return live, errors.Join(errs...)
}

// reconcileChild makes one child match want; owned loses want's entry.
func (r *Reconciler) reconcileChild(ctx context.Context, sd *sdepv1.SeldonDeployment, k ownedKind, want client.Object,
	owned map[string]client.Object, prepare func(want, live client.Object)) (client.Object, error) {
	name := want.GetName()
	if err := withHash(want); err != nil {
		return nil, &childError{kind: k.kind, name: name, op: opCompare, err: err}
	}
	cur, ok := owned[name]
	delete(owned, name)
	if !ok {
		key := client.ObjectKey{Namespace: sd.Namespace, Name: name}
		cur = k.newObject()
		err := r.Client.Get(ctx, key, cur)
		if apierrors.IsNotFound(err) {
			if prepare != nil {
				prepare(want, nil)
			}
			created, createErr := r.create(ctx, sd, k, want)
			if !r.nameTakenPastCache(createErr) {
				return created, createErr
			}
			// Someone else's object, or one of ours whose label was
			// removed: the cache holds neither.
			cur = k.newObject()
			err = r.APIReader.Get(ctx, key, cur)
		}
		switch {
		case err != nil:
			return nil, &childError{kind: k.kind, name: name, op: opGet, err: err}
		case !metav1.IsControlledBy(cur, sd):
			return nil, &childError{kind: k.kind, name: name, op: opNotControlled,
				err: fmt.Errorf("%s %q exists and is not controlled by this SeldonDeployment: delete or rename it", k.kind, name)}
		}
	}
	adopting := madeElsewhere(cur)
	if isAdopted(cur) {
		markAdopted(want)
	}
	if prepare != nil {
		prepare(want, cur)
	}
	if k.recreate != nil && k.recreate(want, cur) {
		if err := r.delete(ctx, sd, k, cur, "its immutable fields changed"); err != nil {
			return nil, err
		}
		return r.create(ctx, sd, k, want)
	}
	same, why, err := r.upToDate(ctx, k, want, cur)
	if err != nil {
		return nil, &childError{kind: k.kind, name: name, op: opCompare, err: err}
	}
	if same {
		return cur, nil
	}
	if adopting {
		return r.adopt(ctx, sd, k, want, cur)
	}
	return r.update(ctx, sd, k, want, cur, why)
}

// upToDate reports whether live already holds what a write of want would
// store, and if not why: the desired-hash annotation must be the same (else
// the SeldonDeployment changed), and every field want sets must hold, in
// live, the value the API server stores for it (see storedForms). When the
// operator has not seen how the server stores want for this object (it
// started since its last write) and live differs, one server-side dry-run of
// the patch tells whether the difference is the server's doing or someone
// else's; its answer is kept, so it is asked once per object and desired
// hash.
func (r *Reconciler) upToDate(ctx context.Context, k ownedKind, want, live client.Object) (bool, string, error) {
	hash := want.GetAnnotations()[AnnotationDesiredHash]
	if live.GetAnnotations()[AnnotationDesiredHash] != hash {
		return false, "the SeldonDeployment changed", nil
	}
	stored, known := r.stored.get(live.GetUID(), hash)
	same, path, err := matchesStored(want, live, stored)
	if err != nil || same {
		return same, "", err
	}
	if !known {
		dry, err := r.patch(ctx, k, want, live, client.DryRunAll)
		if err != nil {
			return false, "", fmt.Errorf("dry-run: %w", err)
		}
		if stored, err = storedOverrides(want, dry); err != nil {
			return false, "", err
		}
		r.stored.put(live.GetUID(), hash, stored)
		if same, path, err = matchesStored(want, live, stored); err != nil || same {
			return same, "", err
		}
	}
	return false, "restored " + path + ", changed outside the SeldonDeployment", nil
}

// remember records how the server stored want, from its answer to a write.
func (r *Reconciler) remember(want, stored client.Object) {
	ov, err := storedOverrides(want, stored)
	if err != nil {
		return // unknown: the next look asks for a dry-run
	}
	r.stored.put(stored.GetUID(), want.GetAnnotations()[AnnotationDesiredHash], ov)
}

// ownedObjects lists the objects of kind k that sd controls, by name.
//
// They are the cache's own objects, not copies (most reconciles read them
// and write nothing, so copying each was most of a reconcile's garbage):
// nothing may change them. Every write starts from a DeepCopy (patch,
// create), and the other readers (the comparison, status) only read.
func (r *Reconciler) ownedObjects(ctx context.Context, sd *sdepv1.SeldonDeployment, k ownedKind) (map[string]client.Object, error) {
	list := k.newList()
	var mine client.ListOption = client.MatchingLabels{naming.LabelSeldonID: naming.SeldonID(sd)}
	if r.indexed && !isUnstructured(k) {
		mine = client.MatchingFields{indexSeldonID: naming.SeldonID(sd)} // the same objects, found by index
	}
	if err := r.Client.List(ctx, list, client.InNamespace(sd.Namespace), client.UnsafeDisableDeepCopy, mine); err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	owned := map[string]client.Object{}
	for _, item := range items {
		obj, ok := item.(client.Object)
		if ok && metav1.IsControlledBy(obj, sd) {
			owned[obj.GetName()] = obj
		}
	}
	return owned, nil
}

func withHash(obj client.Object) error {
	h, err := desiredHash(obj)
	if err != nil {
		return err
	}
	ann := map[string]string{}
	for k, v := range obj.GetAnnotations() {
		ann[k] = v
	}
	ann[AnnotationDesiredHash] = h
	obj.SetAnnotations(ann)
	return nil
}

// nameTakenPastCache reports whether a create failed because the name is
// taken by an object Client's cache does not hold, which APIReader can read.
func (r *Reconciler) nameTakenPastCache(err error) bool {
	return r.APIReader != nil && apierrors.IsAlreadyExists(err)
}

func (r *Reconciler) create(ctx context.Context, sd *sdepv1.SeldonDeployment, k ownedKind, want client.Object) (client.Object, error) {
	obj := want.DeepCopyObject().(client.Object)
	if err := r.Client.Create(ctx, obj); err != nil {
		if r.nameTakenPastCache(err) {
			// Not a failure yet: the caller reads what holds the name.
			return nil, &childError{kind: k.kind, name: want.GetName(), op: opCreate, err: err}
		}
		r.event(sd, obj, corev1.EventTypeWarning, "Create"+k.kind+"Failed", "Create", "Creating %s %q failed: %v", k.kind, want.GetName(), err)
		return nil, &childError{kind: k.kind, name: want.GetName(), op: opCreate, err: err}
	}
	r.remember(want, obj)
	r.event(sd, obj, corev1.EventTypeNormal, "Create"+k.kind, "Create", "Created %s %q", k.kind, obj.GetName())
	r.log(ctx).Info("created", "kind", k.kind, "name", obj.GetName())
	return obj, nil
}

// patch sends want's fields onto live as a JSON merge patch holding only
// what changed (spec.replicas of an autoscaled Deployment is never in it)
// and returns what the API server answered. A real write carries an
// optimistic lock; a dry-run (opts) does not need one.
func (r *Reconciler) patch(ctx context.Context, k ownedKind, want, live client.Object, opts ...client.PatchOption) (client.Object, error) {
	obj := live.DeepCopyObject().(client.Object)
	obj.SetLabels(mergeStrings(obj.GetLabels(), want.GetLabels()))
	obj.SetAnnotations(mergeStrings(obj.GetAnnotations(), want.GetAnnotations()))
	if refs := want.GetOwnerReferences(); len(refs) > 0 {
		obj.SetOwnerReferences(refs)
	}
	k.mergeSpec(want, obj)
	patch := client.MergeFrom(live)
	if len(opts) == 0 {
		patch = client.MergeFromWithOptions(live, client.MergeFromWithOptimisticLock{})
	}
	return obj, r.Client.Patch(ctx, obj, patch, opts...)
}

// update patches live to match want.
func (r *Reconciler) update(ctx context.Context, sd *sdepv1.SeldonDeployment, k ownedKind, want, live client.Object, why string) (client.Object, error) {
	obj, err := r.patch(ctx, k, want, live)
	if err != nil {
		if !apierrors.IsConflict(err) {
			r.event(sd, obj, corev1.EventTypeWarning, "Update"+k.kind+"Failed", "Update", "Updating %s %q failed: %v", k.kind, obj.GetName(), err)
		}
		return nil, &childError{kind: k.kind, name: want.GetName(), op: opUpdate, err: err}
	}
	r.remember(want, obj)
	r.event(sd, obj, corev1.EventTypeNormal, "Update"+k.kind, "Update", "Updated %s %q: %s", k.kind, obj.GetName(), why)
	r.log(ctx).Info("updated", "kind", k.kind, "name", obj.GetName(), "reason", why)
	return obj, nil
}

func (r *Reconciler) delete(ctx context.Context, sd *sdepv1.SeldonDeployment, k ownedKind, obj client.Object, why string) error {
	uid := obj.GetUID()
	r.stored.forget(uid)
	err := r.Client.Delete(ctx, obj, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		r.event(sd, obj, corev1.EventTypeWarning, "Delete"+k.kind+"Failed", "Delete", "Deleting %s %q failed: %v", k.kind, obj.GetName(), err)
		return &childError{kind: k.kind, name: obj.GetName(), op: opDelete, err: err}
	}
	r.event(sd, obj, corev1.EventTypeNormal, "Delete"+k.kind, "Delete", "Deleted %s %q: %s", k.kind, obj.GetName(), why)
	r.log(ctx).Info("deleted", "kind", k.kind, "name", obj.GetName(), "reason", why)
	return nil
}

func mergeStrings(base, overlay map[string]string) map[string]string {
	if len(overlay) == 0 {
		return base
	}
	out := make(map[string]string, len(base)+len(overlay))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range overlay {
		out[k] = v
	}
	return out
}
