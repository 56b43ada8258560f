package controller

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/resources"
)

// desiredState is what one SeldonDeployment asks for: the objects the
// builders made and, per Deployment, who decides its replica count.
type desiredState struct {
	objs *resources.Objects
	// replicas is the replica policy of each Deployment, by name.
	replicas map[string]replicaPolicy
}

// replicaPolicy says who owns a Deployment's spec.replicas.
type replicaPolicy struct {
	// autoscaled: an HPA or a KEDA ScaledObject owns the count.
	autoscaled bool
	// fixed is the spec's count when not autoscaled.
	fixed int32
}

// buildDesired is the controller's only use of the builders' output.
func buildDesired(sd *sdepv1.SeldonDeployment, opts resources.Options) (*desiredState, error) {
	objs, err := resources.Build(sd, opts)
	if err != nil {
		return nil, err
	}
	ds := &desiredState{objs: objs, replicas: replicaPolicies(objs)}
	for _, d := range objs.Deployments {
		d.Spec.Replicas = replicasToWrite(ds.replicas[d.Name], nil)
	}
	return ds, nil
}

// replicaPolicies: a Deployment an HPA or ScaledObject targets is
// autoscaled; any other gets an explicit count. The builders leave
// replicas unset when nothing in the spec sets it (the API server's
// default is 1), but after an hpaSpec is removed the live count is
// whatever the HPA chose; the spec's count must win again (#1263).
func replicaPolicies(objs *resources.Objects) map[string]replicaPolicy {
	autoscaled := map[string]bool{}
	for _, h := range objs.HPAs {
		autoscaled[h.Spec.ScaleTargetRef.Name] = true
	}
	for _, so := range objs.ScaledObjects {
		name, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "name")
		autoscaled[name] = true
	}
	out := make(map[string]replicaPolicy, len(objs.Deployments))
	for _, d := range objs.Deployments {
		p := replicaPolicy{autoscaled: autoscaled[d.Name], fixed: 1}
		if d.Spec.Replicas != nil {
			p.fixed = *d.Spec.Replicas
		}
		out[d.Name] = p
	}
	return out
}

// replicasToWrite is the one place that decides spec.replicas in what the
// operator compares with and writes to a Deployment; live is the live
// Deployment's count (nil when there is none yet). nil means "leave it
// out": the field is in no write and whatever is live stays.
//
//   - autoscaled: never. The autoscaler owns the count; a new Deployment
//     starts at the API server's default and the HPA takes it from there.
//   - fixed: the spec's count, restored whoever changed it.
//
// Scale to zero will add exactly two exceptions here (0→1 and 1→0) and no
// other place may set replicas.
func replicasToWrite(p replicaPolicy, live *int32) *int32 {
	if p.autoscaled {
		return nil
	}
	n := p.fixed
	return &n
}

// withReplicas sets want's replicas for the live Deployment (nil when none).
func (ds *desiredState) withReplicas(want, live *appsv1.Deployment) {
	var cur *int32
	if live != nil {
		cur = live.Spec.Replicas
	}
	want.Spec.Replicas = replicasToWrite(ds.replicas[want.Name], cur)
}
