//go:build linux

package seedpods

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/controller"
	"github.com/sdep-dev/sdep/internal/metricsapi"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/testenv"
	"github.com/sdep-dev/sdep/internal/validation"
)

const (
	zeroFile = "requests-to-zero.json"
	zeroNS   = "to-zero"
	// zeroIdle replaces the installed --scale-to-zero-idle (5m) so that
	// the test sees 1→0 within its budget.
	zeroIdle = 10 * time.Second
	// rateWindow is the executor's per-second window: a component is not
	// idle until its last request has left it (10 whole seconds; 9 s
	// leaves room for the second boundaries).
	rateWindow = 9 * time.Second
	// activationTimeout is the executor's default seldon.io/activation-timeout:
	// a held request is answered 503 after it.
	activationTimeout = 60 * time.Second
	// testFieldManager writes the test's own change to the executor's
	// Deployment.
	testFieldManager = "seedpods-test"
)

// TestScaleToZeroOnRealContainers is scale to zero on the real node: sdep
// installed from dist/sdep.yaml (operator, metrics API and its scaler as
// pods), examples/requests-to-zero.json applied verbatim, a first request
// that wakes the component from no pod at all, the scaler's 1→0 after the
// idle window, a second wake-up, and a third with a readiness probe of the
// document's own.
func TestScaleToZeroOnRealContainers(t *testing.T) {
	requireNode(t)
	begin := time.Now()
	ctx := context.Background()
	k := newClients(t)
	op := install(t, k, distManifest())
	if op.metricsAPI == "" {
		t.Fatalf("%s installs no Deployment running `sdep metrics-api`", distManifest())
	}

	// 1. A short idle window, and the metrics API serving.
	setScalerIdle(t, k, op, zeroIdle)

	// 2. The document as written, in a namespace of the test's own.
	path := filepath.Join(repo, "examples", zeroFile)
	newNamespace(t, zeroNS)
	testenv.Kubectl(t, node.Kubeconfig, "apply", "-n", zeroNS, "-f", path)
	sd := seedObject(t, path, func(sd *sdepv1.SeldonDeployment) { sd.Namespace = zeroNS })
	n := zeroNamesFor(t, sd, resources.Options{ExecutorImage: op.image})
	n.system = op.namespace
	waitState(t, k, zeroNS, sd.Name, sdepv1.StateAvailable, scaleTimeout)
	checkAtZero(t, k, n, sd.Name)

	// The executor reaches the component through its Service's DNS name,
	// and the real node serves no cluster DNS (pods get no resolver: the
	// host's is off this machine). The test gives the executor's pods
	// that one name as a host alias of the Service's ClusterIP: a field
	// the operator does not render, so it keeps it until it writes the
	// pod template again.
	aliasComponentService(t, k, n)
	checkAtZero(t, k, n, sd.Name)

	svc, err := k.core.CoreV1().Services(zeroNS).Get(ctx, n.predictorService, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the predictor Service %s: %v", n.predictorService, err)
	}
	url := serviceURL(t, svc)

	// 3. The first request: from no pod to the answer.
	first := measureColdStart(t, k, n, url)
	t.Logf("cold start 1 (%s):%s", zeroFile, first)
	if !t.Run("idle: the HPA stays at 1, the scaler takes it to 0", func(t *testing.T) {
		// 4. Idle: 1→0 after the idle window, and the pod goes.
		waitScaledToZero(t, k, n, first.sentAt, first.sentAt.Add(first.answered))
		waitEvent(t, k, sd.Name, metricsapi.ReasonScaledFromZero)
		waitEvent(t, k, sd.Name, metricsapi.ReasonScaledToZero)
	}) {
		return
	}

	// 5. A second request wakes it again.
	second := measureColdStart(t, k, n, url)
	t.Logf("cold start 2 (%s):%s", zeroFile, second)
	if t.Failed() {
		return
	}

	// What the default readiness probe costs: the operator gives a model
	// container without a readinessProbe upstream's (TCP, 20 s initial
	// delay, every 5 s), and most of a cold start is that delay. The same
	// document with a probe of its own, at zero again.
	t.Run("a readinessProbe of its own: the cold start without the 20s delay", func(t *testing.T) {
		waitScaledToZero(t, k, n, second.sentAt, second.sentAt.Add(second.answered))
		hash := desiredHash(t, k, n.executor)
		testenv.Kubectl(t, node.Kubeconfig, "apply", "-n", zeroNS, "-f", withQuickProbe(t, path))
		waitProbe(t, k, n.component, 1)
		// The executor's ENGINE_PREDICTOR changed too: the operator
		// writes its whole pod template again, without the test's alias.
		testenv.WaitFor(t, time.Minute, "the operator to rewrite "+n.executor, func() error {
			if h := desiredHash(t, k, n.executor); h == hash {
				return fmt.Errorf("desired hash still %s", h)
			}
			return nil
		})
		aliasComponentService(t, k, n)
		checkAtZero(t, k, n, sd.Name)
		quick := measureColdStart(t, k, n, url)
		t.Logf("cold start 3 (%s, readinessProbe tcpSocket every 1s, no initial delay):%s", zeroFile, quick)
		t.Logf("scale to zero on real containers: cold start %s, then %s (second), then %s with a quick readiness probe; whole test %.1fs",
			ms(first.answered), ms(second.answered), ms(quick.answered), time.Since(begin).Seconds())
	})
}

