package differential

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/metrics/pkg/apis/custom_metrics"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/sdep-dev/sdep/internal/devcluster"
	"github.com/sdep-dev/sdep/internal/metricsapi"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// objectMetric is the Object metric the object cases scale on: sdep's
// request metric on the workload's Deployment.
const objectMetric = metricsapi.MetricInFlight

// objectKey is its autoscale.Observation.Values key.
var objectKey = "object/Deployment/" + workload + "/" + objectMetric

// objectValues serves the trace's current value of objectMetric per
// namespace through sdep's metrics API server (the real aggregated API
// server, with a provider the test sets instead of executors).
type objectValues struct {
	mu sync.Mutex
	v  map[string]resource.Quantity
}

func (o *objectValues) set(ns string, q resource.Quantity) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.v[ns] = q
}

func (o *objectValues) GetMetricByName(_ context.Context, name types.NamespacedName, info provider.CustomMetricInfo, _ labels.Selector) (*custom_metrics.MetricValue, error) {
	o.mu.Lock()
	q, ok := o.v[name.Namespace]
	o.mu.Unlock()
	if !ok || info.Metric != objectMetric || name.Name != workload {
		return nil, provider.NewMetricNotFoundForError(info.GroupResource, info.Metric, name.Name)
	}
	return &custom_metrics.MetricValue{
		DescribedObject: custom_metrics.ObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Namespace: name.Namespace, Name: name.Name},
		Metric:          custom_metrics.MetricIdentifier{Name: info.Metric},
		Timestamp:       metav1.Now(),
		Value:           q,
	}, nil
}

func (o *objectValues) GetMetricBySelector(context.Context, string, labels.Selector, provider.CustomMetricInfo, labels.Selector) (*custom_metrics.MetricValueList, error) {
	return &custom_metrics.MetricValueList{}, nil
}

func (o *objectValues) ListAllMetrics() []provider.CustomMetricInfo {
	return []provider.CustomMetricInfo{{GroupResource: schema.GroupResource{Group: "apps", Resource: "deployments"}, Namespaced: true, Metric: objectMetric}}
}

// startObjectMetrics runs sdep's metrics API server on loopback with
// values as its provider, registers it as v1beta2.custom.metrics.k8s.io and
// waits until it is Available.
func startObjectMetrics(t *testing.T, h *realHarness) *objectValues {
	t.Helper()
	c := h.cluster
	ctx := context.Background()
	values := &objectValues{v: map[string]resource.Quantity{}}
	port, err := devcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	svcName := "differential-metrics"
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: svcName, Namespace: metav1.NamespaceSystem},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost",
			Ports: []corev1.ServicePort{{Name: "https", Port: int32(port)}}},
	}
	if _, err := h.clientset.CoreV1().Services(metav1.NamespaceSystem).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	apiServices := schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	name := "v1beta2.custom.metrics.k8s.io"
	_, err = dyn.Resource(apiServices).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"group": "custom.metrics.k8s.io", "version": "v1beta2",
			"groupPriorityMinimum": int64(100), "versionPriority": int64(200),
			"service": map[string]any{"namespace": metav1.NamespaceSystem, "name": svcName, "port": int64(port)},
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("metrics-api", pflag.ContinueOnError)
	a := metricsapi.NewAdapter(fs)
	a.Custom = values
	if err := fs.Parse([]string{
		"--secure-port=" + strconv.Itoa(port), "--bind-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(c.Dir, "differential-metrics-certs"),
		"--lister-kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--cert-secret=differential-metrics-cert", "--namespace=" + metav1.NamespaceSystem,
		"--service-name=" + svcName, "--apiservices=" + name,
	}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Logf("metrics API: %v", err)
		}
	})
	err = testenv.Poll(ctx, 90*time.Second, name+" to become Available", func() error {
		select {
		case err := <-done:
			return fmt.Errorf("the metrics API stopped: %w", err)
		default:
		}
		got, err := dyn.Resource(apiServices).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, raw := range conds {
			if cond, _ := raw.(map[string]any); cond["type"] == "Available" && cond["status"] == "True" {
				return nil
			}
		}
		return fmt.Errorf("not Available: %v", conds)
	})
	if err != nil {
		t.Fatal(err)
	}
	return values
}
