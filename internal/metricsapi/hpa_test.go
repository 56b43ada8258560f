package metricsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/devcluster"
	"github.com/sdep-dev/sdep/internal/executor"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// mockLatency is how long a mock classifier takes to answer: long enough
// that the load's concurrency is what is in flight at the executor.
const mockLatency = 100 * time.Millisecond

// hpaSyncPeriod is the HPA controller's period in this test
// (SDEP_TEST_HPA_SYNC_PERIOD, default 2s).
func hpaSyncPeriod(t *testing.T) time.Duration {
	v := os.Getenv("SDEP_TEST_HPA_SYNC_PERIOD")
	if v == "" {
		return 2 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > 10*time.Second {
		t.Fatalf("SDEP_TEST_HPA_SYNC_PERIOD=%q: want a duration in (0, 10s]", v)
	}
	return d
}

// TestHPAScalesOnRequestsInFlight is the control-plane test of request
// autoscaling: the real kube-controller-manager HPA controller, this
// package's metrics API registered as the custom.metrics.k8s.io APIService
// (front-proxy authentication, no grant to anonymous users), the HPA the
// operator renders for the example's hpaSpec (maxReplicas 10, target 2 in
// flight), and a real executor whose endpoints follow the Deployment: every
// Ready pod kwok runs gets its own mock classifier server on loopback
// (mockLatency per answer), added to the executor's endpoint set, and
// removed when the pod goes. Closed-loop load of concurrency 8 must give 4
// replicas, then 4 gives 2, and the metric read back through the API server
// must equal the concurrency ±1.
func TestHPAScalesOnRequestsInFlight(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set (the local control plane's binaries)")
	}
	period := hpaSyncPeriod(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := devcluster.Start(ctx, devcluster.Options{
		Metrics:                devcluster.MetricsNone,
		HPASyncPeriod:          period,
		DownscaleStabilization: 5 * time.Second,
		CRDDirectoryPaths:      []string{filepath.Join("..", "..", "config", "crd", "bases")},
		Dir:                    t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Stop() }()

	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), sdepv1.AddToScheme(scheme)); err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	const ns = "requests"
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}

	// The example, with room to scale: its Object metric names the
	// componentSpec ("my-dep").
	sd := readExample(t, "requests-hpa.json", ns)
	sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.MaxReplicas = 10
	if err := cl.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	res, err := resources.Build(sd, resources.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deployments) != 1 || len(res.HPAs) != 1 {
		t.Fatalf("rendered %d Deployments and %d HPAs, want 1 and 1", len(res.Deployments), len(res.HPAs))
	}
	dep, hpa := res.Deployments[0], res.HPAs[0]
	if got := hpa.Spec.Metrics[0].Object.DescribedObject.Name; got != dep.Name {
		t.Fatalf("HPA describedObject %q, want the Deployment %q", got, dep.Name)
	}

	// The executor and the pod → mock classifier mapping.
	e, err := executor.New(res.SeldonDeployment.Spec.Predictors[0], executor.WithDeploymentName(sd.Name), executor.WithEmptyEndpointSets())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	es := httptest.NewServer(e.Handler(executor.HandlerOptions{}))
	defer es.Close()
	set, _ := e.EndpointSet("classifier")
	mocks := &mockPods{set: set, servers: map[string]*httptest.Server{}}
	defer mocks.closeAll()
	go mocks.follow(ctx, cl, ns, dep.Spec.Selector.MatchLabels)

	startMetricsAPI(ctx, t, c, strings.TrimPrefix(es.URL, "http://"))

	if err := cl.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	if err := cl.Create(ctx, hpa); err != nil {
		t.Fatal(err)
	}
	// Load only once the first pod is Ready and has its mock: before,
	// the executor answers 503 (no endpoint), which is not this test's subject.
	err = testenv.Poll(ctx, time.Minute, "the first Ready pod's mock classifier", func() error {
		if mocks.count() == 0 {
			return errors.New("no Ready pod yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	load := &closedLoop{url: es.URL + "/api/v1.0/predictions"}
	defer load.set(0)

	metricPath := fmt.Sprintf("/apis/custom.metrics.k8s.io/v1beta2/namespaces/%s/deployments.apps/%s/%s", ns, dep.Name, MetricInFlight)
	for _, step := range []struct{ concurrency, replicas int }{{8, 4}, {4, 2}} {
		begin := time.Now()
		load.set(step.concurrency)
		waitReplicas(ctx, t, cl, ns, dep.Name, int32(step.replicas), 2*time.Minute)
		t.Logf("concurrency %d: %d replicas after %s", step.concurrency, step.replicas, time.Since(begin).Round(100*time.Millisecond))
		// It stays there over three syncs, and the metric is the concurrency.
		for range 3 {
			time.Sleep(period)
			if got := replicas(ctx, t, cl, ns, dep.Name); got != int32(step.replicas) {
				t.Fatalf("concurrency %d: %d replicas a sync later, want %d", step.concurrency, got, step.replicas)
			}
			v := readMetric(ctx, t, c.Config, metricPath)
			if v < int64(step.concurrency-1) || v > int64(step.concurrency+1) {
				var h autoscalingv2.HorizontalPodAutoscaler
				_ = cl.Get(ctx, client.ObjectKeyFromObject(hpa), &h)
				t.Logf("HPA status: %+v", h.Status)
				t.Logf("executor load: %+v; failed requests %d (first: %s)", e.Load(), load.failures(), load.firstError())
				t.Fatalf("concurrency %d: %s read through the API server = %d, want %d±1", step.concurrency, MetricInFlight, v, step.concurrency)
			}
		}
		if n := mocks.count(); n != step.replicas {
			t.Errorf("concurrency %d: %d mock classifiers for %d Ready pods", step.concurrency, n, step.replicas)
		}
	}
	load.set(0)
	if failed := load.failures(); failed > 0 {
		t.Errorf("%d requests failed (first: %s)", failed, load.firstError())
	}
}

// startMetricsAPI runs the Adapter in this process on a loopback port with
// a self-signed certificate, delegating authentication and authorisation to
// the cluster, and registers it as v1beta2.custom.metrics.k8s.io. The
// extra flags follow the test's own.
func startMetricsAPI(ctx context.Context, t *testing.T, c *devcluster.Cluster, executorAddr string, extra ...string) {
	t.Helper()
	port, err := devcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "sdep-metrics-api", Namespace: metav1.NamespaceSystem},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost",
			Ports: []corev1.ServicePort{{Name: "https", Port: int32(port)}}},
	}
	if err := cl.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	name := "v1beta2.custom.metrics.k8s.io"
	_, err = dyn.Resource(gvr).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"group": "custom.metrics.k8s.io", "version": "v1beta2",
			// No caBundle yet: the metrics API fills it in.
			"groupPriorityMinimum": int64(100), "versionPriority": int64(200),
			"service": map[string]any{"namespace": metav1.NamespaceSystem, "name": svc.Name, "port": int64(port)},
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("metrics-api", pflag.ContinueOnError)
	a := NewAdapter(fs)
	if err := fs.Parse(append([]string{
		"--secure-port=" + strconv.Itoa(port), "--bind-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(c.Dir, "metrics-api-certs"),
		"--lister-kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--executor-address=" + executorAddr,
		// The certificate path the manifests use: issued into a Secret,
		// CA injected into the APIService, verified by the aggregator
		// (which dials localhost and checks the Service's DNS name).
		"--cert-secret=sdep-metrics-api-cert", "--namespace=" + metav1.NamespaceSystem,
		"--service-name=sdep-metrics-api", "--apiservices=v1beta2.custom.metrics.k8s.io",
	}, extra...)); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	// stopped is closed once Run has returned (runErr is then set), so
	// the poll below and the cleanup can both see the end.
	var runErr error
	stopped := make(chan struct{})
	go func() { runErr = a.Run(runCtx); close(stopped) }()
	t.Cleanup(func() {
		stop()
		<-stopped
		if runErr != nil {
			t.Logf("metrics API: %v", runErr)
		}
	})

	err = testenv.Poll(ctx, 90*time.Second, name+" to become Available", func() error {
		select {
		case <-stopped:
			return fmt.Errorf("the metrics API stopped: %w", runErr)
		default:
		}
		got, err := dyn.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, raw := range conds {
			cond, _ := raw.(map[string]any)
			if cond["type"] == "Available" && cond["status"] == "True" {
				return nil
			}
		}
		return fmt.Errorf("not Available: %v", conds)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func replicas(ctx context.Context, t *testing.T, cl client.Client, ns, name string) int32 {
	t.Helper()
	var d appsv1.Deployment
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		t.Fatal(err)
	}
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func waitReplicas(ctx context.Context, t *testing.T, cl client.Client, ns, name string, want int32, timeout time.Duration) {
	t.Helper()
	err := testenv.Poll(ctx, timeout, fmt.Sprintf("%s to have %d replicas", name, want), func() error {
		if got := replicas(ctx, t, cl, ns, name); got != want {
			return fmt.Errorf("%d replicas", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readMetric GETs a custom metric through the API server (the aggregator)
// and returns its value.
func readMetric(ctx context.Context, t *testing.T, cfg *rest.Config, path string) int64 {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	// One object's metric comes as a list of one.
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			DescribedObject struct{ Kind, Name string } `json:"describedObject"`
			Value           resource.Quantity           `json:"value"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	if list.Kind != "MetricValueList" || len(list.Items) != 1 || list.Items[0].DescribedObject.Kind != "Deployment" {
		t.Fatalf("GET %s: want a MetricValueList of one Deployment's value: %s", path, body)
	}
	return list.Items[0].Value.Value()
}

// mockPods keeps one mock classifier server per Ready pod of a Deployment
// in the executor's endpoint set.
type mockPods struct {
	set     *executor.EndpointSet
	mu      sync.Mutex
	servers map[string]*httptest.Server // pod name -> its mock
}

func (m *mockPods) follow(ctx context.Context, cl client.Client, ns string, selector map[string]string) {
	for ctx.Err() == nil {
		var pods corev1.PodList
		if err := cl.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(selector)); err == nil {
			m.sync(pods.Items)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (m *mockPods) sync(pods []corev1.Pod) {
	ready := map[string]bool{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready[p.Name] = true
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range ready {
		if m.servers[name] != nil {
			continue
		}
		s := httptest.NewServer(http.HandlerFunc(mockClassifier))
		host, p, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
		port, _ := strconv.Atoi(p)
		if err := m.set.Add(executor.Endpoint{Host: host, HTTPPort: int32(port)}); err != nil {
			s.Close()
			continue
		}
		m.servers[name] = s
	}
	for name, s := range m.servers {
		if ready[name] {
			continue
		}
		host, p, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
		port, _ := strconv.Atoi(p)
		if drained, err := m.set.Remove(executor.Endpoint{Host: host, HTTPPort: int32(port)}); err == nil {
			go func() { <-drained; s.Close() }()
		}
		delete(m.servers, name)
	}
}

func (m *mockPods) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.servers)
}

func (m *mockPods) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.servers {
		s.Close()
	}
}

// mockClassifier answers like Seldon's mock classifier after mockLatency.
func mockClassifier(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-time.After(mockLatency):
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"data":{"names":["proba"],"ndarray":[[0.43]]}}`)
}

var loadClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}}

// closedLoop keeps n clients each sending one request after another.
type closedLoop struct {
	url   string
	mu    sync.Mutex
	stops []chan struct{}
	wg    sync.WaitGroup
	fails int
	first string
}

func (l *closedLoop) set(n int) {
	l.mu.Lock()
	for len(l.stops) < n {
		stop := make(chan struct{})
		l.stops = append(l.stops, stop)
		l.wg.Go(func() { l.run(stop) })
	}
	var stopped []chan struct{}
	for len(l.stops) > n {
		stopped = append(stopped, l.stops[len(l.stops)-1])
		l.stops = l.stops[:len(l.stops)-1]
	}
	l.mu.Unlock()
	for _, s := range stopped {
		close(s)
	}
	if n == 0 {
		l.wg.Wait()
	}
}

func (l *closedLoop) run(stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		resp, err := loadClient.Post(l.url, "application/json", strings.NewReader(`{"data":{"ndarray":[[1,2,3,4]]}}`))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = errors.New(resp.Status)
			}
		}
		if err != nil {
			l.mu.Lock()
			if l.fails == 0 {
				l.first = err.Error()
			}
			l.fails++
			l.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (l *closedLoop) failures() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fails
}

func (l *closedLoop) firstError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}
