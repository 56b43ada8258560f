package differential

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/sdep-dev/sdep/internal/devcluster"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// realHarness is the control plane: devcluster without its HPA controller,
// plus a kube-controller-manager of our own that runs only the HPA
// controller with every HPA flag set (devcluster sets only the sync period
// and the downscale stabilization).
type realHarness struct {
	cluster       *devcluster.Cluster
	clientset     kubernetes.Interface
	hpaController *testenv.Process
	hpaLog        string
	objects       *objectValues
}

// set makes the trace's value current: the pods' CPU, or the object metric.
func (h *realHarness) set(tc traceCase, ns string, q resource.Quantity) {
	if tc.object {
		h.objects.set(ns, q)
		return
	}
	h.cluster.SetCPU(ns, q)
}

// startHarness starts the cluster and the HPA controller. It fails the
// test, never skips it, when the binaries are missing.
func startHarness(t *testing.T) *realHarness {
	t.Helper()
	if testenv.PollInterval > syncPeriod/10 {
		t.Fatalf("testenv polls every %s: too seldom to see every count the HPA sets once a %s sync period", testenv.PollInterval, syncPeriod)
	}
	binDir := os.Getenv("KUBEBUILDER_ASSETS")
	if binDir == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set. This test needs the local control plane:\n" +
			"  export KUBEBUILDER_ASSETS=$(hack/control-plane.sh all | tail -n1)")
	}
	logDir := t.TempDir() // removed last: cleanups run in reverse order
	ctx := context.Background()
	start := time.Now()
	c, err := devcluster.Start(ctx, devcluster.Options{
		BinDir:      binDir,
		Controllers: []string{"deployment-controller", "replicaset-controller", "garbage-collector-controller"},
	})
	if err != nil {
		t.Fatalf("starting the local control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the local control plane: %v", err)
		}
	})
	// Poll without client-side throttling (client-go's default is 5 requests a second).
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 100, 200
	h := &realHarness{cluster: c, clientset: kubernetes.NewForConfigOrDie(cfg), hpaLog: filepath.Join(logDir, "hpa-controller.log")}
	if h.hpaController, err = startHPAController(binDir, c.Kubeconfig, h.hpaLog); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.hpaController.Stop(); err != nil {
			t.Errorf("stopping the HPA controller: %v", err)
		}
	})
	t.Logf("control plane up in %s", time.Since(start).Round(10*time.Millisecond))
	return h
}

// kcmHPAFlags are the HPA controller's settings; the model gets the same
// through modelConfig.
func kcmHPAFlags() []string {
	return []string{
		"--horizontal-pod-autoscaler-sync-period=" + syncPeriod.String(),
		"--horizontal-pod-autoscaler-downscale-stabilization=" + downscaleStabilization.String(),
		fmt.Sprintf("--horizontal-pod-autoscaler-tolerance=%g", tolerance),
		"--horizontal-pod-autoscaler-cpu-initialization-period=" + cpuInitializationPeriod.String(),
		"--horizontal-pod-autoscaler-initial-readiness-delay=" + initialReadinessDelay.String(),
		// On by default in 1.37; said here so that the model's
		// Config.ScaleToZero and the controller cannot drift apart.
		fmt.Sprintf("--feature-gates=HPAScaleToZero=%t", scaleToZero),
	}
}

// startHPAController runs kube-controller-manager with the HPA controller
// alone.
func startHPAController(binDir, kubeconfig, logPath string) (*testenv.Process, error) {
	bin := filepath.Join(binDir, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("kube-controller-manager is missing from KUBEBUILDER_ASSETS (%w); build it with hack/control-plane.sh all", err)
	}
	args := append([]string{
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers=horizontal-pod-autoscaler-controller",
	}, kcmHPAFlags()...)
	proc, err := testenv.StartProcess(bin, args, logPath)
	if err != nil {
		return nil, fmt.Errorf("starting kube-controller-manager for the HPA controller: %w", err)
	}
	return proc, nil
}

// logTail returns the last lines of the HPA controller's log, to explain a failure.
func (h *realHarness) logTail(lines int) string {
	data, err := os.ReadFile(h.hpaLog)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(string(bytes.TrimRight(data, "\n")), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// setUp creates a namespace, a one-replica Deployment whose pods request
// cpuRequest, waits for its pod, sets the first CPU figure and creates the
// HPA. It returns the namespace.
func (h *realHarness) setUp(t *testing.T, tc traceCase, firstCPU resource.Quantity) string {
	t.Helper()
	ctx := context.Background()
	ns, err := h.clientset.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "differential-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": workload}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: workload, Namespace: ns.Name},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:      "app",
					Image:     "example.invalid/app:1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: cpuRequest}},
				}}},
			},
		},
	}
	if _, err := h.clientset.AppsV1().Deployments(ns.Name).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitForExplained(t, 30*time.Second, "the Deployment's first pod to be ready", func() error {
		d, err := h.clientset.AppsV1().Deployments(ns.Name).Get(ctx, workload, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return settled(d)
	}, h.explain)
	h.set(tc, ns.Name, firstCPU)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: workload, Namespace: ns.Name},
		Spec:       tc.spec(),
	}
	if _, err := h.clientset.AutoscalingV2().HorizontalPodAutoscalers(ns.Name).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// settled reports whether the Deployment has all its replicas, ready and
