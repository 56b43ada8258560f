package hpa

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// Names the seed (examples/seed-hpaspecs.json) produces.
const (
	seedName       = "seldon-model"
	seedDeployment = "seldon-model-example-0-my-dep"
	editedImage    = "seldonio/mock_classifier:1.1"
	editAnnotation = "sdep.dev/e2e-edit"
)

// TestSeedWorkedExample is the seed's worked example on the real HPA
// controller with the operator reconciling throughout: load takes my-dep
// from 1 to 4 replicas; an edit while at 4 lands without touching the
// replicas; without load it returns to 1.
func TestSeedWorkedExample(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "seed")
	// The operator runs in this process with the validating webhook served
	// where the installed configuration points.
	testenv.RunOperator(t, cluster.Config, testenv.OperatorOptions{
		Namespace:     ns,
		Webhook:       &cluster.Env.WebhookInstallOptions,
		ExecutorImage: "sdep:e2e",
	})

	kubectl(t, "apply", "-n", ns, "-f", filepath.Join("..", "..", "examples", "seed-hpaspecs.json"))
	waitReplicas(t, ns, seedDeployment, 1, scaleTimeout)
	testenv.WaitForExplained(t, scaleTimeout, "the operator's HPA for my-dep", func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: seedDeployment}, &autoscalingv2.HorizontalPodAutoscaler{})
	}, exitedProcesses)
	waitStatus(t, ns, 1, func(c *metav1.Condition) error { return nil })

	// Load: every pod uses 1 CPU against a 0.5 CPU request and a 10% target.
	cluster.SetCPU(ns, resource.MustParse("1"))
	up := waitReplicas(t, ns, seedDeployment, 4, scaleTimeout)
	waitStatus(t, ns, 4, func(c *metav1.Condition) error {
		if !strings.Contains(c.Message, "ScalingLimited") {
			return fmt.Errorf("HpasReady does not report the HPA at its maximum: %q", c.Message)
		}
		return nil
	})

	editAtFourReplicas(t, ns)

	cluster.SetCPU(ns, resource.MustParse("0"))
	down := waitReplicas(t, ns, seedDeployment, 1, scaleTimeout)
	waitStatus(t, ns, 1, func(c *metav1.Condition) error { return nil })

	// The HPA controller's events tell the story; the operator's add that
	// the SeldonDeployment became available.
	testenv.WaitForExplained(t, scaleTimeout, "SuccessfulRescale events to 4 and to 1 on the HPA", func() error {
		return hasEvents(ctx, ns, "HorizontalPodAutoscaler", seedDeployment, "SuccessfulRescale", "New size: 4", "New size: 1")
	}, exitedProcesses)
	testenv.WaitForExplained(t, scaleTimeout, "an Available event on the SeldonDeployment", func() error {
		return hasEvents(ctx, ns, "SeldonDeployment", seedName, "Available", "available")
	}, exitedProcesses)
	t.Logf("seed worked example: 1→4 in %.1fs, 4→1 in %.1fs", up.Seconds(), down.Seconds())
}

// editAtFourReplicas changes the model image and adds an annotation while
// the HPA holds my-dep at 4: the new template rolls out and no version of
// the Deployment asks for anything but 4 replicas.
func editAtFourReplicas(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := clientset.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", seedDeployment).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	seen := make(chan []int32, 1)
	go func() {
		var replicas []int32
		for ev := range w.ResultChan() {
			if d, ok := ev.Object.(*appsv1.Deployment); ok && ev.Type == watch.Modified && d.Spec.Replicas != nil {
				replicas = append(replicas, *d.Spec.Replicas)
			}
		}
		seen <- replicas
	}()

	patch := fmt.Sprintf(`[
		{"op": "replace", "path": "/spec/predictors/0/componentSpecs/0/spec/containers/0/image", "value": %q},
		{"op": "add", "path": "/spec/predictors/0/componentSpecs/0/metadata/annotations", "value": {%q: "yes"}}]`,
		editedImage, editAnnotation)
	kubectl(t, "patch", "-n", ns, "seldondeployment", seedName, "--type=json", "-p", patch)

	testenv.WaitForExplained(t, scaleTimeout, "the edit to roll out at 4 replicas", func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: seedDeployment}, d); err != nil {
			return err
		}
		if got := containerImage(d, "classifier"); got != editedImage {
			return fmt.Errorf("classifier image is %q", got)
		}
		if d.Annotations[editAnnotation] != "yes" || d.Spec.Template.Annotations[editAnnotation] != "yes" {
			return fmt.Errorf("annotation %s not on the Deployment and its pods: %v / %v", editAnnotation, d.Annotations, d.Spec.Template.Annotations)
		}
		return replicasAre(d, 4)
	}, exitedProcesses)
	w.Stop()
	replicas := <-seen
	if len(replicas) == 0 {
		t.Fatal("saw no change to the Deployment during the edit")
	}
	for _, r := range replicas {
		if r != 4 {
			t.Fatalf("spec.replicas moved during the edit: %v", replicas)
		}
	}
}

func containerImage(d *appsv1.Deployment, name string) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c.Image
		}
	}
	return ""
}

// waitStatus waits until the SeldonDeployment reports n replicas, is
// Available, and its HpasReady condition is True and accepted by check.
func waitStatus(t *testing.T, ns string, n int32, check func(*metav1.Condition) error) {
	t.Helper()
	testenv.WaitForExplained(t, scaleTimeout, fmt.Sprintf("SeldonDeployment status at %d replicas", n), func() error {
		sd := &sdepv1.SeldonDeployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: seedName}, sd); err != nil {
			return err
		}
		st := sd.Status
		if st.Replicas != n || st.DeploymentStatus[seedDeployment].Replicas != n {
			return fmt.Errorf("status.replicas=%d deploymentStatus=%+v", st.Replicas, st.DeploymentStatus)
		}
		if st.State != sdepv1.StateAvailable {
			return fmt.Errorf("state %s: %s", st.State, st.Description)
		}
		c := meta.FindStatusCondition(st.Conditions, sdepv1.ConditionHpasReady)
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("HpasReady is %+v", c)
		}
		return check(c)
	}, exitedProcesses)
}

// hasEvents checks that, for each of notes, an event with reason about the
// object contains it (core/v1 events; events.k8s.io events are the same objects).
func hasEvents(ctx context.Context, ns, kind, name, reason string, notes ...string) error {
	events, err := clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var got []string
	for _, e := range events.Items {
		if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name && e.Reason == reason {
			got = append(got, e.Message)
		}
	}
	var missing []error
	for _, note := range notes {
		found := false
		for _, m := range got {
			found = found || strings.Contains(m, note)
		}
		if !found {
			missing = append(missing, fmt.Errorf("no %s event on %s %s mentions %q (have %q)", reason, kind, name, note, got))
		}
	}
	return errors.Join(missing...)
}
