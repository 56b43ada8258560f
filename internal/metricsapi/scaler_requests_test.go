package metricsapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/devcluster"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// apiRequest is one request a client sent to the API server.
type apiRequest struct {
	method, path, query string
}

func (r apiRequest) String() string {
	if r.query == "" {
		return r.method + " " + r.path
	}
	return r.method + " " + r.path + "?" + r.query
}

// watch reports whether the request is an informer's watch (a long-running
// request, reopened when the API server ends it, not a poll's).
func (r apiRequest) watch() bool {
	return r.method == http.MethodGet && strings.Contains("&"+r.query+"&", "&watch=true&")
}

// discovery reports whether the request is API discovery (/api, /apis,
// /apis/<group>/<version>): a client's REST mapper asks once, at its first
// request of a kind.
func (r apiRequest) discovery() bool {
	return r.method == http.MethodGet && (r.path == "/api" || r.path == "/apis" ||
		strings.HasPrefix(r.path, "/api") && strings.Count(r.path, "/") <= 3 && !strings.Contains(r.path, "/namespaces"))
}

// apiRequests records every request sent through the rest.Config it wraps
// (rest.Config.Wrap): clients, informers and the Event sink alike.
type apiRequests struct {
	mu   sync.Mutex
	list []apiRequest
}

type countingTransport struct {
	rt  http.RoundTripper
	log *apiRequests
}

func (c countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.log.mu.Lock()
	c.log.list = append(c.log.list, apiRequest{method: req.Method, path: req.URL.Path, query: req.URL.RawQuery})
	c.log.mu.Unlock()
	return c.rt.RoundTrip(req)
}

func (l *apiRequests) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt: rt, log: l} })
	return cfg
}

// mark is the number of requests so far, for since.
func (l *apiRequests) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.list)
}

// since are the requests after mark, watches left out.
func (l *apiRequests) since(mark int) []apiRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []apiRequest
	for _, r := range l.list[mark:] {
		if !r.watch() {
			out = append(out, r)
		}
	}
	return out
}

// tally counts the requests by method and path.
func tally(reqs []apiRequest) string {
	n := map[string]int{}
	var order []string
	for _, r := range reqs {
		k := r.method + " " + r.path
		if n[k] == 0 {
			order = append(order, k)
		}
		n[k]++
	}
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "; %d× %s", n[k], k)
	}
	return b.String()
}

// countedLoad is a fakeLoad that counts the GET /load it answers: the
// scaler polls the executor once per poll, so this counts the polls.
type countedLoad struct {
	*fakeLoad
	n atomic.Int64
}

func (c *countedLoad) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	c.fakeLoad.ServeHTTP(w, r)
}

