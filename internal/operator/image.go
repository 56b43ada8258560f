package operator

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sdep-dev/sdep/internal/version"
)

// Environment the operator reads from its own pod (the downward API and
// release tooling).
const (
	EnvPodName        = "POD_NAME"
	EnvPodNamespace   = "POD_NAMESPACE"
	EnvExecutorImage  = "RELATED_IMAGE_EXECUTOR"
	OperatorContainer = "operator"
)

// Image sources, as ResolveExecutorImage reports them.
const (
	ImageFromFlag    = "--executor-image"
	ImageFromEnv     = EnvExecutorImage
	ImageFromOwnPod  = "the operator's own pod"
	ImageFromVersion = "this build's default"
)

// ResolveExecutorImage returns the executor image and where it came from:
// flag (when not empty), else $RELATED_IMAGE_EXECUTOR, else the image of
// the operator's own container when $POD_NAME and $POD_NAMESPACE say it
// runs in a pod (read from the API server once: the container named
// "operator", else the first), else version.Image(). getenv is os.Getenv
// when nil. A pod that cannot be read is an error, not a silent fallback to
// an image that may not exist in the cluster's registry.
func ResolveExecutorImage(ctx context.Context, r client.Reader, flag string, getenv func(string) string) (string, string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if flag != "" {
		return flag, ImageFromFlag, nil
	}
	if img := getenv(EnvExecutorImage); img != "" {
		return img, ImageFromEnv, nil
	}
	name, ns := getenv(EnvPodName), getenv(EnvPodNamespace)
	if name == "" && ns == "" {
		return version.Image(), ImageFromVersion, nil
	}
	if name == "" || ns == "" {
		return "", "", fmt.Errorf("only one of $%s (%q) and $%s (%q) is set: set both from the downward API "+
			"(metadata.name, metadata.namespace) so the executor gets the operator's image, or set --executor-image or $%s",
			EnvPodName, name, EnvPodNamespace, ns, EnvExecutorImage)
	}
	pod := &corev1.Pod{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, pod); err != nil {
		return "", "", fmt.Errorf("reading the operator's own pod %s/%s ($%s, $%s) for the executor image: %w (grant get on pods in that namespace, or set --executor-image or $%s)",
			ns, name, EnvPodNamespace, EnvPodName, err, EnvExecutorImage)
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == OperatorContainer && c.Image != "" {
			return c.Image, ImageFromOwnPod, nil
		}
	}
	if len(pod.Spec.Containers) > 0 && pod.Spec.Containers[0].Image != "" {
		return pod.Spec.Containers[0].Image, ImageFromOwnPod, nil
	}
	return "", "", fmt.Errorf("the operator's own pod %s/%s has no container image to give the executor: set --executor-image or $%s", ns, name, EnvExecutorImage)
}
