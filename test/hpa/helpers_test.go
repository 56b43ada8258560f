package hpa

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sdep-dev/sdep/internal/testenv"
)

// newNamespace makes a namespace for one test.
func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// exitedProcesses names a control-plane process that has exited, to
// explain a timeout; empty while all of them run.
func exitedProcesses() string {
	if exited := cluster.Exited(); exited != nil {
		return exited.Error()
	}
	return ""
}

// waitReplicas waits until the Deployment wants n replicas and has n
// available, all of the latest template, and returns how long that took.
func waitReplicas(t *testing.T, ns, name string, n int32, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	testenv.WaitForExplained(t, timeout, fmt.Sprintf("Deployment %s/%s at %d replicas", ns, name, n), func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return err
		}
		return replicasAre(d, n)
	}, exitedProcesses)
	return time.Since(start)
}

func replicasAre(d *appsv1.Deployment, n int32) error {
	st := d.Status
	if d.Spec.Replicas == nil || *d.Spec.Replicas != n || st.ObservedGeneration < d.Generation ||
		st.UpdatedReplicas != n || st.AvailableReplicas != n || st.Replicas != n {
		want := "nil"
		if d.Spec.Replicas != nil {
			want = fmt.Sprint(*d.Spec.Replicas)
		}
		return fmt.Errorf("spec.replicas=%s status: replicas=%d updated=%d available=%d (observed generation %d of %d)",
			want, st.Replicas, st.UpdatedReplicas, st.AvailableReplicas, st.ObservedGeneration, d.Generation)
	}
	return nil
}

// kubectl runs the kubectl built at the apiserver's version against the cluster.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return testenv.Kubectl(t, cluster.Kubeconfig, args...)
}