// waitPolls waits for n more polls.
func (c *countedLoad) waitPolls(ctx context.Context, t *testing.T, n int64) {
	t.Helper()
	want := c.n.Load() + n
	err := testenv.Poll(ctx, 30*time.Second, fmt.Sprintf("%d polls", n), func() error {
		if got := c.n.Load(); got < want {
			return fmt.Errorf("%d of %d", got-want+n, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestScalerSteadyPollsSendNoAPIRequest runs the scaler as `sdep
// metrics-api --scale-to-zero` starts it (startScaler, a 20 ms poll, a
// 200 ms idle window) against a real kube-apiserver, with every request
// its clients, informers and Event sink send counted (a RoundTripper
// wrapping the rest.Config). The component of the example requests-to-zero
// has its executor in a pod marked Running at 127.0.0.1 (a fakeLoad on
// loopback), so the executors are found as in a cluster, from the pods.
// Over 20 polls that move nothing, at 0 replicas with nothing in flight and
// at 1 replica idle past the window with the HPA wanting 2 (the path that
// reads the HPA too), the scaler must send no request at all: no GET of the
// scale or the HPA, no pod list. Each move, 0→1 on a request in flight and
// 1→0 once the HPA wants 1, must be exactly one PUT of the scale
// subresource with the scaler's field manager, and no GET.
func TestScalerSteadyPollsSendNoAPIRequest(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set (the local control plane's binaries)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := devcluster.Start(ctx, devcluster.Options{
		APIServerOnly:     true,
		CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")},
		Dir:               t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Stop() }()
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), sdepv1.AddToScheme(scheme)); err != nil {
		t.Fatal(err)
	}
	// admin: the test's own reads and writes, not counted.
	admin, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	const ns = "quiet"
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	sd := readExample(t, "requests-to-zero.json", ns)
	if err := admin.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	res, err := resources.Build(sd, resources.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	pred := &res.SeldonDeployment.Spec.Predictors[0]
	dep, hpa := componentObjects(t, res, naming.DeploymentName(res.SeldonDeployment, pred, 0))
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 0 {
		t.Fatalf("rendered Deployment: replicas %v, want 0", dep.Spec.Replicas)
	}
	if err := admin.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, hpa); err != nil {
		t.Fatal(err)
	}
	// No HPA controller runs here: its status is the test's.
	setDesired := func(n int32) {
		t.Helper()
		var h autoscalingv2.HorizontalPodAutoscaler
		if err := admin.Get(ctx, client.ObjectKeyFromObject(hpa), &h); err != nil {
			t.Fatal(err)
		}
		h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 1, DesiredReplicas: n}
		if err := admin.Status().Update(ctx, &h); err != nil {
			t.Fatal(err)
		}
	}
	setDesired(2)

	load := &countedLoad{fakeLoad: &fakeLoad{}}
	es := httptest.NewServer(load)
	defer es.Close()
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(es.URL, "http://"))
	execPort, _ := strconv.Atoi(p)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: sd.Name + "-executor", Namespace: ns, Labels: map[string]string{
			naming.LabelSeldonID:  naming.SeldonID(sd),
			naming.LabelSeldonApp: naming.PredictorServiceName(sd, &sd.Spec.Predictors[0]),
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: predictor.ExecutorContainerName, Image: "executor",
			Ports: []corev1.ContainerPort{{Name: predictor.PortNameHTTP, ContainerPort: int32(execPort)}},
		}}},
	}
	if err := admin.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}}}
	if err := admin.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}

	// The scaler, as Adapter.Run starts it, on counted clients.
	reqs := &apiRequests{}
	cfg := reqs.wrap(c.Config)
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	a := &Adapter{ScaleToZero: true, ScaleToZeroIdle: 200 * time.Millisecond, ScaleToZeroPoll: 20 * time.Millisecond}
	stop, err := a.startScaler(ctx, cfg, scheme, cl, &Provider{Client: cl})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	load.waitPolls(ctx, t, 3) // the cache is in sync and the polls run

	const polls = 20
	steady := func(what string, wantReplicas int32) {
		t.Helper()
		mark := reqs.mark()
		load.waitPolls(ctx, t, polls)
		got := reqs.since(mark)
		t.Logf("%s: %d API request(s) over %d polls %s", what, len(got), polls, tally(got))
		if len(got) > 0 {
			t.Errorf("%s: %d API request(s) over %d polls that moved nothing, want none", what, len(got), polls)
		}
		if r := replicas(ctx, t, admin, ns, dep.Name); r != wantReplicas {
			t.Fatalf("%s: %d replicas, want %d", what, r, wantReplicas)
		}
	}
	scalePath := fmt.Sprintf("/apis/apps/v1/namespaces/%s/deployments/%s/scale", ns, dep.Name)
	eventsPath := fmt.Sprintf("/apis/events.k8s.io/v1/namespaces/%s/events", ns)
	// move waits for the count to reach want and its Event to be sent: the
	// requests meanwhile must be one PUT of the scale (the scaler's field
	// manager) and the Event's POST (and, at the first write, the writing
	// client's discovery).
	move := func(what string, want int32, mark int) {
		t.Helper()
		waitReplicas(ctx, t, admin, ns, dep.Name, want, 30*time.Second)
		err := testenv.Poll(ctx, 30*time.Second, what+": the Event's POST", func() error {
			for _, r := range reqs.since(mark) {
				if r.method == http.MethodPost && r.path == eventsPath {
					return nil
				}
			}
			return errors.New("not yet")
		})
		if err != nil {
			t.Fatal(err)
		}
		got := reqs.since(mark)
		t.Logf("%s: API requests %v", what, got)
		puts := 0
		for _, r := range got {
			switch {
			case r.method == http.MethodPut && r.path == scalePath:
				puts++
				if !strings.Contains("&"+r.query+"&", "&fieldManager="+ScalerFieldManager+"&") {
					t.Errorf("%s: %v, want the field manager %s", what, r, ScalerFieldManager)
				}
			case r.method == http.MethodPost && r.path == eventsPath:
			case r.discovery():
			default:
				t.Errorf("%s: %v, want only the scale's PUT and the Event's POST", what, r)
			}
		}
		if puts != 1 {
			t.Errorf("%s: %d PUT(s) of the scale, want 1", what, puts)
		}
	}

	steady("at 0 replicas, nothing in flight", 0)

	mark := reqs.mark()
	load.set(2, 0, false)
	move("0→1", 1, mark)
	load.set(0, 0, false)
	// Past the idle window (200 ms, 10 polls): each poll reads the HPA,
	// which wants 2.
	load.waitPolls(ctx, t, 15)
	steady("at 1 replica, idle, the HPA wanting 2", 1)

	mark = reqs.mark()
	setDesired(1)
	move("1→0", 0, mark)
	steady("at 0 replicas again", 0)

	checkScalerEvents(ctx, t, admin, ns, sd.Name)
}