// none terminating, so that the next step starts from ready pods only.
func settled(d *appsv1.Deployment) error {
	st := d.Status
	n := *d.Spec.Replicas
	if st.ObservedGeneration < d.Generation || st.Replicas != n || st.ReadyReplicas != n || st.UpdatedReplicas != n ||
		st.AvailableReplicas != n || st.TerminatingReplicas != nil && *st.TerminatingReplicas != 0 {
		return fmt.Errorf("spec.replicas=%d status: replicas=%d ready=%d updated=%d available=%d (observed generation %d of %d)",
			n, st.Replicas, st.ReadyReplicas, st.UpdatedReplicas, st.AvailableReplicas, st.ObservedGeneration, d.Generation)
	}
	return nil
}

// waitStable polls the Deployment's spec.replicas until it has not changed
// for quietPeriod and its pods have settled. It returns every count seen,
// starting with from, the count the step started at (the HPA may change it
// before the first poll). The HPA changes the count at most once a sync
// period, so polling ten times a period or more (startHarness checks that
// testenv.PollInterval allows it) misses none.
func (h *realHarness) waitStable(t *testing.T, ns string, from int32, timeout time.Duration) []int32 {
	t.Helper()
	ctx := context.Background()
	seen := []int32{from}
	lastChange := time.Now()
	testenv.WaitForExplained(t, timeout, "the Deployment's replica count to stay put for "+quietPeriod.String(), func() error {
		d, err := h.clientset.AppsV1().Deployments(ns).Get(ctx, workload, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n := *d.Spec.Replicas
		if seen[len(seen)-1] != n {
			seen = append(seen, n)
			lastChange = time.Now()
		}
		if quiet := time.Since(lastChange); quiet < quietPeriod {
			return fmt.Errorf("counts so far %v, last change %s ago", seen, quiet.Round(time.Millisecond))
		}
		return settled(d)
	}, h.explain)
	return slices.Clip(seen)
}

// explain reports, for a timeout, which control-plane processes have
// exited and the tail of the HPA controller's log.
func (h *realHarness) explain() string {
	exited := errors.Join(h.cluster.Exited(), h.hpaController.Exited())
	return fmt.Sprintf("process exits: %v\nHPA controller log (tail):\n%s", exited, h.logTail(20))
}

// scaleByHand sets the Deployment's replicas through its scale
// subresource, as kubectl scale does.
func (h *realHarness) scaleByHand(t *testing.T, ns string, n int32) {
	t.Helper()
	ctx := context.Background()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sc, err := h.clientset.AppsV1().Deployments(ns).GetScale(ctx, workload, metav1.GetOptions{})
		if err != nil {
			return err
		}
		sc.Spec.Replicas = n
		_, err = h.clientset.AppsV1().Deployments(ns).UpdateScale(ctx, workload, sc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("scaling the Deployment to %d by hand: %v", n, err)
	}
}

// scaledToZero reports the HPA's ScaledToZero condition (absent counts as
// False, as the controller reads it).
func (h *realHarness) scaledToZero(ns string) (bool, error) {
	hpa, err := h.clientset.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(context.Background(), workload, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	for _, c := range hpa.Status.Conditions {
		if c.Type == autoscalingv2.ScaledToZero {
			return c.Status == corev1.ConditionTrue, nil
		}
	}
	return false, nil
}

// hpaSummary describes the HPA's status for logs.
func (h *realHarness) hpaSummary(ns string) string {
	hpa, err := h.clientset.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(context.Background(), workload, metav1.GetOptions{})
	if err != nil {
		return "no HPA: " + err.Error()
	}
	var conds []string
	for _, c := range hpa.Status.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	util := "?"
	for _, m := range hpa.Status.CurrentMetrics {
		if m.Resource != nil && m.Resource.Current.AverageUtilization != nil {
			util = fmt.Sprintf("%d%%", *m.Resource.Current.AverageUtilization)
		}
	}
	return fmt.Sprintf("current=%d desired=%d cpu=%s %s", hpa.Status.CurrentReplicas, hpa.Status.DesiredReplicas, util, strings.Join(conds, " "))
}
