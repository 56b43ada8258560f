package controller

import (
	appsv1 "k8s.io/api/apps/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/resources"
)

// desiredState is what one SeldonDeployment asks for: the objects the
// builders made and, per Deployment, the builders' decision on who sets its
// replica count.
type desiredState struct {
	objs *resources.Objects
	// replicas is the replica policy of each Deployment, by name.
	replicas map[string]resources.ReplicaPolicy
	// sd is the defaulted document the objects describe; predictorOf
	// indexes spec.predictors by Deployment name (the routes weigh a
	// predictor by its Deployments' availability).
	sd          *sdepv1.SeldonDeployment
	predictorOf map[string]int
}

// buildDesired is the controller's only use of the builders' output.
func buildDesired(sd *sdepv1.SeldonDeployment, opts resources.Options) (*desiredState, error) {
	built, err := resources.Build(sd, opts)
	if err != nil {
		return nil, err
	}
	ds := &desiredState{objs: &built.Objects, replicas: make(map[string]resources.ReplicaPolicy, len(built.Components)),
		sd: built.SeldonDeployment, predictorOf: make(map[string]int, len(built.Components))}
	for _, c := range built.Components {
		ds.replicas[c.Deployment.Name] = c.Replicas
		if !c.Explainer {
			// An explainer's availability says nothing about whether the
			// predictor can answer predictions: it never withholds traffic.
			ds.predictorOf[c.Deployment.Name] = c.Predictor
		}
		c.Deployment.Spec.Replicas = replicasToWrite(c.Replicas, nil)
	}
	return ds, nil
}

// replicasToWrite is the one place that decides spec.replicas in what the
// operator compares with and writes to a Deployment; live is the live
// Deployment's count (nil when there is none yet). nil means "leave it
// out": the field is in no write and whatever is live stays.
//
//   - autoscaled: never, once the Deployment exists. The autoscaler owns
//     the count; a new Deployment starts at the API server's default and the
//     HPA takes it from there.
//   - scales to zero (hpaSpec.minReplicas 0): created with 0 replicas, so no
//     pod runs before the first request, and never written afterwards: the
//     scaler in `sdep metrics-api` moves it 0->1 and 1->0, the HPA 1..max,
//     and neither write is undone.
//   - fixed: the spec's count, restored whoever changed it (after an
//     hpaSpec is removed the spec's count wins again over the HPA's, #1263).
func replicasToWrite(p resources.ReplicaPolicy, live *int32) *int32 {
	if live != nil {
		return p.Updated()
	}
	return p.Replicas()
}

// withReplicas sets want's replicas for the live Deployment (nil when none).
func (ds *desiredState) withReplicas(want, live *appsv1.Deployment) {
	var cur *int32
	if live != nil {
		cur = live.Spec.Replicas
	}
	want.Spec.Replicas = replicasToWrite(ds.replicas[want.Name], cur)
}
