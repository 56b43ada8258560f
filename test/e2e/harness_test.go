// Package e2e runs the operator against a real kube-apiserver and etcd
// (controller-runtime's envtest) with the CRD installed and the validating
// webhook served. KUBEBUILDER_ASSETS must name a folder holding both
// binaries: `make envtest` sets it from hack/control-plane.sh.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/sdep-dev/sdep/internal/controller"
	"github.com/sdep-dev/sdep/internal/operator"
	"github.com/sdep-dev/sdep/internal/testenv"
	"github.com/sdep-dev/sdep/internal/validation"
)

// The control plane every test in this package shares; each test works in
// its own namespace and starts its own manager.
var (
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8s       client.Client // the test's own client: its writes are not counted
	clientset *kubernetes.Clientset
)

// executorImage pins the image so tests do not depend on the build's version.
const executorImage = "sdep:test"

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "FAIL: KUBEBUILDER_ASSETS is not set. These tests need kube-apiserver and etcd:\n"+
			"  export KUBEBUILDER_ASSETS=$(hack/control-plane.sh)   # or: make envtest")
		os.Exit(1)
	}
	testenv.SetTestLogger()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths: []string{filepath.Join("..", "..", "config", "webhook", "manifests.yaml")},
		},
	}
	var err error
	if cfg, err = testEnv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: starting kube-apiserver and etcd:", err)
		return 1
	}
	defer func() {
		if err := testEnv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "envtest: control plane up in %s\n", time.Since(start).Round(10*time.Millisecond))
	if k8s, err = client.New(cfg, client.Options{Scheme: operator.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	clientset = kubernetes.NewForConfigOrDie(cfg)
	return m.Run()
}

// newNamespace makes a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: strings.ToLower(t.Name())[:min(len(t.Name()), 40)] + "-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// writeCounter counts the requests that change something (anything but
// GET, LIST and WATCH), per "METHOD resource" key. Leader-election Leases
// are left out: renewing a lease is the one write a healthy operator must make.
type writeCounter struct {
	mu     sync.Mutex
	counts map[string]int
	total  atomic.Int64
	// deploymentWrites are the bodies of every write to a Deployment.
	deploymentWrites []string
}

func (c *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet && !strings.Contains(req.URL.Path, "/leases") {
			var body []byte
			if strings.Contains(req.URL.Path, "/deployments") && req.GetBody != nil {
				if rc, err := req.GetBody(); err == nil {
					body, _ = io.ReadAll(rc)
					_ = rc.Close()
				}
			}
			c.mu.Lock()
			c.counts[req.Method+" "+req.URL.Path]++
			if body != nil {
				c.deploymentWrites = append(c.deploymentWrites, req.Method+" "+string(body))
			}
			c.mu.Unlock()
			c.total.Add(1)
		}
		return rt.RoundTrip(req)
	})
}

// deploymentBodies returns the bodies of the writes to Deployments so far.
func (c *writeCounter) deploymentBodies() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.deploymentWrites...)
}

// snapshot returns a copy of the counts so far.
func (c *writeCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// runningManager is one operator instance started by a test.
type runningManager struct {
	writes *writeCounter
	op     *testenv.Operator
}

// stop shuts the manager down and waits for it.
func (m *runningManager) stop(t *testing.T) {
	t.Helper()
	if err := m.op.Stop(); err != nil {
		t.Fatal(err)
	}
}

// startManager starts the operator, watching only ns, with the webhook
// served where envtest's webhook configuration points; every write its
// clients make (the cached client, status, events) is counted.
func startManager(t *testing.T, ns string) *runningManager {
	t.Helper()
	return startManagerAs(t, ns, cfg)
}

// startManagerAs is startManager with the identity in userCfg.
func startManagerAs(t *testing.T, ns string, userCfg *rest.Config) *runningManager {
	t.Helper()
	return startManagerWith(t, ns, userCfg, validation.Policy{})
}

// startManagerWith is startManagerAs with the validation policy pol.
func startManagerWith(t *testing.T, ns string, userCfg *rest.Config, pol validation.Policy) *runningManager {
	t.Helper()
	counter := &writeCounter{counts: map[string]int{}}
	op := testenv.RunOperator(t, userCfg, testenv.OperatorOptions{
		Namespace:     ns,
		Webhook:       &testEnv.WebhookInstallOptions,
		ExecutorImage: executorImage,
		WrapTransport: counter.wrap,
		Policy:        pol,
	})
	return &runningManager{writes: counter, op: op}
}

// reconcileCount is how many reconciles the SeldonDeployment controller
// has finished in this process (all managers), from controller-runtime's
// own metric.
func reconcileCount(t *testing.T) float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller.Name {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
