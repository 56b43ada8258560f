package devcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/sdep-dev/sdep/internal/testenv"
)

const (
	metricsGroup   = "metrics.k8s.io"
	metricsVersion = "v1beta1"
	// metricsServiceName is the ExternalName Service the APIService points at.
	metricsServiceName = "sdep-dev-metrics"
	// metricsWindow is the sampling window the fake API reports. The HPA
	// ignores a sample taken less than one window after a pod became Ready
	// (during its first 5 minutes), so keep it short.
	metricsWindow = time.Second
)

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// fakeMetrics serves metrics.k8s.io/v1beta1 with per-namespace CPU usage
// chosen by the caller, for every Running pod the apiserver lists.
type fakeMetrics struct {
	c      *Cluster
	server *httptest.Server

	mu  sync.Mutex
	cpu map[string]resource.Quantity // by namespace
}

func (c *Cluster) startFakeMetrics(ctx context.Context) error {
	m := &fakeMetrics{c: c, cpu: map[string]resource.Quantity{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /apis", m.groups)
	mux.HandleFunc("GET /apis/"+metricsGroup, m.group)
	mux.HandleFunc("GET /apis/"+metricsGroup+"/"+metricsVersion, m.resources)
	mux.HandleFunc("GET /apis/"+metricsGroup+"/"+metricsVersion+"/pods", m.podList)
	mux.HandleFunc("GET /apis/"+metricsGroup+"/"+metricsVersion+"/namespaces/{ns}/pods", m.podList)
	mux.HandleFunc("GET /apis/"+metricsGroup+"/"+metricsVersion+"/namespaces/{ns}/pods/{name}", m.pod)
	mux.HandleFunc("GET /apis/"+metricsGroup+"/"+metricsVersion+"/nodes", m.nodeList)
	m.server = httptest.NewUnstartedServer(mux)
	m.server.StartTLS()
	c.stops = append(c.stops, m.server.Close)
	c.metrics = m

	port, err := listenerPort(m.server.Listener.Addr().String())
	if err != nil {
		return err
	}
	return c.registerMetricsAPI(ctx, port)
}

func (m *fakeMetrics) setCPU(namespace string, perPod resource.Quantity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cpu[namespace] = perPod
}

func (m *fakeMetrics) cpuOf(namespace string) resource.Quantity {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cpu[namespace] // zero when never set
}

func (m *fakeMetrics) groups(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"kind": "APIGroupList", "apiVersion": "v1",
		"groups": []any{metricsGroupDoc()},
	})
}

func (m *fakeMetrics) group(w http.ResponseWriter, _ *http.Request) {
	doc := metricsGroupDoc()
	doc["kind"], doc["apiVersion"] = "APIGroup", "v1"
	writeJSON(w, doc)
}

func metricsGroupDoc() map[string]any {
	gv := map[string]any{"groupVersion": metricsGroup + "/" + metricsVersion, "version": metricsVersion}
	return map[string]any{"name": metricsGroup, "versions": []any{gv}, "preferredVersion": gv}
}

func (m *fakeMetrics) resources(w http.ResponseWriter, _ *http.Request) {
	verbs := []string{"get", "list"}
	writeJSON(w, map[string]any{
		"kind": "APIResourceList", "apiVersion": "v1",
		"groupVersion": metricsGroup + "/" + metricsVersion,
		"resources": []any{
			map[string]any{"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": verbs},
			map[string]any{"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": verbs},
		},
	})
}

