// Package hpa runs the seed's worked example on real Kubernetes components:
// kube-apiserver, etcd, kube-controller-manager (whose HPA controller does
// the scaling), kube-scheduler, kwok (pods become Running without a
// kubelet) and a metrics.k8s.io API whose CPU figures the test sets.
//
// KUBEBUILDER_ASSETS must name a folder with every binary
// `hack/control-plane.sh all` builds. SDEP_E2E_METRICS=metrics-server runs
// the same scenarios with the real metrics-server scraping kwok (slower).
package hpa

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sdep-dev/sdep/internal/devcluster"
	"github.com/sdep-dev/sdep/internal/operator"
	"github.com/sdep-dev/sdep/internal/testenv"
)

var (
	cluster   *devcluster.Cluster
	k8s       client.Client
	clientset *kubernetes.Clientset
	// scaleTimeout bounds each scaling step; metrics-server samples every 10 s.
	scaleTimeout = 30 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "FAIL: KUBEBUILDER_ASSETS is not set. These tests need the whole local control plane:\n"+
			"  export KUBEBUILDER_ASSETS=$(hack/control-plane.sh all)")
		return 1
	}
	testenv.SetTestLogger()

	mode := devcluster.MetricsFake
	if v := os.Getenv("SDEP_E2E_METRICS"); v != "" {
		mode = devcluster.MetricsMode(v)
	}
	if mode == devcluster.MetricsServer {
		scaleTimeout = 3 * time.Minute
	}
	opts := devcluster.Options{
		Metrics:           mode,
		CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")},
		WebhookPaths:      []string{filepath.Join("..", "..", "config", "webhook", "manifests.yaml")},
		Log:               os.Stderr,
	}
	if os.Getenv("SDEP_TEST_KEEP_LOGS") != "" {
		dir, err := os.MkdirTemp("", "sdep-hpa-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			return 1
		}
		opts.Dir = dir
	}
	var err error
	cluster, err = devcluster.Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: starting the local control plane:", err)
		return 1
	}
	defer func() {
		start := time.Now()
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the local control plane:", err)
		}
		fmt.Fprintf(os.Stderr, "devcluster: stopped in %s\n", time.Since(start).Round(10*time.Millisecond))
	}()
	if k8s, err = client.New(cluster.Config, client.Options{Scheme: operator.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	clientset = kubernetes.NewForConfigOrDie(cluster.Config)
	return m.Run()
}
