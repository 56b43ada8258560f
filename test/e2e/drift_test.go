package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/controller"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/testenv"
	"github.com/sdep-dev/sdep/internal/validation"
)

// fixedReplicas is the seed without an autoscaler, at n replicas.
func fixedReplicas(sd *sdepv1.SeldonDeployment, n int32) *sdepv1.SeldonDeployment {
	sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec = nil
	sd.Spec.Predictors[0].Replicas = &n
	return sd
}

// waitForEventNote waits for an event about the SeldonDeployment with
// reason whose note holds every one of parts.
func waitForEventNote(t *testing.T, ns, sdName, reason string, parts ...string) {
	t.Helper()
	testenv.WaitFor(t, timeout, fmt.Sprintf("a %s event saying %q", reason, parts), func() error {
		list := &eventsv1.EventList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return err
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Name != sdName {
				continue
			}
			all := e.Reason == reason
			for _, p := range parts {
				all = all && strings.Contains(e.Note, p)
			}
			if all {
				return nil
			}
			seen = append(seen, e.Reason+": "+e.Note)
		}
		return fmt.Errorf("events so far: %q", seen)
	})
}

func executorOf(d *appsv1.Deployment) *corev1.Container {
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == validation.ExecutorContainerName {
			return c
		}
	}
	return nil
}

