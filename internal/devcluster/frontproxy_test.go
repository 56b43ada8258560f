package devcluster

import (
	"context"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sdep-dev/sdep/internal/testenv"
)

// TestMetricsServerSeesTheRealUser: with the front proxy configured and no
// grant to system:anonymous, the real metrics-server answers an admin's
// node metrics through the aggregator (it authorises the user the API
// server names in the identity headers), and the API server publishes the
// requestheader settings for aggregated APIs.
func TestMetricsServerSeesTheRealUser(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set (the local control plane's binaries)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Metrics: MetricsServer, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Stop() }()

	cm, err := c.clientset.CoreV1().ConfigMaps("kube-system").Get(ctx, "extension-apiserver-authentication", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["requestheader-client-ca-file"] == "" || cm.Data["requestheader-allowed-names"] != `["front-proxy-client"]` {
		t.Fatalf("extension-apiserver-authentication lacks the requestheader settings: %v", cm.Data)
	}
	if _, err := c.clientset.RbacV1().ClusterRoleBindings().Get(ctx, "sdep-dev:anonymous-metrics", metav1.GetOptions{}); err == nil {
		t.Fatal("the anonymous metrics grant still exists")
	}
	// A list needs the user's authorisation only (system:anonymous would
	// get 403 Forbidden): it answers 200 even before the first scrape.
	err = testenv.Poll(ctx, time.Minute, "pod metrics through the aggregator", func() error {
		return c.clientset.Discovery().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods").Do(ctx).Error()
	})
	if err != nil {
		t.Fatal(err)
	}
}
