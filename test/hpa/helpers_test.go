package hpa

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// waitFor polls check until it returns nil, failing the test with the
// last error after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			if exited := cluster.Exited(); exited != nil {
				t.Fatalf("timed out after %s waiting for %s: %v\n%v", timeout, what, err, exited)
			}
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReplicas waits until the Deployment wants n replicas and has n
// available, all of the latest template, and returns how long that took.
func waitReplicas(t *testing.T, ns, name string, n int32, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, timeout, fmt.Sprintf("Deployment %s/%s at %d replicas", ns, name, n), func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return err
		}
		return replicasAre(d, n)
	})
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
	return kubectlAt(t, cluster.Kubeconfig, args...)
}

// kubectlAt runs that kubectl with another kubeconfig.
func kubectlAt(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	path := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("kubectl is missing from KUBEBUILDER_ASSETS (%v); build it with hack/control-plane.sh all", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