// podList answers the HPA controller's question: usage of the pods a selector matches.
func (m *fakeMetrics) podList(w http.ResponseWriter, r *http.Request) {
	pods, err := m.c.clientset.CoreV1().Pods(r.PathValue("ns")).List(r.Context(), metav1.ListOptions{
		LabelSelector: r.URL.Query().Get("labelSelector"),
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	items := []any{}
	for i := range pods.Items {
		if pod := &pods.Items[i]; pod.Status.Phase == corev1.PodRunning {
			items = append(items, m.podMetrics(pod))
		}
	}
	writeJSON(w, map[string]any{
		"kind": "PodMetricsList", "apiVersion": metricsGroup + "/" + metricsVersion,
		"metadata": map[string]any{}, "items": items,
	})
}

func (m *fakeMetrics) pod(w http.ResponseWriter, r *http.Request) {
	pod, err := m.c.clientset.CoreV1().Pods(r.PathValue("ns")).Get(r.Context(), r.PathValue("name"), metav1.GetOptions{})
	if err != nil {
		code := http.StatusInternalServerError
		if apierrors.IsNotFound(err) {
			code = http.StatusNotFound
		}
		http.Error(w, err.Error(), code)
		return
	}
	doc := m.podMetrics(pod)
	doc["kind"], doc["apiVersion"] = "PodMetrics", metricsGroup+"/"+metricsVersion
	writeJSON(w, doc)
}

// podMetrics reports the pod's CPU, all of it in the first container (the
// HPA sums the containers), and a little memory. A pod annotated with
// kwok.x-k8s.io/usage-cpu (what kwok reads for metrics-server) reports
// that; any other pod its namespace's SetCPU figure.
func (m *fakeMetrics) podMetrics(pod *corev1.Pod) map[string]any {
	cpu := m.cpuOf(pod.Namespace)
	if q, err := resource.ParseQuantity(pod.Annotations[usageAnnotation]); err == nil {
		cpu = q
	}
	containers := []any{}
	for i, ctr := range pod.Spec.Containers {
		usage := resource.MustParse("0")
		if i == 0 {
			usage = cpu
		}
		containers = append(containers, map[string]any{
			"name":  ctr.Name,
			"usage": map[string]string{"cpu": usage.String(), "memory": "16Mi"},
		})
	}
	return map[string]any{
		"metadata": map[string]any{
			"name": pod.Name, "namespace": pod.Namespace, "labels": pod.Labels,
			"creationTimestamp": time.Now().UTC().Format(time.RFC3339),
		},
		"timestamp":  time.Now().UTC().Format(time.RFC3339),
		"window":     metricsWindow.String(),
		"containers": containers,
	}
}

func (m *fakeMetrics) nodeList(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"kind": "NodeMetricsList", "apiVersion": metricsGroup + "/" + metricsVersion,
		"metadata": map[string]any{}, "items": []any{},
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// registerMetricsAPI points the aggregator at https://localhost:port for
// metrics.k8s.io/v1beta1, through an ExternalName Service (the apiserver
// resolves it without kube-proxy or endpoints), and waits until the
// APIService is Available.
func (c *Cluster) registerMetricsAPI(ctx context.Context, port int) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: metricsServiceName, Namespace: metav1.NamespaceSystem},
		Spec: corev1.ServiceSpec{
			Type:         corev1.ServiceTypeExternalName,
			ExternalName: "localhost",
			Ports:        []corev1.ServicePort{{Name: "https", Port: int32(port)}},
		},
	}
	if _, err := c.clientset.CoreV1().Services(metav1.NamespaceSystem).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the metrics Service: %w", err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	apiService := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": metricsVersion + "." + metricsGroup},
		"spec": map[string]any{
			"group":                 metricsGroup,
			"version":               metricsVersion,
			"insecureSkipTLSVerify": true,
			"groupPriorityMinimum":  int64(100),
			"versionPriority":       int64(100),
			"service": map[string]any{
				"namespace": metav1.NamespaceSystem,
				"name":      metricsServiceName,
				"port":      int64(port),
			},
		},
	}}
	if _, err := dyn.Resource(apiServiceGVR).Create(ctx, apiService, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("registering the metrics APIService: %w", err)
	}
	return testenv.Poll(ctx, 90*time.Second, "the metrics.k8s.io APIService to become Available", func() error {
		got, err := dyn.Resource(apiServiceGVR).Get(ctx, metricsVersion+"."+metricsGroup, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, raw := range conds {
			cond, _ := raw.(map[string]any)
			if cond["type"] == "Available" {
				if cond["status"] == "True" {
					return nil
				}
				return fmt.Errorf("condition Available=%v %v: %v", cond["status"], cond["reason"], cond["message"])
			}
		}
		return errors.New("no Available condition yet")
	})
}

// listenerPort returns the port of a "host:port" address.
func listenerPort(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}
