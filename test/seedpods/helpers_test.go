//go:build linux

package seedpods

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/models/mockclassifier"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// payload is the prediction every request sends.
const payload = `{"data":{"ndarray":[[1,2,5]]}}`

type clients struct {
	core kubernetes.Interface
	ctrl client.Client
}

func newClients(t *testing.T) *clients {
	t.Helper()
	core, err := kubernetes.NewForConfig(node.Config)
	if err != nil {
		t.Fatal(err)
	}
	scheme := clientgoscheme.Scheme
	if err := sdepv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(node.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &clients{core: core, ctrl: c}
}

// decodeDocs decodes SeldonDeployments as sdep's own commands do.
func decodeDocs(name string, data []byte) ([]*sdepv1.SeldonDeployment, error) {
	docs, err := decode.Documents(name, data)
	if err != nil {
		return nil, err
	}
	out := make([]*sdepv1.SeldonDeployment, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.Object)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no SeldonDeployment", name)
	}
	return out, nil
}

// operatorRef is the operator Deployment that dist/sdep.yaml installs.
type operatorRef struct {
	namespace, name, image string
	webhookConfigs         []string
	// metricsAPI is the Deployment that runs `sdep metrics-api` (with
	// its scaler), "" when the manifest has none.
	metricsAPI string
}

// readManifest finds the operator Deployment and the webhook
// configurations in an install manifest.
func readManifest(path string) (operatorRef, error) {
	var ref operatorRef
	f, err := os.Open(path)
	if err != nil {
		return ref, fmt.Errorf("%w (make release writes it)", err)
	}
	defer func() { _ = f.Close() }()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return ref, fmt.Errorf("%s: %w", path, err)
		}
		switch u.GetKind() {
		case "Deployment":
			containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			if len(containers) == 0 {
				continue
			}
			c, _ := containers[0].(map[string]any)
			image, _ := c["image"].(string)
			// The same image runs the metrics API: tell it by its
			// subcommand, whatever order the manifest lists them in.
			if args, _ := c["args"].([]any); len(args) > 0 && args[0] == "metrics-api" {
				ref.metricsAPI = u.GetName()
				continue
			}
			ref.namespace, ref.name, ref.image = u.GetNamespace(), u.GetName(), image
		case "ValidatingWebhookConfiguration":
			ref.webhookConfigs = append(ref.webhookConfigs, u.GetName())
		}
	}
	if ref.image == "" {
		return ref, fmt.Errorf("%s: no Deployment with a container image (the operator)", path)
	}
	return ref, nil
}

// manifestImage is the operator's image in an install manifest.
func manifestImage(path string) (string, error) {
	ref, err := readManifest(path)
	return ref.image, err
}

// install applies an install manifest as a user would and waits until the
// operator pod runs and its webhook answers the API server. The test's
// cleanup uninstalls it, which deletes every SeldonDeployment with the CRD.
func install(t *testing.T, k *clients, manifest string) operatorRef {
	t.Helper()
	op, err := readManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testenv.Kubectl(t, node.Kubeconfig, "apply", "--server-side", "-f", manifest)
	t.Cleanup(func() {
		testenv.Kubectl(t, node.Kubeconfig, "delete", "--ignore-not-found", "--wait=true", "--timeout=3m", "-f", manifest)
	})
	waitDeploymentAvailable(t, k, op.namespace, op.name, 3*time.Minute)
	ctx := context.Background()
	testenv.WaitFor(t, 2*time.Minute, "the operator's CA bundle in its webhook configuration", func() error {
		if len(op.webhookConfigs) == 0 {
			return errors.New("the manifest has no ValidatingWebhookConfiguration")
		}
		for _, name := range op.webhookConfigs {
			cfg, err := k.core.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, w := range cfg.Webhooks {
				if len(w.ClientConfig.CABundle) == 0 {
					return fmt.Errorf("webhook %s of %s has no caBundle yet", w.Name, name)
				}
			}
		}
		return nil
	})
	// The webhook, served from the operator's pod, refuses a document the
	// schema accepts: a graph naming no container.
	bad := `{"apiVersion":"machinelearning.seldon.io/v1","kind":"SeldonDeployment","metadata":{"name":"webhook-check","namespace":"default"},
"spec":{"predictors":[{"name":"p","graph":{"name":"nowhere","type":"MODEL"},"componentSpecs":[{"spec":{"containers":[{"name":"c","image":"x"}]}}]}]}}`
	testenv.WaitFor(t, time.Minute, "the webhook to refuse an invalid SeldonDeployment", func() error {
		out, err := kubectlInput(bad, "apply", "--dry-run=server", "-f", "-")
		if err == nil {
			return fmt.Errorf("accepted: %s", out)
		}
		if !strings.Contains(out, "admission webhook") {
			return fmt.Errorf("refused, but not by the webhook: %s", out)
		}
		return nil
	})
	t.Logf("install from %s: operator Available and its webhook serving in %.1fs", filepath.Base(manifest), time.Since(start).Seconds())
	return op
}

