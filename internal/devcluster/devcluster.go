// Package devcluster starts a real Kubernetes control plane on one machine,
// without containers: etcd and kube-apiserver (through controller-runtime's
// envtest), kube-controller-manager with the deployment, replicaset and
// horizontal-pod-autoscaler controllers, kube-scheduler, kwok with one fake
// node whose pods become Running, and a metrics.k8s.io API so that
// HorizontalPodAutoscalers act on CPU.
//
// The metrics API is either a small in-process server whose per-pod CPU
// the caller sets (fast and deterministic: what tests use) or the real
// metrics-server scraping kwok's emulated kubelet.
//
// The e2e tests under test/hpa and `sdep dev cluster` both start it here.
// The binaries come from hack/control-plane.sh.
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sdep-dev/sdep/internal/testenv"
)

// MetricsMode chooses what serves metrics.k8s.io.
type MetricsMode string

const (
	// MetricsFake serves metrics.k8s.io from this process; SetCPU sets the usage.
	MetricsFake MetricsMode = "fake"
	// MetricsServer runs the real metrics-server scraping kwok; SetCPU
	// annotates pods so that kwok reports that usage.
	MetricsServer MetricsMode = "metrics-server"
	// MetricsNone serves no metrics API.
	MetricsNone MetricsMode = "none"
)

// DefaultControllers are the kube-controller-manager controllers a
// SeldonDeployment needs: Deployments make ReplicaSets make Pods, the HPA
// scales them, and the garbage collector deletes what a deleted owner leaves.
var DefaultControllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"horizontal-pod-autoscaler-controller",
	"garbage-collector-controller",
}

// NodeName is the fake node kwok manages.
const NodeName = "kwok-node-0"

// Binaries the API server needs, those that run workloads, and those MetricsServer adds.
var (
	apiServerBinaries = []string{"etcd", "kube-apiserver"}
	workloadBinaries  = []string{"kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"}
	metricsBinaries   = []string{"metrics-server", "kwok-metrics-stages.yaml"}
)

// Options configure a cluster. The zero value of each field means its default.
type Options struct {
	// BinDir holds the binaries and kwok stage files (default: $KUBEBUILDER_ASSETS).
	BinDir string
	// Dir receives the kubeconfig and one log file per process (default: a
	// temporary folder removed by Stop).
	Dir string
	// Metrics chooses the metrics API (default MetricsFake).
	Metrics MetricsMode
	// Controllers run in kube-controller-manager (default DefaultControllers).
	Controllers []string
	// HPASyncPeriod is how often the HPA controller looks (default 1s);
	// DownscaleStabilization how long it waits before scaling down (default 5s).
	HPASyncPeriod, DownscaleStabilization time.Duration
	// CRDDirectoryPaths and WebhookPaths are installed by envtest at start;
	// the webhook configurations are rewritten to point at this machine
	// (see Cluster.Env.WebhookInstallOptions for the host, port and certificates).
	CRDDirectoryPaths []string
	WebhookPaths      []string
	// Log receives progress lines (default: discarded).
	Log io.Writer
	// APIServerOnly starts etcd and kube-apiserver alone: no controllers,
	// scheduler, kwok, node or metrics (for measuring the operator by itself).
	APIServerOnly bool
}

// Cluster is a running control plane.
type Cluster struct {
	// Env is the envtest environment running etcd and kube-apiserver.
	Env *envtest.Environment
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Kubeconfig is the path of an admin kubeconfig file.
	Kubeconfig string
	// Dir holds the kubeconfig and the processes' logs.
	Dir string

	opts      Options
	clientset kubernetes.Interface
	procs     []*testenv.Process
	metrics   cpuSetter
	stops     []func()
	removeDir bool
}

// cpuSetter is what SetCPU delegates to in each metrics mode.
type cpuSetter interface {
	setCPU(namespace string, perPod resource.Quantity)
}

