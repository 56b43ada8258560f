package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/testenv"
)

const timeout = 30 * time.Second

// example decodes a document from examples/ into namespace ns.
func example(t *testing.T, file, ns string) *sdepv1.SeldonDeployment {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", file))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decode.Documents(file, data)
	if err != nil {
		t.Fatal(err)
	}
	sd := docs[0].Object.DeepCopy()
	sd.Namespace = ns
	return sd
}

// deploymentName is the Deployment of predictor 0's first componentSpec.
func deploymentName(sd *sdepv1.SeldonDeployment) string {
	return naming.DeploymentName(sd, &sd.Spec.Predictors[0], 0)
}

func getDeployment(t *testing.T, ns, name string) (*appsv1.Deployment, error) {
	t.Helper()
	d := &appsv1.Deployment{}
	return d, k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d)
}

// waitForObject waits until obj exists and check accepts it.
func waitForObject(t *testing.T, what string, obj client.Object, check func() error) {
	t.Helper()
	key := client.ObjectKeyFromObject(obj)
	testenv.WaitFor(t, timeout, what, func() error {
		if err := k8s.Get(context.Background(), key, obj); err != nil {
			return err
		}
		if check == nil {
			return nil
		}
		return check()
	})
}

// waitGone waits until obj is deleted.
func waitGone(t *testing.T, what string, obj client.Object) {
	t.Helper()
	key := client.ObjectKeyFromObject(obj)
	testenv.WaitFor(t, timeout, what, func() error {
		err := k8s.Get(context.Background(), key, obj)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("%s %s still exists", obj.GetObjectKind().GroupVersionKind().Kind, key)
	})
}

// editSD applies edit to the latest stored SeldonDeployment, retrying on conflicts.
func editSD(t *testing.T, ns, name string, edit func(*sdepv1.SeldonDeployment)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sd := &sdepv1.SeldonDeployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sd); err != nil {
			return err
		}
		edit(sd)
		return k8s.Update(context.Background(), sd)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// scaleDeployment sets replicas through the scale subresource, as an HPA does.
func scaleDeployment(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	d := &appsv1.Deployment{}
	d.Namespace, d.Name = ns, name
	scale := &autoscalingv1.Scale{}
	if err := k8s.SubResource("scale").Get(context.Background(), d, scale); err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = replicas
	if err := k8s.SubResource("scale").Update(context.Background(), d, client.WithSubResourceBody(scale)); err != nil {
		t.Fatal(err)
	}
}

// markDeploymentReady writes the status a Deployment controller would
// write once every replica is up (envtest runs no Deployment controller).
func markDeploymentReady(t *testing.T, ns, name string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := getDeployment(t, ns, name)
		if err != nil {
			return err
		}
		r := int32(1)
		if d.Spec.Replicas != nil {
			r = *d.Spec.Replicas
		}
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation,
			Replicas:           r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r,
			Conditions: []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
			}},
		}
		return k8s.Status().Update(context.Background(), d)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitForState waits until the SeldonDeployment reports state for its
// latest generation, and returns it.
func waitForState(t *testing.T, ns, name string, state sdepv1.State) *sdepv1.SeldonDeployment {
	t.Helper()
	sd := &sdepv1.SeldonDeployment{}
	sd.Namespace, sd.Name = ns, name
	waitForObject(t, "state "+string(state), sd, func() error {
		if sd.Status.ObservedGeneration != sd.Generation || sd.Status.State != state {
			return fmt.Errorf("generation %d, status %+v", sd.Generation, sd.Status)
		}
		return nil
	})
	return sd
}

// condition returns the condition of type t as "Status Reason: Message",
// failing the test without it.
func condition(t *testing.T, sd *sdepv1.SeldonDeployment, typ string) string {
	t.Helper()
	c := conditionText(sd, typ)
	if c == "" {
		t.Fatalf("no %s condition in %+v", typ, sd.Status.Conditions)
	}
	return c
}

// conditionText is condition for polling: "" while the condition is missing.
func conditionText(sd *sdepv1.SeldonDeployment, typ string) string {
	c := meta.FindStatusCondition(sd.Status.Conditions, typ)
	if c == nil {
		return ""
	}
	return string(c.Status) + " " + c.Reason + ": " + c.Message
}