// waitDeploymentAvailable waits until every replica of a Deployment is
// updated and available, explaining a timeout with its pods' states.
func waitDeploymentAvailable(t *testing.T, k *clients, ns, name string, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	testenv.WaitForExplained(t, timeout, fmt.Sprintf("Deployment %s/%s available", ns, name), func() error {
		d, err := k.core.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != want ||
			d.Status.AvailableReplicas != want || d.Status.Replicas != want {
			return fmt.Errorf("%d replicas, %d updated, %d available, want %d", d.Status.Replicas,
				d.Status.UpdatedReplicas, d.Status.AvailableReplicas, want)
		}
		return nil
	}, func() string { return podStates(ns) + node.Exited() })
}

// podStates describes the pods of a namespace and their containers, for
// an error message.
func podStates(ns string) string {
	out, _ := kubectlInput("", "get", "pods", "-n", ns, "-o", "wide")
	logs, _ := kubectlInput("", "logs", "-n", ns, "--all-containers", "--tail=20", "--prefix", "-l", "app.kubernetes.io/name=sdep")
	return "\n" + out + logs
}

// kubectlInput runs kubectl with stdin and returns its combined output.
func kubectlInput(stdin string, args ...string) (string, error) {
	path, err := testenv.KubectlPath()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"--kubeconfig=" + node.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// newNamespace creates a namespace that the test's cleanup deletes,
// waiting until its pods are gone so the next test has the node's CPU.
func newNamespace(t *testing.T, name string) {
	t.Helper()
	testenv.Kubectl(t, node.Kubeconfig, "create", "namespace", name)
	t.Cleanup(func() {
		testenv.Kubectl(t, node.Kubeconfig, "delete", "namespace", name, "--wait=true", "--timeout=3m")
	})
}

func waitState(t *testing.T, k *clients, ns, name string, want sdepv1.State, timeout time.Duration) {
	t.Helper()
	testenv.WaitFor(t, timeout, fmt.Sprintf("SeldonDeployment %s/%s %s", ns, name, want), func() error {
		var sd sdepv1.SeldonDeployment
		if err := k.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &sd); err != nil {
			return err
		}
		if sd.Status.State != want {
			return fmt.Errorf("state %q: %s", sd.Status.State, sd.Status.Description)
		}
		return nil
	})
}

// serviceURL is the predictor Service's http port on its ClusterIP.
func serviceURL(t *testing.T, svc *corev1.Service) string {
	t.Helper()
	for _, p := range svc.Spec.Ports {
		if p.Name == "http" {
			return "http://" + net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(p.Port)))
		}
	}
	t.Fatalf("Service %s has no http port", svc.Name)
	return ""
}

// wantProba is the mock classifier's answer to payload.
var wantProba = mockclassifier.Predict([][]float64{{1, 2, 5}}, 0)[0]

