package devcluster

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sdep-dev/sdep/internal/testenv"
)

// usageAnnotation is where kwok's usage-from-annotation stage reads a
// pod's CPU usage from.
const usageAnnotation = "kwok.x-k8s.io/usage-cpu"

// startMetricsServer runs metrics-server against kwok's emulated kubelet
// and keeps the pods of every namespace given to SetCPU annotated with
// the usage kwok should report.
func (c *Cluster) startMetricsServer(ctx context.Context) error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	args := []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + filepath.Join(c.Dir, "metrics-server-certs"),
		"--kubelet-insecure-tls",
		"--kubelet-use-node-status-port",
		"--kubelet-preferred-address-types=InternalIP",
		// The resolution must exceed the kubelet request timeout.
		"--metric-resolution=10s",
		"--kubelet-request-timeout=5s",
	}
	proc, err := testenv.StartProcess(filepath.Join(c.opts.BinDir, "metrics-server"), args, filepath.Join(c.Dir, "metrics-server.log"))
	if err != nil {
		return err
	}
	c.procs = append(c.procs, proc)

	annotator := &podAnnotator{c: c, cpu: map[string]resource.Quantity{}}
	loopCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); annotator.run(loopCtx) }()
	c.stops = append(c.stops, func() { cancel(); <-done })
	c.metrics = annotator

	if err := c.registerMetricsAPI(ctx, port); err != nil {
		if exitErr := proc.Exited(); exitErr != nil {
			return exitErr
		}
		return err
	}
	return nil
}

// podAnnotator keeps every pod of a namespace annotated with the CPU usage
// kwok should report for it, including pods created after SetCPU.
type podAnnotator struct {
	c   *Cluster
	mu  sync.Mutex
	cpu map[string]resource.Quantity
}

func (a *podAnnotator) setCPU(namespace string, perPod resource.Quantity) {
	a.mu.Lock()
	a.cpu[namespace] = perPod
	a.mu.Unlock()
	a.annotate(context.Background())
}

func (a *podAnnotator) run(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			a.annotate(ctx)
		}
	}
}

// annotate patches the pods whose annotation differs; errors are retried
// on the next tick (a pod may be deleted between list and patch).
func (a *podAnnotator) annotate(ctx context.Context) {
	a.mu.Lock()
	want := make(map[string]string, len(a.cpu))
	for ns, q := range a.cpu {
		// At zero usage kwok's cumulative CPU counter stops moving and
		// metrics-server returns no sample at all; 1m is idle enough.
		if q.IsZero() {
			q = resource.MustParse("1m")
		}
		want[ns] = q.String()
	}
	a.mu.Unlock()
	pods := a.c.clientset.CoreV1().Pods
	for ns, cpu := range want {
		list, err := pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, pod := range list.Items {
			if pod.Annotations[usageAnnotation] == cpu || pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded {
				continue
			}
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, usageAnnotation, cpu)
			_, _ = pods(ns).Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		}
	}
}
