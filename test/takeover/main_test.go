// Package takeover proves that sdep takes over, in place, a SeldonDeployment
// whose children the Seldon Core 1.18 operator made: on real Kubernetes
// components (kube-apiserver, etcd, kube-controller-manager's Deployment,
// ReplicaSet, HPA and garbage-collector controllers, kube-scheduler, and
// kwok so that pods run without a kubelet), the test builds the objects as
// that operator leaves them, starts sdep's operator and watches the rollout.
//
// KUBEBUILDER_ASSETS must name a folder with every binary
// `hack/control-plane.sh all` builds.
package takeover

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
	k8s       client.Client // the test's own client: not counted
	clientset *kubernetes.Clientset
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
	var err error
	cluster, err = devcluster.Start(context.Background(), devcluster.Options{
		Metrics:           devcluster.MetricsFake,
		CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")},
		Log:               os.Stderr,
	})
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
