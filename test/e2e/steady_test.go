package e2e

import (
	"context"
	"fmt"
	"maps"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// After convergence, reconciles caused by touching an unrelated label
// on each child and on the SeldonDeployment itself make no POST, PUT,
// PATCH or DELETE at all: no object, status or event write.
func TestZeroWritesAtSteadyState(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	mgr := startManager(t, ns)
	sd := withPDB(example(t, "seed-v1.yaml", ns))
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	depName := deploymentName(sd)
	waitForObject(t, "the Deployment", &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}, nil)
	markDeploymentReady(t, ns, depName)
	got := waitForState(t, ns, sd.Name, sdepv1.StateAvailable)
	// One event per write and per state change, nothing per reconcile.
	wantEvents := map[string]int{"CreateDeployment": 1, "CreateService": 2, "CreateHorizontalPodAutoscaler": 1,
		"CreatePodDisruptionBudget": 1, "Available": 1}
	testenv.WaitFor(t, timeout, "one event per created object", func() error {
		if got := eventReasons(t, ns, sd.Name); !maps.Equal(got, wantEvents) {
			return fmt.Errorf("events %v, want %v", got, wantEvents)
		}
		return nil
	})
	converged := mgr.writes.total.Load()
	t.Logf("writes to converge: %d %v", converged, mgr.writes.snapshot())

	// Status once available: the fields a user reads.
	p := &got.Spec.Predictors[0]
	wantURL := fmt.Sprintf("http://%s.%s.svc.cluster.local:8000/api/v1.0/predictions", naming.PredictorServiceName(got, p), ns)
	if got.Status.Address == nil || got.Status.Address.URL != wantURL {
		t.Errorf("address %+v, want %s", got.Status.Address, wantURL)
	}
	if got.Status.Replicas != 1 || got.Status.DeploymentStatus[depName].AvailableReplicas != 1 {
		t.Errorf("replicas %d, deploymentStatus %+v", got.Status.Replicas, got.Status.DeploymentStatus)
	}
	if len(got.Status.ServiceStatus) != 2 {
		t.Errorf("serviceStatus %+v, want the predictor's and the container's Services", got.Status.ServiceStatus)
	}
	for _, c := range []string{sdepv1.ConditionReady, sdepv1.ConditionDeploymentsReady, sdepv1.ConditionServicesReady,
		sdepv1.ConditionHpasReady, sdepv1.ConditionPdbsReady} {
		if s := condition(t, got, c); s[:4] != "True" {
			t.Errorf("condition %s", s)
		}
	}

	// Things to touch: each child and the SeldonDeployment.
	targets := []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: naming.PredictorServiceName(got, p)}},
		&autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}},
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}},
		&sdepv1.SeldonDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sd.Name}},
	}
	touches := 0
	// touch changes a label no one reads and waits for the reconcile it causes.
	touch := func(obj client.Object) {
		t.Helper()
		touches++
		before := reconcileCount(t)
		// A label, not an annotation: a Deployment's generation moves with
		// its annotations, which would really make it not rolled out.
		patch := fmt.Sprintf(`{"metadata":{"labels":{"example.com/touched":"t%d"}}}`, touches)
		if err := k8s.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			t.Fatal(err)
		}
		testenv.WaitFor(t, timeout, "a reconcile after touching "+obj.GetName(), func() error {
			if reconcileCount(t) <= before {
				return fmt.Errorf("no reconcile yet")
			}
			return nil
		})
	}
	// Events of the convergence may still be in flight: settle first, on
	// the first touch that makes no write.
	settled := false
	for range 10 {
		before := mgr.writes.total.Load()
		touch(targets[0])
		if mgr.writes.total.Load() == before {
			settled = true
			break
		}
	}
	if !settled {
		t.Fatalf("never settled: every reconcile writes; writes so far %v", mgr.writes.snapshot())
	}

	const rounds = 20
	before := mgr.writes.snapshot()
	start := mgr.writes.total.Load()
	for i := range rounds {
		touch(targets[i%len(targets)])
	}
	if n := mgr.writes.total.Load() - start; n != 0 {
		t.Errorf("%d writes in %d steady-state reconciles; before %v after %v", n, rounds, before, mgr.writes.snapshot())
	}
	t.Logf("steady state: %d reconciles, %d writes", rounds, mgr.writes.total.Load()-start)
	if got := eventReasons(t, ns, sd.Name); !maps.Equal(got, wantEvents) {
		t.Errorf("events after the steady-state reconciles: %v, want still %v", got, wantEvents)
	}
}

// Removing hpaSpec deletes the HPA and gives replicas back to the spec;
// adding it back keeps the current count; removing pdbSpec deletes the PDB.
func TestRemovingAutoscalerAndBudget(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startManager(t, ns)
	sd := withPDB(example(t, "seed-v1.yaml", ns))
	two := int32(2)
	sd.Spec.Predictors[0].Replicas = &two
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	depName := deploymentName(sd)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}
	waitForObject(t, "the HPA", hpa, nil)
	waitForObject(t, "the PDB", pdb, nil)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}
	waitForObject(t, "the Deployment", dep, nil)
	if *dep.Spec.Replicas != 1 {
		t.Errorf("autoscaled Deployment created with replicas %d; the predictor's 2 must be ignored", *dep.Spec.Replicas)
	}
	scaleDeployment(t, ns, depName, 3)

	var saved *sdepv1.SeldonHpaSpec
	editSD(t, ns, sd.Name, func(sd *sdepv1.SeldonDeployment) {
		saved = sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec
		sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec = nil
	})
	waitGone(t, "the HPA to be deleted", hpa)
	waitForObject(t, "replicas back to the spec's 2", dep, func() error {
		if *dep.Spec.Replicas != 2 {
			return fmt.Errorf("replicas %d", *dep.Spec.Replicas)
		}
		return nil
	})

	// An autoscaler added back takes over from the current count.
	editSD(t, ns, sd.Name, func(sd *sdepv1.SeldonDeployment) { sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec = saved })
	waitForObject(t, "the HPA again", &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}, nil)
	waitForState(t, ns, sd.Name, sdepv1.StateCreating)
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 2 {
		t.Errorf("adding an hpaSpec changed replicas to %d; it must leave them to the HPA", *dep.Spec.Replicas)
	}

	editSD(t, ns, sd.Name, func(sd *sdepv1.SeldonDeployment) { sd.Spec.Predictors[0].ComponentSpecs[0].PdbSpec = nil })
	waitGone(t, "the PDB to be deleted", pdb)
}
