package operator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/operator"
	"github.com/sdep-dev/sdep/internal/testenv"
)

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// startReturningManager is startManager that hands the manager back, for
// tests that look into its cache.
func startReturningManager(t *testing.T, opts operator.Options) (manager.Manager, client.Client) {
	t.Helper()
	cfg, k8s := startAPIServer(t)
	opts.Controller = crcontroller.Options{SkipNameValidation: new(true)}
	mgr, err := operator.NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the manager stopped with: %v", err)
		}
	})
	return mgr, k8s
}

// The operator's cache holds the children sdep builds and nothing else of
// their kinds, and no object in it keeps kubectl's last-applied copy.
func TestCacheHoldsOnlyWhatTheReconcilerReads(t *testing.T) {
	ctx := context.Background()
	mgr, k8s := startReturningManager(t, operator.Options{
		Resources: testenv.BuilderOptions("sdep:test"), MetricsAddr: "0", HealthAddr: "0", WatchNamespace: "models",
	})
	createNamespace(t, k8s, "models")
	// Someone else's Service and Deployment in the watched namespace.
	foreignService := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "models", Name: "someone-elses", Labels: map[string]string{"app": "other"}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}
	foreignDeployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "models", Name: "someone-elses"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "other"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "other:1"}}},
			},
		},
	}
	for _, obj := range []client.Object{foreignService, foreignDeployment} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	sd := seed(t)
	sd.Namespace = "models"
	sd.Annotations = map[string]string{lastApplied: `{"kind":"SeldonDeployment"}`, "team": "search"}
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}

	cached := mgr.GetCache()
	testenv.WaitFor(t, 30*time.Second, "the SeldonDeployment's Services and Deployment in the cache", func() error {
		var services corev1.ServiceList
		if err := cached.List(ctx, &services, client.InNamespace("models")); err != nil {
			return err
		}
		var deployments appsv1.DeploymentList
		if err := cached.List(ctx, &deployments, client.InNamespace("models")); err != nil {
			return err
		}
		if len(services.Items) < 2 || len(deployments.Items) < 1 {
			return fmt.Errorf("%d Services, %d Deployments", len(services.Items), len(deployments.Items))
		}
		for _, s := range services.Items {
			if s.Labels[naming.LabelSeldonID] == "" {
				t.Errorf("the cache holds Service %q, which sdep did not build", s.Name)
			}
		}
		for _, d := range deployments.Items {
			if d.Labels[naming.LabelSeldonID] == "" {
				t.Errorf("the cache holds Deployment %q, which sdep did not build", d.Name)
			}
		}
		return nil
	})
	// The API server, read past the cache, has them.
	if err := mgr.GetAPIReader().Get(ctx, client.ObjectKeyFromObject(foreignService), &corev1.Service{}); err != nil {
		t.Errorf("the API reader: %v", err)
	}

	got := &sdepv1.SeldonDeployment{}
	if err := cached.Get(ctx, client.ObjectKeyFromObject(sd), got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Annotations[lastApplied]; ok {
		t.Errorf("the cached SeldonDeployment keeps %s", lastApplied)
	}
	if got.Annotations["team"] != "search" {
		t.Errorf("the cached SeldonDeployment's other annotations: %v, want team=search kept", got.Annotations)
	}
	if got.ManagedFields != nil {
		t.Errorf("the cached SeldonDeployment keeps managedFields")
	}
}

// A child that lost sdep's label leaves the cache; the operator reads it
// from the API server and puts the label back instead of failing to create it.
func TestAChildWithoutItsLabelIsRelabelled(t *testing.T) {
	ctx := context.Background()
	_, k8s := startReturningManager(t, operator.Options{
		Resources: testenv.BuilderOptions("sdep:test"), MetricsAddr: "0", HealthAddr: "0",
	})
	createNamespace(t, k8s, "models")
	sd := seed(t)
	sd.Namespace = "models"
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKey{Namespace: "models", Name: naming.DeploymentName(sd, &sd.Spec.Predictors[0], 0)}
	d := &appsv1.Deployment{}
	testenv.WaitFor(t, 30*time.Second, "the Deployment", func() error { return k8s.Get(ctx, key, d) })
	want := d.Labels[naming.LabelSeldonID]
	if want == "" {
		t.Fatalf("the Deployment has no %s label: %v", naming.LabelSeldonID, d.Labels)
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, naming.LabelSeldonID)
	if err := k8s.Patch(ctx, d, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the label back on the Deployment", func() error {
		got := &appsv1.Deployment{}
		if err := k8s.Get(ctx, key, got); err != nil {
			return err
		}
		if got.UID != d.UID {
			return fmt.Errorf("the Deployment was recreated (uid %s, was %s)", got.UID, d.UID)
		}
		if got.Labels[naming.LabelSeldonID] != want {
			return fmt.Errorf("%s=%q", naming.LabelSeldonID, got.Labels[naming.LabelSeldonID])
		}
		return nil
	})
	sdNow := &sdepv1.SeldonDeployment{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(sd), sdNow); err != nil {
		t.Fatal(err)
	}
	if sdNow.Status.State == sdepv1.StateFailed {
		t.Errorf("the SeldonDeployment is Failed: %s", sdNow.Status.Description)
	}
}
