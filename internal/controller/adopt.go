package controller

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/resources"
)

// AnnotationAdopted marks a child that sdep took over from the operator that
// made it (Seldon Core 1.x, which names, labels and owns its children as sdep
// does): it stays on the object, and it keeps the takeover's rollout strategy
// on an adopted Deployment. See docs/takeover.md.
const AnnotationAdopted = "sdep.dev/adopted"

// madeElsewhere reports whether live, a child the SeldonDeployment controls,
// was written by another operator: every object sdep writes carries the
// desired-hash annotation, and Seldon Core's never do.
func madeElsewhere(live client.Object) bool {
	_, ours := live.GetAnnotations()[AnnotationDesiredHash]
	return !ours
}

// isAdopted reports whether live is being adopted now or was adopted before.
func isAdopted(live client.Object) bool {
	return madeElsewhere(live) || live.GetAnnotations()[AnnotationAdopted] == "true"
}

// markAdopted adds the adoption mark to want, after hashing: the mark is not
// part of what the SeldonDeployment asks for, so it changes no hash.
func markAdopted(want client.Object) {
	want.SetAnnotations(mergeStrings(want.GetAnnotations(), map[string]string{AnnotationAdopted: "true"}))
}

// keepLiveSelector makes want keep live's pod selector, whichever operator
// chose it: spec.selector of a Deployment is immutable, and replacing the
// Deployment to change it would take every pod down at once. The pod
// template carries the selector's labels (with the selector's values, else
// the API server refuses the template), so the pods stay selected.
// sdep's own selector (seldon-deployment-id, app) is the same for every
// version of the document, so only an adopted Deployment keeps another one.
func keepLiveSelector(want, live *appsv1.Deployment) {
	if live == nil || live.Spec.Selector == nil {
		return
	}
	want.Spec.Selector = live.Spec.Selector.DeepCopy()
	if len(live.Spec.Selector.MatchLabels) == 0 {
		return
	}
	// A copy: the builders may share one map between the Deployment's
	// labels and its pods'.
	want.Spec.Template.Labels = mergeStrings(want.Spec.Template.Labels, live.Spec.Selector.MatchLabels)
}

// prepareDeployment completes a desired Deployment for the live one (nil
// when there is none yet): the replica count (replicasToWrite decides), the
// live selector, and on an adopted Deployment the takeover's rollout
// strategy, so that replacing the other operator's pods never lowers the
// number of available ones.
func (ds *desiredState) prepareDeployment(want, live *appsv1.Deployment) {
	ds.withReplicas(want, live)
	keepLiveSelector(want, live)
	if live != nil && isAdopted(live) {
		want.Spec.Strategy = resources.TakeoverStrategy()
	}
}

// adopt patches live, a child another operator made for this
// SeldonDeployment under the name sdep gives it, to match want. Nothing is
// deleted: the object keeps its UID, its selector and (autoscaled) its
// replica count. The event says what was adopted and whether its pods roll.
func (r *Reconciler) adopt(ctx context.Context, sd *sdepv1.SeldonDeployment, k ownedKind, want, live client.Object) (client.Object, error) {
	obj, err := r.patch(ctx, k, want, live)
	if err != nil {
		if !apierrors.IsConflict(err) {
			r.event(sd, obj, corev1.EventTypeWarning, "Adopt"+k.kind+"Failed", "Adopt", "Adopting %s %q failed: %v", k.kind, obj.GetName(), err)
		}
		return nil, &childError{kind: k.kind, name: want.GetName(), op: opUpdate, err: err}
	}
	r.remember(want, obj)
	kept := "its UID kept"
	if d, ok := obj.(*appsv1.Deployment); ok {
		kept = "its UID, selector and replica count kept"
		if before := live.(*appsv1.Deployment); !equality.Semantic.DeepEqual(before.Spec.Template, d.Spec.Template) {
			kept += "; its pods are replaced once (sdep's executor and pod template) with none unavailable"
		}
	}
	r.event(sd, obj, corev1.EventTypeNormal, "Adopt"+k.kind, "Adopt",
		"Adopted %s %q, made by another operator for this SeldonDeployment: %s", k.kind, obj.GetName(), kept)
	r.log(ctx).Info("adopted", "kind", k.kind, "name", obj.GetName())
	return obj, nil
}
