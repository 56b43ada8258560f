package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/controller"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// The seed document, POSTed byte for byte as `kubectl create -f` sends it,
// is stored with its predictor-level hpaSpecs and the componentSpec name
// they point at, and the operator creates exactly what `sdep render` prints.
func TestSeedIsStoredIntactAndYieldsTheRenderedObjects(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startManager(t, ns)

	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "seed-hpaspecs.json"))
	if err != nil {
		t.Fatal(err)
	}
	res := clientset.RESTClient().Post().
		AbsPath("/apis/machinelearning.seldon.io/v1alpha2/namespaces", ns, "seldondeployments").
		SetHeader("Content-Type", "application/json").Body(raw).Do(ctx)
	if err := res.Error(); err != nil {
		t.Fatalf("creating the seed: %v", err)
	}

	stored := &sdepv1.SeldonDeployment{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "seldon-model"}, stored); err != nil {
		t.Fatal(err)
	}
	p := stored.Spec.Predictors[0]
	if got := p.ComponentSpecs[0].Metadata.Name; got != "my-dep" {
		t.Errorf("componentSpecs[0].metadata.name = %q after storage, want my-dep", got)
	}
	if len(p.HpaSpecs) != 1 {
		t.Fatalf("hpaSpecs after storage: %+v, want the seed's one entry", p.HpaSpecs)
	}
	h := p.HpaSpecs[0]
	if h.ScaleTargetRef.Name != "my-dep" || h.MinReplicas == nil || *h.MinReplicas != 1 || h.MaxReplicas != 4 ||
		len(h.Metrics) != 1 || h.Metrics[0].Resource == nil || h.Metrics[0].Resource.TargetAverageUtilization == nil ||
		*h.Metrics[0].Resource.TargetAverageUtilization != 10 {
		t.Errorf("hpaSpecs[0] after storage: %+v", h)
	}

	want, err := resources.Build(stored, testenv.BuilderOptions(executorImage))
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Deployments) != 1 || len(want.HPAs) != 1 || len(want.Services) != 2 {
		t.Fatalf("render: %d Deployments, %d HPAs, %d Services; the seed should give 1, 1, 2",
			len(want.Deployments), len(want.HPAs), len(want.Services))
	}
	for _, obj := range want.All() {
		live := obj.DeepCopyObject().(client.Object)
		waitForObject(t, obj.GetObjectKind().GroupVersionKind().Kind+" "+obj.GetName(), live, nil)
		if ok, why, err := controller.Matches(obj, live); err != nil || !ok {
			t.Errorf("%s %s differs from render: %s %v", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), why, err)
		}
		if !equality.Semantic.DeepEqual(obj.GetLabels(), live.GetLabels()) {
			t.Errorf("%s labels = %v, render has %v", obj.GetName(), live.GetLabels(), obj.GetLabels())
		}
		ann := map[string]string{}
		for k, v := range live.GetAnnotations() {
			if k != controller.AnnotationDesiredHash {
				ann[k] = v
			}
		}
		if len(ann) == 0 {
			ann = nil
		}
		if !equality.Semantic.DeepEqual(obj.GetAnnotations(), ann) {
			t.Errorf("%s annotations = %v, render has %v", obj.GetName(), ann, obj.GetAnnotations())
		}
		if !metav1.IsControlledBy(live, stored) {
			t.Errorf("%s is not controlled by the SeldonDeployment: %v", obj.GetName(), live.GetOwnerReferences())
		}
	}
	// Independently of the comparison above: the parts a user reads.
	dep, err := getDeployment(t, ns, want.Deployments[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	if dep.Name != "seldon-model-example-0-my-dep" {
		t.Errorf("Deployment name %q", dep.Name)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
		t.Errorf("an autoscaled Deployment is created without replicas (API default 1); got %v", dep.Spec.Replicas)
	}
	if !equality.Semantic.DeepEqual(containerImages(dep), containerImages(want.Deployments[0])) {
		t.Errorf("containers %v, render has %v", containerImages(dep), containerImages(want.Deployments[0]))
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: want.HPAs[0].Name}, hpa); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(hpa.Spec, want.HPAs[0].Spec) {
		t.Errorf("HPA spec\n%s\nrender has\n%s", jsonOf(hpa.Spec), jsonOf(want.HPAs[0].Spec))
	}
	for _, svc := range want.Services {
		live := &corev1.Service{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(svc), live); err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(live.Spec.Ports, svc.Spec.Ports) || !equality.Semantic.DeepEqual(live.Spec.Selector, svc.Spec.Selector) {
			t.Errorf("Service %s ports/selector %v %v, render has %v %v", svc.Name, live.Spec.Ports, live.Spec.Selector, svc.Spec.Ports, svc.Spec.Selector)
		}
	}
	// Nothing else carries the SeldonDeployment's label.
	if got, wantNames := ownedNames(t, ns, "seldon-model"), renderedNames(&want.Objects); !equality.Semantic.DeepEqual(got, wantNames) {
		t.Errorf("objects in the namespace: %v, render: %v", got, wantNames)
	}
}