// Start brings the whole control plane up and returns when the node is
// Ready and the metrics API (if any) is available. On error everything
// started so far is stopped.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	opts = withDefaults(opts)
	if err := checkBinaries(opts); err != nil {
		return nil, err
	}
	c = &Cluster{opts: opts, Dir: opts.Dir}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "sdep-devcluster-"); err != nil {
			return nil, err
		}
		c.removeDir = true
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
			c = nil
		}
	}()

	begin := time.Now()
	c.Env = &envtest.Environment{
		BinaryAssetsDirectory: opts.BinDir,
		CRDDirectoryPaths:     opts.CRDDirectoryPaths,
		ErrorIfCRDPathMissing: len(opts.CRDDirectoryPaths) > 0,
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: opts.WebhookPaths},
	}
	// Without a kubelet no Node ever loses the not-ready taint that
	// TaintNodesByCondition adds, and no ServiceAccount token controller runs.
	apiserver := c.Env.ControlPlane.GetAPIServer().Configure()
	apiserver.Set("disable-admission-plugins", "ServiceAccount,TaintNodesByCondition")
	// envtest's default /24 holds 254 Services; a SeldonDeployment makes two.
	apiserver.Set("service-cluster-ip-range", "10.0.0.0/16")
	if err = configureFrontProxy(apiserver, c.Dir); err != nil {
		return c, fmt.Errorf("front-proxy certificates: %w", err)
	}
	if _, err = c.Env.Start(); err != nil {
		return c, fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	c.logf("kube-apiserver and etcd up in %s", time.Since(begin).Round(10*time.Millisecond))

	admin, err := c.Env.AddUser(envtest.User{Name: "sdep-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return c, fmt.Errorf("adding the admin user: %w", err)
	}
	c.Config = admin.Config()
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return c, err
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err = os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return c, err
	}
	if c.clientset, err = kubernetes.NewForConfig(c.Config); err != nil {
		return c, err
	}

	if opts.APIServerOnly {
		c.logf("kube-apiserver ready (kubeconfig %s)", c.Kubeconfig)
		return c, nil
	}
	if err = c.startProcesses(); err != nil {
		return c, err
	}
	if err = c.createNode(ctx); err != nil {
		return c, err
	}
	switch opts.Metrics {
	case MetricsFake:
		err = c.startFakeMetrics(ctx)
	case MetricsServer:
		err = c.startMetricsServer(ctx)
	}
	if err != nil {
		return c, err
	}
	if err = c.waitNodeReady(ctx); err != nil {
		return c, err
	}
	c.logf("control plane ready in %s (kubeconfig %s)", time.Since(begin).Round(10*time.Millisecond), c.Kubeconfig)
	return c, nil
}

// SetCPU sets every pod's CPU usage in namespace, as the metrics API
// reports it, including pods created later.
func (c *Cluster) SetCPU(namespace string, perPod resource.Quantity) {
	if c.metrics == nil {
		panic("devcluster: SetCPU needs a metrics API (Options.Metrics is none)")
	}
	c.metrics.setCPU(namespace, perPod)
}

// Exited reports a control-plane process that has exited, naming its log;
// nil while all of them run. Tests call it to explain a timeout.
func (c *Cluster) Exited() error {
	var errs []error
	for _, p := range c.procs {
		if err := p.Exited(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stop stops every process: the controllers, scheduler, kwok and metrics
// first, then kube-apiserver, then etcd (an apiserver whose etcd is gone
// does not exit for a long time). It is safe to call more than once.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.stops) - 1; i >= 0; i-- {
		c.stops[i]()
	}
	c.stops = nil
	for i := len(c.procs) - 1; i >= 0; i-- {
		if err := c.procs[i].Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	c.procs = nil
	if c.Env != nil {
		if err := c.Env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping kube-apiserver and etcd: %w", err))
		}
		c.Env = nil
	}
	if c.removeDir {
		if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, err)
		}
		c.removeDir = false
	}
	return errors.Join(errs...)
}