// Children edited or deleted by someone else are put back, each with an
// event: a securityContext field set to true, the replicas of a Deployment
// without an autoscaler, a Service port, a deleted Service and Deployment.
func TestDriftIsRestored(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startManager(t, ns)
	sd := withPDB(fixedReplicas(example(t, "seed-v1.yaml", ns), 2))
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	depName := deploymentName(sd)
	svcName := naming.PredictorServiceName(sd, &sd.Spec.Predictors[0])
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}
	waitForObject(t, "the Deployment", dep, nil)
	markDeploymentReady(t, ns, depName)
	waitForState(t, ns, sd.Name, sdepv1.StateAvailable)

	t.Run("allowPrivilegeEscalation", func(t *testing.T) {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
			t.Fatal(err)
		}
		if c := executorOf(dep); c == nil || c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
			t.Fatalf("the executor's securityContext is not allowPrivilegeEscalation: false to begin with: %+v", c)
		}
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"securityContext":{"allowPrivilegeEscalation":true}}]}}}}`,
			validation.ExecutorContainerName)
		if err := k8s.Patch(ctx, dep, client.RawPatch(types.StrategicMergePatchType, []byte(patch))); err != nil {
			t.Fatal(err)
		}
		if ape := executorOf(dep).SecurityContext.AllowPrivilegeEscalation; ape == nil || !*ape {
			t.Fatalf("the edit did not land: %v", ape)
		}
		waitForObject(t, "allowPrivilegeEscalation back to false", dep, func() error {
			if ape := executorOf(dep).SecurityContext.AllowPrivilegeEscalation; ape == nil || *ape {
				return fmt.Errorf("allowPrivilegeEscalation %v", ape)
			}
			return nil
		})
		waitForEventNote(t, ns, sd.Name, "UpdateDeployment", depName, "allowPrivilegeEscalation")
	})

	t.Run("replicas", func(t *testing.T) {
		scaleDeployment(t, ns, depName, 5)
		waitForObject(t, "replicas back to the spec's 2", dep, func() error {
			if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
				return fmt.Errorf("replicas %s", replicasOf(dep))
			}
			return nil
		})
		waitForEventNote(t, ns, sd.Name, "UpdateDeployment", depName, ".spec.replicas")
	})

	t.Run("Service port", func(t *testing.T) {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svcName}}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			t.Fatal(err)
		}
		want := svc.Spec.Ports[0].Port
		svc.Spec.Ports[0].Port = 9999
		if err := k8s.Update(ctx, svc); err != nil {
			t.Fatal(err)
		}
		waitForObject(t, fmt.Sprintf("the Service port back to %d", want), svc, func() error {
			var ports []int32
			for _, p := range svc.Spec.Ports {
				ports = append(ports, p.Port)
			}
			if ports[0] != want || slices.Contains(ports, 9999) {
				return fmt.Errorf("ports %v", ports)
			}
			return nil
		})
		waitForEventNote(t, ns, sd.Name, "UpdateService", svcName, ".spec.ports[0].port")
	})

	// The operator's cache shares equal strings between cached objects
	// (internal/operator/intern.go). Each edit here sets a string field to
	// a value other cached objects hold (another label's value, the other
	// container's image, the other Service's selector value): the
	// comparison must still see the edited value, and put back its own.
	t.Run("strings other cached objects hold", func(t *testing.T) {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
			t.Fatal(err)
		}
		want := dep.DeepCopy()
		exec := executorOf(want)
		model := &want.Spec.Template.Spec.Containers[0]
		if model.Name == exec.Name {
			model = &want.Spec.Template.Spec.Containers[1]
		}
		if len(model.Env) == 0 || want.Labels["version"] == "" || want.Spec.Template.Annotations["prometheus.io/scrape"] == "" {
			t.Fatalf("the Deployment lacks the fields this test edits: %+v", want)
		}
		edited := dep.DeepCopy()
		edited.Labels["version"] = want.Labels[naming.LabelSeldonID]
		edited.Spec.Template.Annotations["prometheus.io/scrape"] = "false"
		for i := range edited.Spec.Template.Spec.Containers {
			c := &edited.Spec.Template.Spec.Containers[i]
			if c.Name == model.Name {
				c.Image = exec.Image
				c.Env[0].Value = exec.Name
			}
		}
		if err := k8s.Update(ctx, edited); err != nil {
			t.Fatal(err)
		}
		waitForObject(t, "the label, annotation, image and env value put back", dep, func() error {
			var c *corev1.Container
			for i := range dep.Spec.Template.Spec.Containers {
				if dep.Spec.Template.Spec.Containers[i].Name == model.Name {
					c = &dep.Spec.Template.Spec.Containers[i]
				}
			}
			switch {
			case dep.Labels["version"] != want.Labels["version"]:
				return fmt.Errorf("label version %q", dep.Labels["version"])
			case dep.Spec.Template.Annotations["prometheus.io/scrape"] != want.Spec.Template.Annotations["prometheus.io/scrape"]:
				return fmt.Errorf("annotation %q", dep.Spec.Template.Annotations["prometheus.io/scrape"])
			case c == nil || c.Image != model.Image || c.Env[0].Value != model.Env[0].Value:
				return fmt.Errorf("container %+v", c)
			}
			return nil
		})
		waitForEventNote(t, ns, sd.Name, "UpdateDeployment", depName, "restored")

		var services corev1.ServiceList
		if err := k8s.List(ctx, &services, client.InNamespace(ns), client.MatchingLabels{naming.LabelSeldonID: want.Labels[naming.LabelSeldonID]}); err != nil {
			t.Fatal(err)
		}
		if len(services.Items) < 2 {
			t.Fatalf("%d Services, want the predictor's and the model's", len(services.Items))
		}
		// One Service's selector value set to the other's.
		a, b := services.Items[0], services.Items[1]
		var key, wantValue, otherValue string
		for k, v := range a.Spec.Selector {
			key, wantValue = k, v
		}
		for _, v := range b.Spec.Selector {
			otherValue = v
		}
		if key == "" || otherValue == "" || otherValue == wantValue {
			t.Fatalf("the Services' selectors: %v, %v", a.Spec.Selector, b.Spec.Selector)
		}
		a.Spec.Selector[key] = otherValue
		if err := k8s.Update(ctx, &a); err != nil {
			t.Fatal(err)
		}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: a.Name}}
		waitForObject(t, "the Service selector put back", svc, func() error {
			if got := svc.Spec.Selector[key]; got != wantValue {
				return fmt.Errorf("selector %s=%q", key, got)
			}
			return nil
		})
		waitForEventNote(t, ns, sd.Name, "UpdateService", a.Name, ".spec.selector")
	})

	t.Run("deleted children", func(t *testing.T) {
		for _, obj := range []client.Object{
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svcName}},
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}},
		} {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				t.Fatal(err)
			}
			old := obj.GetUID()
			kind := fmt.Sprintf("%T", obj)[len("*v1."):]
			before := eventReasons(t, ns, sd.Name)["Create"+kind]
			if err := k8s.Delete(ctx, obj); err != nil {
				t.Fatal(err)
			}
			waitForObject(t, kind+" recreated", obj, func() error {
				if obj.GetUID() == old {
					return fmt.Errorf("still the old %s", kind)
				}
				return nil
			})
			testenv.WaitFor(t, timeout, "a Create"+kind+" event", func() error {
				if n := eventReasons(t, ns, sd.Name)["Create"+kind]; n <= before {
					return fmt.Errorf("%d Create%s events, had %d", n, kind, before)
				}
				return nil
			})
		}
	})
}

// replicaWatch records every spec.replicas value a Deployment takes.
type replicaWatch struct {
	mu   sync.Mutex
	seen []string
	stop func()
	done chan struct{}
}

func watchReplicas(t *testing.T, ns, name string) *replicaWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := clientset.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	rw := &replicaWatch{done: make(chan struct{})}
	rw.stop = func() {
		cancel()
		w.Stop()
		<-rw.done
	}
	go func() {
		defer close(rw.done)
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			rw.mu.Lock()
			rw.seen = append(rw.seen, replicasOf(d))
			rw.mu.Unlock()
		}
	}()
	return rw
}

func (rw *replicaWatch) values() []string {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return slices.Clone(rw.seen)
}

// A Deployment at a fixed `replicas: 4` handed to an HPA 1–4 under load
// never drops below 4: when the operator stops setting replicas it leaves
// the field alone (Seldon Core #1310 reset it to 1). envtest runs no HPA
// controller, so the test does what one under load would: whenever the
// HPA exists and the scale is not its maximum, it sets the scale to 4
// through the scale subresource. Every replicas value the Deployment
// takes is recorded from a watch.
func TestHandOverFromFixedReplicasToHPA(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	mgr := startManager(t, ns)
	sd := fixedReplicas(example(t, "seed-v1.yaml", ns), 4)
	hpaSpec := example(t, "seed-v1.yaml", ns).Spec.Predictors[0].ComponentSpecs[0].HpaSpec
	hpaSpec.MinReplicas, hpaSpec.MaxReplicas = new(int32(1)), 4
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	depName := deploymentName(sd)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}
	waitForObject(t, "the Deployment at 4", dep, func() error {
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 4 {
			return fmt.Errorf("replicas %s", replicasOf(dep))
		}
		return nil
	})
	markDeploymentReady(t, ns, depName)
	waitForState(t, ns, sd.Name, sdepv1.StateAvailable)
	hashBefore := dep.Annotations[controller.AnnotationDesiredHash]
	writesBefore := len(mgr.writes.deploymentBodies())

	rw := watchReplicas(t, ns, depName)
	// The HPA under load: it wants its maximum, 4.
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	var loadErr error
	var scaledByLoad int
	go func() {
		defer close(loadDone)
		target := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}
		for loadCtx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
			hpa := &autoscalingv2.HorizontalPodAutoscaler{}
			if err := k8s.Get(loadCtx, client.ObjectKey{Namespace: ns, Name: depName}, hpa); err != nil {
				continue // not there yet
			}
			scale := &autoscalingv1.Scale{}
			if err := k8s.SubResource("scale").Get(loadCtx, target, scale); err != nil {
				continue
			}
			if scale.Spec.Replicas == hpa.Spec.MaxReplicas {
				continue // an HPA writes only when the count must change
			}
			scale.Spec.Replicas = hpa.Spec.MaxReplicas
			if err := k8s.SubResource("scale").Update(loadCtx, target, client.WithSubResourceBody(scale)); err != nil {
				if !apierrors.IsConflict(err) && loadCtx.Err() == nil {
					loadErr = err
				}
				continue
			}
			scaledByLoad++
		}
	}()

	editSD(t, ns, sd.Name, func(sd *sdepv1.SeldonDeployment) {
		sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec = hpaSpec.DeepCopy()
	})
	waitForObject(t, "the HPA", &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}, nil)
	waitForObject(t, "the Deployment handed to the HPA", dep, func() error {
		if dep.Annotations[controller.AnnotationDesiredHash] == hashBefore {
			return fmt.Errorf("the Deployment still has the fixed-replicas spec")
		}
		return nil
	})
	// Let the reconciles the hand-over causes run out.
	got := &sdepv1.SeldonDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sd.Name}}
	waitForObject(t, "the status of the autoscaled generation", got, func() error {
		if got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("observed generation %d of %d", got.Status.ObservedGeneration, got.Generation)
		}
		return nil
	})
	time.Sleep(time.Second)
	stopLoad()
	<-loadDone
	rw.stop()
	if loadErr != nil {
		t.Errorf("the simulated HPA: %v", loadErr)
	}

	seen := rw.values()
	t.Logf("replicas seen during the hand-over: %v (the simulated HPA scaled %d times)", seen, scaledByLoad)
	if len(seen) == 0 {
		t.Fatal("the watch saw no version of the Deployment")
	}
	for _, v := range seen {
		if v != "4" {
			t.Errorf("replicas went to %s during the hand-over: %v", v, seen)
			break
		}
	}
	if scaledByLoad != 0 {
		t.Errorf("the simulated HPA had to scale back up %d times: the operator moved replicas away from 4", scaledByLoad)
	}
	for _, body := range mgr.writes.deploymentBodies()[writesBefore:] {
		if strings.Contains(body, `"replicas"`) {
			t.Errorf("a write after the hand-over carries replicas: %s", body)
		}
	}
}

// The SeldonDeployment's scale subresource returns the label selector of
// its pods, so `kubectl scale` and an HPA aimed at the SeldonDeployment
// find them (Seldon Core #2485); scaling it sets spec.replicas. (The API
// server serves the scale subresource only while spec.replicas is set.)
func TestScaleSubresourceReturnsTheSelector(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startManager(t, ns)
	sd := fixedReplicas(example(t, "seed-v1.yaml", ns), 1)
	sd.Spec.Predictors[0].Replicas = nil
	sd.Spec.Replicas = new(int32(1))
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	want := naming.LabelSeldonID + "=" + naming.SeldonID(sd)
	scale := &autoscalingv1.Scale{}
	testenv.WaitFor(t, timeout, "the scale subresource to return the selector", func() error {
		if err := k8s.SubResource("scale").Get(ctx, sd.DeepCopy(), scale); err != nil {
			return err
		}
		if scale.Status.Selector != want {
			return fmt.Errorf("selector %q, want %q", scale.Status.Selector, want)
		}
		return nil
	})
	// The selector selects the pods the operator's Deployment makes.
	dep, err := getDeployment(t, ns, deploymentName(sd))
	if err != nil {
		t.Fatal(err)
	}
	sel, err := metav1.ParseToLabelSelector(scale.Status.Selector)
	if err != nil {
		t.Fatal(err)
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("selector %q does not select the pods %v", scale.Status.Selector, dep.Spec.Template.Labels)
	}

	scale.Spec.Replicas = 3
	if err := k8s.SubResource("scale").Update(ctx, sd.DeepCopy(), client.WithSubResourceBody(scale)); err != nil {
		t.Fatal(err)
	}
	waitForObject(t, "the Deployment scaled through the SeldonDeployment", dep, func() error {
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 {
			return fmt.Errorf("replicas %s", replicasOf(dep))
		}
		return nil
	})
}

// A new operator over converged children makes no request that changes
// or dry-runs anything: the comparison finds every child up to date
// without asking the API server how it stores them.
func TestNoRequestsAfterARestart(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	first := startManager(t, ns)
	sd := withPDB(example(t, "seed-v1.yaml", ns))
	fixed := withPDB(fixedReplicas(example(t, "seed-v1.yaml", ns), 0))
	fixed.Name = "fixed-at-zero"
	for _, obj := range []*sdepv1.SeldonDeployment{sd, fixed} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: deploymentName(obj)}}
		waitForObject(t, "the Deployment", dep, nil)
		markDeploymentReady(t, ns, dep.Name)
		waitForState(t, ns, obj.Name, sdepv1.StateAvailable)
	}
	first.stop(t)

	before := reconcileCount(t)
	second := startManager(t, ns)
	testenv.WaitFor(t, timeout, "the new operator to reconcile both", func() error {
		if n := reconcileCount(t) - before; n < 2 {
			return fmt.Errorf("%v reconciles", n)
		}
		return nil
	})
	// Touch a child of each so that each is compared again.
	for i, obj := range []*sdepv1.SeldonDeployment{sd, fixed} {
		n := reconcileCount(t)
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: deploymentName(obj)}}
		patch := fmt.Sprintf(`{"metadata":{"labels":{"example.com/touched":"t%d"}}}`, i)
		if err := k8s.Patch(ctx, dep, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			t.Fatal(err)
		}
		testenv.WaitFor(t, timeout, "a reconcile after the touch", func() error {
			if reconcileCount(t) <= n {
				return fmt.Errorf("no reconcile yet")
			}
			return nil
		})
	}
	if n := second.writes.total.Load(); n != 0 {
		t.Errorf("the restarted operator made %d requests other than reads: %v", n, second.writes.snapshot())
	}
	t.Logf("after a restart: %d requests other than reads", second.writes.total.Load())

	// Drift the new operator has not seen written: one dry-run tells it the
	// difference is not the server's doing, then one patch puts it back.
	depName := deploymentName(sd)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"securityContext":{"allowPrivilegeEscalation":true}}]}}}}`,
		validation.ExecutorContainerName)
	if err := k8s.Patch(ctx, dep, client.RawPatch(types.StrategicMergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
	waitForObject(t, "allowPrivilegeEscalation back to false", dep, func() error {
		if ape := executorOf(dep).SecurityContext.AllowPrivilegeEscalation; ape == nil || *ape {
			return fmt.Errorf("allowPrivilegeEscalation %v", ape)
		}
		return nil
	})
	waitForEventNote(t, ns, sd.Name, "UpdateDeployment", depName, "allowPrivilegeEscalation")
	key := "PATCH /apis/apps/v1/namespaces/" + ns + "/deployments/" + depName
	// The dry-run and the patch; the counter counts both as PATCHes.
	if got := second.writes.snapshot()[key]; got != 2 {
		t.Errorf("%d PATCHes of the Deployment, want a dry-run and a patch: %v", got, second.writes.snapshot())
	}
}