func containerImages(d *appsv1.Deployment) []string {
	var out []string
	for _, c := range d.Spec.Template.Spec.Containers {
		out = append(out, c.Name+"="+c.Image)
	}
	return out
}

func jsonOf(v any) string {
	data, _ := json.MarshalIndent(v, "", "  ")
	return string(data)
}

func ownedNames(t *testing.T, ns, sdName string) []string {
	t.Helper()
	sel := client.MatchingLabels{naming.LabelSeldonID: sdName}
	var names []string
	lists := map[string]client.ObjectList{
		"Deployment": &appsv1.DeploymentList{}, "Service": &corev1.ServiceList{},
		"HorizontalPodAutoscaler": &autoscalingv2.HorizontalPodAutoscalerList{}, "PodDisruptionBudget": &policyv1.PodDisruptionBudgetList{},
	}
	for kind, list := range lists {
		if err := k8s.List(context.Background(), list, client.InNamespace(ns), sel); err != nil {
			t.Fatal(err)
		}
		switch l := list.(type) {
		case *appsv1.DeploymentList:
			for _, o := range l.Items {
				names = append(names, kind+"/"+o.Name)
			}
		case *corev1.ServiceList:
			for _, o := range l.Items {
				names = append(names, kind+"/"+o.Name)
			}
		case *autoscalingv2.HorizontalPodAutoscalerList:
			for _, o := range l.Items {
				names = append(names, kind+"/"+o.Name)
			}
		case *policyv1.PodDisruptionBudgetList:
			for _, o := range l.Items {
				names = append(names, kind+"/"+o.Name)
			}
		}
	}
	sort.Strings(names)
	return names
}

func renderedNames(objs *resources.Objects) []string {
	var names []string
	for _, o := range objs.All() {
		names = append(names, o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName())
	}
	sort.Strings(names)
	return names
}