// withQuickProbe writes the document with a readinessProbe on its
// classifier (TCP on its http port, every second, no initial delay) and returns
// the file.
func withQuickProbe(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	preds, _, err := unstructured.NestedSlice(doc, "spec", "predictors")
	if err != nil || len(preds) != 1 {
		t.Fatalf("%s: want one predictor (%v)", path, err)
	}
	pred, _ := preds[0].(map[string]any)
	specs, _ := pred["componentSpecs"].([]any)
	if len(specs) != 1 {
		t.Fatalf("%s: want one componentSpec", path)
	}
	cs, _ := specs[0].(map[string]any)
	cts, _, _ := unstructured.NestedSlice(cs, "spec", "containers")
	if len(cts) != 1 {
		t.Fatalf("%s: want one container", path)
	}
	c, _ := cts[0].(map[string]any)
	c["readinessProbe"] = map[string]any{
		// The port the operator names http on the container, as its
		// default probe does.
		"tcpSocket":     map[string]any{"port": "http"},
		"periodSeconds": int64(1),
	}
	// NestedSlice copies: set each level back.
	if err := unstructured.SetNestedSlice(cs, cts, "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedSlice(doc, preds, "spec", "predictors"); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "requests-to-zero-quick-probe.json")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// desiredHash is the operator's desired-hash annotation on a Deployment.
func desiredHash(t *testing.T, k *clients, name string) string {
	t.Helper()
	d, err := k.core.AppsV1().Deployments(zeroNS).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Annotations[controller.AnnotationDesiredHash]
}

// waitProbe waits until the component Deployment's template has the given
// readiness period and the Deployment controller has seen it.
func waitProbe(t *testing.T, k *clients, name string, period int32) {
	t.Helper()
	testenv.WaitFor(t, time.Minute, fmt.Sprintf("Deployment %s with a %ds readiness probe", name, period), func() error {
		d, err := k.core.AppsV1().Deployments(zeroNS).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.ObservedGeneration < d.Generation {
			return fmt.Errorf("generation %d observed %d", d.Generation, d.Status.ObservedGeneration)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == "classifier" && c.ReadinessProbe != nil && c.ReadinessProbe.PeriodSeconds == period {
				return nil
			}
		}
		return errors.New("not yet")
	})
}

// zeroNames are the objects the operator makes of requests-to-zero.json.
type zeroNames struct {
	component, hpa, executor string // Deployments and the component's HPA
	componentSelector        string
	executorSelector         string
	predictorService         string
	hpaMinReplicas           int32  // as rendered
	system                   string // the namespace of the operator and the metrics API
}

func zeroNamesFor(t *testing.T, sd *sdepv1.SeldonDeployment, opts resources.Options) zeroNames {
	t.Helper()
	res, err := resources.Build(sd, opts)
	if err != nil {
		t.Fatal(err)
	}
	var n zeroNames
	for _, c := range res.Components {
		switch {
		case c.Explainer:
		case c.ComponentSpec == -1:
			n.executor = c.Deployment.Name
			n.executorSelector = metav1.FormatLabelSelector(c.Deployment.Spec.Selector)
		case c.HPA != nil:
			n.component, n.hpa = c.Deployment.Name, c.HPA.Name
			n.componentSelector = metav1.FormatLabelSelector(c.Deployment.Spec.Selector)
			if c.HPA.Spec.MinReplicas != nil {
				n.hpaMinReplicas = *c.HPA.Spec.MinReplicas
			}
		}
	}
	if n.executor == "" || n.component == "" {
		t.Fatalf("%s builds %d Deployments; want the executor's own and one component with an HPA", zeroFile, len(res.Components))
	}
	p := &res.SeldonDeployment.Spec.Predictors[0]
	n.predictorService = naming.PredictorServiceName(res.SeldonDeployment, p)
	return n
}

// setScalerIdle sets the installed metrics API's --scale-to-zero-idle,
// waits until exactly one pod runs with it, and until the API server
// serves custom.metrics.k8s.io through it.
func setScalerIdle(t *testing.T, k *clients, op operatorRef, idle time.Duration) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	deps := k.core.AppsV1().Deployments(op.namespace)
	d, err := deps.Get(ctx, op.metricsAPI, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const flag = "--scale-to-zero-idle="
	want := flag + idle.String()
	found := false
	for i := range d.Spec.Template.Spec.Containers {
		c := &d.Spec.Template.Spec.Containers[i]
		for j, a := range c.Args {
			if strings.HasPrefix(a, flag) {
				c.Args[j], found = want, true
			}
		}
	}
	if !found {
		t.Fatalf("Deployment %s/%s has no %s argument to change", op.namespace, op.metricsAPI, flag)
	}
	if _, err := deps.Update(ctx, d, metav1.UpdateOptions{FieldManager: testFieldManager}); err != nil {
		t.Fatal(err)
	}
	waitDeploymentAvailable(t, k, op.namespace, op.metricsAPI, 3*time.Minute)
	selector := metav1.FormatLabelSelector(d.Spec.Selector)
	testenv.WaitFor(t, time.Minute, "one metrics API pod, running with "+want, func() error {
		pods, err := k.core.CoreV1().Pods(op.namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		if len(pods.Items) != 1 {
			return fmt.Errorf("%d pods", len(pods.Items))
		}
		p := &pods.Items[0]
		if !podReady(p) || !containsArg(p.Spec.Containers, want) {
			return fmt.Errorf("pod %s: Ready %v, args %v", p.Name, podReady(p), p.Spec.Containers[0].Args)
		}
		return nil
	})
	for _, name := range []string{"v1beta2.custom.metrics.k8s.io", "v1beta1.custom.metrics.k8s.io"} {
		waitAPIServiceAvailable(t, k, name, 2*time.Minute)
	}
	testenv.WaitFor(t, time.Minute, "the API server to serve custom.metrics.k8s.io/v1beta2", func() error {
		_, err := k.core.Discovery().RESTClient().Get().AbsPath("/apis/custom.metrics.k8s.io/v1beta2").DoRaw(ctx)
		return err
	})
	t.Logf("metrics API rolled to %s and serving in %.1fs", want, time.Since(start).Seconds())
}

func containsArg(cs []corev1.Container, arg string) bool {
	for _, c := range cs {
		for _, a := range c.Args {
			if a == arg {
				return true
			}
		}
	}
	return false
}

func waitAPIServiceAvailable(t *testing.T, k *clients, name string, timeout time.Duration) {
	t.Helper()
	testenv.WaitFor(t, timeout, "APIService "+name+" Available", func() error {
		var u unstructured.Unstructured
		u.SetAPIVersion("apiregistration.k8s.io/v1")
		u.SetKind("APIService")
		if err := k.ctrl.Get(context.Background(), client.ObjectKey{Name: name}, &u); err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Available" {
				if m["status"] == "True" {
					return nil
				}
				return fmt.Errorf("Available %v: %v %v", m["status"], m["reason"], m["message"])
			}
		}
		return errors.New("no Available condition yet")
	})
}

// checkAtZero checks the state at zero: one Ready executor pod, the
// component at 0 replicas with no pod, its HPA at minReplicas 1, and the
// SeldonDeployment Available saying "scaled to zero".
func checkAtZero(t *testing.T, k *clients, n zeroNames, sdName string) {
	t.Helper()
	ctx := context.Background()
	waitDeploymentAvailable(t, k, zeroNS, n.executor, 2*time.Minute)
	// A rolled executor's old pod may still be terminating.
	testenv.WaitForExplained(t, time.Minute, "the executor Deployment "+n.executor+" to run 1 Ready pod", func() error {
		if pods := podsOf(t, k, n.executorSelector); len(pods) != 1 || !podReady(&pods[0]) || pods[0].DeletionTimestamp != nil {
			return fmt.Errorf("%s", describePods(pods))
		}
		return nil
	}, func() string { return zeroStates(n) })
	d, err := k.core.AppsV1().Deployments(zeroNS).Get(ctx, n.component, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 0 {
		t.Errorf("component Deployment %s: spec.replicas %v, want 0", n.component, replicasOf(d))
	}
	if pods := podsOf(t, k, n.componentSelector); len(pods) != 0 {
		t.Errorf("component Deployment %s at 0 replicas has pods: %s", n.component, describePods(pods))
	}
	hpa, err := k.core.AutoscalingV2().HorizontalPodAutoscalers(zeroNS).Get(ctx, n.hpa, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 1 || n.hpaMinReplicas != 1 {
		t.Errorf("HPA %s: minReplicas %v (rendered %d), want 1 (the document's 0 is the scaler's)", n.hpa, hpa.Spec.MinReplicas, n.hpaMinReplicas)
	}
	var sd sdepv1.SeldonDeployment
	if err := k.ctrl.Get(ctx, client.ObjectKey{Namespace: zeroNS, Name: sdName}, &sd); err != nil {
		t.Fatal(err)
	}
	// The component's own status says it, and so does DeploymentsReady.
	ds := sd.Status.DeploymentStatus[n.component]
	var ready string
	for _, c := range sd.Status.Conditions {
		if c.Type == sdepv1.ConditionDeploymentsReady && c.Status == metav1.ConditionTrue {
			ready = c.Message
		}
	}
	if sd.Status.State != sdepv1.StateAvailable || ds.Status != string(sdepv1.StateAvailable) ||
		!strings.Contains(ds.Description, "scaled to zero") || !strings.Contains(ready, "scaled to zero") {
		t.Errorf("SeldonDeployment %s: state %q; deploymentStatus[%s] %q %q; DeploymentsReady %q; want Available, and the component Available and scaled to zero",
			sdName, sd.Status.State, n.component, ds.Status, ds.Description, ready)
	}
	if t.Failed() {
		t.Fatalf("the cluster at zero:%s", zeroStates(n))
	}
}

// aliasComponentService adds, to the executor's pod template, the host
// name its graph calls the component by (from its ENGINE_PREDICTOR) as an
// alias of that Service's ClusterIP, and waits for the rolled pod.
func aliasComponentService(t *testing.T, k *clients, n zeroNames) {
	t.Helper()
	ctx := context.Background()
	deps := k.core.AppsV1().Deployments(zeroNS)
	d, err := deps.Get(ctx, n.executor, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	host := executorGraphHost(t, d)
	svcName, rest, _ := strings.Cut(host, ".")
	if !strings.HasPrefix(rest, zeroNS+".svc.") {
		t.Fatalf("the executor calls the component at %q, not a Service of namespace %s", host, zeroNS)
	}
	svc, err := k.core.CoreV1().Services(zeroNS).Get(ctx, svcName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the component's Service %s: %v", svcName, err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Fatalf("the component's Service %s has no ClusterIP", svcName)
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"hostAliases": []corev1.HostAlias{{IP: svc.Spec.ClusterIP, Hostnames: []string{host}}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deps.Patch(ctx, n.executor, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: testFieldManager}); err != nil {
		t.Fatal(err)
	}
	waitDeploymentAvailable(t, k, zeroNS, n.executor, 2*time.Minute)
	testenv.WaitFor(t, time.Minute, "one executor pod with the host alias", func() error {
		pods := podsOf(t, k, n.executorSelector)
		if len(pods) != 1 || !podReady(&pods[0]) || len(pods[0].Spec.HostAliases) != 1 {
			return fmt.Errorf("%s", describePods(pods))
		}
		return nil
	})
	t.Logf("executor pods: %s resolves to the Service's ClusterIP %s", host, svc.Spec.ClusterIP)
}

// executorGraphHost is the service_host of the graph's root node in the
// executor's ENGINE_PREDICTOR.
func executorGraphHost(t *testing.T, d *appsv1.Deployment) string {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name != validation.ExecutorContainerName {
			continue
		}
		for _, e := range c.Env {
			if e.Name != resources.EnvEnginePredictor {
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(e.Value)
			if err != nil {
				t.Fatalf("ENGINE_PREDICTOR is not base64: %v", err)
			}
			var p sdepv1.PredictorSpec
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("ENGINE_PREDICTOR is not a predictor: %v", err)
			}
			if p.Graph.Endpoint == nil || p.Graph.Endpoint.ServiceHost == "" {
				t.Fatalf("ENGINE_PREDICTOR's graph node %q has no service_host", p.Graph.Name)
			}
			return p.Graph.Endpoint.ServiceHost
		}
	}
	t.Fatalf("Deployment %s has no %s container with ENGINE_PREDICTOR", d.Name, validation.ExecutorContainerName)
	return ""
}

// coldStart is one wake-up, each time from the request's sending.
type coldStart struct {
	sentAt time.Time
	// answered: the 200 with the mock classifier's answer.
	answered time.Duration
	// replicasOne: the component Deployment's spec.replicas seen at 1;
	// podSeen: its pod seen; podReady: the pod seen Ready (each by polling
	// every 20 ms, so up to a poll late).
	replicasOne, podSeen, podReady time.Duration
	// event: the ScaledFromZero Event's eventTime (microseconds; 0: none
	// found).
	event time.Duration
	// started: the classifier container's startedAt (whole seconds).
	started string
}

func (c coldStart) String() string {
	return fmt.Sprintf(" answered %s; scaler's ScaledFromZero Event at %s; spec.replicas 1 seen at %s; pod seen at %s, Ready at %s (container started %s); answer %s after Ready",
		ms(c.answered), ms(c.event), ms(c.replicasOne), ms(c.podSeen), ms(c.podReady), c.started, ms(c.answered-c.podReady))
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

// measureColdStart sends one prediction to the predictor Service while the
// component has no pod, and times the wake-up as the cluster shows it.
func measureColdStart(t *testing.T, k *clients, n zeroNames, url string) coldStart {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cs coldStart
	watched := make(chan error, 1)
	cs.sentAt = time.Now()
	go func() { watched <- watchWake(ctx, k, n, cs.sentAt, &cs) }()
	stopWatching := func() {
		cancel()
		if err := <-watched; err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("watching the wake-up: %v", err)
		}
	}
	err := predict(&http.Client{Timeout: activationTimeout + 5*time.Second}, url, true)
	cs.answered = time.Since(cs.sentAt)
	if err != nil || cs.answered > activationTimeout {
		stopWatching()
		t.Fatalf("the first request to the component at zero: %v after %s (activation timeout %s)%s",
			err, ms(cs.answered), activationTimeout, zeroStates(n))
	}
	select {
	case err := <-watched:
		if err != nil {
			t.Fatalf("watching the wake-up: %v", err)
		}
	case <-time.After(10 * time.Second):
		stopWatching()
		t.Fatalf("answered after %s, but no Ready pod of %s was seen within 10s more%s", ms(cs.answered), n.component, zeroStates(n))
	}
	cs.event = eventTime(t, k, metricsapi.ReasonScaledFromZero, cs.sentAt)
	return cs
}

// watchWake polls the component's Deployment and pods until a pod is
// Ready, recording when each step was first seen.
func watchWake(ctx context.Context, k *clients, n zeroNames, start time.Time, cs *coldStart) error {
	for ctx.Err() == nil {
		if cs.replicasOne == 0 {
			d, err := k.core.AppsV1().Deployments(zeroNS).Get(ctx, n.component, metav1.GetOptions{})
			if err == nil && d.Spec.Replicas != nil && *d.Spec.Replicas >= 1 {
				cs.replicasOne = time.Since(start)
			}
		}
		pods, err := k.core.CoreV1().Pods(zeroNS).List(ctx, metav1.ListOptions{LabelSelector: n.componentSelector})
		now := time.Since(start)
		if err == nil {
			for i := range pods.Items {
				p := &pods.Items[i]
				if p.DeletionTimestamp != nil {
					continue
				}
				if cs.podSeen == 0 {
					cs.podSeen = now
				}
				if cs.replicasOne == 0 || cs.replicasOne > now {
					cs.replicasOne = now // a pod means spec.replicas was 1 already
				}
				if podReady(p) {
					cs.podReady = now
					for _, st := range p.Status.ContainerStatuses {
						if st.State.Running != nil {
							cs.started = st.Name + " " + st.State.Running.StartedAt.UTC().Format("15:04:05")
						}
					}
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return ctx.Err()
}

// waitScaledToZero waits, after the last request (sent at sent, answered
// at last), for the scaler to set 0 replicas and the pod to go, while the
// HPA stays at 1.
func waitScaledToZero(t *testing.T, k *clients, n zeroNames, sent, last time.Time) {
	t.Helper()
	ctx := context.Background()
	maxDesired, sawOne := int32(0), false
	var zeroAt time.Duration
	testenv.WaitForExplained(t, rateWindow+zeroIdle+time.Minute, "the scaler to set "+n.component+" to 0 replicas", func() error {
		hpa, err := k.core.AutoscalingV2().HorizontalPodAutoscalers(zeroNS).Get(ctx, n.hpa, metav1.GetOptions{})
		if err != nil {
			return err
		}
		maxDesired = max(maxDesired, hpa.Status.DesiredReplicas)
		sawOne = sawOne || hpa.Status.DesiredReplicas == 1
		d, err := k.core.AppsV1().Deployments(zeroNS).Get(ctx, n.component, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if r := replicasOf(d); r != 0 {
			return fmt.Errorf("spec.replicas %d; the HPA wants %d", r, hpa.Status.DesiredReplicas)
		}
		zeroAt = time.Since(last)
		return nil
	}, func() string { return zeroStates(n) })
	if maxDesired > 1 || !sawOne {
		t.Errorf("the HPA wanted up to %d replicas (1 seen: %v) while the component idled; want it at 1", maxDesired, sawOne)
	}
	// Idle means nothing in flight (so from the answer on: a held request
	// is in flight) and nothing started in the executor's per-second
	// window (so from the request's start on), for the whole idle window.
	// A request held longer than that window is idle from its answer.
	if fromSent := zeroAt + last.Sub(sent); fromSent < rateWindow+zeroIdle {
		t.Errorf("1→0 %s after the last request was sent; want at least %s (the executor's per-second window, then the %s idle window)",
			ms(fromSent), rateWindow+zeroIdle, zeroIdle)
	}
	if earliest := zeroIdle - time.Second; zeroAt < earliest {
		t.Errorf("1→0 %s after the last answer; want at least %s (the %s idle window with nothing in flight)", ms(zeroAt), earliest, zeroIdle)
	}
	testenv.WaitFor(t, time.Minute, "the component's pod to go", func() error {
		if pods := podsOf(t, k, n.componentSelector); len(pods) != 0 {
			return fmt.Errorf("%s", describePods(pods))
		}
		return nil
	})
	t.Logf("idle: 1→0 %.1fs after the last answer, %.1fs after it was sent (idle window %s); the HPA stayed at 1; the pod gone %.1fs after the answer",
		zeroAt.Seconds(), (zeroAt + last.Sub(sent)).Seconds(), zeroIdle, time.Since(last).Seconds())
}

// scalerEvents lists the scaler's Events of one reason on the test's
// SeldonDeployment.
func scalerEvents(k *clients, reason string) ([]string, []time.Time, error) {
	list, err := k.core.EventsV1().Events(zeroNS).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	var notes []string
	var times []time.Time
	for _, e := range list.Items {
		if e.Reason != reason || e.Regarding.Kind != "SeldonDeployment" {
			continue
		}
		notes = append(notes, e.Regarding.Name+": "+e.Note)
		at := e.EventTime.Time
		if e.Series != nil {
			at = e.Series.LastObservedTime.Time
		}
		times = append(times, at)
	}
	return notes, times, nil
}

func waitEvent(t *testing.T, k *clients, sdName, reason string) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, "the Event "+reason+" on SeldonDeployment "+sdName, func() error {
		notes, _, err := scalerEvents(k, reason)
		if err != nil {
			return err
		}
		for _, n := range notes {
			if strings.HasPrefix(n, sdName+": ") {
				t.Logf("Event %s: %s", reason, n)
				return nil
			}
		}
		return errors.New("none yet")
	})
}

// eventTime is when the latest Event of reason after since happened,
// relative to since (0 when none is found within 5 s).
func eventTime(t *testing.T, k *clients, reason string, since time.Time) time.Duration {
	t.Helper()
	var found time.Duration
	_ = testenv.Poll(context.Background(), 5*time.Second, reason, func() error {
		_, times, err := scalerEvents(k, reason)
		if err != nil {
			return err
		}
		for _, at := range times {
			if d := at.Sub(since); at.After(since) && d > found {
				found = d
			}
		}
		if found == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	return found
}

func podsOf(t *testing.T, k *clients, selector string) []corev1.Pod {
	t.Helper()
	pods, err := k.core.CoreV1().Pods(zeroNS).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func describePods(pods []corev1.Pod) string {
	if len(pods) == 0 {
		return "no pod"
	}
	var out []string
	for i := range pods {
		p := &pods[i]
		s := fmt.Sprintf("%s %s Ready=%v", p.Name, p.Status.Phase, podReady(p))
		if p.DeletionTimestamp != nil {
			s += " terminating"
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// zeroStates explains a failure: the test namespace's objects, the
// executor's and the metrics API's last log lines, and the node's
// processes.
func zeroStates(n zeroNames) string {
	var b strings.Builder
	for _, args := range [][]string{
		{"get", "deploy,pods,hpa,svc,endpointslices", "-n", zeroNS, "-o", "wide"},
		{"logs", "-n", zeroNS, "--all-containers", "--tail=30", "--prefix", "-l", n.executorSelector},
		{"logs", "-n", n.system, "--tail=30", "--prefix", "-l", "app.kubernetes.io/component=metrics-api"},
	} {
		out, _ := kubectlInput("", args...)
		fmt.Fprintf(&b, "\n$ kubectl %s\n%s", strings.Join(args, " "), out)
	}
	return b.String() + node.Exited()
}