func withDefaults(o Options) Options {
	if o.BinDir == "" {
		o.BinDir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if o.Metrics == "" {
		o.Metrics = MetricsFake
	}
	if len(o.Controllers) == 0 {
		o.Controllers = DefaultControllers
	}
	if o.HPASyncPeriod == 0 {
		o.HPASyncPeriod = time.Second
	}
	if o.DownscaleStabilization == 0 {
		o.DownscaleStabilization = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// checkBinaries names every missing binary and how to build them.
func checkBinaries(o Options) error {
	const hint = "build them with: export KUBEBUILDER_ASSETS=$(hack/control-plane.sh all)"
	if o.BinDir == "" {
		return errors.New("no control-plane binaries: KUBEBUILDER_ASSETS is not set; " + hint)
	}
	want := apiServerBinaries
	if !o.APIServerOnly {
		want = append(append([]string(nil), want...), workloadBinaries...)
		if o.Metrics == MetricsServer {
			want = append(want, metricsBinaries...)
		}
	}
	var missing []string
	for _, name := range want {
		if _, err := os.Stat(filepath.Join(o.BinDir, name)); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("control-plane binaries missing from %s: %s; %s", o.BinDir, strings.Join(missing, ", "), hint)
	}
	switch o.Metrics {
	case MetricsFake, MetricsServer, MetricsNone:
		return nil
	}
	return fmt.Errorf("unknown metrics mode %q (want %s, %s or %s)", o.Metrics, MetricsFake, MetricsServer, MetricsNone)
}

func (c *Cluster) startProcesses() error {
	bin := func(name string) string { return filepath.Join(c.opts.BinDir, name) }
	kcm := []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers=" + strings.Join(c.opts.Controllers, ","),
		"--horizontal-pod-autoscaler-sync-period=" + c.opts.HPASyncPeriod.String(),
		"--horizontal-pod-autoscaler-downscale-stabilization=" + c.opts.DownscaleStabilization.String(),
	}
	scheduler := []string{"--kubeconfig=" + c.Kubeconfig, "--leader-elect=false", "--secure-port=0"}
	kwok := []string{"--kubeconfig=" + c.Kubeconfig, "--manage-all-nodes=true", "--config=" + bin("kwok-stages.yaml")}
	if c.opts.Metrics == MetricsServer {
		port, err := FreePort()
		if err != nil {
			return err
		}
		kwok = append(kwok, "--config="+bin("kwok-metrics-stages.yaml"),
			"--node-ip=127.0.0.1", fmt.Sprintf("--node-port=%d", port), fmt.Sprintf("--server-address=127.0.0.1:%d", port))
	}
	for _, p := range []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", kcm},
		{"kube-scheduler", scheduler},
		{"kwok", kwok},
	} {
		proc, err := testenv.StartProcess(bin(p.name), p.args, filepath.Join(c.Dir, p.name+".log"))
		if err != nil {
			return err
		}
		c.procs = append(c.procs, proc)
	}
	c.logf("started kube-controller-manager, kube-scheduler and kwok (logs in %s)", c.Dir)
	return nil
}

// createNode registers the fake node kwok turns Ready.
func (c *Cluster) createNode(ctx context.Context) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": NodeName},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Status: corev1.NodeStatus{
			Capacity:    nodeResources(),
			Allocatable: nodeResources(),
		},
	}
	if c.opts.Metrics == MetricsServer {
		node.Annotations["metrics.k8s.io/resource-metrics-path"] = "/metrics/nodes/" + NodeName + "/metrics/resource"
	}
	_, err := c.clientset.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating node %s: %w", NodeName, err)
	}
	return nil
}

func nodeResources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
}

func (c *Cluster) waitNodeReady(ctx context.Context) error {
	return testenv.Poll(ctx, 60*time.Second, "node "+NodeName+" to become Ready (see kwok.log)", func() error {
		if err := c.Exited(); err != nil {
			return err
		}
		n, err := c.clientset.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return errors.New("not Ready yet")
	})
}

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.opts.Log, "devcluster: "+format+"\n", args...)
}
