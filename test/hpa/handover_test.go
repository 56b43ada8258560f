package hpa

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/controller"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// TestHandOverFromFixedReplicasToTheHPA takes my-dep from a fixed
// `replicas: 4` to an HPA 1–4 while every pod is under load, on the real
// HPA controller: replicas never drop below 4 during the hand-over (Seldon
// Core #1310 reset them to 1 when the operator stopped setting them).
// Every spec.replicas value the Deployment takes is recorded from a watch.
func TestHandOverFromFixedReplicasToTheHPA(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "handover")
	testenv.RunOperator(t, cluster.Config, testenv.OperatorOptions{
		Namespace:     ns,
		Webhook:       &cluster.Env.WebhookInstallOptions,
		ExecutorImage: "sdep:e2e",
	})
	cluster.SetCPU(ns, resource.MustParse("1")) // 200% of the 0.5 CPU request: the HPA wants its maximum

	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "seed-v1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decode.Documents("seed-v1.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	sd := docs[0].Object.DeepCopy()
	sd.Namespace = ns
	comp := &sd.Spec.Predictors[0].ComponentSpecs[0]
	hpaSpec := comp.HpaSpec.DeepCopy()
	if hpaSpec.MinReplicas == nil || *hpaSpec.MinReplicas != 1 || hpaSpec.MaxReplicas != 4 {
		t.Fatalf("the seed's hpaSpec is not 1-4: %+v", hpaSpec)
	}
	comp.HpaSpec = nil
	sd.Spec.Predictors[0].Replicas = new(int32(4))
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, ns, seedDeployment, 4, scaleTimeout)
	before := &appsv1.Deployment{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: seedDeployment}, before); err != nil {
		t.Fatal(err)
	}

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	w, err := clientset.AppsV1().Deployments(ns).Watch(wctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", seedDeployment).String(),
		ResourceVersion: before.ResourceVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := []int32{*before.Spec.Replicas}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok || ev.Type != watch.Modified {
				continue
			}
			r := int32(-1) // unset
			if d.Spec.Replicas != nil {
				r = *d.Spec.Replicas
			}
			mu.Lock()
			seen = append(seen, r)
			mu.Unlock()
		}
	}()

	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &sdepv1.SeldonDeployment{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(sd), cur); err != nil {
			return err
		}
		cur.Spec.Predictors[0].ComponentSpecs[0].HpaSpec = hpaSpec.DeepCopy()
		return k8s.Update(ctx, cur)
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// The hand-over is done when the Deployment carries the autoscaled
	// spec and the HPA has computed a count from the pods' metrics.
	testenv.WaitFor(t, scaleTimeout, "the HPA to take over at 4", func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: seedDeployment}, d); err != nil {
			return err
		}
		if d.Annotations[controller.AnnotationDesiredHash] == before.Annotations[controller.AnnotationDesiredHash] {
			return fmt.Errorf("the Deployment still has the fixed-replicas spec")
		}
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: seedDeployment}, h); err != nil {
			return err
		}
		if h.Status.LastScaleTime == nil && len(h.Status.CurrentMetrics) == 0 {
			return fmt.Errorf("the HPA has not computed a count yet: %+v", h.Status)
		}
		if h.Status.DesiredReplicas != 4 {
			return fmt.Errorf("the HPA wants %d", h.Status.DesiredReplicas)
		}
		return replicasAre(d, 4)
	})
	took := time.Since(start)
	// Two more HPA periods: a late reset would show here.
	time.Sleep(2 * time.Second)
	stop()
	w.Stop()
	<-done

	mu.Lock()
	defer mu.Unlock()
	t.Logf("spec.replicas during the hand-over (%.1fs): %v", took.Seconds(), seen)
	for _, r := range seen {
		if r < 4 {
			t.Fatalf("spec.replicas dropped below 4 during the hand-over: %v", seen)
		}
	}
}
