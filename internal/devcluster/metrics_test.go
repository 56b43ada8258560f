package devcluster

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func pod(name, phase string, annotations map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "m"}, Annotations: annotations},
		Status:     corev1.PodStatus{Phase: corev1.PodPhase(phase)},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
	}
	return p
}

// TestFakeMetricsReportsRunningPods: the HPA sees the namespace's CPU on
// every Running pod (all of it on the first container), a pod's usage
// annotation wins, and pods not yet Running report nothing.
func TestFakeMetricsReportsRunningPods(t *testing.T) {
	clientset := fake.NewClientset(
		pod("a", "Running", nil, "model", "executor"),
		pod("b", "Running", map[string]string{usageAnnotation: "250m"}, "model"),
		pod("c", "Pending", nil, "model"),
	)
	m := &fakeMetrics{c: &Cluster{clientset: clientset}, cpu: map[string]resource.Quantity{}}
	m.setCPU("ns", resource.MustParse("1"))

	req := httptest.NewRequest(http.MethodGet, "/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods?labelSelector=app%3Dm", nil)
	req.SetPathValue("ns", "ns")
	rec := httptest.NewRecorder()
	m.podList(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var list struct {
		Kind  string
		Items []struct {
			Metadata   struct{ Name string }
			Window     string
			Containers []struct {
				Name  string
				Usage map[string]string
			}
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{} // pod -> container -> cpu
	for _, item := range list.Items {
		if item.Window != metricsWindow.String() {
			t.Errorf("pod %s: window %q, want %q", item.Metadata.Name, item.Window, metricsWindow)
		}
		got[item.Metadata.Name] = map[string]string{}
		for _, c := range item.Containers {
			got[item.Metadata.Name][c.Name] = c.Usage["cpu"]
		}
	}
	want := map[string]map[string]string{
		"a": {"model": "1", "executor": "0"},
		"b": {"model": "250m"},
	}
	if list.Kind != "PodMetricsList" {
		t.Errorf("kind %q, want PodMetricsList", list.Kind)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CPU by pod and container (-want +got):\n%s", diff)
	}
}
