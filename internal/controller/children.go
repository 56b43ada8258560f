package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
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
			o.Spec.Selector = selector
			if d.Spec.Replicas == nil {
				// An autoscaler owns the count: the patch leaves it out.
				o.Spec.Replicas = liveReplicas
			}
		},
		recreate: func(desired, live client.Object) bool {
			return !equality.Semantic.DeepEqual(desired.(*appsv1.Deployment).Spec.Selector, live.(*appsv1.Deployment).Spec.Selector)
		},
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

// reconcileKind makes the live objects of one kind match desired: creates
// the missing, patches those that differ, deletes those sd controls but no
// longer asks for. It records one event per write and none otherwise.
func (r *Reconciler) reconcileKind(ctx context.Context, sd *sdepv1.SeldonDeployment, k ownedKind, desired []client.Object) (childResult, error) {
	owned, err := r.ownedObjects(ctx, sd, k)
	if err != nil {
		return nil, err
	}
	live := childResult{}
	for _, want := range desired {
		if err := withHash(want); err != nil {
			return nil, err
		}
		name := want.GetName()
		cur, ok := owned[name]
		delete(owned, name)
		if !ok {
			cur = k.newObject()
			err := r.Client.Get(ctx, client.ObjectKey{Namespace: sd.Namespace, Name: name}, cur)
			switch {
			case apierrors.IsNotFound(err):
				created, err := r.create(ctx, sd, k, want)
				if err != nil {
					return nil, err
				}
				live[name] = created
				continue
			case err != nil:
				return nil, err
			case !metav1.IsControlledBy(cur, sd):
				return nil, fmt.Errorf("%s %q exists and is not controlled by this SeldonDeployment: delete or rename it", k.kind, name)
			}
		}
		if k.recreate != nil && k.recreate(want, cur) {
			if err := r.delete(ctx, sd, k, cur, "its immutable fields changed"); err != nil {
				return nil, err
			}
			created, err := r.create(ctx, sd, k, want)
			if err != nil {
				return nil, err
			}
			live[name] = created
			continue
		}
		same, why, err := upToDate(want, cur)
		if err != nil {
			return nil, err
		}
		if same {
			live[name] = cur
			continue
		}
		updated, err := r.update(ctx, sd, k, want, cur, why)
		if err != nil {
			return nil, err
		}
		live[name] = updated
	}
	for _, stale := range owned {
		if err := r.delete(ctx, sd, k, stale, "the SeldonDeployment no longer asks for it"); err != nil {
			return nil, err
		}
	}
	return live, nil
}

// ownedObjects lists the objects of kind k that sd controls, by name.
func (r *Reconciler) ownedObjects(ctx context.Context, sd *sdepv1.SeldonDeployment, k ownedKind) (map[string]client.Object, error) {
	list := k.newList()
	if err := r.Client.List(ctx, list, client.InNamespace(sd.Namespace),
		client.MatchingLabels{naming.LabelSeldonID: naming.SeldonID(sd)}); err != nil {
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

func (r *Reconciler) create(ctx context.Context, sd *sdepv1.SeldonDeployment, k ownedKind, want client.Object) (client.Object, error) {
	obj := want.DeepCopyObject().(client.Object)
	if err := r.Client.Create(ctx, obj); err != nil {
		r.event(sd, obj, corev1.EventTypeWarning, "Create"+k.kind+"Failed", "Create", "Creating %s %q failed: %v", k.kind, want.GetName(), err)
		return nil, err
	}
	r.event(sd, obj, corev1.EventTypeNormal, "Create"+k.kind, "Create", "Created %s %q", k.kind, obj.GetName())
	r.log(ctx).Info("created", "kind", k.kind, "name", obj.GetName())
	return obj, nil
}

// update patches live with a JSON merge patch holding only what changed,
// under an optimistic lock; spec.replicas of an autoscaled Deployment is
// never in it.
func (r *Reconciler) update(ctx context.Context, sd *sdepv1.SeldonDeployment, k ownedKind, want, live client.Object, why string) (client.Object, error) {
	obj := live.DeepCopyObject().(client.Object)
	obj.SetLabels(mergeStrings(obj.GetLabels(), want.GetLabels()))
	obj.SetAnnotations(mergeStrings(obj.GetAnnotations(), want.GetAnnotations()))
	if refs := want.GetOwnerReferences(); len(refs) > 0 {
		obj.SetOwnerReferences(refs)
	}
	k.mergeSpec(want, obj)
	patch := client.MergeFromWithOptions(live, client.MergeFromWithOptimisticLock{})
	if err := r.Client.Patch(ctx, obj, patch); err != nil {
		if !apierrors.IsConflict(err) {
			r.event(sd, obj, corev1.EventTypeWarning, "Update"+k.kind+"Failed", "Update", "Updating %s %q failed: %v", k.kind, obj.GetName(), err)
		}
		return nil, err
	}
	r.event(sd, obj, corev1.EventTypeNormal, "Update"+k.kind, "Update", "Updated %s %q: %s", k.kind, obj.GetName(), why)
	r.log(ctx).Info("updated", "kind", k.kind, "name", obj.GetName(), "reason", why)
	return obj, nil
}

func (r *Reconciler) delete(ctx context.Context, sd *sdepv1.SeldonDeployment, k ownedKind, obj client.Object, why string) error {
	uid := obj.GetUID()
	err := r.Client.Delete(ctx, obj, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		r.event(sd, obj, corev1.EventTypeWarning, "Delete"+k.kind+"Failed", "Delete", "Deleting %s %q failed: %v", k.kind, obj.GetName(), err)
		return err
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
