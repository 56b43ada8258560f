package hpa

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/testenv"
)

const (
	toZeroName      = "requests-to-zero"
	toZeroComponent = "requests-to-zero-default-0-my-dep"
	toZeroExecutor  = "requests-to-zero-default-svc-orch"
)

// examples/requests-to-zero.json on the real Deployment and HPA
// controllers, with the operator running: the executor's own Deployment
// runs, the component's starts with no pod, and the HPA (minReplicas 1 as
// rendered) leaves it at 0, inactive, while the SeldonDeployment is
// Available and says the component is scaled to zero. Moving the component
// to 1 and back to 0 through the scale subresource, as the scaler does,
// sticks: neither the operator nor the HPA undoes it.
func TestScaleToZeroOnTheHPAController(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "tozero")
	testenv.RunOperator(t, cluster.Config, testenv.OperatorOptions{
		Namespace:     ns,
		Webhook:       &cluster.Env.WebhookInstallOptions,
		ExecutorImage: "sdep:e2e",
	})
	kubectl(t, "apply", "-n", ns, "-f", filepath.Join("..", "..", "examples", "requests-to-zero.json"))

	waitReplicas(t, ns, toZeroExecutor, 1, scaleTimeout)
	waitReplicas(t, ns, toZeroComponent, 0, scaleTimeout)
	testenv.WaitForExplained(t, scaleTimeout, "the HPA inactive at zero", func() error {
		return hpaInactiveAtZero(ctx, ns)
	}, exitedProcesses)
	waitToZeroStatus(t, ns, func(st sdepv1.SeldonDeploymentStatus) error {
		if st.State != sdepv1.StateAvailable {
			return fmt.Errorf("state %s: %s", st.State, st.Description)
		}
		if c := meta.FindStatusCondition(st.Conditions, sdepv1.ConditionDeploymentsReady); c == nil ||
			c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "scaled to zero") {
			return fmt.Errorf("DeploymentsReady %+v", c)
		}
		if c := meta.FindStatusCondition(st.Conditions, sdepv1.ConditionHpasReady); c == nil ||
			c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "scaled to zero") {
			return fmt.Errorf("HpasReady %+v", c)
		}
		return nil
	})
	// Several HPA syncs (1 s each here): nothing wakes the component.
	stays(t, ns, 0, 4*time.Second)

	// The scaler's 0->1: a pod starts and the count stays.
	scaleTo(t, ns, 1)
	waitReplicas(t, ns, toZeroComponent, 1, scaleTimeout)
	waitToZeroStatus(t, ns, func(st sdepv1.SeldonDeploymentStatus) error {
		ds := st.DeploymentStatus[toZeroComponent]
		if ds.Status != string(sdepv1.StateAvailable) || ds.AvailableReplicas != 1 || ds.Description != "" {
			return fmt.Errorf("component status %+v", ds)
		}
		return nil
	})
	stays(t, ns, 1, 4*time.Second)

	// And 1->0: the pod goes, the status says so again.
	scaleTo(t, ns, 0)
	waitReplicas(t, ns, toZeroComponent, 0, scaleTimeout)
	testenv.WaitForExplained(t, scaleTimeout, "the HPA inactive at zero again", func() error {
		return hpaInactiveAtZero(ctx, ns)
	}, exitedProcesses)
	waitToZeroStatus(t, ns, func(st sdepv1.SeldonDeploymentStatus) error {
		ds := st.DeploymentStatus[toZeroComponent]
		if st.State != sdepv1.StateAvailable || !strings.Contains(ds.Description, "scaled to zero") {
			return fmt.Errorf("state %s, component %+v", st.State, ds)
		}
		return nil
	})
	stays(t, ns, 0, 3*time.Second)
}

// hpaInactiveAtZero checks the real HPA controller's own word on a target
// at 0 replicas, the condition the operator's status reads.
func hpaInactiveAtZero(ctx context.Context, ns string) error {
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: toZeroComponent}, h); err != nil {
		return err
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 1 {
		return fmt.Errorf("HPA minReplicas %v, want 1 as rendered", h.Spec.MinReplicas)
	}
	for _, c := range h.Status.Conditions {
		if c.Type == autoscalingv2.ScalingActive && c.Status == corev1.ConditionFalse && c.Reason == "ScalingDisabled" {
			return nil
		}
	}
	return fmt.Errorf("HPA conditions %+v", h.Status.Conditions)
}

func waitToZeroStatus(t *testing.T, ns string, check func(sdepv1.SeldonDeploymentStatus) error) {
	t.Helper()
	testenv.WaitForExplained(t, scaleTimeout, "the SeldonDeployment's status", func() error {
		sd := &sdepv1.SeldonDeployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: toZeroName}, sd); err != nil {
			return err
		}
		if sd.Status.ObservedGeneration != sd.Generation {
			return fmt.Errorf("status of generation %d, want %d", sd.Status.ObservedGeneration, sd.Generation)
		}
		return check(sd.Status)
	}, exitedProcesses)
}

// scaleTo writes the component's count through the scale subresource.
func scaleTo(t *testing.T, ns string, n int32) {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: toZeroComponent}}
	scale := &autoscalingv1.Scale{}
	if err := k8s.SubResource("scale").Get(context.Background(), d, scale); err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = n
	if err := k8s.SubResource("scale").Update(context.Background(), d, client.WithSubResourceBody(scale)); err != nil {
		t.Fatal(err)
	}
}

// stays checks for a while that the component keeps n replicas.
func stays(t *testing.T, ns string, n int32, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		dep := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: toZeroComponent}, dep); err != nil {
			t.Fatal(err)
		}
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != n {
			t.Fatalf("the component went from %d to %v replicas on its own", n, dep.Spec.Replicas)
		}
	}
}