// predict sends payload and checks the mock classifier's exact answer.
func predict(c *http.Client, base string, closeConn bool) error {
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1.0/predictions", strings.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Close = closeConn
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var msg struct {
		Data struct {
			Ndarray [][]float64 `json:"ndarray"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return fmt.Errorf("answer %s: %w", body, err)
	}
	if len(msg.Data.Ndarray) != 1 || len(msg.Data.Ndarray[0]) != 1 || msg.Data.Ndarray[0][0] != wantProba {
		return fmt.Errorf("answer %s, want data.ndarray [[%v]]", body, wantProba)
	}
	return nil
}

func predictOnce(base string) error {
	return predict(&http.Client{Timeout: 10 * time.Second}, base, true)
}

// loader sends predictions from workers until stopped; interval > 0 makes
// each worker wait that long between requests (a trickle).
type loader struct {
	sent, failed atomic.Int64
	firstErr     atomic.Value
	done         chan struct{}
	wg           sync.WaitGroup
}

// reconnectEvery is how many requests a worker sends on one connection:
// reconnecting lets the Service spread load over new endpoints.
const reconnectEvery = 25

func startLoad(base string, workers int, interval time.Duration) *loader {
	l := &loader{done: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for i := 1; ; i++ {
				select {
				case <-l.done:
					return
				default:
				}
				l.sent.Add(1)
				if err := predict(c, base, i%reconnectEvery == 0); err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
				}
				if interval > 0 {
					select {
					case <-l.done:
						return
					case <-time.After(interval):
					}
				}
			}
		}()
	}
	return l
}

func (l *loader) stop() (sent, failed int64, firstErr string) {
	close(l.done)
	l.wg.Wait()
	if e, ok := l.firstErr.Load().(string); ok {
		firstErr = "(first: " + e + ")"
	}
	return l.sent.Load(), l.failed.Load(), firstErr
}

func listPods(t *testing.T, k *clients, n seedNames) []corev1.Pod {
	t.Helper()
	pods, err := k.core.CoreV1().Pods(seedNS).List(context.Background(), metav1.ListOptions{LabelSelector: n.selector})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podCPU(p *corev1.Pod) resource.Quantity {
	var sum resource.Quantity
	for _, c := range p.Spec.Containers {
		sum.Add(c.Resources.Requests[corev1.ResourceCPU])
	}
	return sum
}

func waitHPADesired(t *testing.T, k *clients, name string, want int32, timeout time.Duration) {
	t.Helper()
	testenv.WaitForExplained(t, timeout, fmt.Sprintf("HPA %s to want %d replicas", name, want), func() error {
		hpa, err := k.core.AutoscalingV2().HorizontalPodAutoscalers(seedNS).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if hpa.Status.DesiredReplicas != want {
			return fmt.Errorf("desired %d, current %d", hpa.Status.DesiredReplicas, hpa.Status.CurrentReplicas)
		}
		return nil
	}, node.Exited)
}

// podCounts waits until the Deployment has made 4 pods and returns how
// many are Ready and how many wait for room on the node.
func podCounts(t *testing.T, k *clients, n seedNames) (ready, pending int) {
	t.Helper()
	testenv.WaitFor(t, time.Minute, "4 seed pods, each Ready or unschedulable", func() error {
		ready, pending = 0, 0
		for _, p := range listPods(t, k, n) {
			switch {
			case p.DeletionTimestamp != nil:
			case podReady(&p):
				ready++
			case p.Status.Phase == corev1.PodPending && unschedulable(&p):
				pending++
			}
		}
		if ready+pending != 4 {
			return fmt.Errorf("%d Ready, %d unschedulable", ready, pending)
		}
		return nil
	})
	return ready, pending
}

func unschedulable(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}

func readyPodIPs(t *testing.T, k *clients, n seedNames) []string {
	t.Helper()
	var ips []string
	for _, p := range listPods(t, k, n) {
		if p.DeletionTimestamp == nil && podReady(&p) {
			ips = append(ips, p.Status.PodIP)
		}
	}
	return ips
}

// waitPods waits until the seed has exactly want pods, none terminating,
// all Ready, each requesting cpu in all, and the Deployment agrees.
func waitPods(t *testing.T, k *clients, n seedNames, want int, cpu resource.Quantity, timeout time.Duration) {
	t.Helper()
	testenv.WaitForExplained(t, timeout, fmt.Sprintf("%d Ready seed pods requesting %s CPU each", want, cpu.String()), func() error {
		pods := listPods(t, k, n)
		if len(pods) != want {
			return fmt.Errorf("%d pods", len(pods))
		}
		for i := range pods {
			p := &pods[i]
			if p.DeletionTimestamp != nil {
				return fmt.Errorf("pod %s is terminating", p.Name)
			}
			if !podReady(p) {
				return fmt.Errorf("pod %s is not Ready (%s)", p.Name, p.Status.Phase)
			}
			if got := podCPU(p); got.Cmp(cpu) != 0 {
				return fmt.Errorf("pod %s requests %s CPU", p.Name, got.String())
			}
		}
		var d appsv1.Deployment
		if err := k.ctrl.Get(context.Background(), client.ObjectKey{Namespace: seedNS, Name: n.deployment}, &d); err != nil {
			return err
		}
		if d.Status.Replicas != int32(want) || d.Status.UpdatedReplicas != int32(want) || d.Status.AvailableReplicas != int32(want) {
			return fmt.Errorf("Deployment: %d replicas, %d updated, %d available", d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas)
		}
		return nil
	}, node.Exited)
}

// waitEveryPodServed waits until every one of want Ready pods' executors
// counts at least one request, and returns the counts by pod.
func waitEveryPodServed(t *testing.T, k *clients, n seedNames, want int, timeout time.Duration) map[string]int {
	t.Helper()
	var counts map[string]int
	testenv.WaitFor(t, timeout, fmt.Sprintf("each of %d pods to have answered requests", want), func() error {
		counts = map[string]int{}
		for _, p := range listPods(t, k, n) {
			if p.DeletionTimestamp != nil || !podReady(&p) {
				continue
			}
			c, err := executorRequests(fmt.Sprintf("http://%s:%d/prometheus", p.Status.PodIP, n.executorPort))
			if err != nil {
				return fmt.Errorf("pod %s: %w", p.Name, err)
			}
			if c == 0 {
				return fmt.Errorf("pod %s has answered no request yet", p.Name)
			}
			counts[p.Name] = c
		}
		if len(counts) != want {
			return fmt.Errorf("%d Ready pods", len(counts))
		}
		return nil
	})
	return counts
}

// executorRequests sums the executor's server request counters.
func executorRequests(url string) (int, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, err
	}
	total, found := 0.0, false
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "seldon_api_executor_server_requests_seconds_count") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		total += v
		found = true
	}
	if !found {
		return 0, errors.New("no seldon_api_executor_server_requests_seconds_count in the executor's metrics")
	}
	return int(total), nil
}

// sortedCounts formats per-pod counts in a stable order.
func sortedCounts(m map[string]int) string {
	var vals []int
	for _, v := range m {
		vals = append(vals, v)
	}
	sort.Ints(vals)
	return fmt.Sprint(vals)
}
