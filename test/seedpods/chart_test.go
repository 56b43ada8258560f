//go:build linux

package seedpods

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// TestChartInstallsAndReconcilesTheSeed installs the Helm chart's objects
// (helm template, applied server-side) and checks that the operator the chart runs reconciles the seed into pods
// that answer.
func TestChartInstallsAndReconcilesTheSeed(t *testing.T) {
	requireNode(t)
	helm := os.Getenv("SDEP_HELM")
	if helm == "" {
		t.Skip("SDEP_HELM is not set (make test-seed-pods sets it to the helm hack/helm.sh builds)")
	}
	k := newClients(t)
	image, err := manifestImage(distManifest())
	if err != nil {
		t.Fatal(err)
	}
	const namespace = "sdep-system"
	out, err := exec.Command(helm, "template", "sdep", filepath.Join(repo, "charts", "sdep"),
		"--namespace", namespace, "--include-crds", "--set", "image="+image).CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	rendered := filepath.Join(t.TempDir(), "chart.yaml")
	if err := os.WriteFile(rendered, out, 0o644); err != nil {
		t.Fatal(err)
	}
	// helm creates no namespace; a user passes --create-namespace.
	newNamespace(t, namespace)
	start := time.Now()
	install(t, k, rendered)

	const ns = "chart"
	seedPath := filepath.Join(repo, "examples", seedFile)
	newNamespace(t, ns)
	testenv.Kubectl(t, node.Kubeconfig, "apply", "-n", ns, "-f", seedPath)
	sd := seedObject(t, seedPath, func(sd *sdepv1.SeldonDeployment) { sd.Namespace = ns })
	names := seedNamesFor(t, sd, resources.Options{ExecutorImage: image})
	waitState(t, k, ns, sd.Name, sdepv1.StateAvailable, scaleTimeout)
	svc, err := k.core.CoreV1().Services(ns).Get(context.Background(), names.service, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := predictOnce(serviceURL(t, svc)); err != nil {
		t.Fatalf("the seed installed by the chart's operator does not answer: %v", err)
	}
	t.Logf("chart: the seed Available and answering %.1fs after the install", time.Since(start).Seconds())
}
