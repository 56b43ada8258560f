package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/testenv"
	"github.com/sdep-dev/sdep/internal/validation"
)

// examples/requests-to-zero.json passes the CRD schema and the webhook with
// minReplicas 0 kept; the same document on a CPU metric is refused by the
// webhook with the validator's message, which names the fix.
func TestScaleToZeroDocumentsThroughTheWebhook(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startManager(t, ns)

	sd := example(t, "requests-to-zero.json", ns)
	if err := k8s.Create(ctx, sd.DeepCopy()); err != nil {
		t.Fatalf("examples/requests-to-zero.json was refused: %v", err)
	}
	stored := &sdepv1.SeldonDeployment{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(sd), stored); err != nil {
		t.Fatal(err)
	}
	if m := stored.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.MinReplicas; m == nil || *m != 0 {
		t.Fatalf("stored minReplicas %v, want 0 kept", m)
	}

	cpu := example(t, "requests-to-zero.json", ns)
	cpu.Name = "requests-to-zero-cpu"
	cs := &cpu.Spec.Predictors[0].ComponentSpecs[0]
	// A cpu request, so the only problem left is minReplicas 0 on a metric
	// that cannot be read from a Deployment without pods.
	cs.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
	cs.HpaSpec.MetricsV2 = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}}}
	res := validation.Validate(cpu.DeepCopy())
	if len(res.Errors) != 1 || res.Errors[0].Field != "spec.predictors[0].componentSpecs[0].hpaSpec.minReplicas" {
		t.Fatalf("the validator's errors %v, want one on minReplicas: the case is wrong", res.Errors)
	}
	err := k8s.Create(ctx, cpu)
	if err == nil {
		t.Fatal("minReplicas 0 on a CPU metric was admitted")
	}
	msg := err.Error()
	for _, want := range []string{
		`admission webhook "vseldondeployment.sdep.dev" denied the request`,
		res.Errors[0].Error(),
		"Object or External metric", "seldon_requests_in_flight", "or set minReplicas to 1",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, msg)
		}
	}
}