// The HPA contract: once an autoscaler has set replicas, twenty edits of
// the SeldonDeployment and a manager restart each land on the Deployment
// or HPA, replicas stay where the autoscaler put them, and no write the
// operator makes to a Deployment carries spec.replicas.
func TestOperatorNeverFightsTheHPA(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	mgr := startManager(t, ns)
	sd := example(t, "seed-v1.yaml", ns)
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	depName := deploymentName(sd)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}
	waitForObject(t, "the Deployment", dep, nil)
	hpaKey := client.ObjectKey{Namespace: ns, Name: depName}
	waitForObject(t, "the HPA", &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}, nil)

	scaleDeployment(t, ns, depName, 3)

	type edit struct {
		name   string
		change func(*sdepv1.SeldonDeployment)
		landed func(*appsv1.Deployment, *autoscalingv2.HorizontalPodAutoscaler) error
		// scaling edits must leave the pod template alone
		scalingOnly bool
	}
	comp := func(sd *sdepv1.SeldonDeployment) *sdepv1.SeldonPodSpec {
		return &sd.Spec.Predictors[0].ComponentSpecs[0]
	}
	container := func(d *appsv1.Deployment) *corev1.Container {
		for i := range d.Spec.Template.Spec.Containers {
			if d.Spec.Template.Spec.Containers[i].Name == "classifier" {
				return &d.Spec.Template.Spec.Containers[i]
			}
		}
		return &corev1.Container{}
	}
	var edits []edit
	for round := range 4 {
		image := fmt.Sprintf("seldonio/mock_classifier:1.%d", round+1)
		envValue := fmt.Sprintf("v%d", round)
		label := fmt.Sprintf("l%d", round)
		note := fmt.Sprintf("n%d", round)
		maxReplicas, minReplicas := int32(5+round), int32(1+round%2)
		edits = append(edits,
			edit{"image " + image, func(sd *sdepv1.SeldonDeployment) { comp(sd).Spec.Containers[0].Image = image },
				func(d *appsv1.Deployment, _ *autoscalingv2.HorizontalPodAutoscaler) error {
					if got := container(d).Image; got != image {
						return fmt.Errorf("image %q", got)
					}
					return nil
				}, false},
			edit{"env " + envValue, func(sd *sdepv1.SeldonDeployment) {
				comp(sd).Spec.Containers[0].Env = []corev1.EnvVar{{Name: "EDIT", Value: envValue}}
			}, func(d *appsv1.Deployment, _ *autoscalingv2.HorizontalPodAutoscaler) error {
				if env := container(d).Env; len(env) == 0 || !hasEnv(env, "EDIT", envValue) {
					return fmt.Errorf("env %v", env)
				}
				return nil
			}, false},
			edit{"label " + label, func(sd *sdepv1.SeldonDeployment) {
				comp(sd).Metadata.Labels = map[string]string{"edit": label}
			}, func(d *appsv1.Deployment, _ *autoscalingv2.HorizontalPodAutoscaler) error {
				if got := d.Spec.Template.Labels["edit"]; got != label {
					return fmt.Errorf("pod label edit=%q", got)
				}
				return nil
			}, false},
			edit{"annotation " + note, func(sd *sdepv1.SeldonDeployment) {
				sd.Spec.Annotations = map[string]string{"example.com/note": note}
			}, func(d *appsv1.Deployment, _ *autoscalingv2.HorizontalPodAutoscaler) error {
				if got := d.Annotations["example.com/note"]; got != note {
					return fmt.Errorf("annotation %q", got)
				}
				return nil
			}, false},
			edit{fmt.Sprintf("hpa bounds %d-%d", minReplicas, maxReplicas), func(sd *sdepv1.SeldonDeployment) {
				comp(sd).HpaSpec.MaxReplicas = maxReplicas
				comp(sd).HpaSpec.MinReplicas = &minReplicas
			}, func(_ *appsv1.Deployment, h *autoscalingv2.HorizontalPodAutoscaler) error {
				if h.Spec.MaxReplicas != maxReplicas || h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != minReplicas {
					return fmt.Errorf("hpa %v-%d", h.Spec.MinReplicas, h.Spec.MaxReplicas)
				}
				return nil
			}, true},
		)
	}
	if len(edits) != 20 {
		t.Fatalf("%d edits", len(edits))
	}

	for i, e := range edits {
		if i == 10 {
			mgr.stop(t)
			mgr = startManager(t, ns)
		}
		before, err := getDeployment(t, ns, depName)
		if err != nil {
			t.Fatal(err)
		}
		editSD(t, ns, sd.Name, e.change)
		testenv.WaitFor(t, timeout, fmt.Sprintf("edit %d (%s) to land", i+1, e.name), func() error {
			d, err := getDeployment(t, ns, depName)
			if err != nil {
				return err
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
				t.Fatalf("after edit %d (%s) replicas = %s, want the autoscaler's 3", i+1, e.name, replicasOf(d))
			}
			h := &autoscalingv2.HorizontalPodAutoscaler{}
			if err := k8s.Get(ctx, hpaKey, h); err != nil {
				return err
			}
			return e.landed(d, h)
		})
		if e.scalingOnly {
			after, err := getDeployment(t, ns, depName)
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(before.Spec.Template, after.Spec.Template) || before.Generation != after.Generation {
				t.Errorf("edit %d (%s) changed the pod template (generation %d -> %d)", i+1, e.name, before.Generation, after.Generation)
			}
		}
	}
	final, err := getDeployment(t, ns, depName)
	if err != nil {
		t.Fatal(err)
	}
	if *final.Spec.Replicas != 3 {
		t.Errorf("final replicas %d, want 3", *final.Spec.Replicas)
	}
	for _, body := range mgr.writes.deploymentBodies() {
		if strings.Contains(body, `"replicas"`) {
			t.Errorf("the operator wrote a Deployment with replicas: %s", body)
		}
	}
}

func replicasOf(d *appsv1.Deployment) string {
	if d.Spec.Replicas == nil {
		return "unset"
	}
	return fmt.Sprint(*d.Spec.Replicas)
}

func hasEnv(env []corev1.EnvVar, name, value string) bool {
	for _, e := range env {
		if e.Name == name && e.Value == value {
			return true
		}
	}
	return false
}

// withPDB adds a pdbSpec to componentSpecs[0].
func withPDB(sd *sdepv1.SeldonDeployment) *sdepv1.SeldonDeployment {
	one := intstr.FromInt32(1)
	sd.Spec.Predictors[0].ComponentSpecs[0].PdbSpec = &sdepv1.SeldonPdbSpec{MinAvailable: &one}
	return sd
}
