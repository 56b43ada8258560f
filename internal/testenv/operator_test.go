package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/operator"
	"github.com/sdep-dev/sdep/internal/validation"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestStartOperatorWithItsWebhookClusterWide starts the operator as
// `sdep dev cluster` does (every namespace, webhook served) and checks what
// StartOperator promises: the webhook answers when it returns, the
// executor image and transport wrapper are the ones asked for, and Stop
// stops it.
func TestStartOperatorWithItsWebhookClusterWide(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set. This test needs kube-apiserver and etcd:\n" +
			"  export KUBEBUILDER_ASSETS=$(hack/control-plane.sh)")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths: []string{filepath.Join("..", "..", "config", "webhook", "manifests.yaml")},
		},
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping kube-apiserver and etcd: %v", err)
		}
	})
	k8s, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}

	var wrapped atomic.Int64
	const image = "sdep:testenv"
	op, err := StartOperator(cfg, OperatorOptions{
		Webhook:       &env.WebhookInstallOptions,
		ExecutorImage: image,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				wrapped.Add(1)
				return rt.RoundTrip(r)
			})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Stop() })
	if err := op.Manager.GetWebhookServer().StartedChecker()(nil); err != nil {
		t.Errorf("the webhook server does not answer once StartOperator has returned: %v", err)
	}

	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "seed-v1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decode.Documents("seed-v1.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	// Two namespaces: a cluster-wide operator reconciles both.
	for _, nsName := range []string{"first", "second"} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName}}); err != nil {
			t.Fatal(err)
		}
		sd := docs[0].Object.DeepCopy()
		sd.Namespace = nsName
		if err := k8s.Create(ctx, sd); err != nil {
			t.Fatal(err)
		}
		key := client.ObjectKey{Namespace: nsName, Name: naming.DeploymentName(sd, &sd.Spec.Predictors[0], 0)}
		WaitFor(t, 30*time.Second, "the Deployment "+key.String()+" with the executor image", func() error {
			d := &appsv1.Deployment{}
			if err := k8s.Get(ctx, key, d); err != nil {
				return err
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				if c.Name == validation.ExecutorContainerName && c.Image == image {
					return nil
				}
			}
			return fmt.Errorf("containers %v", d.Spec.Template.Spec.Containers)
		})
	}

	// The webhook is the operator's: it refuses what only sdep's validator catches.
	bad := docs[0].Object.DeepCopy()
	bad.Namespace, bad.Name = "first", "bad-protocol"
	bad.Spec.Protocol = "http"
	if err := k8s.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "denied the request") {
		t.Errorf("creating a SeldonDeployment with protocol http: %v, want the webhook to deny it", err)
	}

	if wrapped.Load() == 0 {
		t.Error("the operator made no request through WrapTransport")
	}
	if err := op.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-op.Done():
	default:
		t.Fatal("Done is not closed after Stop")
	}
	if err := op.Stop(); err != nil {
		t.Errorf("a second Stop: %v", err)
	}
}
