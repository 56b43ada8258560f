//go:build linux

package seedpods

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sdep-dev/sdep/internal/testenv"
)

// TestImageRunsSdepVersion runs the sdep image's binary on the node:
// `sdep version` in a pod prints the version the release was built with.
func TestImageRunsSdepVersion(t *testing.T) {
	requireNode(t)
	want := os.Getenv("SDEP_VERSION")
	if want == "" {
		t.Skip("SDEP_VERSION is not set (make test-seed-pods sets it to the version it released)")
	}
	image, err := manifestImage(distManifest())
	if err != nil {
		t.Fatal(err)
	}
	k := newClients(t)
	ctx := context.Background()
	const ns = "image-check"
	newNamespace(t, ns)
	testenv.WaitFor(t, time.Minute, "the default ServiceAccount of "+ns, func() error {
		_, err := k.core.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sdep-version"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "sdep", Image: image, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sdep", "version"},
			}},
		},
	}
	if _, err := k.core.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 2*time.Minute, "the sdep version pod to succeed", func() error {
		p, err := k.core.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodSucceeded {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
	logs := testenv.Kubectl(t, node.Kubeconfig, "logs", "-n", ns, pod.Name)
	if !strings.Contains(logs, want) {
		t.Errorf("sdep version in the image printed %q, want it to name %s", logs, want)
	}
}