// The operator renders examples/requests-to-zero.json as the scale-to-zero
// design wants: the executor in <sdep>-<predictor>-svc-orch behind the
// predictor Service, the component's Deployment created at 0 replicas, its
// HPA at 1..10. The SeldonDeployment is Available and says the component is
// scaled to zero. Then scaling the component's Deployment 0->1->0 through
// the scale subresource, as the scaler does, makes the operator write
// nothing at all, and leaves each count where it was put.
func TestScaleToZeroRenderedAndLeftAlone(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	mgr := startManager(t, ns)
	sd := example(t, "requests-to-zero.json", ns)
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	p := &sd.Spec.Predictors[0]
	compName := naming.DeploymentName(sd, p, 0)
	orchName := resources.ExecutorDeploymentName(sd, p)
	if compName != "requests-to-zero-default-0-my-dep" || orchName != "requests-to-zero-default-svc-orch" {
		t.Fatalf("names %s, %s", compName, orchName)
	}

	comp := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: compName}}
	waitForObject(t, "the component's Deployment", comp, nil)
	orch := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: orchName}}
	waitForObject(t, "the executor's Deployment", orch, nil)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: compName}}
	waitForObject(t, "the HPA", hpa, nil)

	if comp.Spec.Replicas == nil || *comp.Spec.Replicas != 0 {
		t.Errorf("component Deployment replicas %v, want 0 at creation", comp.Spec.Replicas)
	}
	if hasContainerNamed(comp, predictor.ExecutorContainerName) {
		t.Error("the executor runs in the pods that scale to zero")
	}
	if orch.Spec.Replicas == nil || *orch.Spec.Replicas != 1 || !hasContainerNamed(orch, predictor.ExecutorContainerName) {
		t.Errorf("executor Deployment replicas %v, containers %v", orch.Spec.Replicas, orch.Spec.Template.Spec.Containers)
	}
	if orch.Labels[naming.LabelContainsSvcOrch] != "true" || comp.Labels[naming.LabelContainsSvcOrch] != "" {
		t.Errorf("%s label: executor's %q, component's %q", naming.LabelContainsSvcOrch,
			orch.Labels[naming.LabelContainsSvcOrch], comp.Labels[naming.LabelContainsSvcOrch])
	}
	if h := hpa.Spec; h.MinReplicas == nil || *h.MinReplicas != 1 || h.MaxReplicas != 10 || h.ScaleTargetRef.Name != compName {
		t.Errorf("HPA %s..%d on %s, want 1..10 on %s", fmtPtr(h.MinReplicas), h.MaxReplicas, h.ScaleTargetRef.Name, compName)
	}
	hpas := &autoscalingv2.HorizontalPodAutoscalerList{}
	if err := k8s.List(ctx, hpas, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(hpas.Items) != 1 {
		t.Errorf("%d HPAs, want the component's only (the executor is not autoscaled)", len(hpas.Items))
	}
	svc := &corev1.Service{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.PredictorServiceName(sd, p)}, svc); err != nil {
		t.Fatal(err)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	if !sel.Matches(labels.Set(orch.Spec.Template.Labels)) || sel.Matches(labels.Set(comp.Spec.Template.Labels)) {
		t.Errorf("predictor Service selector %v: executor pods %v, component pods %v", svc.Spec.Selector,
			orch.Spec.Template.Labels, comp.Spec.Template.Labels)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.ContainerServiceName(sd, p, "classifier")}, &corev1.Service{}); err != nil {
		t.Errorf("the classifier's Service: %v", err)
	}

	// What a Deployment controller would report: the executor up, the
	// component with no pod.
	markDeploymentReady(t, ns, orchName)
	markDeploymentReady(t, ns, compName)
	got := waitForState(t, ns, sd.Name, sdepv1.StateAvailable)
	if c := condition(t, got, sdepv1.ConditionDeploymentsReady); !strings.HasPrefix(c, "True") ||
		!strings.Contains(c, "scaled to zero") || !strings.Contains(c, compName) {
		t.Errorf("DeploymentsReady %q, want True and naming %s scaled to zero", c, compName)
	}
	if st := got.Status.DeploymentStatus[compName]; st.Status != string(sdepv1.StateAvailable) || !strings.Contains(st.Description, "scaled to zero") {
		t.Errorf("component status %+v", st)
	}

	// Settle: events and status of the convergence may still be in flight.
	touches := 0
	touch := func() {
		t.Helper()
		touches++
		before := reconcileCount(t)
		patch := fmt.Sprintf(`{"metadata":{"labels":{"example.com/touched":"t%d"}}}`, touches)
		if err := k8s.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: orchName}},
			client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
			t.Fatal(err)
		}
		waitReconciled(t, before)
	}
	settled := false
	for range 10 {
		before := mgr.writes.total.Load()
		touch()
		if mgr.writes.total.Load() == before {
			settled = true
			break
		}
	}
	if !settled {
		t.Fatalf("never settled: %v", mgr.writes.snapshot())
	}

	start, snapshot := mgr.writes.total.Load(), mgr.writes.snapshot()
	bodies := len(mgr.writes.deploymentBodies())
	for _, n := range []int32{1, 0, 1, 0} {
		before := reconcileCount(t)
		scaleDeployment(t, ns, compName, n)
		waitReconciled(t, before)
		// Another reconcile after it, to be sure nothing was only late.
		touch()
		d, err := getDeployment(t, ns, compName)
		if err != nil {
			t.Fatal(err)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != n {
			t.Fatalf("after a scale to %d the Deployment has %s replicas: the operator put its count back", n, fmtPtr(d.Spec.Replicas))
		}
	}
	if n := mgr.writes.total.Load() - start; n != 0 {
		t.Errorf("%d operator writes while the component was scaled 0->1->0 twice; before %v after %v", n, snapshot, mgr.writes.snapshot())
	}
	for _, body := range mgr.writes.deploymentBodies()[bodies:] {
		t.Errorf("the operator wrote a Deployment: %s", body)
	}
	// And the only write that ever carried replicas created the component
	// at 0 (the executor's carries its fixed 1).
	for _, body := range mgr.writes.deploymentBodies() {
		if strings.Contains(body, compName) && strings.Contains(body, `"replicas"`) && !strings.Contains(body, `"replicas":0`) {
			t.Errorf("a write of the component's Deployment set replicas other than 0: %s", body)
		}
	}
	t.Logf("scale 0->1->0 twice: %d writes by the operator (%d reconciles touched)", mgr.writes.total.Load()-start, touches)
}

func waitReconciled(t *testing.T, before float64) {
	t.Helper()
	testenv.WaitFor(t, timeout, "a reconcile", func() error {
		if reconcileCount(t) <= before {
			return fmt.Errorf("no reconcile yet")
		}
		return nil
	})
}

func hasContainerNamed(d *appsv1.Deployment, name string) bool {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func fmtPtr(v *int32) string {
	if v == nil {
		return "unset"
	}
	return fmt.Sprint(*v)
}
